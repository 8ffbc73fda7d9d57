"""The in-process client (the chat's path): real MCP requests, the user bound server-side only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import httpx2
import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connections, transaction
from pydantic import BaseModel

from apps.audit.models import AuditEvent
from apps.core.errors import Unauthenticated
from apps.mcp_tools import client as client_module
from apps.mcp_tools import server as server_module
from apps.mcp_tools.client import ToolCallOutcome, mcp_tool_call, mcp_tools_list
from apps.mcp_tools.context import CALLER_CHAT, TRANSPORT_IN_PROCESS, Principal, bind_principal, current_user, unbind_principal
from apps.mcp_tools.registry import ToolSpec
from apps.mcp_tools.services import tool_registration_update
from apps.todos.models import Task
from tests.factories import make_task, make_token, make_user
from tests.mcp_tools.conftest import call, run

db = pytest.mark.django_db


@db
def test_tools_list_gives_name_description_and_schemas(user_a):
    tools = {tool["name"]: tool for tool in mcp_tools_list(user=user_a)}
    assert {"add_task", "list_tasks", "delete_task", "task_statistics"} <= set(tools)
    add = tools["add_task"]
    assert add["description"].startswith("Add a task")
    assert add["input_schema"]["required"] == ["title"]
    assert add["input_schema"]["properties"]["priority"]["enum"] == ["low", "normal", "high"]
    assert add["output_schema"]["required"][:2] == ["id", "title"]
    assert tools["get_task"]["annotations"]["read_only_hint"] is True


@db
def test_a_chat_tool_call_is_an_mcp_tools_call_and_is_audited_as_chat(user_a, caplog):
    with caplog.at_level(logging.DEBUG, logger="apps.mcp_tools.protocol"):
        outcome = mcp_tool_call(user=user_a, name="add_task", arguments={"title": "buy milk", "priority": "high"})
    assert not outcome.is_error
    assert outcome.structured["title"] == "buy milk"
    assert '"title": "buy milk"' in outcome.content_text  # the text a model reads is the JSON result
    seen = [r.getMessage() for r in caplog.records if r.name == "apps.mcp_tools.protocol"]
    assert any(m.startswith("mcp request tools/call 'add_task' via local") for m in seen), seen
    event = AuditEvent.objects.get(action="mcp.tool_call")
    assert (event.actor, event.target_id, event.outcome) == (user_a, "add_task", "success")
    assert event.metadata["caller"] == "chat" and event.metadata["transport"] == "in-process"
    assert event.metadata["latency_ms"] > 0
    assert AuditEvent.objects.filter(action="task.create", actor=user_a).count() == 1


@db
def test_tool_errors_carry_the_same_message_as_the_rest_api(user_a, client_a):
    outcome = mcp_tool_call(user=user_a, name="get_task", arguments={"task_id": 424242})
    api = client_a.get("/api/v1/tasks/424242/").json()["error"]
    assert outcome.is_error
    assert outcome.content_text == api["message"] == "Task not found."
    assert outcome.structured["error"]["code"] == api["code"]


@db
@pytest.mark.parametrize(
    ("name", "arguments", "field", "rule"),
    [
        ("add_task", {}, "title", "missing"),
        ("add_task", {"title": "x" * 201}, "title", "string_too_long"),
        ("add_task", {"title": "a\x00b"}, "title", "string_pattern_mismatch"),
        ("add_task", {"title": "x", "due_date": "2026-02-30"}, "due_date", "value_error"),
        ("add_task", {"title": "x", "due_date": 1767225600}, "due_date", "value_error"),
        ("add_task", {"title": "x", "description": "d" * 5001}, "description", "string_too_long"),
        ("add_tasks", {"tasks": []}, "tasks", "too_short"),
        ("add_tasks", {"tasks": [{"title": "t"}] * 26}, "tasks", "too_long"),
        ("add_tasks", {"tasks": [{"title": "t"}, {"priority": "high"}]}, "tasks[1].title", "missing"),
        ("list_tasks", {"status": "done"}, "status", "literal_error"),
        ("list_tasks", {"limit": 0}, "limit", "greater_than_equal"),
        ("list_tasks", {"limit": 101}, "limit", "less_than_equal"),
        ("list_tasks", {"search": "s" * 201}, "search", "string_too_long"),
        ("get_task", {"task_id": "7"}, "task_id", "int_type"),
        ("get_task", {"task_id": True}, "task_id", "int_type"),
        ("get_task", {"task_id": 0}, "task_id", "greater_than_equal"),
        ("get_task", {"task_id": 2**63}, "task_id", "less_than_equal"),
        ("update_task", {"task_id": 1, "priority": "urgent"}, "priority", "literal_error"),
        ("complete_task", {"task_id": 1, "user_id": 2}, "user_id", "is not an argument"),
    ],
)
def test_a_bad_argument_is_a_tool_error_naming_the_field_and_the_rule(user_a, name, arguments, field, rule):
    outcome = mcp_tool_call(user=user_a, name=name, arguments=arguments)
    assert outcome.is_error
    error = outcome.structured["error"]
    assert error["code"] == "invalid_arguments"
    assert field in error["extra"]["fields"]
    assert rule in " ".join(error["extra"]["fields"][field])
    assert field in outcome.content_text
    assert not Task.objects.exists()


@db
def test_update_task_leaves_out_fields_not_given_and_null_due_date_clears_it(user_a):
    task = make_task(user_a, title="t", description="keep", priority="high", due_date="2026-12-01")
    kept = mcp_tool_call(user=user_a, name="update_task", arguments={"task_id": task.pk, "title": "t2"})
    assert kept.structured["description"] == "keep" and kept.structured["due_date"] == "2026-12-01"
    cleared = mcp_tool_call(user=user_a, name="update_task", arguments={"task_id": task.pk, "due_date": None})
    assert cleared.structured["due_date"] is None and cleared.structured["priority"] == "high"


@db
def test_add_tasks_adds_all_or_none(user_a):
    outcome = mcp_tool_call(user=user_a, name="add_tasks", arguments={"tasks": [{"title": "a"}, {"title": "  "}]})
    assert outcome.is_error and outcome.content_text == "Task 2: Title must not be empty."
    assert not Task.objects.exists()
    outcome = mcp_tool_call(user=user_a, name="add_tasks", arguments={"tasks": [{"title": "a"}, {"title": "b"}]})
    assert outcome.structured["count"] == 2 and Task.objects.filter(owner=user_a).count() == 2


@db
def test_list_tasks_count_is_the_number_matching_not_the_number_returned(user_a):
    for i in range(5):
        make_task(user_a, title=f"t{i}")
    outcome = mcp_tool_call(user=user_a, name="list_tasks", arguments={"limit": 2})
    assert outcome.structured["count"] == 5 and len(outcome.structured["tasks"]) == 2


@db
def test_tools_share_the_callers_transaction(user_a):
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        assert not mcp_tool_call(user=user_a, name="add_task", arguments={"title": "tentative"}).is_error
        assert Task.objects.filter(title="tentative").exists()  # same connection: visible at once
        raise Rollback
    assert not Task.objects.filter(title="tentative").exists()


@db
def test_a_disabled_tool_is_absent_and_refused_and_an_override_replaces_the_description(user_a, user_b):
    tool_registration_update(actor=user_b, name="add_task", enabled=False)
    tool_registration_update(actor=user_b, name="list_tasks", description_override="List things.")
    tools = {tool["name"]: tool for tool in mcp_tools_list(user=user_a)}
    assert "add_task" not in tools and tools["list_tasks"]["description"] == "List things."
    outcome = mcp_tool_call(user=user_a, name="add_task", arguments={"title": "x"})
    assert outcome.is_error and outcome.structured["error"]["code"] == "tool_disabled"
    assert AuditEvent.objects.get(action="mcp.tool_call").outcome == "denied"


@db
def test_an_anonymous_or_inactive_user_cannot_call_tools(user_a):
    with pytest.raises(Unauthenticated):
        mcp_tool_call(user=AnonymousUser(), name="list_tasks", arguments={})
    user_a.is_active = False
    with pytest.raises(Unauthenticated):
        mcp_tools_list(user=user_a)


@db
def test_malformed_calls_from_a_model_are_outcomes_not_crashes(user_a):
    assert mcp_tool_call(user=user_a, name="list_tasks", arguments=["not", "a", "dict"]).is_error
    assert mcp_tool_call(user=user_a, name=None, arguments={}).is_error
    outcome = mcp_tool_call(user=user_a, name="no_such_tool", arguments={})
    assert outcome == ToolCallOutcome("Unknown tool: no_such_tool.", outcome.structured, True)


# -- the binding: follows the caller into the tool, and only the caller ------------------------------------


class WhoAmI(BaseModel):
    username: str
    thread: int


def whoami() -> WhoAmI:
    """Say who the tool runs for, and on which thread."""
    return WhoAmI(username=current_user().username, thread=threading.get_ident())


@pytest.fixture
def whoami_server(monkeypatch):
    spec = ToolSpec(
        name="whoami", fn=whoami, title="Who am I", read_only=True, destructive=False, idempotent=True,
        open_world=False, app_label="tests",
    )
    server = server_module.TodoMCPServer({"whoami": spec})
    monkeypatch.setattr(client_module, "get_server", lambda: server)
    monkeypatch.setattr(server_module, "_audit", lambda *args, **kwargs: None)  # no writes from many threads
    return server


@pytest.mark.django_db(transaction=True)
def test_the_bound_user_reaches_the_tool_on_the_callers_thread_and_never_another_callers(whoami_server):
    users = [make_user(f"u{i}") for i in range(8)]
    outcome = mcp_tool_call(user=users[0], name="whoami", arguments={})
    assert outcome.structured == {"username": "u0", "thread": threading.get_ident()}

    def call_as(user):
        try:
            results = [mcp_tool_call(user=user, name="whoami", arguments={}).structured for _ in range(5)]
            return user.username, threading.get_ident(), results
        finally:
            connections.close_all()  # the tools used this pool thread's own connection

    with ThreadPoolExecutor(max_workers=8) as pool:
        for username, thread, results in pool.map(call_as, users * 2):
            assert results == [{"username": username, "thread": thread}] * 5


def test_a_principal_is_never_taken_from_the_binding_for_an_http_request():
    principal = Principal(user=SimpleNamespace(username="bound"), caller=CALLER_CHAT, transport=TRANSPORT_IN_PROCESS)
    token = bind_principal(principal)
    try:
        http_context = SimpleNamespace(request_context=SimpleNamespace(request=object()))
        local_context = SimpleNamespace(request_context=SimpleNamespace(request=None))
        assert server_module._principal(http_context) is None
        assert server_module._principal(local_context) is principal
        assert server_module._principal(None) is None
    finally:
        unbind_principal(token)


@contextlib.asynccontextmanager
async def _lifespan(app):
    """Drive the ASGI lifespan of `app` in this event loop."""
    inbox: asyncio.Queue = asyncio.Queue()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def send(message):
        (started if message["type"].startswith("lifespan.startup") else stopped).set()

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    await started.wait()
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await stopped.wait()
        await task


@pytest.mark.django_db(transaction=True)
def test_an_http_request_in_the_same_context_as_a_binding_still_acts_only_for_its_token():
    """Even when the binding is visible (HTTP handled in the binding's own context), the token decides."""
    from config.asgi import application
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    alice, bob = make_user("alice"), make_user("bob")
    make_task(alice, title="alice's")
    make_task(bob, title="bob's")
    bob_token = make_token(bob)

    async def scenario():
        token = bind_principal(Principal(user=alice, caller=CALLER_CHAT, transport=TRANSPORT_IN_PROCESS))
        try:
            async with _lifespan(application):
                transport = httpx2.ASGITransport(app=application)
                headers = {"Authorization": f"Bearer {bob_token}"}
                async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers) as http:
                    async with Client(streamable_http_client("http://127.0.0.1/mcp", http_client=http), cache=None) as c:
                        listed = await call(c, "list_tasks")
                async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
                    anonymous = await http.post(
                        "/mcp",
                        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_tasks"}},
                        headers={"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-11-25"},
                    )
                return listed, anonymous
        finally:
            unbind_principal(token)

    listed, anonymous = run(scenario())
    assert [t["title"] for t in listed.structured_content["tasks"]] == ["bob's"]
    assert anonymous.status_code == 401


