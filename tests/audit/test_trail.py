"""The audit trail: append-only everywhere, tamper evidence, coverage, the audit and usage APIs."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.chain import PURGE_FLAG, chain_verify, checkpoint_seal, retention_purge
from apps.audit.models import AppendOnlyError, AuditCheckpoint, AuditEvent, AuditVerification
from apps.audit.services import audit_limit_hit, audit_record
from tests.chat.conftest import keyed_user, post_chat  # noqa: F401  (keyed_user: a fixture)
from tests.factories import make_token, make_user

pytestmark = pytest.mark.django_db


def _seal_all():
    return checkpoint_seal(now=timezone.now() + timedelta(hours=1))


def _raw_update(sql: str, params: list) -> None:
    """An attacker with database access: on PostgreSQL they must get past the trigger first."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SET LOCAL {PURGE_FLAG} = 'on'")
        cursor.execute(sql, params)


def _staff(username="auditor"):
    return get_user_model().objects.create_user(username, password="pw-for-tests-123", is_staff=True, is_superuser=True)


# -- append-only ------------------------------------------------------------------------------------


def test_an_event_cannot_be_changed_or_deleted_through_the_orm(user_a):
    event = audit_record(actor=user_a, action="task.create", metadata={"x": 1})
    event.action = "task.delete"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "task.create"


def test_an_event_cannot_be_changed_or_deleted_through_the_admin(user_a):
    event = audit_record(actor=user_a, action="task.create")
    _staff()
    admin = Client()
    admin.login(username="auditor", password="pw-for-tests-123")
    page = admin.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content  # view only
    assert admin.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "forged"}).status_code == 403
    assert admin.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = admin.post("/admin/audit/auditevent/", {"action": "delete_selected", "_selected_action": [event.pk]})
    assert bulk.status_code in (200, 302)
    assert AuditEvent.objects.get(pk=event.pk).action == "task.create"


def test_the_api_offers_no_way_to_change_or_delete_events(user_a):
    event = audit_record(actor=user_a, action="task.create")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user_a)}")
    for method in ("put", "patch", "delete", "post"):
        assert getattr(api, method)("/api/v1/audit/", {"id": event.pk}, format="json").status_code == 405
        assert getattr(api, method)(f"/api/v1/audit/{event.pk}/", format="json").status_code == 404
    assert AuditEvent.objects.filter(pk=event.pk, action="task.create").exists()


def test_deleting_a_user_keeps_their_events_and_the_chain():
    user = make_user("leaver")
    audit_record(actor=user, action="task.create")
    _seal_all()
    user.delete()  # SET_NULL updates the rows' actor: the one change the guard and the trigger allow
    event = AuditEvent.objects.get(action="task.create")
    assert event.actor is None and event.actor_username == "leaver"
    assert chain_verify().ok


@pytest.mark.postgres
def test_postgresql_refuses_raw_update_and_delete_without_the_purge_flag(user_a):
    from tests.services import require_postgres

    require_postgres()
    event = audit_record(actor=user_a, action="task.create")
    for sql in ("UPDATE audit_auditevent SET action = 'forged' WHERE id = %s", "DELETE FROM audit_auditevent WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    _seal_all()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditcheckpoint SET digest = 'x'")
    assert AuditEvent.objects.get(pk=event.pk).action == "task.create"


# -- tamper evidence --------------------------------------------------------------------------------


def test_audit_verify_passes_on_an_intact_trail_and_is_shown_in_the_admin(user_a):
    for i in range(5):
        audit_record(actor=user_a, action="task.create", metadata={"i": i, "cost": "0.1", "f": 1.5, "nested": {"b": [1, 2]}})
    _seal_all()
    audit_record(actor=user_a, action="task.update")  # not sealed yet: its own hash is still checked
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert "audit trail ok: 6 rows, 1 checkpoints" in out.getvalue()
    assert AuditVerification.objects.get().ok
    _staff()
    admin = Client()
    admin.login(username="auditor", password="pw-for-tests-123")
    page = admin.get("/admin/audit/auditevent/").content.decode()
    assert "Audit chain last verified" in page and ": ok" in page


def test_audit_verify_names_a_row_changed_with_raw_sql(user_a):
    events = [audit_record(actor=user_a, action="task.create", metadata={"i": i}) for i in range(4)]
    _seal_all()
    _raw_update("UPDATE audit_auditevent SET metadata = %s WHERE id = %s", ['{"i": 99}', events[2].pk])
    with pytest.raises(CommandError, match=f"audit event {events[2].pk} was altered"):
        call_command("audit_verify")
    assert not AuditVerification.objects.get().ok


