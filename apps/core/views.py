"""Health probes, the home page, and JSON error pages for the API."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.core.exception_handler import REQUEST_TOO_LARGE, json_error_response

logger = logging.getLogger(__name__)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches nothing else."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    cache.set("readyz:probe", "1", timeout=5)
    if cache.get("readyz:probe") != "1":
        raise RuntimeError("cache did not return the value it was given")


def _check_broker() -> str | None:
    if not settings.CELERY_BROKER_URL:
        return "eager"  # tasks run in-process: there is no broker to reach
    from kombu import Connection

    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


_CHECKS = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: database, cache and broker reachable; 503 naming the ones that are not."""
    results: dict[str, str] = {}
    for name, check in _CHECKS.items():
        try:
            results[name] = check() or "ok"
        except Exception as exc:  # a probe must report, not raise
            logger.warning("readiness check %s failed: %s", name, type(exc).__name__)
            results[name] = "unavailable"
    failed = [name for name, result in results.items() if result == "unavailable"]
    body = {"status": "ok" if not failed else "unavailable", "checks": results, "failed": failed}
    return JsonResponse(body, status=200 if not failed else 503)


def home(request: HttpRequest):
    return render(request, "core/home.html")


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception=None):
    if _is_api(request):
        return json_error_response("not_found", "Not found.", 404)
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest):
    if _is_api(request):
        return json_error_response("server_error", "Internal server error.", 500)
    return render(request, "500.html", status=500)


def bad_request(request: HttpRequest, exception=None):
    if isinstance(exception, RequestDataTooBig):  # Django files it under SuspiciousOperation
        if _is_api(request):
            return json_error_response(*REQUEST_TOO_LARGE, 413)
        return HttpResponse("Request body too large.", status=413, content_type="text/plain")
    if _is_api(request):
        return json_error_response("bad_request", "Bad request.", 400)
    return render(request, "400.html", status=400)


def permission_denied(request: HttpRequest, exception=None):
    if _is_api(request):
        return json_error_response("permission_denied", "Permission denied.", 403)
    return render(request, "403.html", status=403)