@db
def test_a_tool_whose_database_went_away_is_a_service_unavailable_tool_error_not_a_crash(user_a, monkeypatch, caplog):
    from apps.core.outage import DatabaseUnavailable

    def unavailable(*args):
        raise DatabaseUnavailable("test")

    monkeypatch.setattr(server_module, "_run_tool", unavailable)
    with caplog.at_level(logging.ERROR, logger="apps.mcp_tools.server"):
        outcome = mcp_tool_call(user=user_a, name="list_tasks", arguments={})
    assert outcome.is_error
    assert outcome.structured["error"]["code"] == "service_unavailable"
    assert outcome.structured["error"]["extra"]["retry_after"] >= 1
    assert "unavailable" in outcome.content_text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # the outage logs itself, once


@db
def test_an_audit_write_lost_to_an_outage_logs_no_traceback_per_call(user_a, monkeypatch, caplog):
    from apps.core.outage import DatabaseUnavailable

    def unavailable(**kwargs):
        raise DatabaseUnavailable("test")

    monkeypatch.setattr(server_module, "audit_record", unavailable)
    with caplog.at_level(logging.ERROR, logger="apps.mcp_tools.server"):
        outcome = mcp_tool_call(user=user_a, name="list_tasks", arguments={})
    assert not outcome.is_error  # the call itself happened
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # the outage logs itself, once
