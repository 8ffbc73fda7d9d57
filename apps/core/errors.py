"""The one application error family, mapped to HTTP by the DRF exception handler."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A failure the caller can understand and act on.

    Each subclass carries an HTTP status and a stable machine-readable code.
    MCP tools turn it into a tool error and pages into a message, so
    ``message`` must be safe to show to the user (never a secret).
    """

    status_code: int = 400
    default_code: str = "bad_request"
    default_message: str = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.extra = extra or {}
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "extra": self.extra}


class ValidationFailed(ApplicationError):
    status_code = 400
    default_code = "validation_error"
    default_message = "The input is not valid."


class NotFound(ApplicationError):
    status_code = 404
    default_code = "not_found"
    default_message = "Not found."


class Conflict(ApplicationError):
    status_code = 409
    default_code = "conflict"
    default_message = "The request conflicts with the current state."


class Unauthenticated(ApplicationError):
    status_code = 401
    default_code = "not_authenticated"
    default_message = "Authentication credentials were not provided or are not valid."


class PermissionDenied(ApplicationError):
    status_code = 403
    default_code = "permission_denied"
    default_message = "You do not have permission to do this."


class RateLimited(ApplicationError):
    status_code = 429
    default_code = "rate_limited"
    default_message = "Too many requests."


class ServiceUnavailable(ApplicationError):
    status_code = 503
    default_code = "service_unavailable"
    default_message = "The service is temporarily unavailable."
