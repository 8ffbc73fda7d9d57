"""django-ratelimit (fixed window, good enough for these) on the login form and on key creation.

A refused request is a 429 with Retry-After (``RATELIMIT_VIEW``), never django-ratelimit's 403.
Its cache failing (Redis down) would propagate as a 500 whatever RATELIMIT_FAIL_OPEN says, so
the check is wrapped here and fails open with a log warning: nothing here spends money.
"""

from __future__ import annotations

import functools
import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def attempts_limited(request, *, group: str, rate: str, key: str) -> bool:
    """Count this request in ``group``; True when over ``rate``. Fails open if the cache is down."""
    from django_ratelimit.core import is_ratelimited

    try:
        return is_ratelimited(request, group=group, key=key, rate=rate, method=["POST"], increment=True)
    except Exception as exc:  # noqa: BLE001 - the cache (Redis) being down must not make this a 500
        logger.warning("rate limit cache unreachable (%s); %s is not limited", type(exc).__name__, group)
        return False


def limit_posts(group: str, rate_setting: str, key: str = "ip"):
    """View decorator: POSTs beyond the rate named by ``rate_setting`` get the 429 of RATELIMIT_VIEW."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method == "POST" and attempts_limited(
                request, group=group, rate=getattr(settings, rate_setting), key=key
            ):
                from apps.limits.views import ratelimited

                return ratelimited(request)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def key_create_check(request) -> None:
    """For the REST API: raise RateLimited (429, Retry-After) past KEY_CREATE_RATE_LIMIT."""
    if attempts_limited(request, group="key-create", rate=settings.KEY_CREATE_RATE_LIMIT, key="user_or_ip"):
        from apps.audit.services import audit_record
        from apps.limits.services import RateLimited

        headers = {"Retry-After": "60"}
        raw = getattr(request, "_request", request)
        raw.limit_headers = {**(getattr(raw, "limit_headers", None) or {}), **headers}
        audit_record(actor=request.user, action="limit.exceeded", outcome="denied",
                     metadata={"policy": "key_create", "rate": settings.KEY_CREATE_RATE_LIMIT})
        raise RateLimited("Too many keys added; try again in a minute.", retry_after=60, headers=headers)
