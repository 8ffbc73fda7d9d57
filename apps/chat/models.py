"""Conversations and their messages, stored provider-neutrally so a conversation can move between providers."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Conversation(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The turn being answered now, if any: a lease taken by one atomic conditional UPDATE and
    # given back when the turn is stored (apps.chat.services). Expiry frees a conversation whose
    # server died mid-turn.
    turn_lease_id = models.CharField(max_length=32, blank=True, editable=False)
    turn_lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["owner", "-updated_at"], name="conv_owner_updated_idx")]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"

    @property
    def turn_in_progress(self) -> bool:
        """A turn is being answered now: another message would be refused (409) until it is stored."""
        return self.turn_lease_until is not None and self.turn_lease_until > timezone.now()


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"
        TOOL = "tool", "Tool result"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    # Assistant messages: [{"id", "name", "arguments" (object or null), "raw_arguments", "error"}]
    tool_calls = models.JSONField(default=list, blank=True)
    # Tool messages: which call this answers, the tool's name, and whether it failed.
    tool_call_id = models.CharField(max_length=128, blank=True)
    tool_name = models.CharField(max_length=128, blank=True)
    is_error = models.BooleanField(default=False)
    # Assistant messages: who wrote it and what it cost.
    provider = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=100, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["conversation", "id"], name="msg_conversation_id_idx")]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"