def test_audit_verify_finds_a_row_rewritten_with_a_matching_hash(user_a):
    events = [audit_record(actor=user_a, action="task.create", metadata={"i": i}) for i in range(3)]
    _seal_all()
    from apps.audit.chain import HASHED_FIELDS, row_hash

    forged = {name: getattr(events[1], name) for name in HASHED_FIELDS} | {"action": "task.delete"}
    _raw_update("UPDATE audit_auditevent SET action = 'task.delete', row_hash = %s WHERE id = %s",
                [row_hash(**forged), events[1].pk])  # fmt: skip
    result = chain_verify()
    assert not result.ok and "does not match: rows changed" in result.problem


def test_audit_verify_finds_a_deleted_row(user_a):
    events = [audit_record(actor=user_a, action="task.create", metadata={"i": i}) for i in range(3)]
    _seal_all()
    _raw_update("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    result = chain_verify()
    assert not result.ok and "1 row(s) missing" in result.problem


def test_checkpoints_chain_and_a_rewritten_checkpoint_breaks_the_link(user_a):
    audit_record(actor=user_a, action="a")
    first = _seal_all()
    audit_record(actor=user_a, action="b")
    second = _seal_all()
    assert second.prev_digest == first.digest and checkpoint_seal() is None  # nothing new to seal
    assert chain_verify().ok
    _raw_update("UPDATE audit_auditcheckpoint SET digest = %s WHERE id = %s", ["0" * 64, first.pk])
    result = chain_verify()
    assert not result.ok and f"checkpoint {first.pk}" in result.problem


def test_rows_younger_than_the_grace_period_wait_for_the_next_checkpoint(user_a):
    audit_record(actor=user_a, action="a")
    assert checkpoint_seal() is None  # 30 s grace by default
    assert checkpoint_seal(now=timezone.now() + timedelta(seconds=31)).row_count == 1


def test_the_retention_purge_removes_old_sealed_rows_audits_itself_and_the_chain_still_verifies(user_a):
    for i in range(7):
        audit_record(actor=user_a, action="old", metadata={"i": i})
    old = _seal_all()
    audit_record(actor=user_a, action="recent")
    removed = retention_purge(now=timezone.now() + timedelta(days=400), days=365, batch=3)
    assert removed == 7
    assert not AuditEvent.objects.filter(action="old").exists()
    assert AuditEvent.objects.filter(action="recent").exists()
    purge = AuditEvent.objects.get(action="audit.purge")
    assert purge.metadata["removed"] == 7 and purge.actor is None
    assert AuditCheckpoint.objects.get(pk=old.pk).purged
    assert retention_purge(now=timezone.now() + timedelta(days=400), days=365) == 0  # nothing left to purge
    _seal_all()
    assert chain_verify().ok


# -- coverage ---------------------------------------------------------------------------------------


def test_login_and_failed_login_are_audited_without_the_password():
    make_user("walker", password="pw-secret-walker")
    client = Client()
    assert not client.login(username="walker", password="wrong-password-xyz")
    assert client.login(username="walker", password="pw-secret-walker")
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert failed.outcome == "failure" and failed.metadata == {"username": "walker"}
    assert AuditEvent.objects.filter(action="auth.login", actor_username="walker").count() == 1
    assert "wrong-password" not in repr(list(AuditEvent.objects.values()))


def test_a_limit_hit_is_one_denied_event(user_a):
    audit_limit_hit(user=user_a, limit="chat_turns_per_minute", scope="user", metadata={"retry_after": 12})
    event = AuditEvent.objects.get(action="limit.hit")
    assert event.outcome == "denied" and event.target_id == "chat_turns_per_minute"
    assert event.metadata == {"limit": "chat_turns_per_minute", "scope": "user", "retry_after": 12}


def test_a_schedule_changed_in_the_admin_is_audited_with_before_and_after():
    from importlib import import_module

    from django.apps import apps as django_apps
    from django_celery_beat.models import PeriodicTask

    # The schedules come from a data migration (a flushed test database may have lost them).
    import_module("apps.audit.migrations.0005_append_only_and_schedules").create_schedules(django_apps, None)
    task = PeriodicTask.objects.get(name="audit: daily report")
    _staff()
    admin = Client()
    admin.login(username="auditor", password="pw-for-tests-123")
    page = admin.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: ("" if v is None else v) for k, v in form.initial.items() if not isinstance(v, list | dict)}
    data.update({"name": task.name, "regtask": task.task, "task": task.task, "crontab": task.crontab_id,
                 "kwargs": task.kwargs, "args": "[]", "enabled": "", "queue": "", "exchange": "", "routing_key": "",
                 "headers": "{}", "priority": "", "expires": "", "expire_seconds": "", "description": "",
                 "start_time_0": "", "start_time_1": "", "last_run_at_0": "", "last_run_at_1": "", "one_off": ""})  # fmt: skip
    for key in ("interval", "solar", "clocked"):
        data.pop(key, None)
    response = admin.post(f"/admin/django_celery_beat/periodictask/{task.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    event = AuditEvent.objects.get(action="schedule.periodic_task.admin_update")
    assert event.metadata["changes"]["enabled"] == {"before": True, "after": False}
    assert event.actor_username == "auditor"


@pytest.mark.parametrize(
    ("action", "start", "after"),
    [("disable_tasks", True, False), ("enable_tasks", False, True), ("toggle_tasks", True, False)],
)
def test_the_schedule_admins_bulk_actions_are_audited_per_task(action, start, after):
    from importlib import import_module

    from django.apps import apps as django_apps
    from django_celery_beat.models import PeriodicTask

    import_module("apps.audit.migrations.0005_append_only_and_schedules").create_schedules(django_apps, None)
    tasks = list(PeriodicTask.objects.filter(name__startswith="audit:").order_by("pk")[:2])
    assert len(tasks) == 2
    PeriodicTask.objects.filter(pk__in=[t.pk for t in tasks]).update(enabled=start)
    _staff()
    admin = Client()
    admin.login(username="auditor", password="pw-for-tests-123")
    response = admin.post(
        "/admin/django_celery_beat/periodictask/",
        {"action": action, "_selected_action": [t.pk for t in tasks], "index": 0},
    )
    assert response.status_code == 302
    assert set(PeriodicTask.objects.filter(pk__in=[t.pk for t in tasks]).values_list("enabled", flat=True)) == {after}
    events = AuditEvent.objects.filter(action="schedule.periodic_task.admin_update").order_by("id")
    assert sorted(int(e.target_id) for e in events) == [t.pk for t in tasks]
    for event in events:
        assert event.metadata["changes"]["enabled"] == {"before": start, "after": after}
        assert event.actor_username == "auditor"


def test_running_a_schedule_from_the_admin_is_audited(monkeypatch):
    from importlib import import_module

    from django.apps import apps as django_apps
    from django_celery_beat import admin as beat_admin
    from django_celery_beat.models import PeriodicTask

    # Beat's own action imports every task module again (celery's loader) and queues the task:
    # not this test's subject, and the re-import disturbs later tests. Only the audit is checked.
    ran = []
    monkeypatch.setattr(beat_admin.PeriodicTaskAdmin, "run_tasks", lambda self, request, queryset: ran.extend(queryset))

    import_module("apps.audit.migrations.0005_append_only_and_schedules").create_schedules(django_apps, None)
    task = PeriodicTask.objects.get(name="audit: daily report")
    _staff()
    admin = Client()
    admin.login(username="auditor", password="pw-for-tests-123")
    admin.post("/admin/django_celery_beat/periodictask/", {"action": "run_tasks", "_selected_action": [task.pk]})
    event = AuditEvent.objects.get(action="schedule.periodic_task.admin_run")
    assert event.target_id == str(task.pk) and event.metadata["task"] == task.task
    assert [t.pk for t in ran] == [task.pk]


def test_the_admin_mixin_never_writes_a_secret_value():
    from apps.audit.admin_mixins import AuditedAdminMixin

    class Probe(AuditedAdminMixin):
        audit_secret_fields = ("code",)
        audit_last4_fields = ("fingerprint_value",)

    changes = Probe().audit_changes(
        {"api_key": "sk-old-aaaa", "code": "x1", "fingerprint_value": "abcd1234", "name": "a"},
        {"api_key": "sk-new-bbbb", "code": "x2", "fingerprint_value": "zzzz9876", "name": "b"},
    )
    assert changes == {
        "api_key": {"before": "[redacted]", "after": "[redacted]"},
        "code": {"before": "[redacted]", "after": "[redacted]"},
        "fingerprint_value": {"before": "…1234", "after": "…9876"},
        "name": {"before": "a", "after": "b"},
    }


# -- chat turns: per-attempt events, totals, full logging ------------------------------------------------


def _api(user):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user)}")
    return api


