"""A canary key stored through the API must appear nowhere in clear: one test plants it and looks everywhere."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess

import pytest
from celery.signals import before_task_publish
from django.db import connection
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.keys.models import ProviderKey
from apps.providers.tasks import provider_key_validate_task
from apps.providers.models import ProviderConfig
from config.celery import app as celery_app
from tests.factories import make_token, make_user
from tests.keys.conftest import CANARY


def _database_dump() -> str:
    if connection.vendor == "sqlite":
        return "\n".join(connection.connection.iterdump())
    if connection.vendor == "postgresql":
        if shutil.which("pg_dump") is None:
            pytest.fail("pg_dump is needed to check the PostgreSQL dump")
        db = connection.settings_dict
        result = subprocess.run(
            ["pg_dump", "--data-only", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432),
             "-U", db["USER"], db["NAME"]],
            capture_output=True,
            env={"PGPASSWORD": db["PASSWORD"] or "", "PATH": "/usr/bin:/bin"},
            timeout=60,
            check=True,
        )
        return result.stdout.decode("utf-8", "replace")
    pytest.fail(f"no dump for {connection.vendor}")


@pytest.fixture
def celery_payloads():
    """Publish to an in-memory broker instead of running eagerly, and keep every message."""
    seen: list[str] = []

    def record(sender=None, body=None, headers=None, properties=None, **kwargs):
        seen.append(json.dumps({"body": body, "headers": headers, "properties": properties}, default=repr))

    before_task_publish.connect(record, weak=False)
    previous = celery_app.conf.task_always_eager, celery_app.conf.broker_url
    celery_app.conf.task_always_eager, celery_app.conf.broker_url = False, "memory://"
    yield seen
    celery_app.conf.task_always_eager, celery_app.conf.broker_url = previous
    before_task_publish.disconnect(record)


@pytest.mark.django_db(transaction=True)
def test_a_canary_key_appears_nowhere_in_clear(fake_provider, celery_payloads, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")  # Django keeps its own loggers at INFO otherwise
    connection.force_debug_cursor = True  # log every SQL statement with its parameters
    ProviderConfig.objects.filter(name="openai").update(base_url=fake_provider.openai_base_url)
    user = make_user("canary-owner")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user)}")
    responses = []

    try:
        # Plant it, then use every key endpoint.
        created = api.post("/api/v1/keys/", {"provider": "openai", "key": CANARY, "label": "canary"}, format="json")
        assert created.status_code == 201
        key_id = created.json()["id"]
        responses += [created, api.get("/api/v1/keys/"), api.get(f"/api/v1/keys/{key_id}/")]
        responses.append(api.patch(f"/api/v1/keys/{key_id}/", {"label": "renamed"}, format="json"))
        responses.append(api.post(f"/api/v1/keys/{key_id}/validate/"))  # published, not run: see below
        assert celery_payloads, "the validation task was not published"

        # Run the queued validation as a worker would: once refused (401 echoes the key), once accepted.
        fake_provider.fault("models", "unauthorized")
        provider_key_validate_task.apply(args=(key_id,))
        responses.append(api.get(f"/api/v1/keys/{key_id}/"))
        ProviderKey.objects.filter(pk=key_id).update(status="active")
        provider_key_validate_task.apply(args=(key_id,))
        assert fake_provider.last("models").api_key() == CANARY  # the key really was used
        responses.append(api.get(f"/api/v1/keys/{key_id}/"))
        responses.append(api.post("/api/v1/keys/", {"provider": "nope", "key": CANARY}, format="json"))

        # Operator pages.
        from django.contrib.auth import get_user_model
        from django.test import Client

        get_user_model().objects.create_superuser("canary-admin", "a@example.com", "pw-canary-admin")
        admin = Client()
        admin.login(username="canary-admin", password="pw-canary-admin")
        event_id = AuditEvent.objects.values_list("pk", flat=True).first()
        pages = [
            admin.get("/admin/keys/providerkey/"),
            admin.get(f"/admin/keys/providerkey/{key_id}/change/"),
            admin.get("/admin/audit/auditevent/"),
            admin.get(f"/admin/audit/auditevent/{event_id}/change/"),
        ]
        assert all(page.status_code == 200 for page in pages)
        assert "…" + CANARY[-4:] in pages[0].content.decode()  # the masked form is what is shown

        # A chat turn on the canary key, then the trail's own outputs: the CSV export and a report.
        from django.utils import timezone

        from apps.audit.models import AuditReport
        from apps.audit.reports import audit_report_generate
        from apps.providers.services import provider_preference_set

        provider_preference_set(user=user, provider_name="openai")
        turn = api.post("/api/v1/chat/", {"message": "hello there"}, format="json")
        assert turn.status_code == 200, turn.content
        responses.append(turn)
        export = admin.get("/api/v1/audit/export/")
        assert export.status_code == 200
        exported = b"".join(export.streaming_content).decode()
        assert "provider.attempt" in exported and "chat.turn" in exported
        own_export = b"".join(api.get("/api/v1/audit/export/").streaming_content).decode()
        responses.append(api.get("/api/v1/audit/"))
        audit_report_generate(period="daily", day=timezone.now().date())
        report = AuditReport.objects.get()
        assert "canary-owner" in report.csv  # the report covers this activity

        places = {
            "audit export": exported + own_export,
            "reports": repr(list(AuditReport.objects.values())),
            "API responses": "\n".join(r.content.decode() for r in responses),
            "admin pages": "\n".join(p.content.decode() for p in pages),
            "audit rows": repr(list(AuditEvent.objects.values())),
            "Celery payloads": "\n".join(celery_payloads),
            "logs": caplog.text + repr([(r.msg, r.args) for r in caplog.records]),
            "database dump": _database_dump(),
        }
        assert "SELECT" in places["logs"]  # SQL really was logged at DEBUG
        for place, text in places.items():
            assert CANARY not in text, f"the canary key leaked into {place}"
            assert CANARY[4:] not in text, f"part of the canary key leaked into {place}"
    finally:
        connection.force_debug_cursor = False
