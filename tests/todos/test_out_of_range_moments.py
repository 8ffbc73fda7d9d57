"""Reminders stored outside years 1..9999 UTC (PostgreSQL, before 04f8d69) no longer break their tasks."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.todos.models import Reminder
from apps.todos.services import task_create
from tests.services import require_postgres

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("todos", "0006_view_indexes")]
AFTER = [("todos", "0007_reminders_outside_the_calendar")]


def _store(reminder: Reminder, moment: str) -> None:
    # What the old code stored: PostgreSQL keeps such a moment, psycopg cannot read it back.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE todos_reminder SET remind_at = %s::timestamptz WHERE id = %s", [moment, reminder.pk])


def _edits(client, late, early):
    return [
        client.patch("/api/v1/todo-settings/", {"time_zone": "Etc/GMT+12"}, format="json").status_code,
        client.patch(f"/api/v1/tasks/{late.pk}/", {"due_date": "9999-12-30"}, format="json").status_code,
        client.patch(f"/api/v1/tasks/{early.pk}/", {"reminders": [{"remind_at": "2027-02-01T09:00:00Z"}]}, format="json").status_code,
    ]


def test_the_migration_clears_moments_python_cannot_read_and_the_tasks_can_be_edited_again(user_a, client_a):
    require_postgres()
    kept = task_create(user=user_a, title="kept", reminders=[{"remind_at": datetime(2027, 1, 1, 9, tzinfo=UTC)}])
    late = task_create(user=user_a, title="late", due_date=date(9999, 12, 31), reminders=[{"minutes_before": 0}])
    early = task_create(user=user_a, title="early", reminders=[{"remind_at": datetime(2027, 1, 1, 9, tzinfo=UTC)}])
    _store(late.reminders.get(), "10000-01-01 11:00:00+00")
    _store(early.reminders.get(), "0001-12-31 20:00:00+00 BC")
    client_a.raise_request_exception = False
    assert _edits(client_a, late, early) == [500, 500, 500]  # what their owner got, on every try

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    executor.loader.build_graph()
    executor.migrate(AFTER)

    moments = dict(Reminder.objects.values_list("task__title", "remind_at"))
    assert moments["late"] is None and moments["early"] is None  # they never fire, as a reschedule now sets them
    assert moments["kept"] == datetime(2027, 1, 1, 9, tzinfo=UTC)
    assert _edits(client_a, late, early) == [200, 200, 200]
