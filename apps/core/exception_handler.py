"""One DRF exception handler: every API error becomes {"error": {code, message, extra}}."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

from apps.core.errors import ApplicationError
from apps.core.outage import DatabaseUnavailable

logger = logging.getLogger(__name__)


REQUEST_TOO_LARGE = ("request_too_large", "The request body is too large.")
DATABASE_UNAVAILABLE = ("service_unavailable", DatabaseUnavailable.PUBLIC_MESSAGE)


def error_body(code: str, message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "extra": extra or {}}}


def database_unavailable() -> tuple[dict[str, Any], str]:
    """The 503 body and Retry-After value for a request that could not reach the database."""
    wait = DatabaseUnavailable.retry_after()
    return error_body(*DATABASE_UNAVAILABLE, {"retry_after": wait}), str(wait)


def _message_from_detail(detail: Any) -> str:
    if isinstance(detail, list | tuple) and detail:
        return _message_from_detail(detail[0])
    if isinstance(detail, dict) and detail:
        return _message_from_detail(next(iter(detail.values())))
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DatabaseUnavailable):  # logged once per interval by database_outage
        body, wait = database_unavailable()
        response = Response(body, status=503, headers={"Retry-After": wait})
        response._has_been_logged = True  # the outage is (once per interval): no Django ERROR line per 503
        return response
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.extra), status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        # Django files this under SuspiciousOperation (a 400); the client's fix is a smaller body.
        return Response(error_body(*REQUEST_TOO_LARGE), status=413)

    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(
            detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    elif isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = drf_default_handler(exc, context)
    if response is None:
        # Unhandled: let Django log it and answer 500 (handler500 keeps the shape).
        return None

    if isinstance(exc, drf_exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        first = _message_from_detail(exc.detail)
        response.data = error_body("validation_error", first, {"fields": fields})
    else:
        detail = getattr(exc, "detail", str(exc))
        codes = exc.get_codes() if isinstance(exc, drf_exceptions.APIException) else "error"
        code = codes if isinstance(codes, str) else "error"
        extra: dict[str, Any] = {}
        wait = getattr(exc, "wait", None)
        if wait is not None:
            extra["retry_after"] = wait
        response.data = error_body(code, _message_from_detail(detail), extra)
    return response


def json_error_response(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)
