"""Resources, prompts, completions, progress and client logging with the real mcp.Client (in-process, HTTP, stdio)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from mcp import Client, MCPError
from mcp.types import PromptReference, ResourceTemplateReference

from apps.mcp_tools.context import CALLER_EXTERNAL, TRANSPORT_IN_PROCESS, Principal, bind_principal, unbind_principal
from apps.mcp_tools.server import get_server
from apps.mcp_tools.services import tool_registration_update
from tests.factories import make_task, make_token, make_user
from tests.mcp_tools.conftest import http_session, run

pytestmark = pytest.mark.django_db(transaction=True)


def _tasks(user, other):
    today = timezone.localdate()
    return {
        "today": make_task(user, title="Due today", due_date=today, priority="high"),
        "late": make_task(user, title="Late one", due_date=today - timedelta(days=3)),
        "later": make_task(user, title="Next week", due_date=today + timedelta(days=7)),
        "done": make_task(user, title="Done already", due_date=today - timedelta(days=1), completed=True, completed_at=timezone.now()),
        "theirs": make_task(other, title="Not yours", due_date=today),
    }


async def _exercise(client: Client, tasks) -> dict:
    out: dict = {}
    out["resources"] = sorted(str(r.uri) for r in (await client.list_resources()).resources)
    out["templates"] = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
    for view in ("today", "overdue", "pending"):
        result = await client.read_resource(f"tasks://{view}")
        out[view] = [task["title"] for task in json.loads(result.contents[0].text)["tasks"]]
    one = await client.read_resource(f"task://{tasks['late'].pk}")
    out["one"] = json.loads(one.contents[0].text)["title"]
    with pytest.raises(MCPError) as theirs:
        await client.read_resource(f"task://{tasks['theirs'].pk}")
    out["theirs_error"] = theirs.value.error.message
    out["prompts"] = sorted(p.name for p in (await client.list_prompts()).prompts)
    plan = await client.get_prompt("plan_my_day", {"focus": "writing"})
    out["plan"] = plan.messages[0].content.text
    with pytest.raises(MCPError) as bad:
        await client.get_prompt("plan_my_day", {"user_id": "2"})
    out["bad_prompt"] = bad.value.error.message
    ids = await client.complete(ResourceTemplateReference(type="ref/resource", uri="task://{task_id}"), {"name": "task_id", "value": ""})
    out["ids"] = ids.completion.values
    titles = await client.complete(PromptReference(type="ref/prompt", name="triage_overdue"), {"name": "task_title", "value": "la"})
    out["titles"] = titles.completion.values
    priorities = await client.complete(PromptReference(type="ref/prompt", name="plan_my_day"), {"name": "priority", "value": "h"})
    out["priorities"] = priorities.completion.values
    return out


def _check(out: dict, tasks) -> None:
    assert out["resources"] == ["tasks://overdue", "tasks://pending", "tasks://today"]
    assert out["templates"] == ["task://{task_id}"]
    assert out["today"] == ["Due today"]
    assert out["overdue"] == ["Late one"]
    assert set(out["pending"]) == {"Due today", "Late one", "Next week"}
    assert out["one"] == "Late one"
    assert out["theirs_error"] == "Task not found."
    assert out["prompts"] == ["plan_my_day", "triage_overdue", "weekly_review"]
    assert "Due today" in out["plan"] and "Late one" in out["plan"] and "writing" in out["plan"]
    assert "Not yours" not in out["plan"]
    assert "user_id is not an argument" in out["bad_prompt"]
    mine = {str(tasks[k].pk) for k in ("today", "late", "later")}
    assert set(out["ids"]) == mine  # open tasks of this user only
    assert out["titles"] == ["Late one"]
    assert out["priorities"] == ["high"]


def test_resources_prompts_and_completions_in_process():
    alice, bob = make_user("alice"), make_user("bob")
    tasks = _tasks(alice, bob)

    async def go():
        token = bind_principal(Principal(user=alice, caller=CALLER_EXTERNAL, transport=TRANSPORT_IN_PROCESS))
        try:
            async with Client(get_server(), cache=None) as client:
                return await _exercise(client, tasks)
        finally:
            unbind_principal(token)

    _check(run(go()), tasks)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_resources_prompts_and_completions_over_http(live_server_url, mode):
    alice, bob = make_user("alice"), make_user("bob")
    tasks = _tasks(alice, bob)
    token = make_token(alice)

    async def go():
        async with http_session(live_server_url, token, mode=mode) as client:
            return await _exercise(client, tasks)

    _check(run(go()), tasks)


def test_resources_prompts_and_completions_over_stdio(tmp_path):
    from tests.mcp_tools.test_stdio import _database_url_for_a_subprocess, _stdio

    alice, bob = make_user("alice"), make_user("bob")
    tasks = _tasks(alice, bob)
    database_url = _database_url_for_a_subprocess(tmp_path)

    async def go():
        async with Client(_stdio("alice", database_url), mode="legacy", cache=None) as client:
            return await _exercise(client, tasks)

    _check(run(go()), tasks)


def test_disabled_resources_and_prompts_are_absent_and_refused(live_server_url):
    alice = make_user("alice")
    task = make_task(alice, title="Mine")
    tool_registration_update(actor=None, name="task", enabled=False)
    tool_registration_update(actor=None, name="plan_my_day", enabled=False)
    token = make_token(alice)

    async def go():
        async with http_session(live_server_url, token) as client:
            templates = (await client.list_resource_templates()).resource_templates
            prompts = [p.name for p in (await client.list_prompts()).prompts]
            with pytest.raises(MCPError):
                await client.read_resource(f"task://{task.pk}")
            with pytest.raises(MCPError):
                await client.get_prompt("plan_my_day", {})
            with pytest.raises(MCPError):
                await client.complete(ResourceTemplateReference(type="ref/resource", uri="task://{task_id}"), {"name": "task_id", "value": ""})
            return templates, prompts

    templates, prompts = run(go())
    assert templates == [] and "plan_my_day" not in prompts and "weekly_review" in prompts


# -- progress and logging ----------------------------------------------------------------------------

NEW_TASKS = {"tasks": [{"title": f"batch {i}"} for i in range(3)]}


async def _progress_and_logs(client: Client, *, legacy: bool) -> dict:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done, total, message):
        progress.append((done, total, message))

    added = await client.call_tool("add_tasks", NEW_TASKS, progress_callback=on_progress)
    silent = await client.call_tool("add_tasks", {"tasks": [{"title": "no progress asked"}]})
    if legacy:
        await client.set_logging_level("error")
    failed = await client.call_tool("get_task", {"task_id": 987654321}, progress_callback=on_progress)
    if legacy:
        await client.set_logging_level("critical")  # errors are below it: not sent
    quiet = await client.call_tool("get_task", {"task_id": 987654322}, progress_callback=on_progress)
    return {"progress": progress, "added": added, "silent": silent, "failed": failed, "quiet": quiet}


def _check_progress_and_logs(out: dict, logs: list) -> None:
    assert not out["added"].is_error and out["added"].structured_content["count"] == 3
    assert not out["silent"].is_error
    assert [(done, total) for done, total, _ in out["progress"]] == [(1, 3), (2, 3), (3, 3)]
    assert out["progress"][-1][2] == "Saved 3 of 3 tasks"
    assert out["failed"].is_error and out["quiet"].is_error
    errors = [entry for entry in logs if entry.level == "error"]
    assert len(errors) == 1, logs  # the first failure; the second was below the level asked for
    assert errors[0].data == {"tool": "get_task", "code": "task_not_found", "message": "Task not found."}


def _log_sink():
    logs: list = []

    async def on_log(params):
        logs.append(params)

    return logs, on_log


def test_progress_and_tool_error_logs_over_http_with_sse_responses(live_server_url):
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    alice = make_user("alice")
    token = make_token(alice)
    for mode in ("legacy", "auto"):
        logs, on_log = _log_sink()

        async def go():
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=15) as http:
                transport = streamable_http_client(f"{live_server_url}/mcp", http_client=http)
                if mode == "legacy":
                    async with Client(transport, mode="legacy", cache=None, logging_callback=on_log) as client:
                        return await _progress_and_logs(client, legacy=True)
                async with Client(transport, cache=None, logging_callback=on_log, log_level="error") as client:
                    out = await _progress_and_logs(client, legacy=False)
                    # A request that opts in above the error level gets no message.
                    out["quiet"] = out["quiet"]
                    return out

        out = run(go())
        if mode == "auto":
            # The modern client opted in at "error" on every request, so both failures are logged.
            assert [entry.level for entry in logs] == ["error", "error"], logs
            logs = logs[:1]
        _check_progress_and_logs(out, logs)


def test_progress_and_tool_error_logs_over_stdio(tmp_path):
    from tests.mcp_tools.test_stdio import _database_url_for_a_subprocess, _stdio

    make_user("alice")
    database_url = _database_url_for_a_subprocess(tmp_path)
    logs, on_log = _log_sink()

    async def go():
        async with Client(_stdio("alice", database_url), mode="legacy", cache=None, logging_callback=on_log) as client:
            return await _progress_and_logs(client, legacy=True)

    _check_progress_and_logs(run(go()), logs)


def test_the_discovery_api_lists_tools_resources_templates_and_prompts(client_a):
    tool_registration_update(actor=None, name="weekly_review", enabled=False)
    body = client_a.get("/api/v1/tools/").json()
    assert "add_tasks" in {tool["name"] for tool in body["tools"]}
    assert {r["uri"] for r in body["resources"]} == {"tasks://today", "tasks://overdue", "tasks://pending"}
    assert [t["uri_template"] for t in body["resource_templates"]] == ["task://{task_id}"]
    prompts = {p["name"]: p for p in body["prompts"]}
    assert set(prompts) == {"plan_my_day", "triage_overdue"}  # weekly_review is disabled
    assert {a["name"] for a in prompts["plan_my_day"]["arguments"]} == {"focus", "priority"}


def test_a_read_only_oauth_style_principal_reads_resources_but_sees_no_write_tools():
    alice = make_user("alice")
    make_task(alice, title="Mine")

    async def go():
        token = bind_principal(
            Principal(user=alice, caller=CALLER_EXTERNAL, transport=TRANSPORT_IN_PROCESS, scopes=frozenset({"tasks:read"}))
        )
        try:
            async with Client(get_server(), cache=None) as client:
                tools = {t.name for t in (await client.list_tools()).tools}
                pending = json.loads((await client.read_resource("tasks://pending")).contents[0].text)
                refused = await client.call_tool("add_task", {"title": "nope"})
                return tools, pending, refused
        finally:
            unbind_principal(token)

    tools, pending, refused = run(go())
    assert "list_tasks" in tools and "add_task" not in tools
    assert [t["title"] for t in pending["tasks"]] == ["Mine"]
    assert refused.is_error and refused.meta["todo-assistant/error"]["code"] == "insufficient_scope"
