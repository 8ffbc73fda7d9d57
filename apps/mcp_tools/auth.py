"""Bearer access tokens for /mcp: the SDK's TokenVerifier backed by apps.keys (personal) and apps.oauth (OAuth)."""

from __future__ import annotations

from typing import Any

from mcp.server.auth.provider import AccessToken as SdkAccessToken
from pydantic import Field

from apps.core.localcache import MISS, reads_are_local
from apps.keys.models import AccessToken
from apps.keys.selectors import access_token_authenticate_cached, access_token_verified, verified_tokens
from apps.keys.services import access_token_touch
from apps.mcp_tools.context import SCOPE_READ, SCOPE_WRITE
from apps.mcp_tools.db import run_db
from apps.oauth.selectors import (
    VerifiedOAuthToken,
    oauth_token_authenticate,
    oauth_token_verified_local,
    verified_oauth_tokens,
)
from apps.oauth.services import connection_touch
from apps.oauth.tokens import ACCESS_PREFIX as OAUTH_PREFIX
from apps.oauth.tokens import token_prefix

# A personal access token may do everything its user may: it has every scope.
FULL_SCOPES = [SCOPE_READ, SCOPE_WRITE]


class DjangoAccessToken(SdkAccessToken):
    """The SDK's access token plus the Django user it belongs to (server-side only)."""

    token: str = Field(repr=False)  # the secret: kept out of reprs and logs
    user: Any = Field(default=None, exclude=True, repr=False)
    oauth_application_id: int | None = Field(default=None, exclude=True)


def _verify(plaintext: str) -> DjangoAccessToken | None:
    token = access_token_authenticate_cached(plaintext=plaintext)
    if token is None:
        return None
    access_token_touch(token=token)  # a no-op unless due; copies expire before it is due again
    return _sdk_token(plaintext, token)


def _sdk_token(plaintext: str, token: AccessToken) -> DjangoAccessToken:
    return DjangoAccessToken(
        token=plaintext,
        client_id=token.prefix,  # the public part only; the SDK logs and compares this
        scopes=list(FULL_SCOPES),
        subject=str(token.user.pk),
        expires_at=int(token.expires_at.timestamp()) if token.expires_at else None,
        user=token.user,
    )


def _oauth_sdk_token(plaintext: str, token: VerifiedOAuthToken) -> DjangoAccessToken:
    return DjangoAccessToken(
        token=plaintext,
        client_id=token_prefix(plaintext),  # the public part only, as for personal tokens
        scopes=list(token.scopes),
        subject=str(token.user.pk),
        expires_at=int(token.expires.timestamp()),
        resource=token.resource[0] if token.resource else None,
        user=token.user,
        oauth_application_id=token.application_id,
    )


def _verify_oauth(plaintext: str) -> DjangoAccessToken | None:
    token = oauth_token_authenticate(plaintext=plaintext)
    if token is None:
        return None
    connection_touch(user_id=token.user.pk, application_id=token.application_id)  # a no-op unless due
    return _oauth_sdk_token(plaintext, token)


class AccessTokenVerifier:
    """Maps `Authorization: Bearer tda_…` to the token's user; None (→ 401) when missing, revoked or expired."""

    async def verify_token(self, token: str) -> DjangoAccessToken | None:
        if not token or len(token) > 200:
            return None
        if token.startswith(OAUTH_PREFIX):
            return await self._verify_oauth(token)
        if reads_are_local():
            # This process's copy, checked against the generation in local memory: no thread hop.
            cached = access_token_verified(plaintext=token, generation=verified_tokens.generation())
            if cached is not MISS:
                return None if cached is None else _sdk_token(token, cached)
        return await run_db(None, _verify, token)  # a worker thread (database, or a remote cache)

    async def _verify_oauth(self, token: str) -> DjangoAccessToken | None:
        if reads_are_local():
            cached = oauth_token_verified_local(plaintext=token, generation=verified_oauth_tokens.generation())
            if cached is not MISS:
                return None if cached is None else _oauth_sdk_token(token, cached)
        return await run_db(None, _verify_oauth, token)
