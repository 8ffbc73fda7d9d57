"""Health probes, the home page, and JSON error pages for the API."""

from __future__ import annotations

import logging
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from apps.core.exception_handler import REQUEST_TOO_LARGE, json_error_response
from apps.core.middleware import database_unavailable_response
from apps.core.outage import DatabaseUnavailable

logger = logging.getLogger(__name__)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches nothing else."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    # Runs in a readiness thread: use that thread's connection and close it, so the probe's few
    # threads never keep connections open between probes.
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


def _check_cache() -> None:
    cache.set("readyz:probe", "1", timeout=5)
    if cache.get("readyz:probe") != "1":
        raise RuntimeError("cache did not return the value it was given")


def broker_transport_options(url: str) -> dict[str, float]:
    """Socket timeouts for a Redis broker (kombu's redis transport waits forever by default)."""
    if not url.startswith(("redis:", "rediss:")):
        return {}
    return {
        "socket_connect_timeout": settings.BROKER_CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": settings.BROKER_SOCKET_TIMEOUT_SECONDS,
    }


def _check_broker() -> str | None:
    url = settings.CELERY_BROKER_URL
    if not url:
        return "eager"  # tasks run in-process: there is no broker to reach
    from kombu import Connection

    timeout = settings.BROKER_CONNECT_TIMEOUT_SECONDS
    with Connection(url, connect_timeout=timeout, transport_options=broker_transport_options(url)) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)


_CHECKS = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}

# One thread per check, shared by every probe of this process. A check still running from an
# earlier probe (a dependency that hangs) is waited on again rather than started twice, so a
# stream of probes against a black-holed broker keeps at most len(_CHECKS) threads busy, and
# every probe answers within READYZ_TIMEOUT_SECONDS whatever its dependencies do.
_executor = ThreadPoolExecutor(max_workers=len(_CHECKS), thread_name_prefix="readyz")
_running: dict[str, Future] = {}
_running_lock = threading.Lock()


def _start_checks() -> dict[str, Future]:
    futures: dict[str, Future] = {}
    with _running_lock:
        for name, check in _CHECKS.items():
            future = _running.get(name)
            if future is None or future.done():
                future = _running[name] = _executor.submit(check)
            futures[name] = future
    return futures


def _outcome(name: str, future: Future) -> str:
    if not future.done():
        logger.warning("readiness check %s did not answer within %s s", name, settings.READYZ_TIMEOUT_SECONDS)
        return "unavailable"
    exc = future.exception()
    if exc is not None:  # a probe must report, not raise
        logger.warning("readiness check %s failed: %s", name, type(exc).__name__)
        return "unavailable"
    return future.result() or "ok"


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: database, cache and broker reachable; 503 naming the ones that are not."""
    futures = _start_checks()
    wait(futures.values(), timeout=settings.READYZ_TIMEOUT_SECONDS)
    results = {name: _outcome(name, future) for name, future in futures.items()}
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
    if isinstance(sys.exc_info()[1], DatabaseUnavailable):
        # A middleware met the outage (a session saved after the view): the view's own 503.
        return database_unavailable_response(request)
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


@csrf_exempt
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics: a bearer token equal to METRICS_TOKEN, or a staff session; else 403."""
    import hmac

    from apps.core import metrics

    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    allowed = bool(token) and header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode())
    user = getattr(request, "user", None)
    if not allowed and not (user is not None and user.is_authenticated and user.is_staff):
        return HttpResponse("Metrics need METRICS_TOKEN or a staff session.\n", status=403, content_type="text/plain")
    from prometheus_client import CONTENT_TYPE_LATEST

    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)
