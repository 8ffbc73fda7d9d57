"""Bearer access tokens for /mcp: the SDK's TokenVerifier backed by apps.keys."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from django.db import close_old_connections
from mcp.server.auth.provider import AccessToken as SdkAccessToken
from pydantic import Field

from apps.keys.selectors import access_token_authenticate
from apps.keys.services import access_token_touch


class DjangoAccessToken(SdkAccessToken):
    """The SDK's access token plus the Django user it belongs to (server-side only)."""

    token: str = Field(repr=False)  # the secret: kept out of reprs and logs
    user: Any = Field(default=None, exclude=True, repr=False)


def _verify(plaintext: str) -> DjangoAccessToken | None:
    close_old_connections()  # this runs outside Django's request cycle: honour CONN_MAX_AGE like a request
    try:
        token = access_token_authenticate(plaintext=plaintext)
        if token is None:
            return None
        access_token_touch(token=token)
        return DjangoAccessToken(
            token=plaintext,
            client_id=token.prefix,  # the public part only; the SDK logs and compares this
            scopes=[],
            subject=str(token.user.pk),
            expires_at=int(token.expires_at.timestamp()) if token.expires_at else None,
            user=token.user,
        )
    finally:
        close_old_connections()


class AccessTokenVerifier:
    """Maps `Authorization: Bearer tda_…` to the token's user; None (→ 401) when missing, revoked or expired."""

    async def verify_token(self, token: str) -> DjangoAccessToken | None:
        if not token or len(token) > 200:
            return None
        return await anyio.to_thread.run_sync(_verify, token)
