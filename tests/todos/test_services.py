"""Task services: every write is audited in the same transaction as the change."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.core.errors import NotFound, ValidationFailed
from apps.todos import services
from apps.todos.models import Task
from tests.factories import make_task

pytestmark = pytest.mark.django_db


WRITES = {
    "create": lambda user, task: services.task_create(user=user, title="new"),
    "update": lambda user, task: services.task_update(user=user, task_id=task.pk, title="renamed"),
    "complete": lambda user, task: services.task_complete(user=user, task_id=task.pk),
    "uncomplete": lambda user, task: (
        Task.objects.filter(pk=task.pk).update(completed=True, completed_at="2026-01-01T00:00:00Z"),
        services.task_uncomplete(user=user, task_id=task.pk),
    ),
    "delete": lambda user, task: services.task_delete(user=user, task_id=task.pk),
}


@pytest.mark.parametrize("write", WRITES)
def test_each_write_leaves_one_audit_row(user_a, write):
    task = make_task(user_a)
    WRITES[write](user_a, task)
    event = AuditEvent.objects.get(action=f"task.{write}")
    assert event.actor == user_a and event.outcome == "success"
    assert event.target_type == "todos.task"


@pytest.mark.parametrize("write", WRITES)
def test_an_audit_failure_rolls_the_write_back(user_a, write, monkeypatch):
    task = make_task(user_a, title="original")
    if write == "uncomplete":
        Task.objects.filter(pk=task.pk).update(completed=True, completed_at="2026-01-01T00:00:00Z")
    before = list(Task.objects.values())

    def broken_audit(**kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(services, "audit_record", broken_audit)
    with pytest.raises(RuntimeError, match="audit store unavailable"):
        if write == "uncomplete":
            services.task_uncomplete(user=user_a, task_id=task.pk)
        else:
            WRITES[write](user_a, task)

    assert list(Task.objects.values()) == before
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    "call",
    [
        lambda user: services.task_create(user=user, title=""),
        lambda user: services.task_create(user=user, title="x" * 201),
        lambda user: services.task_create(user=user, title="ok", priority="urgent"),
        lambda user: services.task_create(user=user, title="ok", description="d" * 5001),
    ],
)
def test_a_write_that_fails_validation_leaves_no_audit_row(user_a, call):
    with pytest.raises(ValidationFailed):
        call(user_a)
    assert not Task.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_write_on_a_missing_task_leaves_no_audit_row(user_a, user_b):
    task = make_task(user_a)
    with pytest.raises(NotFound):
        services.task_update(user=user_b, task_id=task.pk, title="stolen")
    assert not AuditEvent.objects.filter(action="task.update").exists()


def test_an_update_that_changes_nothing_writes_nothing(user_a):
    task = make_task(user_a, title="same")
    services.task_update(user=user_a, task_id=task.pk, title="same")
    assert not AuditEvent.objects.filter(action="task.update").exists()


def test_audit_metadata_never_keeps_secret_looking_fields(user_a):
    from apps.audit.services import audit_record

    event = audit_record(
        actor=user_a,
        action="test",
        metadata={"api_key": "sk-canary", "nested": {"token": "tda_x", "ok": 1}, "token_prefix": "tda_abc"},
    )
    assert "sk-canary" not in repr(event.metadata) and "tda_x" not in repr(event.metadata)
    assert event.metadata["nested"]["ok"] == 1 and event.metadata["token_prefix"] == "tda_abc"
