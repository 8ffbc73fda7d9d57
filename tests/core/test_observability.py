"""JSON logs with the request id, the id carried into Celery tasks, /metrics access and families (one process)."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from apps.core import observability
from apps.core.metrics import FAMILIES
from apps.core.request_context import RequestContext, current_request_context, reset_request_context, set_request_context
from tests.factories import make_token, make_user

pytestmark = pytest.mark.django_db


def test_metrics_are_refused_without_a_token_or_a_staff_session(client, settings):
    settings.METRICS_TOKEN = "metrics-secret-123456"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    client.force_login(make_user("plain"))
    assert client.get("/metrics").status_code == 403


def test_metrics_with_the_token_name_every_family_and_count_requests_by_route(client, settings):
    settings.METRICS_TOKEN = "metrics-secret-123456"
    token = make_token(make_user("counted"))
    assert client.get("/api/v1/tasks/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret-123456")
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    assert set(FAMILIES) <= set(families)
    routes = {s.labels.get("route") for s in families["todoassist_http_requests"].samples}
    assert "/api/v1/tasks/" in routes
    assert not any(route and "/api/v1/tasks/1" in route for route in routes)  # patterns, not paths


def test_a_staff_session_may_read_metrics(client):
    staff = make_user("staffer")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200


def test_json_log_lines_carry_the_request_id():
    from pythonjsonlogger.json import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(process)d %(message)s %(request_id)s"))
    handler.addFilter(observability.RequestIdLogFilter())
    log = logging.getLogger("tests.json")
    log.addHandler(handler)
    token = set_request_context(RequestContext(request_id="req-abc-123"))
    try:
        log.warning("hello %s", "there", extra={"tool": "add_task"})
    finally:
        reset_request_context(token)
        log.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["message"] == "hello there" and line["request_id"] == "req-abc-123" and line["tool"] == "add_task"


def test_the_request_id_travels_in_task_headers_and_is_restored_in_the_worker():
    headers: dict = {}
    token = set_request_context(RequestContext(request_id="req-to-task-1"))
    try:
        observability._request_id_to_headers(headers=headers)
    finally:
        reset_request_context(token)
    assert headers == {"request_id": "req-to-task-1"}

    task = SimpleNamespace(name="apps.demo", request=SimpleNamespace(request_id="req-to-task-1"))
    observability._request_id_from_headers(task_id="t1", task=task)
    assert current_request_context().request_id == "req-to-task-1"
    observability._task_done(task_id="t1", task=task, state="SUCCESS")
    assert current_request_context().request_id == ""


def test_a_request_answer_says_its_id_and_logs_it(client, caplog):
    with caplog.at_level(logging.INFO, logger="apps.request"):
        response = client.get("/healthz", HTTP_X_REQUEST_ID="trace-me-42")
    assert response["X-Request-ID"] == "trace-me-42"
    lines = [r for r in caplog.records if r.name == "apps.request"]
    assert lines and lines[-1].request_id == "trace-me-42" and lines[-1].route == "/healthz" and lines[-1].status == 200


def test_every_command_that_serves_the_app_leaves_uvicorns_access_log_off():
    """uvicorn's access log writes the full URL, query string included (a token a client put there);
    the project's own request line (apps.request) names the route only."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    commands = [
        line
        for name in ("Makefile", "Procfile", "Dockerfile")
        for line in (root / name).read_text().splitlines()
        if re.search(r"uvicorn[\"']?,? +[\"']?config\.asgi:application", line)
    ]
    assert len(commands) >= 3, commands
    assert all("--no-access-log" in line for line in commands), commands
