"""Keeps the API's error shape on paths Django answers itself (debug pages, unrouted 404s)."""

from __future__ import annotations

import base64
import hashlib

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import escape

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


# The outage page: no template, no static file, no session - nothing that needs the database or
# another request. Its one inline style is allowed by its hash, so the project's CSP still holds.
_OUTAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}"
    "h1{font-size:1.4rem}"
)
_OUTAGE_STYLE_SOURCE = "'sha256-%s'" % base64.b64encode(hashlib.sha256(_OUTAGE_STYLE.encode()).digest()).decode()
_OUTAGE_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>Temporarily unavailable</title><style>{style}</style></head><body><main>"
    "<h1>Temporarily unavailable</h1><p>{message}</p>"
    "<p>Please reload this page in about {wait} seconds; nothing you saved before is lost.</p>"
    "</main></body></html>\n"
)


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: JSON on /api/ paths and for clients that ask for JSON, else a small HTML page."""
    body, wait = database_unavailable()
    accept = request.headers.get("Accept", "")
    if request.path.startswith(API_PREFIX) or ("json" in accept and "html" not in accept):
        response = JsonResponse(body, status=503)
    else:
        page = _OUTAGE_PAGE.format(style=_OUTAGE_STYLE, message=escape(DatabaseUnavailable.PUBLIC_MESSAGE), wait=wait)
        response = HttpResponse(page, status=503, content_type="text/html; charset=utf-8")
        response._csp_update = {"style-src": [_OUTAGE_STYLE_SOURCE]}  # django-csp adds it to this response only
    response["Retry-After"] = wait
    response["Cache-Control"] = "no-store"
    response._has_been_logged = True  # the outage is (once per interval): no Django ERROR line per 503
    return response


class DatabaseUnavailableMiddleware:
    """A view that could not reach the database answers 503 with Retry-After, not a 500.

    REST views answer it themselves (apps.core.exception_handler); this covers the pages, the
    admin and Django's own views: JSON on /api/ paths, a small HTML page elsewhere (the 500
    handler answers the same when a middleware, not the view, met the outage). The outage is
    logged once per interval by apps.core.outage, so no traceback per request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DatabaseUnavailable):
            return None
        return database_unavailable_response(request)
