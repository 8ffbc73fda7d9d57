"""Writes for OAuth connections and clients; each one audited in its own transaction."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from apps.audit.services import audit_record
from apps.oauth.models import ClientState, Connection, SpentCode
from apps.oauth.tokens import token_checksum

logger = logging.getLogger(__name__)


def _client_metadata(application) -> dict[str, Any]:
    return {"client_id": application.client_id[:200], "client_name": (application.name or "")[:100]}


def oauth_event_record(*, user, application, action: str, metadata: dict[str, Any] | None = None, outcome: str = "success"):
    """One audit row about a client (call inside the transaction of the change)."""
    return audit_record(
        actor=user,
        action=action,
        target_type="oauth.application",
        target_id=application.pk,
        outcome=outcome,
        metadata={**_client_metadata(application), **(metadata or {})},
    )


def connection_record_grant(*, user, application, scope: str) -> Connection:
    """Remember that ``user`` authorized ``application`` for ``scope`` (called when tokens are issued)."""
    now = timezone.now()
    connection, created = Connection.objects.get_or_create(
        user=user, application=application, defaults={"scope": scope, "authorized_at": now}
    )
    if not created and connection.scope != scope:
        connection.scope = scope
        connection.save(update_fields=["scope"])
    return connection


def connection_grant_recorded(*, user, application, scope: str) -> None:
    """Consent given: the connection's scopes and time are the new grant's."""
    now = timezone.now()
    Connection.objects.update_or_create(
        user=user, application=application, defaults={"scope": scope, "authorized_at": now}
    )


def connection_touch(*, user_id: int, application_id: int) -> None:
    """Stamp last use, at most once per ACCESS_TOKEN_TOUCH_INTERVAL_SECONDS (a write per call would be waste)."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.ACCESS_TOKEN_TOUCH_INTERVAL_SECONDS)
    from django.db.models import Q

    Connection.objects.filter(user_id=user_id, application_id=application_id).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=cutoff)
    ).update(last_used_at=now)


def _revoke_all(*, application, user=None) -> int:
    """Delete the access tokens, refresh tokens and pending codes of a client (for one user, or all)."""
    scope: dict[str, Any] = {"application": application}
    if user is not None:
        scope["user"] = user
    count = 0
    for model in (get_refresh_token_model(), get_access_token_model(), get_grant_model()):
        # Deleted row by row so the signals drop the /mcp copies at once, as a revocation must.
        for row in model.objects.filter(**scope):
            row.delete()
            count += 1
    return count


@transaction.atomic
def connection_revoke(*, user, connection: Connection) -> None:
    """The user takes back a client's access: every token of theirs for it stops working at once."""
    application = connection.application
    removed = _revoke_all(application=application, user=user)
    connection.delete()
    oauth_event_record(
        user=user, application=application, action="oauth.connection_revoked", metadata={"tokens_removed_count": removed}
    )


@transaction.atomic
def client_block(*, actor, application) -> ClientState:
    """An operator blocks a client: no new sign-in, and every token it holds stops working."""
    state, _ = ClientState.objects.get_or_create(application=application)
    state.blocked = True
    state.blocked_at = timezone.now()
    state.save()
    removed = _revoke_all(application=application)
    oauth_event_record(user=actor, application=application, action="oauth.client_blocked", metadata={"tokens_removed_count": removed})
    return state


@transaction.atomic
def client_unblock(*, actor, application) -> ClientState:
    state, _ = ClientState.objects.get_or_create(application=application)
    state.blocked = False
    state.blocked_at = None
    state.save()
    oauth_event_record(user=actor, application=application, action="oauth.client_unblocked")
    return state


def spent_code_record(*, code: str, application, user) -> None:
    """Remember an exchanged authorization code (its checksum) for as long as its tokens can live."""
    cutoff = timezone.now() - timedelta(seconds=settings.OAUTH_REFRESH_TOKEN_SECONDS)
    SpentCode.objects.filter(spent_at__lt=cutoff).delete()  # rare (one per sign-in), so pruned here
    SpentCode.objects.create(code_checksum=token_checksum(code), application=application, user=user)


@transaction.atomic
def spent_code_reused(*, code: str, application) -> bool:
    """A code that was already exchanged came again: revoke what it gave (RFC 6749 §10.5). True if it was spent."""
    spent = SpentCode.objects.filter(code_checksum=token_checksum(code or ""), application=application).select_related(
        "user"
    ).first()
    if spent is None:
        return False
    removed = _revoke_all(application=application, user=spent.user)
    oauth_event_record(
        user=spent.user,
        application=application,
        action="oauth.code_reused",
        outcome="denied",
        metadata={"tokens_removed_count": removed},
    )
    logger.warning("an authorization code of OAuth client %s was used twice: its tokens are revoked", application.pk)
    return True
