"""The per-user limit on MCP ``tools/call``, checked before the SDK sees the request (so the answer can be a 429)."""

from __future__ import annotations

import json

from apps.limits.services import RateLimited, user_request_check


def _tool_calls(body: bytes) -> int:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return 0
    messages = parsed if isinstance(parsed, list) else [parsed]
    return sum(1 for m in messages if isinstance(m, dict) and m.get("method") == "tools/call")


def _user_for(authorization: str | None):
    if not authorization or not authorization[:7].lower() == "bearer ":
        return None
    from apps.keys.selectors import access_token_authenticate_cached
    from apps.oauth.selectors import oauth_token_authenticate
    from apps.oauth.tokens import ACCESS_PREFIX as OAUTH_PREFIX

    plaintext = authorization[7:].strip()
    if not plaintext or len(plaintext) > 200:
        return None
    # Personal tokens and OAuth tokens alike: the limit is the user's, whatever client they connect.
    if plaintext.startswith(OAUTH_PREFIX):
        token = oauth_token_authenticate(plaintext=plaintext)
    else:
        token = access_token_authenticate_cached(plaintext=plaintext)
    return token.user if token is not None else None


def mcp_call_refusal(authorization: str | None, body: bytes) -> tuple[str, dict[str, str]] | None:
    """(message, headers) for a 429 when the token's user is past their tools/call limit, else None.

    Runs in a worker thread (it may read the database). An unknown token is left to the SDK's 401.
    """
    calls = _tool_calls(body)
    if not calls:
        return None
    user = _user_for(authorization)
    if user is None:
        return None
    try:
        for _ in range(calls):
            user_request_check(user=user, kind="mcp_calls")
    except RateLimited as exc:
        return exc.message, exc.headers
    return None