def test_tokens_and_cost_summed_from_audit_events_equal_the_chat_api_usage(keyed_user, fake_provider):
    api = _api(keyed_user)
    first = post_chat(api, "hello there")
    conversation_id = first["conversation_id"]
    from tests.fakes.provider_server import Scripted, ScriptedToolCall

    fake_provider.enqueue("openai", Scripted(tool_calls=(ScriptedToolCall("add_task", {"title": "buy bread"}),), usage=(20, 9)))
    fake_provider.enqueue("openai", Scripted(text="Added buy bread.", usage=(30, 5)))
    answers = [first, post_chat(api, "add task buy bread", conversation_id=conversation_id)]
    fake_provider.fault("openai", "server_error")  # one failed attempt, retried: it costs nothing
    answers.append(post_chat(api, "and hello again", conversation_id=conversation_id, stream=True))
    attempts = AuditEvent.objects.filter(action="provider.attempt", metadata__conversation_id=conversation_id)
    assert attempts.count() >= 3 and attempts.filter(outcome="success").count() >= 3
    assert sum(e.metadata["input_tokens"] for e in attempts) == sum(a["usage"]["input_tokens"] for a in answers)
    assert sum(e.metadata["output_tokens"] for e in attempts) == sum(a["usage"]["output_tokens"] for a in answers)
    api_cost = sum(Decimal(str(a["usage"]["cost"])) for a in answers)
    assert sum(Decimal(e.metadata["cost"]) for e in attempts).quantize(Decimal("1e-8")) == api_cost.quantize(Decimal("1e-8"))
    assert api_cost > 0
    usage = api.get("/api/v1/usage/").json()
    [per_conversation] = [c for c in usage["conversations"] if c["conversation_id"] == conversation_id]
    assert per_conversation["input_tokens"] == sum(a["usage"]["input_tokens"] for a in answers)
    assert Decimal(per_conversation["cost"]).quantize(Decimal("1e-8")) == api_cost.quantize(Decimal("1e-8"))
    assert {(m["provider"], m["model"]) for m in usage["models"]} >= {("openai", answers[0]["model"])}
    # Every tool call has its event too.
    assert AuditEvent.objects.filter(action="mcp.tool_call", target_id="add_task", actor=keyed_user).count() == 1


