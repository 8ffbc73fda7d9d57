"""What the project adds to django-oauth-toolkit's clients: a block switch and per-user connections."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from oauth2_provider.settings import APPLICATION_MODEL


class ClientState(models.Model):
    """Operator state of a registered OAuth client (dynamic or metadata-document client)."""

    application = models.OneToOneField(
        APPLICATION_MODEL, on_delete=models.CASCADE, related_name="todo_state"
    )
    blocked = models.BooleanField(default=False)
    blocked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.application_id} ({'blocked' if self.blocked else 'allowed'})"


class Connection(models.Model):
    """A client a user authorized: the scopes granted and when it last called /mcp."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oauth_connections")
    application = models.ForeignKey(
        APPLICATION_MODEL, on_delete=models.CASCADE, related_name="todo_connections"
    )
    scope = models.CharField(max_length=200, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    authorized_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "application"], name="oauth_connection_once")]
        ordering = ["-authorized_at"]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.application_id}"


class SpentCode(models.Model):
    """An authorization code that was exchanged for tokens: its checksum, never the code itself.

    A second exchange of the same code means it leaked (RFC 6749 §4.1.2, §10.5): every token of
    that user for that client is revoked (TodoOAuth2Validator). Kept for the refresh tokens'
    lifetime, as long as a token issued from it can live on by refreshing.
    """

    code_checksum = models.CharField(max_length=64)
    application = models.ForeignKey(APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    spent_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["application", "code_checksum"], name="oauth_spent_code_idx")]

    def __str__(self) -> str:
        return f"{self.code_checksum[:8]}… ({self.application_id})"
