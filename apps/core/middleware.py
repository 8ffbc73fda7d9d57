"""Keeps the API's error shape on paths Django answers itself (debug pages, unrouted 404s)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.core.exception_handler import database_unavailable, json_error_response
from apps.core.outage import DatabaseUnavailable

API_PREFIX = "/api/"

_CODES = {
    400: ("bad_request", "Bad request."),
    403: ("permission_denied", "Permission denied."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    413: ("request_too_large", "The request body is too large."),
}
_SERVER_ERROR = ("server_error", "Internal server error.")
_OTHER_ERROR = ("error", "The request could not be processed.")


class ApiJsonErrorMiddleware:
    """An HTML error page on an /api/ path becomes the JSON error shape.

    With DEBUG on, Django answers a 404 or an uncaught exception with its technical HTML page
    instead of handler404/handler500; API clients (and the schema) expect the JSON shape
    whatever DEBUG says. The exception itself is still logged by Django before this runs.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.path.startswith(API_PREFIX)
            and response.status_code >= 400
            and response.get("Content-Type", "").startswith("text/html")
        ):
            status = response.status_code
            code, message = _CODES.get(status) or (_SERVER_ERROR if status >= 500 else _OTHER_ERROR)
            replacement = json_error_response(code, message, status)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response


class DatabaseUnavailableMiddleware:
    """A view that could not reach the database answers 503 with Retry-After, not a 500.

    REST views answer it themselves (apps.core.exception_handler); this covers the pages, the
    admin and Django's own views: JSON on /api/ paths, plain text elsewhere. The outage is logged
    once per interval by apps.core.outage, so no traceback per request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DatabaseUnavailable):
            return None
        body, wait = database_unavailable()
        if request.path.startswith(API_PREFIX):
            response = JsonResponse(body, status=503)
        else:
            response = HttpResponse(
                f"{DatabaseUnavailable.PUBLIC_MESSAGE}\n", status=503, content_type="text/plain; charset=utf-8"
            )
        response["Retry-After"] = wait
        return response
