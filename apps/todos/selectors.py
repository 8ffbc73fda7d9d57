"""Reads of tasks, always scoped to the owner."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.core.errors import NotFound
from apps.todos.models import Label, Notification, Task, TaskCompletion, TaskList

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
    qs = Task.objects.filter(owner=user).prefetch_related("labels")
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


# -- views (the tasks page, the views API and find_tasks) ------------------------------------------

TASK_VIEWS = ("today", "overdue", "upcoming", "no_date", "completed", "all")
VIEW_SORTS = ("due", "priority", "created")
VIEW_PAGE_MAX = 100
VIEW_OFFSET_MAX = 10_000
UPCOMING_DAYS_MAX = 365
COMPLETED_DAYS_MAX = 3650

# Every ordering ends in "id" and leads with columns of an (owner, completed, ...) index, so a
# page is an index range scan whatever the user's task count.
_VIEW_ORDER = {
    "due": ("due_date", "due_time", "id"),
    "priority": ("-priority_rank", "-created_at", "-id"),
    "created": ("-created_at", "-id"),
}


def task_view(
    *,
    user,
    view: str = "all",
    sort: str = "",
    list_id: int | None = None,
    label_id: int | None = None,
    search: str | None = None,
    days: int = 7,
    today: date | None = None,
) -> QuerySet[Task]:
    """The user's tasks in one view, optionally narrowed to a list, a label or a text; not yet sliced.

    ``today`` is the user's own date (their time zone); ``days`` is the upcoming window or the
    completed history period. Completed history is ordered by completion, newest first.
    """
    from apps.todos.recurrence import user_today

    today = today or user_today(user)
    qs = Task.objects.filter(owner=user)
    if view == "completed":
        since = timezone.now() - timedelta(days=max(1, min(days, COMPLETED_DAYS_MAX)))
        qs = qs.filter(completed=True, completed_at__gte=since)
    elif view != "all":
        qs = qs.filter(completed=False)
    if view == "today":
        qs = qs.filter(due_date__lte=today)  # today includes what is overdue, as people expect
    elif view == "overdue":
        qs = qs.filter(due_date__lt=today)
    elif view == "upcoming":
        qs = qs.filter(due_date__gte=today, due_date__lte=today + timedelta(days=max(1, min(days, UPCOMING_DAYS_MAX))))
    elif view == "no_date":
        qs = qs.filter(due_date__isnull=True)
    if list_id is not None:
        qs = qs.filter(task_list_id=list_id)
    if label_id is not None:
        qs = qs.filter(labels__id=label_id)
    if search:
        qs = qs.filter(
            Q(title__icontains=search)
            | Q(description__icontains=search)
            | Q(pk__in=Task.labels.through.objects.filter(label__owner=user, label__name__icontains=search).values("task_id"))
        )
    if view == "completed" and not sort:
        return qs.order_by("-completed_at", "-id")
    default_sort = "due" if view in ("today", "overdue", "upcoming") else "created"
    return qs.order_by(*_VIEW_ORDER.get(sort or default_sort, _VIEW_ORDER["created"]))


def task_page(qs: QuerySet[Task], *, limit: int = 20, offset: int = 0) -> tuple[list[Task], bool]:
    """One bounded page and whether more follow: fetches limit + 1 rows, never a COUNT."""
    limit = max(1, min(limit, VIEW_PAGE_MAX))
    offset = max(0, min(offset, VIEW_OFFSET_MAX))
    rows = list(qs.select_related("task_list").prefetch_related("labels")[offset : offset + limit + 1])
    return rows[:limit], len(rows) > limit


def task_list_all(*, user) -> QuerySet[TaskList]:
    """The user's lists, Inbox first (made on first use)."""
    from apps.todos.services import task_list_inbox

    task_list_inbox(user=user)
    return TaskList.objects.filter(owner=user).order_by("-is_inbox", "name", "id")


def task_list_get(*, user, list_id: int) -> TaskList:
    found = TaskList.objects.filter(owner=user, pk=list_id).first()
    if found is None:
        raise NotFound("List not found.", code="list_not_found", extra={"list_id": list_id})
    return found


def label_all(*, user) -> QuerySet[Label]:
    return Label.objects.filter(owner=user).order_by("name", "id")


def label_get(*, user, label_id: int) -> Label:
    found = Label.objects.filter(owner=user, pk=label_id).first()
    if found is None:
        raise NotFound("Label not found.", code="label_not_found", extra={"label_id": label_id})
    return found


def task_overview(*, user) -> dict:
    """Counts per list, overdue, due today and the next due task (for get_overview and the page)."""
    from apps.todos.recurrence import user_today

    today = user_today(user)
    open_tasks = Task.objects.filter(owner=user, completed=False)
    per_list = {
        row["task_list_id"]: row["n"]
        for row in open_tasks.values("task_list_id").annotate(n=Count("id")).order_by()
    }
    lists = [
        {"id": tl.pk, "name": tl.name, "is_inbox": tl.is_inbox, "open_tasks": per_list.get(tl.pk, 0)}
        for tl in task_list_all(user=user)
    ]
    counts = open_tasks.aggregate(
        overdue=Count("id", filter=Q(due_date__lt=today)), due_today=Count("id", filter=Q(due_date=today))
    )
    next_due = open_tasks.filter(due_date__gte=today).order_by("due_date", "due_time", "id").first()
    return {"lists": lists, **counts, "next_due": next_due, "today": today}


def notification_list(*, user) -> QuerySet[Notification]:
    return Notification.objects.filter(owner=user).order_by("-created_at", "-id")


def notification_unread_count(*, user) -> int:
    # Capped: the bell shows "99+" beyond, and the count stays an index-only scan of a bounded size.
    return Notification.objects.filter(owner=user, read_at__isnull=True).values("id")[:100].count()


def completion_history(*, user, task_id: int | None = None) -> QuerySet[TaskCompletion]:
    qs = TaskCompletion.objects.filter(owner=user)
    if task_id is not None:
        qs = qs.filter(task_id=task_id)
    return qs.order_by("-completed_at", "-id")
