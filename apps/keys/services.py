"""Writes of access tokens; each is audited in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import NotFound, ValidationFailed
from apps.keys.models import AccessToken
from apps.keys.selectors import access_token_needs_touch
from apps.keys.tokens import generate_token


@dataclass(frozen=True)
class CreatedAccessToken:
    token: AccessToken
    plaintext: str  # shown once to the user, never stored


@transaction.atomic
def access_token_create(*, user, name: str, expires_at: datetime | None = None) -> CreatedAccessToken:
    """Create a token for the user; the plaintext is returned here and nowhere else."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed("Token name must be 1–100 characters.", extra={"field": "name"})
    new = generate_token()
    token = AccessToken.objects.create(
        user=user, name=name, key_id=new.key_id, token_hash=new.token_hash, expires_at=expires_at
    )
    audit_record(actor=user, action="access_token.create", target=token, metadata={"token_prefix": token.prefix})
    return CreatedAccessToken(token=token, plaintext=new.plaintext)


@transaction.atomic
def access_token_revoke(*, user, token_id: int, actor=None) -> AccessToken:
    """Revoke one of the user's tokens; revoking twice is harmless. ``actor`` is who did it (an operator, say)."""
    token = AccessToken.objects.select_for_update().filter(user=user, pk=token_id).first()
    if token is None:
        raise NotFound("Access token not found.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor or user,
            action="access_token.revoke",
            target=token,
            metadata={"token_prefix": token.prefix, "owner": user.username},
        )
    return token


def _audit_token_delete(token: AccessToken, *, actor) -> None:
    audit_record(
        actor=actor,
        action="access_token.delete",
        target=token,
        metadata={
            "token_prefix": token.prefix,
            "owner": token.user.username,
            "was_revoked": token.revoked_at is not None,
        },
    )


@transaction.atomic
def access_token_delete(*, token: AccessToken, actor) -> None:
    """An operator deletes a token row: audited (prefix only) in the same transaction as the delete."""
    _audit_token_delete(token, actor=actor)
    token.delete()


@transaction.atomic
def access_tokens_delete(*, queryset, actor) -> int:
    """Delete every token in the queryset, each with its own audit row, all in one transaction."""
    tokens = list(queryset.select_related("user"))
    for token in tokens:
        _audit_token_delete(token, actor=actor)
    AccessToken.objects.filter(pk__in=[t.pk for t in tokens]).delete()
    return len(tokens)


def access_token_touch(*, token: AccessToken) -> None:
    """Record use, at most once per interval, without a read-modify-write race."""
    if not access_token_needs_touch(token, interval_seconds=settings.ACCESS_TOKEN_TOUCH_INTERVAL_SECONDS):
        return
    now = timezone.now()
    AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
