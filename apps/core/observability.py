"""JSON logs that carry the request id, per-request metrics, and the request id through Celery.

- ``RequestIdLogFilter`` puts the current request id (apps.core.request_context) on every log
  record, so web, MCP and Celery lines can be joined on it.
- ``RequestLogMiddleware`` writes one line per request (route pattern, status, duration) and
  counts it in the Prometheus families.
- The Celery signal handlers put the publishing request's id in the task's headers and restore
  it in the worker around the task, and count task outcomes.
"""

from __future__ import annotations

import logging
import time

from celery import signals

from apps.core import metrics
from apps.core.request_context import RequestContext, current_request_context, reset_request_context, set_request_context

logger = logging.getLogger("apps.request")
task_logger = logging.getLogger("apps.tasks")

REQUEST_ID_HEADER = "request_id"


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_context().request_id or None
        return True


def route_of(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None and match.route:
        return "/" + match.route
    return "unmatched"


class RequestLogMiddleware:
    """After RequestContextMiddleware: logs and counts every request by its route pattern (not its path)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        route = route_of(request)
        metrics.count_safely(metrics.http_requests, route, request.method, str(response.status_code))
        try:
            metrics.http_request_duration.labels(route).observe(elapsed)
        except Exception:  # pragma: no cover
            pass
        logger.info(
            "%s %s %s",
            request.method,
            route,
            response.status_code,
            extra={"route": route, "method": request.method, "status": response.status_code,
                   "duration_ms": round(elapsed * 1000, 1), "request_id": getattr(request, "request_id", None)},
        )  # fmt: skip
        return response


# --- Celery ------------------------------------------------------------------------------------

_task_tokens: dict[str, object] = {}


@signals.before_task_publish.connect(dispatch_uid="core.request_id_to_task")
def _request_id_to_headers(headers=None, **kwargs) -> None:
    request_id = current_request_context().request_id
    if headers is not None and request_id:
        headers[REQUEST_ID_HEADER] = request_id


@signals.task_prerun.connect(dispatch_uid="core.request_id_in_task")
def _request_id_from_headers(task_id=None, task=None, **kwargs) -> None:
    request_id = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
    if not request_id and task is not None:
        request_id = (getattr(task.request, "headers", None) or {}).get(REQUEST_ID_HEADER)
    if request_id and task_id:
        _task_tokens[task_id] = set_request_context(RequestContext(request_id=str(request_id)))
    task_logger.info("task %s started", getattr(task, "name", "?"), extra={"task": getattr(task, "name", "?")})


@signals.task_postrun.connect(dispatch_uid="core.request_id_task_done")
def _task_done(task_id=None, task=None, state=None, **kwargs) -> None:
    name = getattr(task, "name", "?")
    task_logger.info("task %s finished: %s", name, state, extra={"task": name, "state": state})
    token = _task_tokens.pop(task_id, None) if task_id else None
    if token is not None:
        try:
            reset_request_context(token)
        except ValueError:  # set in another context (eager tasks run inline): leave it
            pass


@signals.task_success.connect(dispatch_uid="core.task_success")
def _task_success(sender=None, **kwargs) -> None:
    metrics.count_safely(metrics.celery_tasks, getattr(sender, "name", "?"), "success")


@signals.task_failure.connect(dispatch_uid="core.task_failure")
def _task_failure(sender=None, **kwargs) -> None:
    metrics.count_safely(metrics.celery_tasks, getattr(sender, "name", "?"), "failure")


@signals.task_retry.connect(dispatch_uid="core.task_retry")
def _task_retry(sender=None, **kwargs) -> None:
    metrics.count_safely(metrics.celery_tasks, getattr(sender, "name", "?"), "retry")


# --- MCP ---------------------------------------------------------------------------------------

mcp_logger = logging.getLogger("apps.mcp")


def observe_tool_call(tool: str, outcome: str, details: dict) -> None:
    """One log line and one count per MCP tools/call (HTTP or in-process), with the request id."""
    metrics.count_safely(metrics.mcp_tool_calls, tool, outcome)
    mcp_logger.info("tools/call %s %s", tool, outcome, extra={"tool": tool, "outcome": outcome, **details})
