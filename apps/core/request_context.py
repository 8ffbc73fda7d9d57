"""Per-request facts (request id, client ip) that audit rows carry without threading them through every call."""

from __future__ import annotations

import contextvars
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    client_ip: str | None = None
    # Reads that one request may reuse (e.g. the user's limit policy, read by the request limit and
    # again by the turn's quotas). Only inside a request: see ``request_memo``.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "request_context", default=RequestContext()
)


def current_request_context() -> RequestContext:
    return _current.get()


def request_memo() -> dict[str, Any] | None:
    """This request's memo, or None outside a request (a worker, a shell), where nothing is reused."""
    ctx = _current.get()
    return ctx.memo if ctx.request_id else None


def set_request_context(ctx: RequestContext) -> contextvars.Token:
    return _current.set(ctx)


def reset_request_context(token: contextvars.Token) -> None:
    _current.reset(token)


class RequestContextMiddleware:
    """Accepts a sane X-Request-ID (or makes one), echoes it back, and records the client address."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = set_request_context(
            RequestContext(request_id=request_id, client_ip=request.META.get("REMOTE_ADDR") or None)
        )
        try:
            response = self.get_response(request)
        finally:
            reset_request_context(token)
        response["X-Request-ID"] = request_id
        return response
