"""Reminders: delivered once even with two beat runs racing, none for completed or deleted tasks, on time if due soon."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import connection  # noqa: F401  (the skipif condition)
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.todos.models import Notification, Reminder, Task
from apps.todos.services import (
    notifications_mark_read,
    reminders_deliver_due,
    task_complete,
    task_create,
    task_delete,
    task_update,
    todo_settings_update,
)
from apps.todos.tasks import reminder_deliver_task
from django_celery_beat.models import PeriodicTask

from tests.concurrency import at_once


def _due_now_task(user, **extra):
    soon = timezone.now() - timedelta(minutes=1)
    return task_create(user=user, title="call mum", reminders=[{"remind_at": soon}], **extra)


def test_the_beat_schedule_comes_from_a_migration(db):
    beat = PeriodicTask.objects.get(name="todos.reminders_deliver")
    assert beat.task == "apps.todos.tasks.reminders_deliver_task"
    assert (beat.interval.every, beat.interval.period) == (1, "minutes")


def test_a_due_reminder_is_delivered_once(user_a):
    _due_now_task(user_a)
    assert reminders_deliver_due() == 1
    assert reminders_deliver_due() == 0
    assert Notification.objects.filter(owner=user_a).count() == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs PostgreSQL (DATABASE_URL): SQLite serialises writers")
@pytest.mark.django_db(transaction=True)
def test_two_racing_beat_runs_deliver_a_reminder_once(django_user_model, settings):
    settings.REMINDER_ON_TIME_SECONDS = 0  # the sweeps alone (the on-time task claims the same way)
    user = django_user_model.objects.create_user(username="racer", password="pw-racer-123")
    for n in range(20):
        task_create(user=user, title=f"t{n}", reminders=[{"remind_at": timezone.now() - timedelta(seconds=5)}])
    assert sum(at_once(reminders_deliver_due, 2)) == 20
    assert Notification.objects.filter(owner=user).count() == 20
    assert not Reminder.objects.filter(owner=user, delivered_at__isnull=True).exists()


def test_a_completed_tasks_reminder_is_not_sent(user_a):
    task = _due_now_task(user_a)
    task_complete(user=user_a, task_id=task.pk)
    assert reminders_deliver_due() == 0
    assert not Notification.objects.exists()


def test_a_deleted_tasks_reminder_is_not_sent(user_a):
    task = _due_now_task(user_a)
    task_delete(user=user_a, task_id=task.pk)
    assert reminders_deliver_due() == 0
    assert not Notification.objects.exists()


def test_a_future_reminder_waits(user_a):
    task_create(user=user_a, title="later", reminders=[{"remind_at": timezone.now() + timedelta(hours=1)}])
    assert reminders_deliver_due() == 0


def test_a_reminder_before_the_due_time_follows_the_users_time_zone(user_a):
    todo_settings_update(user=user_a, time_zone="Asia/Tokyo")
    task = task_create(
        user=user_a, title="meeting", due_date=date(2027, 3, 1), due_time=time(9, 0), reminders=[{"minutes_before": 30}]
    )
    reminder = task.reminders.get()
    assert reminder.remind_at == datetime(2027, 2, 28, 23, 30, tzinfo=UTC)  # 09:00 Tokyo is 00:00 UTC
    task_update(user=user_a, task_id=task.pk, due_time=time(10, 0))
    reminder.refresh_from_db()
    assert reminder.remind_at == datetime(2027, 3, 1, 0, 30, tzinfo=UTC)


def test_a_reminder_past_the_last_calendar_day_in_utc_is_refused(user_a):
    # 23:59 on 9999-12-31 at UTC-12 is 10000-01-01 in UTC: not storable on SQLite, not readable on PostgreSQL.
    too_late = datetime(9999, 12, 31, 23, 59, tzinfo=ZoneInfo("Etc/GMT+12"))
    for reminders, due in ([{"remind_at": too_late}], None), ([{"minutes_before": 600}], date(1, 1, 1)):
        with pytest.raises(ValidationFailed) as refused:
            task_create(user=user_a, title="edge", due_date=due, reminders=reminders)
        assert "reminders" in refused.value.extra["fields"]
    assert not Task.objects.filter(owner=user_a).exists()


def test_a_time_zone_that_moves_a_reminder_past_the_calendar_leaves_it_without_a_moment(user_a):
    task = task_create(
        user=user_a, title="edge", due_date=date(9999, 12, 31), due_time=time(23, 0), reminders=[{"minutes_before": 0}]
    )
    todo_settings_update(user=user_a, time_zone="Etc/GMT+12")
    assert task.reminders.get().remind_at is None
    task_update(user=user_a, task_id=task.pk, due_time=time(9, 0))  # still editable, and the reminder is back
    assert task.reminders.get().remind_at == datetime(9999, 12, 31, 21, 0, tzinfo=UTC)


def test_email_goes_only_to_users_who_opt_in(user_a, user_b, django_capture_on_commit_callbacks, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    user_a.email, user_b.email = "a@example.test", "b@example.test"
    user_a.save(), user_b.save()
    todo_settings_update(user=user_a, email_reminders=True)
    _due_now_task(user_a)
    _due_now_task(user_b)
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders_deliver_due() == 2
    assert [m.to for m in mail.outbox] == [["a@example.test"]]


def test_marking_notifications_read_touches_only_the_callers(user_a, user_b):
    _due_now_task(user_a)
    _due_now_task(user_b)
    reminders_deliver_due()
    other = Notification.objects.get(owner=user_b)
    assert notifications_mark_read(user=user_a, notification_ids=[other.pk]) == 0
    assert notifications_mark_read(user=user_a) == 1
    assert Notification.objects.filter(owner=user_b, read_at__isnull=True).count() == 1


# -- on time: a reminder due soon gets a task of its own at its moment ----------------------------


@pytest.fixture
def published(monkeypatch):
    """What would go to the broker (the suite runs without one): (args, eta) of each on-time task."""
    sent: list[tuple[tuple, datetime]] = []
    monkeypatch.setattr(reminder_deliver_task, "apply_async", lambda args, eta: sent.append((args, eta)))
    return sent


def test_a_reminder_due_soon_is_queued_for_its_moment_on_commit_and_a_later_one_waits_for_the_sweep(
    user_a, published, django_capture_on_commit_callbacks, settings
):
    settings.REMINDER_ON_TIME_SECONDS = 600
    soon = timezone.now() + timedelta(minutes=5)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        task_create(user=user_a, title="soon", reminders=[{"remind_at": soon}])
        task_create(user=user_a, title="later", reminders=[{"remind_at": timezone.now() + timedelta(hours=2)}])
    assert published == []  # nothing before the commit: the worker must find the row
    for callback in callbacks:
        callback()
    assert published == [((Reminder.objects.get(task__title="soon").pk,), soon)]


def test_a_reminder_already_due_is_queued_for_now(user_a, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        task = _due_now_task(user_a)
    [(args, eta)] = published
    assert args == (task.reminders.get().pk,) and timezone.now() - timedelta(seconds=5) < eta <= timezone.now()


def test_moving_a_due_date_queues_the_relative_reminder_again(user_a, published, django_capture_on_commit_callbacks):
    far = timezone.localdate() + timedelta(days=30)
    task = task_create(user=user_a, title="moved", due_date=far, due_time=time(9, 0), reminders=[{"minutes_before": 0}])
    soon = timezone.localtime() + timedelta(minutes=3)
    with django_capture_on_commit_callbacks(execute=True):
        task_update(user=user_a, task_id=task.pk, due_date=soon.date(), due_time=time(soon.hour, soon.minute))
    assert [args for args, _ in published] == [(task.reminders.get().pk,)]


def test_on_time_delivery_off_queues_nothing(user_a, published, django_capture_on_commit_callbacks, settings):
    settings.REMINDER_ON_TIME_SECONDS = 0
    with django_capture_on_commit_callbacks(execute=True):
        _due_now_task(user_a)
    assert published == []


def test_the_on_time_task_delivers_once_and_the_sweep_then_finds_nothing(user_a):
    reminder = _due_now_task(user_a).reminders.get()
    assert reminder_deliver_task.run(reminder.pk) is True
    assert reminder_deliver_task.run(reminder.pk) is False
    assert reminders_deliver_due() == 0
    assert Notification.objects.filter(owner=user_a, reminder=reminder).count() == 1


def test_an_on_time_task_that_runs_early_leaves_the_reminder_to_the_sweep(user_a):
    at = timezone.now() + timedelta(minutes=5)
    reminder = task_create(user=user_a, title="not yet", reminders=[{"remind_at": at}]).reminders.get()
    assert reminder_deliver_task.run(reminder.pk) is False  # e.g. the reminder was moved later since
    reminder.refresh_from_db()
    assert reminder.delivered_at is None
    assert reminders_deliver_due(now=at + timedelta(seconds=1)) == 1


def test_an_on_time_task_for_a_deleted_reminder_does_nothing(user_a):
    task = _due_now_task(user_a)
    reminder_id = task.reminders.get().pk
    task_delete(user=user_a, task_id=task.pk)
    assert reminder_deliver_task.run(reminder_id) is False
    assert not Notification.objects.exists()


def test_after_a_broker_failure_the_next_writes_do_not_wait_for_it_again(
    user_a, monkeypatch, django_capture_on_commit_callbacks
):
    """One write pays the broker's timeouts; the next ones in the window leave the reminder to the sweep at once."""
    from kombu.exceptions import OperationalError

    tried = []

    def refuse(args, eta):
        tried.append(args)
        raise OperationalError("timed out")

    monkeypatch.setattr(reminder_deliver_task, "apply_async", refuse)
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            _due_now_task(user_a)
    assert len(tried) == 1  # without the window: one wait of seconds per write
    assert reminders_deliver_due() == 3  # nothing lost: the sweep delivers all three


def test_a_broker_down_at_commit_keeps_the_write_and_leaves_the_reminder_to_the_sweep(
    user_a, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    from kombu.exceptions import OperationalError

    def refuse(args, eta):
        raise OperationalError("connection refused")

    monkeypatch.setattr(reminder_deliver_task, "apply_async", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        task = _due_now_task(user_a)
    assert "on-time delivery not queued" in caplog.text
    assert reminders_deliver_due() == 1 and Notification.objects.get(owner=user_a).task_id == task.pk
