"""Reads for OAuth clients and tokens: the /mcp token check (with per-process copies) and connections."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from apps.core.localcache import MISS, GenerationCache
from apps.oauth.models import ClientState, Connection
from apps.oauth.tokens import token_checksum

# Dropped in every process when a token, a client's state or a user changes (apps.oauth.signals).
verified_oauth_tokens = GenerationCache("oauth_tokens", ttl_setting="ACCESS_TOKEN_CACHE_SECONDS")


@dataclass(frozen=True)
class VerifiedOAuthToken:
    """What /mcp needs of a valid OAuth access token (no secret in here)."""

    token_id: int
    user: object
    application_id: int
    client_id: str
    scopes: tuple[str, ...]
    resource: tuple[str, ...]
    expires: datetime


def mcp_resource() -> str:
    return settings.OAUTH_RESOURCES[0]


def normalized_resource(uri: str) -> str:
    return (uri or "").rstrip("/")


def resource_allowed(uri: str) -> bool:
    return normalized_resource(uri) in {normalized_resource(r) for r in settings.OAUTH_RESOURCES}


def client_blocked(application) -> bool:
    if application is None:
        return False
    return ClientState.objects.filter(application=application, blocked=True).exists()


def _load(plaintext: str) -> VerifiedOAuthToken | None:
    token = (
        get_access_token_model()
        .objects.select_related("user", "application")
        .filter(token_checksum=token_checksum(plaintext))
        .first()
    )
    if token is None or token.user is None or not token.user.is_active or token.application is None:
        return None
    if client_blocked(token.application):
        return None
    return VerifiedOAuthToken(
        token_id=token.pk,
        user=token.user,
        application_id=token.application_id,
        client_id=token.application.client_id,
        scopes=tuple(token.scope.split()),
        resource=tuple(normalized_resource(r) for r in (token.resource or [])),
        expires=token.expires,
    )


def _usable_for_mcp(token: VerifiedOAuthToken | None) -> VerifiedOAuthToken | None:
    if token is None or token.expires <= timezone.now():
        return None
    # RFC 8707: a token issued for another audience is not one for /mcp.
    if normalized_resource(mcp_resource()) not in token.resource:
        return None
    return token


def oauth_token_verified_local(*, plaintext: str, generation: str | None):
    """This process's copy of a verification (MISS when there is none valid for the generation)."""
    cached = verified_oauth_tokens.get(token_checksum(plaintext), generation)
    if cached is MISS:
        return MISS
    return _usable_for_mcp(cached)


def oauth_token_authenticate(*, plaintext: str) -> VerifiedOAuthToken | None:
    """The valid /mcp OAuth access token with this value, or None (unknown, revoked, expired, other audience)."""
    generation = verified_oauth_tokens.generation()  # before the read: a change after it bumps it
    cached = verified_oauth_tokens.get(token_checksum(plaintext), generation)
    if cached is MISS:
        cached = _load(plaintext)
        verified_oauth_tokens.put(token_checksum(plaintext), cached, generation)
    return _usable_for_mcp(cached)


def connection_list(*, user) -> QuerySet[Connection]:
    return Connection.objects.filter(user=user).select_related("application").order_by("-authorized_at")


def connection_get(*, user, connection_id: int) -> Connection | None:
    return connection_list(user=user).filter(pk=connection_id).first()
