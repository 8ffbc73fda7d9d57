"""REST API for lists, labels, views, completions, settings and notifications, with the two-user matrix."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from django.utils import timezone

from apps.todos.apis import WALL_TIME_PATTERN
from apps.todos.models import Task
from apps.todos.services import reminders_deliver_due, task_create, task_list_inbox


def test_every_existing_and_new_task_belongs_to_the_inbox_by_default(client_a, user_a):
    body = client_a.post("/api/v1/tasks/", {"title": "milk"}, format="json").json()
    assert body["list_id"] == task_list_inbox(user=user_a).pk
    lists = client_a.get("/api/v1/lists/").json()["results"]
    assert [(l["name"], l["is_inbox"]) for l in lists] == [("Inbox", True)]


def test_inbox_cannot_be_deleted_or_renamed(client_a, user_a):
    inbox = task_list_inbox(user=user_a).pk
    assert client_a.delete(f"/api/v1/lists/{inbox}/").status_code == 400
    assert client_a.patch(f"/api/v1/lists/{inbox}/", {"name": "x"}, format="json").status_code == 400


def test_task_with_list_labels_due_time_recurrence_and_reminder(client_a):
    shopping = client_a.post("/api/v1/lists/", {"name": "Shopping"}, format="json").json()
    assert client_a.post("/api/v1/lists/", {"name": "shopping"}, format="json").status_code == 409
    body = client_a.post(
        "/api/v1/tasks/",
        {
            "title": "pay rent",
            "list_id": shopping["id"],
            "labels": ["home", "Money"],
            "due_date": "2027-02-01",
            "due_time": "09:00",
            "recurrence": "FREQ=MONTHLY;BYMONTHDAY=1",
            "reminders": [{"minutes_before": 60}],
        },
        format="json",
    ).json()
    assert body["labels"] == ["Money", "home"] and body["recurrence"] == "FREQ=MONTHLY;BYMONTHDAY=1"
    assert body["due_time"] == "09:00"
    labels = client_a.get("/api/v1/labels/").json()["results"]
    assert {l["name"] for l in labels} == {"home", "Money"}
    bad = client_a.post("/api/v1/tasks/", {"title": "x", "recurrence": "FREQ=SECONDLY"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_recurrence"


def test_deleting_a_list_moves_its_tasks_to_the_inbox(client_a, user_a):
    work = client_a.post("/api/v1/lists/", {"name": "Work"}, format="json").json()
    task = client_a.post("/api/v1/tasks/", {"title": "report", "list_id": work["id"]}, format="json").json()
    assert client_a.delete(f"/api/v1/lists/{work['id']}/").status_code == 204
    assert Task.objects.get(pk=task["id"]).task_list_id == task_list_inbox(user=user_a).pk


@pytest.mark.parametrize("view", ["today", "overdue", "upcoming", "no_date", "completed", "all"])
def test_views_page_without_a_count(client_a, user_a, view):
    today = timezone.localdate()
    task_create(user=user_a, title="late", due_date=today - timedelta(days=2))
    task_create(user=user_a, title="now", due_date=today)
    task_create(user=user_a, title="soon", due_date=today + timedelta(days=3))
    task_create(user=user_a, title="someday")
    done = task_create(user=user_a, title="done one")
    client_a.post(f"/api/v1/tasks/{done.pk}/complete/")
    body = client_a.get(f"/api/v1/task-views/?view={view}&limit=1").json()
    expected = {"today": ["late", "now"], "overdue": ["late"], "upcoming": ["now", "soon"], "no_date": ["someday"],
                "completed": ["done one"], "all": None}[view]
    if expected is not None:
        assert body["results"][0]["title"] == expected[0]
        assert (body["next_offset"] == 1) == (len(expected) > 1)
    assert "count" not in body


def test_search_matches_labels_too(client_a):
    client_a.post("/api/v1/tasks/", {"title": "call bank", "labels": ["urgent"]}, format="json")
    client_a.post("/api/v1/tasks/", {"title": "other"}, format="json")
    titles = [t["title"] for t in client_a.get("/api/v1/task-views/?search=urgent").json()["results"]]
    assert titles == ["call bank"]


def test_settings_refuse_an_unknown_time_zone(client_a):
    assert client_a.patch("/api/v1/todo-settings/", {"time_zone": "Mars/Olympus"}, format="json").status_code == 400
    ok = client_a.patch("/api/v1/todo-settings/", {"time_zone": "Europe/Paris", "email_reminders": True}, format="json")
    assert ok.json() == {"time_zone": "Europe/Paris", "email_reminders": True}


def test_completion_history_api(client_a):
    task = client_a.post("/api/v1/tasks/", {"title": "daily", "recurrence": "FREQ=DAILY"}, format="json").json()
    for _ in range(3):
        client_a.post(f"/api/v1/tasks/{task['id']}/complete/")
    assert client_a.get(f"/api/v1/tasks/{task['id']}/completions/").json()["count"] == 3


# -- the two-user matrix: user B reaches none of user A's objects ------------------------------------


def test_two_user_matrix_for_lists_labels_views_and_notifications(client_a, client_b, user_a, user_b):
    a_list = client_a.post("/api/v1/lists/", {"name": "A private"}, format="json").json()
    a_task = client_a.post(
        "/api/v1/tasks/", {"title": "secret", "labels": ["a-label"], "list_id": a_list["id"],
                           "reminders": [{"remind_at": (timezone.now() - timedelta(minutes=1)).isoformat()}]},
        format="json",
    ).json()
    a_label = client_a.get("/api/v1/labels/").json()["results"][0]
    reminders_deliver_due()
    a_note = client_a.get("/api/v1/notifications/").json()["results"][0]
    a_inbox = task_list_inbox(user=user_a).pk

    attempts = [
        client_b.get(f"/api/v1/lists/{a_list['id']}/"),
        client_b.patch(f"/api/v1/lists/{a_list['id']}/", {"name": "mine"}, format="json"),
        client_b.delete(f"/api/v1/lists/{a_list['id']}/"),
        client_b.delete(f"/api/v1/lists/{a_inbox}/"),
        client_b.patch(f"/api/v1/labels/{a_label['id']}/", {"name": "mine"}, format="json"),
        client_b.delete(f"/api/v1/labels/{a_label['id']}/"),
        client_b.get(f"/api/v1/tasks/{a_task['id']}/completions/"),
        client_b.post("/api/v1/tasks/", {"title": "into A's list", "list_id": a_list["id"]}, format="json"),
    ]
    assert [r.status_code for r in attempts] == [404] * len(attempts)
    # Reads are scoped: B sees nothing of A's through views, filters, labels or notifications.
    assert client_b.get(f"/api/v1/task-views/?list_id={a_list['id']}").json()["results"] == []
    assert client_b.get(f"/api/v1/task-views/?label_id={a_label['id']}").json()["results"] == []
    assert client_b.get("/api/v1/task-views/?search=secret").json()["results"] == []
    assert client_b.get("/api/v1/labels/").json()["results"] == []
    assert all(l["name"] != "A private" for l in client_b.get("/api/v1/lists/").json()["results"])
    assert client_b.get("/api/v1/notifications/").json()["results"] == []
    assert client_b.post("/api/v1/notifications/read/", {"ids": [a_note["id"]]}, format="json").json()["marked"] == 0
    b_task = client_b.post("/api/v1/tasks/", {"title": "b", "labels": ["a-label"]}, format="json").json()
    assert client_b.patch(f"/api/v1/tasks/{b_task['id']}/", {"list_id": a_list["id"]}, format="json").status_code == 404
    assert client_a.get(f"/api/v1/lists/{a_list['id']}/").json()["name"] == "A private"
    assert user_b.task_labels.get().pk != a_label["id"]  # B's "a-label" is B's own


def test_a_view_page_runs_no_count_and_a_fixed_number_of_queries(client_a, user_a, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(30):
        task_create(user=user_a, title=f"t{n}", labels=["x", f"l{n}"], due_date=timezone.localdate())
    with CaptureQueriesContext(connection) as queries:
        body = client_a.get("/api/v1/task-views/?view=today&limit=25").json()
    assert len(body["results"]) == 25 and body["next_offset"] == 25
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(queries.captured_queries) <= 8  # auth, settings, page, labels prefetch — not one per task


@pytest.mark.parametrize(
    "body, field",
    [
        ({"title": "x", "due_time": "09:00"}, "due_time"),
        ({"title": "x", "labels": ["#"]}, "labels"),
        ({"title": "x", "labels": ["a" * 51]}, "labels"),
        ({"title": "x", "labels": [f"l{n}" for n in range(21)]}, "labels"),
        ({"title": "x", "reminders": [{"minutes_before": 5}]}, "reminders"),  # no due date to count back from
        ({"title": "x", "reminders": [{}]}, "reminders"),
        ({"title": "x", "recurrence": "FREQ=DAILY;" * 40}, "recurrence"),
        ({"title": "x", "due_time": "25:00", "due_date": "2027-01-01"}, "due_time"),
    ],
)
def test_bad_new_fields_are_a_clear_400(client_a, body, field):
    response = client_a.post("/api/v1/tasks/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in str(response.json()["error"]["extra"])


def test_a_completions_due_time_is_wall_clock_time_as_the_schema_says(client_a, user_a):
    # Found by schemathesis against the stack: "00:00:00" under format "time" (which wants an offset).
    task = task_create(
        user=user_a, title="daily", due_date=date(2030, 1, 1), due_time=time(7, 5), recurrence="FREQ=DAILY"
    )
    assert client_a.post(f"/api/v1/tasks/{task.pk}/complete/").status_code == 200
    [completion] = client_a.get(f"/api/v1/tasks/{task.pk}/completions/").json()["results"]
    assert completion["due_time"] == "07:05"
    schema = client_a.get("/api/schema/?format=json").json()["components"]["schemas"]["TaskCompletion"]
    assert schema["properties"]["due_time"]["pattern"] == WALL_TIME_PATTERN


@pytest.mark.parametrize(("kind", "make"), [("lists", "list"), ("labels", "label")])
def test_renaming_to_a_name_taken_at_the_same_moment_is_a_409(client_a, user_a, monkeypatch, kind, make):
    from apps.todos import services

    if make == "list":
        first, second = (services.task_list_create(user=user_a, name=n).pk for n in ("Home", "Work"))
    else:
        first, second = (services._labels_for(user=user_a, names=[n])[0].pk for n in ("home", "work"))
    monkeypatch.setattr(services, "_name_taken", lambda *a, **k: False)  # both checks ran before either rename
    response = client_a.patch(f"/api/v1/{kind}/{second}/", {"name": "HOME"}, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] in {"list_exists", "label_exists"}
    assert client_a.patch(f"/api/v1/{kind}/{first}/", {"name": "Still mine"}, format="json").status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second", ["rename", "delete"])
def test_a_rename_or_delete_racing_a_delete_of_the_same_list_is_a_404(django_user_model, second):
    """(PostgreSQL: SQLite serialises writers.)"""
    from apps.audit.models import AuditEvent
    from apps.core.errors import NotFound
    from apps.todos.services import task_list_create, task_list_delete, task_list_rename
    from tests.concurrency import held_uncommitted
    from tests.services import require_postgres

    require_postgres()
    user = django_user_model.objects.create_user(username="racer", password="pw-racer-123")
    doomed = task_list_create(user=user, name="Doomed").pk
    with held_uncommitted(lambda: task_list_delete(user=user, list_id=doomed)), pytest.raises(NotFound):
        if second == "rename":
            task_list_rename(user=user, list_id=doomed, name="Saved")
        else:
            task_list_delete(user=user, list_id=doomed)
    assert AuditEvent.objects.filter(action="task_list.delete").count() == 1


def test_a_remind_at_without_an_offset_is_the_users_wall_time_through_the_api_as_through_mcp(client_a, user_a):
    from datetime import UTC, datetime

    from apps.mcp_tools.client import mcp_tool_call
    from apps.todos.models import Reminder
    from apps.todos.services import todo_settings_update

    todo_settings_update(user=user_a, time_zone="Asia/Tokyo")
    body = {"title": "call", "reminders": [{"remind_at": "2027-03-01T09:00:00"}]}
    by_api = client_a.post("/api/v1/tasks/", body, format="json").json()["id"]
    by_mcp = mcp_tool_call(user=user_a, name="add_task", arguments={"title": "call", "remind_at": "2027-03-01T09:00:00"})
    tokyo_nine = datetime(2027, 3, 1, 0, 0, tzinfo=UTC)
    assert Reminder.objects.get(task_id=by_mcp.structured["id"]).remind_at == tokyo_nine
    assert Reminder.objects.get(task_id=by_api).remind_at == tokyo_nine
    with_offset = {"title": "call", "reminders": [{"remind_at": "2027-03-01T09:00:00+01:00"}]}
    by_api = client_a.post("/api/v1/tasks/", with_offset, format="json").json()["id"]
    assert Reminder.objects.get(task_id=by_api).remind_at == datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
