"""The todo MCP tools for lists, labels, batches, date windows and the overview, over the real MCP client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.mcp_tools.client import mcp_tool_call
from apps.mcp_tools.registry import registered_tools
from apps.providers.adapters.offline.toolset import TOOL_ARGUMENTS
from apps.todos.models import Task
from apps.todos.services import task_complete, task_create, task_list_create

pytestmark = pytest.mark.django_db


def call(user, tool, **arguments):
    return mcp_tool_call(user=user, name=tool, arguments=arguments)


def test_the_offline_assistants_tool_table_matches_the_registered_tools():
    import inspect

    tools = registered_tools()
    for name, fields in TOOL_ARGUMENTS.items():
        assert name in tools
        assert fields <= set(inspect.signature(tools[name].fn).parameters)


def test_add_task_with_list_labels_time_recurrence_and_reminder(user_a):
    shopping = call(user_a, "add_list", name="Shopping").structured
    out = call(
        user_a, "add_task", title="milk", list_id=shopping["id"], labels=["urgent"], due_date="2027-01-04",
        due_time="09:30", recurrence="FREQ=WEEKLY", remind_minutes_before=15,
    )
    assert not out.is_error, out.content_text
    assert (out.structured["list_id"], out.structured["labels"], out.structured["due_time"]) == (shopping["id"], ["urgent"], "09:30")
    assert Task.objects.get(pk=out.structured["id"]).reminders.count() == 1
    assert call(user_a, "list_labels").structured["labels"][0]["name"] == "urgent"
    assert [l["name"] for l in call(user_a, "list_lists").structured["lists"]] == ["Inbox", "Shopping"]


def test_complete_tasks_is_all_or_none(user_a, user_b):
    mine = [task_create(user=user_a, title=f"t{n}").pk for n in range(3)]
    theirs = task_create(user=user_b, title="not yours").pk
    refused = call(user_a, "complete_tasks", task_ids=[*mine, theirs])
    assert refused.is_error
    assert not Task.objects.filter(pk__in=mine, completed=True).exists()
    assert not Task.objects.get(pk=theirs).completed
    done = call(user_a, "complete_tasks", task_ids=mine)
    assert done.structured["count"] == 3
    assert call(user_a, "complete_tasks", task_ids=list(range(1, 27))).is_error  # over 25


def test_update_tasks_is_all_or_none(user_a):
    one, two = (task_create(user=user_a, title=f"t{n}").pk for n in range(2))
    bad = call(user_a, "update_tasks", updates=[{"task_id": one, "title": "new"}, {"task_id": two, "recurrence": "FREQ=HOURLY"}])
    assert bad.is_error
    assert Task.objects.get(pk=one).title == "t0"
    ok = call(user_a, "update_tasks", updates=[{"task_id": one, "labels": ["home"]}, {"task_id": two, "priority": "high"}])
    assert ok.structured["count"] == 2


def test_find_tasks_by_window_and_overview(user_a):
    today = timezone.localdate()
    task_create(user=user_a, title="late", due_date=today - timedelta(days=1))
    task_create(user=user_a, title="now", due_date=today)
    task_create(user=user_a, title="soon", due_date=today + timedelta(days=2), labels=["x"])
    assert [t["title"] for t in call(user_a, "find_tasks", window="overdue").structured["tasks"]] == ["late"]
    assert [t["title"] for t in call(user_a, "find_tasks", window="today").structured["tasks"]] == ["late", "now"]
    assert [t["title"] for t in call(user_a, "find_tasks", window="upcoming", label="x").structured["tasks"]] == ["soon"]
    overview = call(user_a, "get_overview").structured
    assert (overview["overdue"], overview["due_today"], overview["next_due"]["title"]) == (1, 1, "now")
    assert overview["lists"][0]["open_tasks"] == 3


def test_two_user_matrix_for_the_new_tools(user_a, user_b):
    a_list = task_list_create(user=user_a, name="A only")
    a_task = task_create(user=user_a, title="secret", labels=["a-label"], list_id=a_list.pk, due_date=timezone.localdate())
    refused = [
        call(user_b, "rename_list", list_id=a_list.pk, name="mine"),
        call(user_b, "add_task", title="into A", list_id=a_list.pk),
        call(user_b, "complete_tasks", task_ids=[a_task.pk]),
        call(user_b, "update_tasks", updates=[{"task_id": a_task.pk, "title": "x"}]),
    ]
    assert all(r.is_error for r in refused)
    assert call(user_b, "find_tasks", window="today", list_id=a_list.pk).structured["tasks"] == []
    assert call(user_b, "find_tasks", window="today", label="a-label").structured["tasks"] == []
    assert call(user_b, "list_labels").structured["labels"] == []
    assert [l["name"] for l in call(user_b, "list_lists").structured["lists"]] == ["Inbox"]
    assert call(user_b, "get_overview").structured["next_due"] is None
    a_task.refresh_from_db()
    assert a_task.title == "secret" and not a_task.completed


def test_recurring_task_completed_by_tool_moves_on(user_a):
    task = task_create(user=user_a, title="daily", recurrence="FREQ=DAILY")
    first = task.due_date
    out = call(user_a, "complete_task", task_id=task.pk).structured
    assert out["completed"] is False and out["due_date"] == (first + timedelta(days=1)).isoformat()
    task_complete(user=user_a, task_id=task.pk)
    assert task.completions.count() == 2


@pytest.mark.parametrize(
    "phrase",
    [
        "add pay rent every month on the 1st",
        "remind me at 9 tomorrow to call mum",
        "add gym every monday and thursday at 7am",
        "add eggs to Shopping",
        "move 1 to Shopping",
        "tag 1 urgent",
    ],
)
def test_offline_assistant_arguments_are_accepted_by_the_real_tools(user_a, phrase):
    from apps.providers.adapters.offline import parse_request

    task_list_create(user=user_a, name="Shopping")
    first = task_create(user=user_a, title="milk", labels=["dairy"])
    intent = parse_request(phrase, timezone.localdate())
    arguments = {**intent.arguments, **({"task_id": first.pk} if "task_id" in intent.arguments else {})}
    out = call(user_a, intent.tool, **arguments)
    assert not out.is_error, out.content_text
    if phrase.startswith("tag"):
        assert out.structured["labels"] == ["dairy", "urgent"]
    if "Shopping" in phrase:
        assert out.structured["list_id"] == user_a.task_lists.get(name="Shopping").pk
    if "call mum" in phrase:
        assert Task.objects.get(pk=out.structured["id"]).reminders.get().minutes_before == 0


@pytest.mark.parametrize(
    "arguments",
    [
        {"remind_at": "9999-12-31T23:59:59-12:00"},
        {"remind_at": "0001-01-01T00:00:00+14:00"},
        {"due_date": "0001-01-01", "remind_minutes_before": 60},
    ],
)
def test_a_reminder_outside_the_calendar_is_a_tool_error_naming_it(user_a, arguments):
    out = call(user_a, "add_task", title="edge", **arguments)
    assert out.is_error
    assert "reminder" in out.content_text.lower(), out.content_text
    assert not Task.objects.filter(owner=user_a).exists()
