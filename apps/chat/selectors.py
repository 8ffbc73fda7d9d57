"""Reads of conversations, scoped to their owner."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.chat.models import Conversation, Message
from apps.core.errors import NotFound


def conversation_list(*, user) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=user)


def conversation_get(*, user, conversation_id: int) -> Conversation:
    conversation = Conversation.objects.filter(owner=user, pk=conversation_id).first()
    if conversation is None:
        raise NotFound(
            "Conversation not found.", code="conversation_not_found", extra={"conversation_id": conversation_id}
        )
    return conversation


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.order_by("id")
