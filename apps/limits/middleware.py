"""Puts the RateLimit fields (and Retry-After) a limit check left on the request onto its response."""

from __future__ import annotations


class RateLimitHeadersMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        for name, value in (getattr(request, "limit_headers", None) or {}).items():
            response[name] = value
        return response
