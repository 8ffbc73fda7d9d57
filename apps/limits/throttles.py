"""DRF throttle: the per-user REST write limit from the user's limit policy."""

from __future__ import annotations

from rest_framework.throttling import BaseThrottle

from apps.limits.services import RateLimited, user_request_check

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class UserWriteThrottle(BaseThrottle):
    """Counts writes (and chat turns, which are POSTs) per user in a sliding minute; 429 past the limit.

    Runs after authentication (so a bearer-token user is known) and before the view: a refused
    chat turn stores nothing. The headers go on the response through RateLimitHeadersMiddleware.
    """

    def allow_request(self, request, view) -> bool:
        if request.method not in WRITE_METHODS:
            return True
        try:
            headers = user_request_check(user=request.user, kind="api_writes")
        except RateLimited as exc:
            request._request.limit_headers = exc.headers
            raise
        if headers:
            request._request.limit_headers = headers
        return True
