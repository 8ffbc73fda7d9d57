"""Reports: built once per period, eagerly and by a real Celery worker + beat; mailed; staff-only downloads."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent, AuditReport, UsageRecord
from apps.audit.reports import audit_report_generate, report_period
from apps.audit.services import audit_limit_hit, audit_record, usage_record
from apps.audit.tasks import audit_report_task
from tests.factories import make_token, make_user
from tests.services import require_postgres, require_redis

BASE_DIR = Path(__file__).resolve().parents[2]


def _activity(user):
    usage_record(user=user, provider="openai", model="gpt-x", input_tokens=100, output_tokens=40, cost="0.0012")
    usage_record(user=user, provider="openai", model="gpt-x", input_tokens=0, output_tokens=0, cost="0", outcome="failure")
    usage_record(user=user, provider="offline", model="offline", input_tokens=0, output_tokens=0, cost="0", fallback=True)
    audit_record(actor=user, action="mcp.tool_call", target_type="mcp.tool", target_id="add_task")
    audit_limit_hit(user=user, limit="chat_turns_per_minute", scope="user")


@pytest.mark.django_db
@override_settings(AUDIT_REPORT_RECIPIENTS=["ops@example.com"], EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_a_report_task_run_eagerly_sums_the_period_and_is_mailed_once(user_a):
    _activity(user_a)
    today = timezone.now().date().isoformat()
    result = audit_report_task.delay(period="daily", day=today)
    report = AuditReport.objects.get(pk=result.get())
    summary = report.summary
    assert not report.empty
    assert summary["by_provider"][1] == {"provider": "openai", "calls": 2, "input_tokens": 100, "output_tokens": 40,
                                         "cost": "0.00120000"}  # fmt: skip
    assert summary["by_user"][0]["username"] == user_a.username
    assert summary["top_tools"] == [{"tool": "add_task", "calls": 1, "failures": 0}]
    assert summary["error_rate"] == round(1 / 3, 4) and summary["fallback_rate"] == 0.5 and summary["cache_hit_rate"] == 0
    assert summary["limit_hits"] == [{"limit": "chat_turns_per_minute", "hits": 1}]
    assert "provider,openai,2,100,40,0.00120000" in report.csv and "<h2>Per model</h2>" in report.html
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ops@example.com"]
    assert report.emailed_at is not None
    # Same period again: the same row, not mailed again.
    assert audit_report_task.delay(period="daily", day=today).get() == report.pk
    call_command("audit_report", "--period", "daily", "--date", today, stdout=io.StringIO())
    assert AuditReport.objects.count() == 1 and len(mail.outbox) == 1
    assert AuditEvent.objects.filter(action="audit.report").count() == 1


@pytest.mark.django_db
def test_a_period_without_activity_gives_a_valid_report_that_says_so():
    out = io.StringIO()
    call_command("audit_report", "--period", "weekly", "--date", "2020-01-08", stdout=out)
    report = AuditReport.objects.get()
    assert report.empty and "no activity" in out.getvalue()
    start, end = report_period(period="weekly", day=timezone.datetime(2020, 1, 8).date())
    assert report.period_start == start and end - start == timedelta(days=7) and start.weekday() == 0
    assert "No activity in this period." in report.html and "no activity in this period" in report.csv
    assert report.summary["attempts"] == 0 and report.summary["by_provider"] == []


@pytest.mark.django_db
def test_a_failing_mail_server_makes_the_task_retry_and_the_report_stays_single(user_a, monkeypatch):
    from django.core.mail.backends.locmem import EmailBackend

    calls = []

    def broken(self, messages):
        calls.append(1)
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(EmailBackend, "send_messages", broken)
    with override_settings(AUDIT_REPORT_RECIPIENTS=["ops@example.com"],
                           EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):  # fmt: skip
        result = audit_report_task.apply(kwargs={"period": "daily"})
    assert len(calls) == audit_report_task.max_retries + 1  # retried (eager apply runs the retries at once)
    assert result.failed()
    assert AuditReport.objects.count() == 1 and AuditReport.objects.get().emailed_at is None
    assert audit_report_task.retry_backoff and audit_report_task.autoretry_for == (Exception,)


@pytest.mark.django_db
def test_reports_are_listed_and_downloaded_by_staff_only(user_a):
    from django.contrib.auth import get_user_model

    report = audit_report_generate(period="daily")
    user_api = APIClient()
    user_api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user_a)}")
    assert user_api.get("/api/v1/audit/reports/").status_code == 403
    assert user_api.get(f"/api/v1/audit/reports/{report.pk}/csv/").status_code == 403
    staff = get_user_model().objects.create_user("boss", password="pw-for-tests-123", is_staff=True, is_superuser=True)
    staff_api = APIClient()
    staff_api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(staff)}")
    listed = staff_api.get("/api/v1/audit/reports/").json()
    assert [r["id"] for r in listed] == [report.pk] and "csv" not in listed[0]
    csv_response = staff_api.get(f"/api/v1/audit/reports/{report.pk}/csv/")
    assert csv_response.status_code == 200 and csv_response.content.decode() == report.csv
    assert csv_response["Content-Type"].startswith("text/csv")
    assert staff_api.get(f"/api/v1/audit/reports/{report.pk}/html/").content.decode() == report.html
    assert staff_api.get(f"/api/v1/audit/reports/{report.pk + 99}/csv/").status_code == 404
    admin = Client()
    admin.login(username="boss", password="pw-for-tests-123")
    download = admin.post("/admin/audit/auditreport/", {"action": "download_csv", "_selected_action": [report.pk]})
    assert download.status_code == 200 and download.content.decode() == report.csv


@pytest.mark.django_db
def test_the_schedules_come_from_a_data_migration():
    from importlib import import_module

    from django.apps import apps as django_apps
    from django_celery_beat.models import PeriodicTask

    import_module("apps.audit.migrations.0005_append_only_and_schedules").create_schedules(django_apps, None)
    tasks = dict(PeriodicTask.objects.values_list("name", "task"))
    assert tasks["audit: daily report"] == tasks["audit: weekly report"] == "apps.audit.tasks.audit_report_task"
    assert tasks["audit: seal checkpoint"] == "apps.audit.tasks.audit_checkpoint_seal_task"
    assert PeriodicTask.objects.get(name="audit: seal checkpoint").crontab.minute == "*"


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _worker_with_beat(broker_url: str, tmp_path: Path, queue: str, extra_env: dict | None = None) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.development",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_FILESYSTEM_DIR": str(tmp_path / "celery"),
        "DJANGO_DEBUG": "0",
        **(extra_env or {}),
    }
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115  (closed with the process)
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-B", "--loglevel=INFO", "--concurrency=1",
         "--without-gossip", "--without-mingle", "-Q", queue, "-s", str(tmp_path / "beat-schedule"), "-n", f"audit-test-{os.getpid()}@%h"],
        cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _drop_queue(broker_url: str, queue: str) -> None:
    """What beat sent after the worker stopped would otherwise stay on a shared broker for good."""
    if not broker_url.startswith("redis"):
        return  # the filesystem broker lives in tmp_path
    from kombu import Connection, Exchange, Queue

    with Connection(broker_url) as conn:
        bound = Queue(queue, Exchange(queue), routing_key=queue)(conn.default_channel)
        bound.declare()  # the channel only deletes the bindings it knows
        bound.delete()


def _run_schedule_until_a_report(broker_url: str, tmp_path: Path) -> AuditReport:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    # A queue of this run's own: a broker shared across runs (CI's Redis) may hold a message an
    # earlier run's beat sent just before its worker stopped, for another day (a second report),
    # and the schedules the migration made (e.g. the daily report at 00:15) go to the default queue.
    queue = f"audit-test-{uuid.uuid4().hex[:12]}"
    every = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.SECONDS)
    day = timezone.now().date().isoformat()
    PeriodicTask.objects.create(name="test: report now", task="apps.audit.tasks.audit_report_task", interval=every,
                                kwargs=f'{{"period": "daily", "day": "{day}"}}', queue=queue)  # fmt: skip
    process = _worker_with_beat(broker_url, tmp_path, queue)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not AuditReport.objects.exists():
            assert process.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.5)
        time.sleep(3)  # a few more beats: they must find the report made, not make another
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        _drop_queue(broker_url, queue)
    log = (tmp_path / "worker.log").read_text()
    assert AuditReport.objects.count() == 1, log
    return AuditReport.objects.get()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_and_beat_on_redis_make_the_scheduled_report(tmp_path):
    require_postgres()
    redis_client = require_redis()
    url = os.environ["REDIS_URL"]
    redis_client.close()
    user = make_user("scheduled")
    _activity(user)
    report = _run_schedule_until_a_report(url, tmp_path)
    assert not report.empty and report.summary["by_user"][0]["username"] == "scheduled"
    assert UsageRecord.objects.count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_embedded_filesystem_broker_runs_the_schedule_without_a_server(tmp_path):
    """What `make run` starts: a worker with beat on kombu's filesystem transport."""
    require_postgres()
    report = _run_schedule_until_a_report("filesystem://", tmp_path)
    assert report.empty
