"""Tool results and the tool listing from the two-level cache: served until the user's data changes, never stale."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from apps.core.cache import two_level_cache
from apps.mcp_tools.client import mcp_tool_call, mcp_tools_list
from apps.mcp_tools.services import tool_registration_update
from apps.todos.models import Task
from apps.todos.services import task_create
from tests.chat.conftest import keyed_user  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db


def _titles(user, **arguments) -> list[str]:
    outcome = mcp_tool_call(user=user, name="list_tasks", arguments=arguments)
    assert not outcome.is_error, outcome.content_text
    return [t["title"] for t in outcome.structured["tasks"]]


def _task(user, task_id: int) -> dict:
    outcome = mcp_tool_call(user=user, name="get_task", arguments={"task_id": task_id})
    assert not outcome.is_error, outcome.content_text
    return outcome.structured


def _stats(user) -> dict:
    return mcp_tool_call(user=user, name="task_statistics", arguments={}).structured


def _hits(namespace: str = "tool") -> int:
    counts = two_level_cache.by_namespace
    return counts[f"{namespace}.l1_hits"] + counts[f"{namespace}.l2_hits"]


def test_a_read_is_served_from_the_cache_until_the_users_data_changes(user_a, django_assert_max_num_queries):
    task_create(user=user_a, title="first")
    assert _titles(user_a) == ["first"]
    before = _hits()
    assert _titles(user_a) == ["first"]
    assert _hits() == before + 1
    assert _titles(user_a, status="pending") == ["first"]  # other arguments: their own entry
    assert _hits() == before + 1

    task_create(user=user_a, title="second")  # a write through the services bumps the version
    assert _titles(user_a) == ["second", "first"]


def test_one_users_cached_results_are_never_anothers(user_a, user_b):
    task_create(user=user_a, title="alice's")
    assert _titles(user_a) == ["alice's"]
    assert _titles(user_b) == []
    assert _stats(user_b)["total"] == 0 and _stats(user_a)["total"] == 1


def test_every_write_path_is_seen_by_the_next_read(user_a, client_a, client, keyed_user, providers_at_fake):
    """API, chat (API and page), MCP tools and the admin: after each, list_tasks/get_task/statistics are current."""
    # API create
    assert _titles(user_a) == [] and _stats(user_a)["total"] == 0
    response = client_a.post("/api/v1/tasks/", {"title": "from the api"}, format="json")
    assert response.status_code == 201
    task_id = Task.objects.get(owner=user_a, title="from the api").pk
    assert _titles(user_a) == ["from the api"] and _stats(user_a)["total"] == 1
    assert _task(user_a, task_id)["title"] == "from the api"

    # API update and complete
    assert client_a.patch(f"/api/v1/tasks/{task_id}/", {"title": "renamed"}, format="json").status_code == 200
    assert _task(user_a, task_id)["title"] == "renamed" and _titles(user_a) == ["renamed"]
    assert client_a.post(f"/api/v1/tasks/{task_id}/complete/").status_code == 200
    assert _task(user_a, task_id)["completed"] is True and _stats(user_a)["completed"] == 1
    assert client_a.post(f"/api/v1/tasks/{task_id}/uncomplete/").status_code == 200
    assert _task(user_a, task_id)["completed"] is False and _stats(user_a)["pending"] == 1

    # MCP tools (what the chat and outside clients use)
    assert not mcp_tool_call(user=user_a, name="update_task", arguments={"task_id": task_id, "title": "via mcp"}).is_error
    assert _task(user_a, task_id)["title"] == "via mcp" and _titles(user_a) == ["via mcp"]
    assert not mcp_tool_call(user=user_a, name="add_tasks", arguments={"tasks": [{"title": "a"}, {"title": "b"}]}).is_error
    assert sorted(_titles(user_a)) == ["a", "b", "via mcp"] and _stats(user_a)["total"] == 3

    # The chat (API): the model asks for a write, the tool runs, the next read shows it
    providers_at_fake.reply_tool_calls("openai", [("complete_task", {"task_id": task_id})])
    providers_at_fake.reply_text("openai", "Done.")
    assert client_a.post("/api/v1/chat/", {"message": "complete it"}, format="json").status_code == 200
    assert _task(user_a, task_id)["completed"] is True and _stats(user_a)["completed"] == 1

    # The chat page
    client.force_login(user_a)
    providers_at_fake.reply_tool_calls("openai", [("add_task", {"title": "from the page"})])
    providers_at_fake.reply_text("openai", "Added.")
    assert client.post("/chat/send/", {"message": "add from the page"}).status_code in (200, 302)
    assert "from the page" in _titles(user_a)

    # The admin (an operator's edit of the user's task)
    operator = get_user_model().objects.create_superuser("operator", "op@example.com", "pw-operator-1")
    client.force_login(operator)
    task = Task.objects.get(pk=task_id)
    from django.forms.models import model_to_dict

    form = {}
    for name, value in model_to_dict(task).items():
        if value is None or value is False:
            continue
        if value is True:
            form[name] = "on"
        elif isinstance(value, list):
            form[name] = [str(getattr(v, "pk", v)) for v in value]
        else:
            form[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    form["title"] = "edited by an operator"
    response = client.post(f"/admin/todos/task/{task_id}/change/", form)
    assert response.status_code == 302, response.content.decode()[:1500]
    assert _task(user_a, task_id)["title"] == "edited by an operator"

    # API delete
    assert client_a.delete(f"/api/v1/tasks/{task_id}/").status_code == 204
    assert mcp_tool_call(user=user_a, name="get_task", arguments={"task_id": task_id}).is_error
    assert "edited by an operator" not in _titles(user_a)


def test_statistics_are_keyed_by_the_day(user_a, monkeypatch):
    import datetime

    from django.utils import timezone

    task_create(user=user_a, title="due tomorrow", due_date=timezone.localdate() + datetime.timedelta(days=1))
    assert _stats(user_a)["overdue"] == 0
    later = timezone.localdate() + datetime.timedelta(days=2)
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: later)
    assert _stats(user_a)["overdue"] == 1  # not yesterday's cached answer


def test_the_tool_listing_is_cached_and_follows_the_registry(user_a, settings):
    settings.MCP_REGISTRY_CACHE_SECONDS = 30
    names = [t["name"] for t in mcp_tools_list(user=user_a)]
    assert "delete_task" in names
    before = _hits("tools")
    assert [t["name"] for t in mcp_tools_list(user=user_a)] == names
    assert _hits("tools") == before + 1

    tool_registration_update(actor=None, name="delete_task", enabled=False)
    assert "delete_task" not in [t["name"] for t in mcp_tools_list(user=user_a)]
    tool_registration_update(actor=None, name="delete_task", description_override="Remove a task.")
    tool_registration_update(actor=None, name="delete_task", enabled=True)
    listed = {t["name"]: t for t in mcp_tools_list(user=user_a)}
    assert listed["delete_task"]["description"] == "Remove a task."


def test_only_the_named_read_only_tools_are_cached(user_a, settings):
    settings.TOOL_RESULT_CACHE_TOOLS = ["get_task", "add_task"]  # add_task is not read-only: never cached
    first = mcp_tool_call(user=user_a, name="add_task", arguments={"title": "x"})
    second = mcp_tool_call(user=user_a, name="add_task", arguments={"title": "x"})
    assert json.loads(first.content_text)["id"] != json.loads(second.content_text)["id"]
    before = _hits()
    _titles(user_a)
    _titles(user_a)
    assert _hits() == before  # list_tasks not named: not cached
