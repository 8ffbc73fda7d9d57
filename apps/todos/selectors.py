"""Reads of tasks, always scoped to the owner."""

from __future__ import annotations

from datetime import date

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.core.errors import NotFound
from apps.todos.models import Task

TASK_ORDERINGS = {
    "created": ("created_at", "id"),
    "-created": ("-created_at", "-id"),
    "updated": ("updated_at", "id"),
    "-updated": ("-updated_at", "-id"),
    "due": ("due_date", "id"),
    "-due": ("-due_date", "-id"),
    "priority": ("priority_rank", "-created_at", "-id"),
    "-priority": ("-priority_rank", "-created_at", "-id"),
    "title": ("title", "id"),
    "-title": ("-title", "-id"),
}
TASK_STATUSES = ("all", "pending", "completed")


def task_list(
    *,
    user,
    status: str = "all",
    search: str | None = None,
    due_before: date | None = None,
    due_after: date | None = None,
    ordering: str = "-created",
) -> QuerySet[Task]:
    """The user's tasks, filtered. ``due_before``/``due_after`` are inclusive."""
    qs = Task.objects.filter(owner=user)
    if status == "pending":
        qs = qs.filter(completed=False)
    elif status == "completed":
        qs = qs.filter(completed=True)
    if search:
        qs = qs.filter(Q(title__icontains=search) | Q(description__icontains=search))
    if due_before is not None:
        qs = qs.filter(due_date__lte=due_before)
    if due_after is not None:
        qs = qs.filter(due_date__gte=due_after)
    order = TASK_ORDERINGS.get(ordering, TASK_ORDERINGS["-created"])
    return qs.order_by(*order)


def task_get(*, user, task_id: int) -> Task:
    """One of the user's tasks; another user's task is simply not found."""
    try:
        return Task.objects.get(owner=user, pk=task_id)  # no ORDER BY/LIMIT to build: the hottest read
    except Task.DoesNotExist:
        raise NotFound("Task not found.", code="task_not_found", extra={"task_id": task_id}) from None


def task_statistics(*, user, today: date | None = None) -> dict[str, int]:
    """Counts of the user's tasks; overdue and due-today count pending tasks only."""
    today = today or timezone.localdate()
    pending = Q(completed=False)
    counts = Task.objects.filter(owner=user).aggregate(
        total=Count("id"),
        pending=Count("id", filter=pending),
        done=Count("id", filter=Q(completed=True)),  # "completed" would clash with the field's name
        overdue=Count("id", filter=pending & Q(due_date__lt=today)),
        due_today=Count("id", filter=pending & Q(due_date=today)),
        high_priority_pending=Count("id", filter=pending & Q(priority=Task.Priority.HIGH)),
    )
    counts["completed"] = counts.pop("done")
    return counts
