"""The per-user limit on MCP ``tools/call``, checked before the SDK sees the request (so the answer can be a 429)."""

from __future__ import annotations

from apps.core.localcache import MISS, generation_at_hand
from apps.limits.selectors import user_policies, user_policy_get_cached, user_policy_local
from apps.limits.services import RateLimited, user_request_check

Refusal = tuple[str, dict[str, str]]  # the 429's message and headers


def mcp_call_refusal(*, user, calls: int) -> Refusal | None:
    """(message, headers) for a 429 when the user is past their tools/call limit, else None.

    Counts ``calls`` calls (a batch may hold several). Runs in a worker thread: it may read the
    database (the policy, and the audit row of a refusal) and the shared limiter store (Redis).
    """
    if user is None or calls <= 0:
        return None
    policy = user_policy_get_cached(user=user)
    try:
        for _ in range(calls):
            user_request_check(user=user, kind="mcp_calls", policy=policy)
    except RateLimited as exc:
        return exc.message, exc.headers
    return None


def mcp_call_refusal_local(*, user, calls: int) -> Refusal | None | object:
    """mcp_call_refusal decided without any I/O, so on the event loop: None when no limit applies
    to the user (this process's copy of their policy says so); MISS when it must go to a thread."""
    if user is None or calls <= 0:
        return None
    if not generation_at_hand(user_policies.key):
        return MISS
    policy = user_policy_local(user=user, generation=user_policies.generation())
    if policy is MISS or policy.mcp_calls_per_minute is not None:
        return MISS  # a limit to count (and maybe a refusal to audit): in a thread
    return None
