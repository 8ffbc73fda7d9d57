"""Writes of tasks: each is atomic and writes its audit event in the same transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import NotFound, ValidationFailed
from apps.core.fields import ASCII_WHITESPACE
from apps.todos.models import DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH, Task

_UNSET: Any = object()
TASK_CREATE_MANY_MAX = 25
_UPDATABLE = ("title", "description", "priority", "due_date")


def _locked_task(*, user, task_id: int) -> Task:
    task = Task.objects.select_for_update().filter(owner=user, pk=task_id).first()
    if task is None:
        raise NotFound("Task not found.", code="task_not_found", extra={"task_id": task_id})
    return task


def _validate(task: Task) -> None:
    """Model-level checks, so services called from MCP tools or pages get the same rules as the API."""
    task.title = (task.title or "").strip(ASCII_WHITESPACE)
    if not task.title:
        raise ValidationFailed(
            "Title must not be empty.", extra={"fields": {"title": ["This field may not be blank."]}}
        )
    if "\x00" in task.title:
        raise ValidationFailed(
            "Null characters are not allowed.", extra={"fields": {"title": ["Null characters are not allowed."]}}
        )
    if len(task.title) > TITLE_MAX_LENGTH:
        raise ValidationFailed(
            f"Title must be at most {TITLE_MAX_LENGTH} characters.",
            extra={"fields": {"title": [f"Ensure this field has no more than {TITLE_MAX_LENGTH} characters."]}},
        )
    if "\x00" in (task.description or ""):
        raise ValidationFailed(
            "Null characters are not allowed.", extra={"fields": {"description": ["Null characters are not allowed."]}}
        )
    if len(task.description or "") > DESCRIPTION_MAX_LENGTH:
        raise ValidationFailed(
            f"Description must be at most {DESCRIPTION_MAX_LENGTH} characters.",
            extra={"fields": {"description": [f"Ensure this field has no more than {DESCRIPTION_MAX_LENGTH} characters."]}},
        )
    try:
        task.full_clean(exclude=["owner"])
    except DjangoValidationError as exc:
        fields = exc.message_dict
        first = next(iter(fields.values()))[0]
        raise ValidationFailed(first, extra={"fields": fields}) from exc


@transaction.atomic
def task_create(
    *,
    user,
    title: str,
    description: str = "",
    priority: str = Task.Priority.NORMAL,
    due_date: date | None = None,
) -> Task:
    """Add a task to the user's list."""
    task = Task(owner=user, title=title, description=description or "", priority=priority, due_date=due_date)
    _validate(task)
    task.save()
    audit_record(actor=user, action="task.create", target=task, metadata={"priority": task.priority})
    return task


@transaction.atomic
def task_create_many(
    *, user, tasks: Sequence[Mapping[str, Any]], on_progress: Callable[[int, int], None] | None = None
) -> list[Task]:
    """Add several tasks at once: all of them, or none when one is not valid (``on_progress(done, total)`` after each)."""
    if not 1 <= len(tasks) <= TASK_CREATE_MANY_MAX:
        raise ValidationFailed(f"Give between 1 and {TASK_CREATE_MANY_MAX} tasks.", extra={"field": "tasks"})
    created = []
    for index, values in enumerate(tasks):
        try:
            created.append(task_create(user=user, **values))
        except ValidationFailed as exc:
            # Name the task, so the caller knows which one to fix; the transaction drops the others.
            raise ValidationFailed(f"Task {index + 1}: {exc.message}", extra={**exc.extra, "index": index}) from exc
        if on_progress is not None:
            on_progress(index + 1, len(tasks))
    return created


@transaction.atomic
def task_update(
    *,
    user,
    task_id: int,
    title: str = _UNSET,
    description: str = _UNSET,
    priority: str = _UNSET,
    due_date: date | None = _UNSET,
) -> Task:
    """Change the given fields of one of the user's tasks; fields left out stay as they are."""
    task = _locked_task(user=user, task_id=task_id)
    values = {"title": title, "description": description, "priority": priority, "due_date": due_date}
    changed = []
    for field in _UPDATABLE:
        value = values[field]
        if value is _UNSET:
            continue
        if field == "description" and value is None:
            value = ""
        if getattr(task, field) != value:
            setattr(task, field, value)
            changed.append(field)
    if not changed:
        return task
    _validate(task)
    task.save(update_fields=[*changed, "updated_at"])
    audit_record(actor=user, action="task.update", target=task, metadata={"fields": changed})
    return task


@transaction.atomic
def task_complete(*, user, task_id: int) -> Task:
    """Mark a task done; completing a completed task changes nothing."""
    task = _locked_task(user=user, task_id=task_id)
    if task.completed:
        return task
    task.completed = True
    task.completed_at = timezone.now()
    task.save(update_fields=["completed", "completed_at", "updated_at"])
    audit_record(actor=user, action="task.complete", target=task)
    return task


@transaction.atomic
def task_uncomplete(*, user, task_id: int) -> Task:
    """Mark a task not done; uncompleting a pending task changes nothing."""
    task = _locked_task(user=user, task_id=task_id)
    if not task.completed:
        return task
    task.completed = False
    task.completed_at = None
    task.save(update_fields=["completed", "completed_at", "updated_at"])
    audit_record(actor=user, action="task.uncomplete", target=task)
    return task


@transaction.atomic
def task_delete(*, user, task_id: int) -> None:
    """Delete one of the user's tasks."""
    task = _locked_task(user=user, task_id=task_id)
    audit_record(actor=user, action="task.delete", target=task, metadata={"title_length": len(task.title)})
    task.delete()
