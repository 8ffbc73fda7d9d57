"""Resources, prompts, completions, progress and client logging with the real mcp.Client (in-process and HTTP)."""

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
