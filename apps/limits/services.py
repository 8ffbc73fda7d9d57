"""Per-user request limits (REST writes, chat turns, MCP tools/call) and the RateLimit header fields."""

from __future__ import annotations

import logging
import math
import time

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError
from apps.limits import limiter
from apps.limits.selectors import user_policy_get_cached

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0
KINDS = {"api_writes": "api_writes_per_minute", "mcp_calls": "mcp_calls_per_minute"}
_warned_at = 0.0


class RateLimited(ApplicationError):
    status_code = 429
    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, headers: dict[str, str]) -> None:
        super().__init__(message, extra={"retry_after": retry_after})
        self.retry_after = retry_after
        self.headers = headers


def _warn_open(kind: str) -> None:
    global _warned_at
    now = time.monotonic()
    if now - _warned_at > 60 or not _warned_at:
        _warned_at = now
        logger.warning("limit store unreachable: %s limits fail open (nothing here spends money)", kind)


def rate_headers(*, name: str, limit: int, remaining: int, reset: float, window: float = WINDOW_SECONDS) -> dict[str, str]:
    """The IETF RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers-10 syntax)."""
    return {
        "RateLimit-Policy": f'"{name}";q={limit};w={int(window)}',
        "RateLimit": f'"{name}";r={max(remaining, 0)};t={max(int(math.ceil(reset)), 0)}',
    }


def user_request_check(*, user, kind: str, policy=None) -> dict[str, str] | None:
    """Count one request of ``kind`` for the user. Headers to send on success (None: no limit applies);
    raises RateLimited (429) when the user's limit is reached. Fails open when the store is unreachable.

    ``policy``: the user's policy when the caller has it already (default: read now)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    limit = getattr(policy or user_policy_get_cached(user=user), KINDS[kind])
    if limit is None:
        return None
    name = kind.replace("_", "-")
    try:
        decision = limiter.window_hit(f"u:{user.pk}:{kind}", limit=int(limit), window_seconds=WINDOW_SECONDS)
    except limiter.LimiterUnavailable:
        _warn_open(kind)
        return None
    if decision.allowed:
        return rate_headers(name=name, limit=limit, remaining=decision.remaining, reset=decision.reset)
    retry = max(int(math.ceil(decision.retry_after)), 1)
    headers = {"Retry-After": str(retry), **rate_headers(name=name, limit=limit, remaining=0, reset=retry)}
    try:
        audit_record(
            actor=user, action="limit.exceeded", target_type="limits.userpolicy", target_id=user.pk,
            outcome="denied", metadata={"policy": kind, "limit": int(limit), "window_seconds": int(WINDOW_SECONDS)},
        )
    except Exception:  # an audit write failing must not turn a 429 into a 500
        logger.exception("could not audit a limit hit")
    what = "requests that change data" if kind == "api_writes" else "MCP tool calls"
    raise RateLimited(
        f"Too many {what}: the limit is {limit} per minute. Try again in {retry} s.", retry_after=retry, headers=headers
    )
