"""Celery tasks meeting a database outage: a sweep skips its run quietly, owed work is retried, nothing is lost.

The worker's database is made unreachable the way a worker meets it after one connect timeout:
its connection is gone and apps.core.postgresql fails new ones at once (DatabaseUnavailable).
Before, every beat run failed with a traceback (one per task per minute for the whole outage), a
reminder's e-mail and a key check were dropped for good, and a daily report was lost to an
outage of a minute (five quick retries, and nothing makes a missed period later).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

import pytest
from celery import signals
from django.db import connection
from django.utils import timezone

from apps.audit.models import AuditReport
from apps.audit.tasks import audit_checkpoint_seal_task, audit_report_task, audit_retention_purge_task, audit_verify_task
from apps.core.outage import database_outage
from apps.core.tasks import beat_heartbeat
from apps.limits.tasks import limits_reconcile_task
from apps.providers.health_tasks import provider_health_probe_task
from apps.providers.tasks import provider_key_validate_task
from apps.todos.models import Notification, Reminder
from apps.todos.services import reminders_deliver_due, task_create, todo_settings_update
from apps.todos.tasks import reminder_deliver_task, reminder_email_send_task, reminders_deliver_task
from tests.services import require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres():
    require_postgres()  # SQLite has no outage to meet


@contextlib.contextmanager
def database_down():
    """The database unreachable for this process: no open connection, new ones fail fast."""
    connection.close()
    database_outage.failed(fail_fast=True)
    try:
        yield
    finally:
        database_outage.reset()


@pytest.fixture
def retries():
    """The runs that asked for a retry: (task name, the run's args)."""
    seen: list[tuple[str, tuple]] = []

    def record(sender=None, request=None, **kwargs):
        seen.append((sender.name, tuple(request.args or ())))

    signals.task_retry.connect(record, weak=False)
    yield seen
    signals.task_retry.disconnect(record)


SWEEPS = [
    (reminders_deliver_task, ()),
    (reminder_deliver_task, (1,)),
    (limits_reconcile_task, ()),
    (audit_checkpoint_seal_task, ()),
    (audit_verify_task, ()),
    (audit_retention_purge_task, ()),
    (provider_health_probe_task, ()),
    (beat_heartbeat, ()),
]


@pytest.mark.parametrize(("task", "args"), SWEEPS, ids=[t.name.rsplit(".", 1)[-1] for t, _ in SWEEPS])
def test_a_sweep_that_meets_a_database_outage_skips_its_run_with_one_warning_and_no_traceback(task, args, caplog):
    caplog.set_level(logging.INFO)
    with database_down():
        result = task.apply(args=args)
    assert result.state == "IGNORED", result.traceback
    skipped = [r for r in caplog.records if "skipped: the database is unavailable" in r.getMessage()]
    assert len(skipped) == 1 and skipped[0].levelno == logging.WARNING
    assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]


def test_a_reminder_whose_on_time_task_met_the_outage_is_delivered_once_by_the_next_sweep(user_a, settings):
    settings.REMINDER_ON_TIME_SECONDS = 0
    task_create(user=user_a, title="call mum", reminders=[{"remind_at": timezone.now() - timedelta(seconds=1)}])
    reminder = Reminder.objects.get(owner=user_a)
    with database_down():
        assert reminder_deliver_task.apply(args=(reminder.pk,)).state == "IGNORED"
        assert reminders_deliver_task.apply().state == "IGNORED"
    assert reminders_deliver_task.apply().get() == 1  # the database is back
    assert reminders_deliver_due() == 0
    assert Notification.objects.filter(reminder=reminder).count() == 1


def test_a_reminder_email_that_meets_the_outage_is_retried(user_a, retries):
    user_a.email = "a@example.test"
    user_a.save()
    todo_settings_update(user=user_a, email_reminders=True)
    task_create(user=user_a, title="call mum", reminders=[{"remind_at": timezone.now() - timedelta(seconds=1)}])
    reminders_deliver_due()
    reminder = Reminder.objects.get(owner=user_a)
    with database_down():
        reminder_email_send_task.apply(args=(reminder.pk,))
    assert [name for name, _ in retries].count(reminder_email_send_task.name) == reminder_email_send_task.max_retries


def test_a_key_check_that_meets_the_outage_is_retried_not_dropped(retries):
    with database_down():
        result = provider_key_validate_task.apply(args=(123,))
    assert [name for name, _ in retries].count(provider_key_validate_task.name) == provider_key_validate_task.max_retries
    assert result.state == "FAILURE"  # after the last retry: a failure an operator sees


def test_a_report_that_meets_the_outage_is_retried_for_the_period_of_its_first_run(retries, monkeypatch):
    monkeypatch.setattr("apps.audit.tasks.REPORT_OUTAGE_MAX_RETRIES", 3)
    with database_down():
        audit_report_task.apply(args=("daily",))
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    retried_runs = [args for name, args in retries if name == audit_report_task.name]
    assert retried_runs == [("daily",), ("daily", yesterday), ("daily", yesterday)]  # beat's run, then pinned
    assert audit_report_task.apply(args=("daily", yesterday)).state == "SUCCESS"  # the database is back
    assert AuditReport.objects.filter(period="daily").count() == 1
