"""/mcp over streamable HTTP with the real mcp.Client: auth, Host/Origin, both protocol versions, every tool."""

from __future__ import annotations

from datetime import timedelta

import httpx2
import pytest
from django.utils import timezone
from mcp import MCPError

from apps.audit.models import AuditEvent
from apps.keys.models import AccessToken
from apps.keys.services import access_token_create, access_token_revoke
from apps.mcp_tools.services import tool_registration_update
from apps.todos.models import Task
from tests.factories import make_task, make_token, make_user
from tests.mcp_tools.conftest import PROTOCOL_MODES, call, error_of, http_session, run

pytestmark = pytest.mark.django_db(transaction=True)

TODO_TOOLS = {
    "add_task",
    "add_tasks",
    "list_tasks",
    "get_task",
    "update_task",
    "complete_task",
    "uncomplete_task",
    "delete_task",
    "complete_tasks",
    "update_tasks",
    "find_tasks",
    "list_lists",
    "add_list",
    "rename_list",
    "list_labels",
    "get_overview",
    "task_statistics",
}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


def _post(url: str, headers: dict[str, str]) -> httpx2.Response:
    return httpx2.post(f"{url}/mcp", json=INITIALIZE, headers={**ACCEPT, **headers}, timeout=10)


# -- authentication ----------------------------------------------------------------------------------


def test_a_missing_token_gets_401_pointing_at_the_protected_resource_metadata(live_server_url):
    response = _post(live_server_url, {})
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and "resource_metadata=" in challenge
    assert "/.well-known/oauth-protected-resource/mcp" in challenge

    metadata = httpx2.get(f"{live_server_url}/.well-known/oauth-protected-resource/mcp", timeout=10)
    assert metadata.status_code == 200
    assert metadata.json()["resource"].endswith("/mcp")
    assert metadata.json()["bearer_methods_supported"] == ["header"]