def test_prompts_and_answers_are_stored_only_with_full_logging(keyed_user):
    api = _api(keyed_user)
    post_chat(api, "my private words")
    assert "my private words" not in repr(list(AuditEvent.objects.values()))
    with override_settings(AUDIT_FULL_LOGGING=True):
        answer = post_chat(api, "logged words")
    turn = AuditEvent.objects.filter(action="chat.turn").order_by("-id").first()
    assert turn.metadata["prompt"] == "logged words" and turn.metadata["answer"] == answer["reply"]


# -- the audit API ---------------------------------------------------------------------------------------


def test_users_see_their_own_events_and_staff_see_everyones(user_a, user_b):
    audit_record(actor=user_a, action="task.create")
    audit_record(actor=user_b, action="task.create")
    mine = _api(user_a).get("/api/v1/audit/").json()["results"]
    assert {e["actor_username"] for e in mine} == {user_a.username}
    # A user filter cannot widen a user's view.
    assert _api(user_a).get("/api/v1/audit/", {"user": user_b.username}).json()["results"] == []
    staff = _staff()
    everyone = _api(staff).get("/api/v1/audit/", {"action": "task.create"}).json()["results"]
    assert {e["actor_username"] for e in everyone} == {user_a.username, user_b.username}
    only_b = _api(staff).get("/api/v1/audit/", {"user": user_b.username}).json()["results"]
    assert {e["actor_username"] for e in only_b} == {user_b.username}


