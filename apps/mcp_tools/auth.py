"""Bearer access tokens for /mcp: the SDK's TokenVerifier backed by apps.keys (personal) and apps.oauth (OAuth)."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from mcp.server.auth.provider import AccessToken as SdkAccessToken
from pydantic import Field

from apps.core.localcache import MISS, generation_at_hand
from apps.keys.models import AccessToken
from apps.keys.selectors import access_token_authenticate_cached, access_token_verified, verified_tokens
from apps.keys.services import access_token_touch
from apps.keys.tokens import hash_token
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
from apps.oauth.tokens import token_checksum, token_prefix

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


def verify_in_thread(plaintext: str) -> DjangoAccessToken | None:
    """The token's verification, reading the database (or a remote cache) as needed: a worker thread."""
    if not plaintext or len(plaintext) > 200:
        return None
    return _verify_oauth(plaintext) if plaintext.startswith(OAUTH_PREFIX) else _verify(plaintext)


def verification_generation_key(plaintext: str) -> str:
    """The generation verify_in_thread reads for this kind of token (to read it ahead with others)."""
    return (verified_oauth_tokens if plaintext.startswith(OAUTH_PREFIX) else verified_tokens).key


def verify_local(plaintext: str) -> DjangoAccessToken | None | object:
    """The verification from this process's copy, checked against the generation in local memory
    or read ahead for this request (no I/O, so no thread hop); MISS when only verify_in_thread can tell."""
    if not plaintext or len(plaintext) > 200:
        return None
    if not generation_at_hand(verification_generation_key(plaintext)):
        return MISS
    if plaintext.startswith(OAUTH_PREFIX):
        cached = oauth_token_verified_local(plaintext=plaintext, generation=verified_oauth_tokens.generation())
        if cached is MISS:
            return MISS
        return None if cached is None else _oauth_sdk_token(plaintext, cached)
    cached = access_token_verified(plaintext=plaintext, generation=verified_tokens.generation())
    if cached is MISS:
        return MISS
    return None if cached is None else _sdk_token(plaintext, cached)


def known_user_id(plaintext: str) -> int | None:
    """The user this process last verified the token for, whether or not that still holds; only
    to choose what to read ahead (their data version), never to authenticate."""
    if not plaintext or len(plaintext) > 200:
        return None
    if plaintext.startswith(OAUTH_PREFIX):
        seen = verified_oauth_tokens.peek(token_checksum(plaintext))  # a VerifiedOAuthToken, or None
        return None if seen is MISS or seen is None else seen.user.pk
    seen = verified_tokens.peek(hash_token(plaintext))  # an AccessToken
    return None if seen is MISS or seen is None else seen.user_id


# One HTTP request's verifications (plaintext -> result): /mcp's own checks before the SDK
# (scope, tools/call limit) verify the token, and the SDK's auth middleware asks again for the
# same request. Never shared between requests, so a revocation still applies to the next one.
_request_verifications: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "mcp_request_verifications", default=None
)


@contextlib.contextmanager
def verifications_for_this_request() -> Iterator[None]:
    reset = _request_verifications.set({})
    try:
        yield
    finally:
        _request_verifications.reset(reset)


def remember_verification(plaintext: str, token: DjangoAccessToken | None) -> None:
    memo = _request_verifications.get()
    if memo is not None:
        memo[plaintext] = token


class AccessTokenVerifier:
    """Maps `Authorization: Bearer tda_…` to the token's user; None (→ 401) when missing, revoked or expired."""

    async def verify_token(self, token: str) -> DjangoAccessToken | None:
        memo = _request_verifications.get()
        if memo is not None and token in memo:
            return memo[token]  # verified earlier in this same request
        verified = verify_local(token)
        if verified is MISS:
            verified = await run_db(None, verify_in_thread, token)  # a worker thread (database, or a remote cache)
        remember_verification(token, verified)
        return verified