@pytest.mark.parametrize("state", ["garbage", "revoked", "expired", "inactive user"])
def test_a_bad_revoked_or_expired_token_gets_401(live_server_url, state):
    user = make_user("holder")
    created = access_token_create(user=user, name="t")
    token = created.plaintext
    if state == "garbage":
        token = "tda_notarealtoken_" + "x" * 43
    elif state == "revoked":
        access_token_revoke(user=user, token_id=created.token.pk)
    elif state == "expired":
        AccessToken.objects.filter(pk=created.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    else:
        user.is_active = False
        user.save(update_fields=["is_active"])
    response = _post(live_server_url, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "resource_metadata=" in response.headers["www-authenticate"]
    assert token not in response.text


def test_the_mcp_client_cannot_connect_without_a_token(live_server_url):
    statuses: list[int] = []

    async def scenario():
        async with http_session(live_server_url, None, statuses=statuses):
            pass

    with pytest.raises(Exception):  # noqa: B017  (the SDK raises a generic error group for a 401)
        run(scenario())
    assert statuses and set(statuses) == {401}


# -- Host and Origin ---------------------------------------------------------------------------------


def test_a_foreign_origin_gets_403_and_a_foreign_host_421_even_with_a_good_token(live_server_url):
    auth = {"Authorization": f"Bearer {make_token(make_user('host'))}"}
    assert _post(live_server_url, {**auth, "Origin": "http://evil.example.com"}).status_code == 403
    assert _post(live_server_url, {**auth, "Host": "evil.example.com"}).status_code == 421
    # Checked before authentication: no token needed to be refused.
    assert _post(live_server_url, {"Origin": "http://evil.example.com"}).status_code == 403
    port = live_server_url.rsplit(":", 1)[1]
    assert _post(live_server_url, {**auth, "Origin": f"http://localhost:{port}"}).status_code == 200


# -- both protocol versions, every tool ------------------------------------------------------------------


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
def test_both_protocol_versions_list_and_call_the_tools(live_server_url, mode):
    user = make_user("versions")
    token = make_token(user)

    async def scenario():
        async with http_session(live_server_url, token, mode=mode) as client:
            listed = await client.list_tools()
            added = await call(client, "add_task", {"title": "buy milk", "priority": "high"})
            return client.protocol_version, listed, added

    version, listed, added = run(scenario())
    assert version == PROTOCOL_MODES[mode]
    tools = {tool.name: tool for tool in listed.tools}
    assert set(tools) == TODO_TOOLS
    for tool in tools.values():
        assert tool.description and tool.output_schema and tool.annotations is not None
        assert tool.input_schema["additionalProperties"] is False
        assert not {"user", "user_id", "owner"} & set(tool.input_schema.get("properties", {}))
    assert tools["list_tasks"].annotations.read_only_hint is True
    assert tools["delete_task"].annotations.destructive_hint is True
    assert tools["add_task"].input_schema["properties"]["title"]["maxLength"] == 200
    assert not added.is_error
    assert added.structured_content["title"] == "buy milk"
    assert Task.objects.get(owner=user).priority == "high"


def test_every_tool_works_over_http(live_server_url):
    user = make_user("walker")
    token = make_token(user)

    async def scenario():
        async with http_session(live_server_url, token) as client:
            out = {}
            first = await call(client, "add_task", {"title": "first", "due_date": "2026-12-24", "description": "d"})
            task_id = first.structured_content["id"]
            out["add_task"] = first
            out["add_tasks"] = await call(client, "add_tasks", {"tasks": [{"title": "a"}, {"title": "b", "priority": "low"}]})
            out["list_tasks"] = await call(client, "list_tasks", {"status": "pending", "search": "fir", "limit": 5})
            out["get_task"] = await call(client, "get_task", {"task_id": task_id})
            out["update_task"] = await call(client, "update_task", {"task_id": task_id, "title": "renamed", "due_date": None})
            out["complete_task"] = await call(client, "complete_task", {"task_id": task_id})
            out["uncomplete_task"] = await call(client, "uncomplete_task", {"task_id": task_id})
            out["task_statistics"] = await call(client, "task_statistics")
            out["delete_task"] = await call(client, "delete_task", {"task_id": task_id})
            out["get_after_delete"] = await call(client, "get_task", {"task_id": task_id})
            return task_id, out

    task_id, out = run(scenario())
    for name, result in out.items():
        if name != "get_after_delete":
            assert not result.is_error, (name, result.content)
    assert out["add_task"].structured_content["due_date"] == "2026-12-24"
    assert out["add_tasks"].structured_content["count"] == 2
    assert [t["title"] for t in out["list_tasks"].structured_content["tasks"]] == ["first"]
    assert out["list_tasks"].structured_content["count"] == 1
    assert out["get_task"].structured_content["description"] == "d"
    assert out["update_task"].structured_content["title"] == "renamed"
    assert out["update_task"].structured_content["due_date"] is None
    assert out["complete_task"].structured_content["completed"] is True
    assert out["uncomplete_task"].structured_content["completed"] is False
    assert out["task_statistics"].structured_content["total"] == 3
    assert out["delete_task"].structured_content == {"deleted": True, "task_id": task_id}
    assert error_of(out["get_after_delete"])["code"] == "task_not_found"
    assert set(Task.objects.filter(owner=user).values_list("title", flat=True)) == {"a", "b"}


def test_tool_errors_over_http_name_the_problem_and_change_nothing(live_server_url):
    user = make_user("errors")
    token = make_token(user)

    async def scenario():
        async with http_session(live_server_url, token, mode="legacy") as client:
            return {
                "bad_args": await call(client, "add_task", {"title": "", "priority": "urgent"}),
                "unknown_arg": await call(client, "get_task", {"task_id": 1, "user_id": 2}),
                "not_found": await call(client, "complete_task", {"task_id": 987654}),
                "blank_title": await call(client, "add_task", {"title": "   "}),
                "unknown_tool": await call(client, "drop_tables"),
            }

    results = run(scenario())
    bad = error_of(results["bad_args"])
    assert bad["code"] == "invalid_arguments"
    assert "title" in bad["message"] and "string_too_short" in bad["message"]
    assert "priority" in bad["message"] and "'low', 'normal' or 'high'" in bad["message"]
    assert "user_id" in error_of(results["unknown_arg"])["message"]
    assert error_of(results["not_found"]) == {"code": "task_not_found", "message": "Task not found.", "extra": {"task_id": 987654}}
    assert results["not_found"].content[0].text == "Task not found."
    assert error_of(results["blank_title"])["message"] == "Title must not be empty."
    assert error_of(results["unknown_tool"])["code"] == "tool_not_found"
    assert not Task.objects.exists()


def test_an_unknown_tool_name_is_cut_short_in_the_answer_and_the_audit_row(live_server_url):
    user = make_user("long-name")
    token = make_token(user)
    name = "drop_" + "x" * 20_000

    async def scenario():
        async with http_session(live_server_url, token) as client:
            return await call(client, name)

    error = error_of(run(scenario()))
    assert error["code"] == "tool_not_found"
    assert len(error["message"]) < 100 and len(error["extra"]["tool"]) == 64
    row = AuditEvent.objects.get(actor=user, action="mcp.tool_call")
    assert row.target_id == name[:64] and row.metadata["tool"] == name[:64]
    assert len(str(row.metadata)) < 1_000


def test_a_protocol_level_mistake_is_a_json_rpc_error_not_a_crash(live_server_url):
    token = make_token(make_user("rpc"))

    async def scenario():
        async with http_session(live_server_url, token) as client:
            return await client.list_tools()

    assert run(scenario()).tools  # the server is healthy
    response = httpx2.post(
        f"{live_server_url}/mcp",
        content=b"{not json",
        headers={**ACCEPT, "Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert 400 <= response.status_code < 500


# -- isolation between users -------------------------------------------------------------------------


def test_user_b_can_neither_see_nor_change_user_a_tasks_through_any_tool(live_server_url):
    alice, bob = make_user("alice"), make_user("bob")
    task = make_task(alice, title="alice's secret", description="private")
    before = Task.objects.filter(pk=task.pk).values().get()
    token_b = make_token(bob)
    by_id = {"task_id": task.pk}

    async def scenario():
        async with http_session(live_server_url, token_b) as client:
            return {
                "get_task": await call(client, "get_task", by_id),
                "update_task": await call(client, "update_task", {**by_id, "title": "mine now"}),
                "complete_task": await call(client, "complete_task", by_id),
                "uncomplete_task": await call(client, "uncomplete_task", by_id),
                "delete_task": await call(client, "delete_task", by_id),
                "list_tasks": await call(client, "list_tasks", {"search": "secret"}),
                "list_all": await call(client, "list_tasks", {"status": "all", "limit": 100}),
                "task_statistics": await call(client, "task_statistics"),
            }

    results = run(scenario())
    for name in ("get_task", "update_task", "complete_task", "uncomplete_task", "delete_task"):
        assert error_of(results[name])["code"] == "task_not_found", name
        assert "secret" not in results[name].content[0].text
    assert results["list_tasks"].structured_content == {"tasks": [], "count": 0}
    assert results["list_all"].structured_content["count"] == 0
    assert results["task_statistics"].structured_content["total"] == 0
    assert Task.objects.filter(pk=task.pk).values().get() == before


# -- the registry ------------------------------------------------------------------------------------


def test_a_disabled_tool_disappears_from_the_list_and_is_refused(live_server_url):
    operator = make_user("operator")
    user = make_user("lister")
    make_task(user, title="keep me")
    token = make_token(user)
    tool_registration_update(actor=operator, name="delete_task", enabled=False)

    async def session():
        async with http_session(live_server_url, token) as client:
            listed = {tool.name for tool in (await client.list_tools()).tools}
            task_id = (await call(client, "list_tasks")).structured_content["tasks"][0]["id"]
            refused = await call(client, "delete_task", {"task_id": task_id})
            return listed, refused

    listed, refused = run(session())
    assert "delete_task" not in listed and "get_task" in listed
    assert error_of(refused)["code"] == "tool_disabled"
    assert Task.objects.filter(owner=user).count() == 1

    tool_registration_update(actor=operator, name="delete_task", enabled=True)
    listed, deleted = run(session())
    assert "delete_task" in listed and not deleted.is_error
    assert not Task.objects.filter(owner=user).exists()


# -- audit ---------------------------------------------------------------------------------------------


def test_http_calls_are_audited_as_external_with_the_token_prefix_only(live_server_url):
    user = make_user("audited")
    created = access_token_create(user=user, name="desktop")

    async def scenario():
        async with http_session(live_server_url, created.plaintext) as client:
            await call(client, "add_task", {"title": "x"})
            await call(client, "get_task", {"task_id": 0})

    run(scenario())
    events = list(AuditEvent.objects.filter(action="mcp.tool_call").order_by("id"))
    assert [(e.target_id, e.outcome) for e in events] == [("add_task", "success"), ("get_task", "failure")]
    for event in events:
        assert event.actor == user
        assert event.metadata["caller"] == "external" and event.metadata["transport"] == "http"
        assert event.metadata["token_prefix"] == created.token.prefix
        assert event.metadata["latency_ms"] >= 0
        assert event.request_id and event.client_ip == "127.0.0.1"
    assert events[1].metadata["error_code"] == "invalid_arguments"
    secret = created.plaintext.split("_", 2)[2]  # the 43-character secret (it may contain "_" itself)
    assert not AuditEvent.objects.filter(metadata__icontains=secret).exists()


def test_a_bad_argument_stops_before_any_service_runs(live_server_url):
    user = make_user("early")
    token = make_token(user)

    async def scenario():
        async with http_session(live_server_url, token) as client:
            return await call(client, "add_tasks", {"tasks": [{"title": "ok"}, {"title": "x", "colour": "red"}]})

    result = run(scenario())
    assert "tasks[1].colour is not an accepted field" in error_of(result)["message"]
    assert not Task.objects.exists()
    assert not AuditEvent.objects.filter(action="task.create").exists()


def test_mcp_errors_surface_as_mcp_errors_in_the_client(live_server_url):
    """A request the protocol itself rejects (no such method) is a JSON-RPC error, not a tool result."""
    token = make_token(make_user("proto"))

    async def scenario():
        async with http_session(live_server_url, token, mode="legacy") as client:
            try:
                await client.get_prompt("nothing")
            except MCPError as exc:
                return exc
            return None

    error = run(scenario())
    assert isinstance(error, MCPError) and "Unknown prompt" in error.error.message