def test_filters_and_cursor_pagination(user_a):
    for i in range(7):
        audit_record(actor=user_a, action="provider.attempt", outcome="success" if i % 2 else "failure",
                     metadata={"provider": "openai" if i < 5 else "anthropic"})  # fmt: skip
    audit_record(actor=user_a, action="task.create")
    api = _api(user_a)
    seen, cursor = [], None
    while True:
        page = api.get("/api/v1/audit/", {"limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        seen += [e["id"] for e in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(AuditEvent.objects.filter(actor=user_a).values_list("id", flat=True), reverse=True)
    assert len(api.get("/api/v1/audit/", {"provider": "openai"}).json()["results"]) == 5
    assert len(api.get("/api/v1/audit/", {"outcome": "failure", "provider": "openai"}).json()["results"]) == 3
    assert len(api.get("/api/v1/audit/", {"action": "provider."}).json()["results"]) == 7
    future = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert api.get("/api/v1/audit/", {"since": future}).json()["results"] == []
    assert len(api.get("/api/v1/audit/", {"until": future}).json()["results"]) == len(seen)
    bad = api.get("/api/v1/audit/", {"cursor": "abc"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    assert api.get("/api/v1/audit/", {"limit": 1000}).status_code == 400


def test_the_csv_export_streams_with_the_same_filters(user_a, user_b):
    for i in range(30):
        audit_record(actor=user_a, action="task.create" if i % 3 else "task.delete", metadata={"i": i})
    audit_record(actor=user_b, action="task.create")
    response = _api(user_a).get("/api/v1/audit/export/", {"action": "task.create"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 20 and {r["action"] for r in rows} == {"task.create"}
    assert {r["actor_username"] for r in rows} == {user_a.username}


@pytest.mark.parametrize(
    "context",
    [
        {"request_id": "req-1", "client_ip": "2001:db8::1"},
        {"request_id": "", "client_ip": None},
    ],
)
def test_audit_record_stores_exactly_what_the_orm_save_stores(user_a, context):
    # audit_record's INSERT is built once per database (apps.audit.services._insert): the row it
    # writes must be the row Model.save would write, field for field, and verify the same.
    from apps.audit.chain import event_hash
    from apps.audit.services import _audit_event, audit_record
    from apps.core.request_context import RequestContext, reset_request_context, set_request_context

    metadata = {"tool": "get_task", "nested": {"list": [1, 2.5, None, True], "ünï": "çødé ✓"}, "latency_ms": 1.25}
    token = set_request_context(RequestContext(**context))
    try:
        for actor in (user_a, None):
            fast = audit_record(actor=actor, action="mcp.tool_call", target_type="mcp.tool", target_id="get_task",
                                metadata=metadata)  # fmt: skip
            orm = _audit_event(actor=actor, action="mcp.tool_call", target_type="mcp.tool", target_id="get_task",
                               metadata=metadata)  # fmt: skip
            orm.save(force_insert=True)
            assert fast.pk is not None and fast.pk != orm.pk
            stored_fast, stored_orm = AuditEvent.objects.get(pk=fast.pk), AuditEvent.objects.get(pk=orm.pk)
            for field in AuditEvent._meta.concrete_fields:
                if field.name in ("id", "created_at", "row_hash"):
                    continue
                assert getattr(stored_fast, field.attname) == getattr(stored_orm, field.attname), field.name
            assert stored_fast.created_at == fast.created_at  # to the microsecond
            assert event_hash(stored_fast) == stored_fast.row_hash == fast.row_hash
            with pytest.raises(AppendOnlyError):
                fast.save()  # a stored row, as after Model.save
    finally:
        reset_request_context(token)


def test_a_nul_in_audited_text_is_stored_replaced_so_the_event_is_not_lost(user_a):
    # PostgreSQL refuses NUL in text and jsonb: an unknown MCP tool named "a\x00b" left no audit row.
    from apps.mcp_tools.client import mcp_tool_call

    assert mcp_tool_call(user=user_a, name="a\x00b", arguments={}).is_error
    event = AuditEvent.objects.get(actor=user_a, target_id="a\ufffdb")
    assert event.metadata["tool"] == "a\ufffdb"
    audit_record(actor=user_a, action="test.nul", target_id="x\x00", metadata={"k\x00": ["v\x00"]})
    event = AuditEvent.objects.get(action="test.nul")
    assert (event.target_id, event.metadata) == ("x\ufffd", {"k\ufffd": ["v\ufffd"]})
    assert chain_verify().ok


def test_usage_costs_are_given_to_the_columns_eight_places(db):
    # SQLite sums a decimal column as a float ("0.00000585000000000000"), which broke the
    # documented pattern ^-?\d{0,6}(?:\.\d{0,8})?$ (schemathesis's stateful phase found it).
    import re

    from apps.audit.services import usage_record

    user = make_user("costs")
    for cost in ("0.00000195", "0.00000195", "0.00000195", "0.0000468", "0.00000001"):
        usage_record(user=user, provider="openai", model="m", input_tokens=1, output_tokens=1, cost=Decimal(cost),
                     cached=True, cost_saved=Decimal(cost))  # fmt: skip
    usage = APIClient(HTTP_AUTHORIZATION=f"Bearer {make_token(user)}").get("/api/v1/usage/").json()
    costs = [row["cost"] for part in ("days", "models", "conversations") for row in usage[part]]
    costs.append(usage["cache"]["cost_saved"])
    assert costs and all(re.fullmatch(r"-?\d{0,6}(?:\.\d{0,8})?", c) for c in costs), costs
    assert usage["days"][0]["cost"] == "0.00005266"  # fixed-point: "1E-8" for one of them was as wrong
