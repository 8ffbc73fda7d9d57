"""Bearer access tokens for /mcp: the SDK's TokenVerifier backed by apps.keys."""

from __future__ import annotations

from typing import Any

from mcp.server.auth.provider import AccessToken as SdkAccessToken
from pydantic import Field

from apps.core.localcache import MISS, reads_are_local
from apps.keys.models import AccessToken
from apps.keys.selectors import access_token_authenticate_cached, access_token_verified, verified_tokens
from apps.keys.services import access_token_touch
from apps.mcp_tools.db import run_db


class DjangoAccessToken(SdkAccessToken):
    """The SDK's access token plus the Django user it belongs to (server-side only)."""

    token: str = Field(repr=False)  # the secret: kept out of reprs and logs
    user: Any = Field(default=None, exclude=True, repr=False)


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
        scopes=[],
        subject=str(token.user.pk),
        expires_at=int(token.expires_at.timestamp()) if token.expires_at else None,
        user=token.user,
    )


class AccessTokenVerifier:
    """Maps `Authorization: Bearer tda_…` to the token's user; None (→ 401) when missing, revoked or expired."""

    async def verify_token(self, token: str) -> DjangoAccessToken | None:
        if not token or len(token) > 200:
            return None
        if reads_are_local():
            # This process's copy, checked against the generation in local memory: no thread hop.
            cached = access_token_verified(plaintext=token, generation=verified_tokens.generation())
            if cached is not MISS:
                return None if cached is None else _sdk_token(token, cached)
        return await run_db(None, _verify, token)  # a worker thread (database, or a remote cache)
