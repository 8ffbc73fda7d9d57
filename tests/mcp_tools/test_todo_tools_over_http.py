"""The list, label, batch, window and overview tools over real streamable HTTP: they work, and user B reaches none of A's."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.todos.models import Task, TaskList
from apps.todos.services import task_create, task_list_create
from tests.factories import make_token, make_user
from tests.mcp_tools.conftest import call, error_of, http_session, run

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_new_tools_work_over_http(live_server_url):
    user = make_user("lists-walker")
    token = make_token(user)
    today = timezone.localdate().isoformat()

    async def scenario():
        async with http_session(live_server_url, token) as client:
            out = {"add_list": await call(client, "add_list", {"name": "Shopping"})}
            list_id = out["add_list"].structured_content["id"]
            out["rename_list"] = await call(client, "rename_list", {"list_id": list_id, "name": "Groceries"})
            out["add_task"] = await call(
                client, "add_task",
                {"title": "milk", "list_id": list_id, "labels": ["dairy"], "due_date": today, "due_time": "09:00",
                 "recurrence": "FREQ=WEEKLY", "remind_minutes_before": 10},
            )
            task_id = out["add_task"].structured_content["id"]
            out["update_tasks"] = await call(client, "update_tasks", {"updates": [{"task_id": task_id, "priority": "high"}]})
            out["find_tasks"] = await call(client, "find_tasks", {"window": "today"})
            out["list_lists"] = await call(client, "list_lists")
            out["list_labels"] = await call(client, "list_labels")
            out["get_overview"] = await call(client, "get_overview")
            out["complete_tasks"] = await call(client, "complete_tasks", {"task_ids": [task_id]})
            return out

    out = run(scenario())
    for name, result in out.items():
        assert not result.is_error, (name, result.content)
    assert out["rename_list"].structured_content["name"] == "Groceries"
    assert out["add_task"].structured_content["labels"] == ["dairy"]
    assert [t["title"] for t in out["find_tasks"].structured_content["tasks"]] == ["milk"]
    assert [l["name"] for l in out["list_lists"].structured_content["lists"]] == ["Inbox", "Groceries"]
    assert out["get_overview"].structured_content["due_today"] == 1
    moved = out["complete_tasks"].structured_content["tasks"][0]
    assert moved["completed"] is False and moved["due_date"] > today  # weekly: on to next week


def test_user_b_reaches_none_of_user_a_lists_labels_or_tasks_through_the_new_tools(live_server_url):
    alice, bob = make_user("alice-lists"), make_user("bob-lists")
    a_list = task_list_create(user=alice, name="Alice only")
    a_task = task_create(user=alice, title="alice's secret", list_id=a_list.pk, labels=["private"], due_date=timezone.localdate())
    before = Task.objects.filter(pk=a_task.pk).values().get()
    token_b = make_token(bob)

    async def scenario():
        async with http_session(live_server_url, token_b) as client:
            return {
                "rename_list": await call(client, "rename_list", {"list_id": a_list.pk, "name": "mine"}),
                "add_task_into": await call(client, "add_task", {"title": "x", "list_id": a_list.pk}),
                "add_task_by_name": await call(client, "add_task", {"title": "x", "list_name": "Alice only"}),
                "complete_tasks": await call(client, "complete_tasks", {"task_ids": [a_task.pk]}),
                "update_tasks": await call(client, "update_tasks", {"updates": [{"task_id": a_task.pk, "title": "mine"}]}),
                "find_by_list": await call(client, "find_tasks", {"window": "today", "list_id": a_list.pk}),
                "find_by_label": await call(client, "find_tasks", {"window": "today", "label": "private"}),
                "list_lists": await call(client, "list_lists"),
                "list_labels": await call(client, "list_labels"),
                "get_overview": await call(client, "get_overview"),
            }

    results = run(scenario())
    for name in ("rename_list", "add_task_into", "add_task_by_name", "complete_tasks", "update_tasks"):
        assert results[name].is_error, name
        assert "secret" not in results[name].content[0].text
    assert error_of(results["rename_list"])["code"] == "list_not_found"
    assert results["find_by_list"].structured_content["tasks"] == []
    assert results["find_by_label"].structured_content["tasks"] == []
    assert [l["name"] for l in results["list_lists"].structured_content["lists"]] == ["Inbox"]
    assert results["list_labels"].structured_content["labels"] == []
    assert results["get_overview"].structured_content["next_due"] is None
    assert Task.objects.filter(pk=a_task.pk).values().get() == before
    assert TaskList.objects.get(pk=a_list.pk).name == "Alice only"
    assert not Task.objects.filter(owner=bob).exists()
