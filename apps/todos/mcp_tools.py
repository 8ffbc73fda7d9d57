"""The todo MCP tools, registered through the hook in apps.mcp_tools.registry.

Adapters only: read the caller, call one service or selector, shape the answer. Arguments have already been checked against each tool's input schema when a function runs;
an ApplicationError raised by a service becomes a tool error with the same message the REST
API shows.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from apps.core.fields import NO_NUL_PATTERN
from apps.mcp_tools.context import arguments_given, current_user, report_progress
from apps.mcp_tools.registry import mcp_tool
from apps.todos.tool_schemas import (
    ADD_TASKS_MAX,
    BATCH_MAX,
    Description,
    DueDate,
    DueTime,
    FoundTasksOut,
    LabelNames,
    LabelOut,
    LabelsOut,
    Limit,
    ListCountOut,
    ListId,
    ListName,
    ListNameRef,
    ListOut,
    ListsOut,
    NewTask,
    OverviewOut,
    Recurrence,
    RemindAt,
    ReminderMinutes,
    TaskChange,
    TasksOut,
    Priority,
    SearchText,
    Status,
    TaskDeletedOut,
    TaskId,
    TaskListOut,
    TaskOut,
    TasksAddedOut,
    TaskStatisticsOut,
    Title,
)
from apps.todos.selectors import label_all, task_get, task_list, task_list_all, task_overview, task_page, task_view
from apps.todos.selectors import task_statistics as task_statistics_select
from apps.todos.services import (
    task_complete,
    task_complete_many,
    task_create,
    task_create_many,
    task_delete,
    task_list_create,
    task_list_id_by_name,
    task_list_rename,
    task_uncomplete,
    task_update,
    task_update_many,
)


def _reminders(minutes_before: int | None, remind_at) -> list[dict] | None:
    reminders = []
    if minutes_before is not None:
        reminders.append({"minutes_before": minutes_before})
    if remind_at is not None:
        reminders.append({"remind_at": remind_at})
    return reminders or None


def _new_task_values(values: dict) -> dict:
    reminders = _reminders(values.pop("remind_minutes_before", None), values.pop("remind_at", None))
    if reminders:
        values["reminders"] = reminders
    return {k: v for k, v in values.items() if v is not None}


@mcp_tool(title="Add a task")
def add_task(
    title: Title,
    description: Description = "",
    priority: Priority = "normal",
    due_date: DueDate | None = None,
    due_time: DueTime | None = None,
    recurrence: Recurrence = "",
    list_id: ListId | None = None,
    list_name: ListNameRef | None = None,
    labels: LabelNames | None = None,
    remind_minutes_before: ReminderMinutes | None = None,
    remind_at: RemindAt | None = None,
) -> TaskOut:
    """Add a task to the user's todo list (the Inbox unless list_id or list_name names another) and return it.

    A recurring task (recurrence as an RRULE) without a due date starts at its first occurrence.
    """
    user = current_user()
    if list_name is not None and list_id is None:
        list_id = task_list_id_by_name(user=user, name=list_name)
    values = _new_task_values(
        {
            "title": title,
            "description": description,
            "priority": priority,
            "due_date": due_date,
            "due_time": due_time,
            "recurrence": recurrence,
            "list_id": list_id,
            "labels": labels,
            "remind_minutes_before": remind_minutes_before,
            "remind_at": remind_at,
        }
    )
    return TaskOut.of(task_create(user=user, **values))


@mcp_tool(title="Add several tasks")
def add_tasks(
    tasks: Annotated[
        list[NewTask],
        Field(min_length=1, max_length=ADD_TASKS_MAX, description=f"1 to {ADD_TASKS_MAX} tasks, each like add_task's arguments."),
    ],
) -> TasksAddedOut:
    """Add up to 25 tasks at once: all of them are added, or none when one is not valid."""
    created = task_create_many(
        user=current_user(),
        tasks=[_new_task_values(task.model_dump()) for task in tasks],
        # Progress notifications when the client gave a progress token (a no-op otherwise).
        on_progress=lambda done, total: report_progress(done, total, f"Saved {done} of {total} tasks"),
    )
    return TasksAddedOut(tasks=[TaskOut.of(task) for task in created], count=len(created))


@mcp_tool(title="List tasks", read_only=True)
def list_tasks(
    status: Status = "all",
    search: SearchText | None = None,
    due_before: Annotated[DueDate | None, Field(description="Only tasks due on or before this date.")] = None,
    due_after: Annotated[DueDate | None, Field(description="Only tasks due on or after this date.")] = None,
    limit: Limit = 20,
    list_id: Annotated[ListId | None, Field(description="Only tasks in this list.")] = None,
) -> TaskListOut:
    """List the user's tasks, newest first, filtered by status, text, due date and list; `count` is the number matching."""
    tasks = task_list(user=current_user(), status=status, search=search, due_before=due_before, due_after=due_after)
    if list_id is not None:
        tasks = tasks.filter(task_list_id=list_id)
    return TaskListOut(tasks=[TaskOut.of(task) for task in tasks[:limit]], count=tasks.count())


@mcp_tool(title="Get a task", read_only=True)
def get_task(task_id: TaskId) -> TaskOut:
    """Get one of the user's tasks by id."""
    return TaskOut.of(task_get(user=current_user(), task_id=task_id))


@mcp_tool(title="Update a task", destructive=True, idempotent=True)
def update_task(
    task_id: TaskId,
    title: Title | None = None,
    description: Description | None = None,
    priority: Priority | None = None,
    due_date: Annotated[DueDate | None, Field(description="New due date, YYYY-MM-DD; null removes it.")] = None,
    due_time: Annotated[DueTime | None, Field(description="New due time HH:MM; null removes it.")] = None,
    recurrence: Annotated[Recurrence | None, Field(description="New RRULE; empty stops repeating.")] = None,
    list_id: Annotated[ListId | None, Field(description="Move the task to this list.")] = None,
    list_name: ListNameRef | None = None,
    labels: LabelNames | None = None,
    add_labels: Annotated[LabelNames | None, Field(description="Label names to add (the task keeps its others).")] = None,
    remind_minutes_before: ReminderMinutes | None = None,
    remind_at: RemindAt | None = None,
) -> TaskOut:
    """Change some fields of one of the user's tasks; fields left out stay as they are (due_date null clears it).

    Giving remind_minutes_before or remind_at replaces the task's reminders.
    """
    values = {
        "title": title,
        "description": description,
        "priority": priority,
        "recurrence": recurrence,
        "list_id": list_id,
        "labels": labels,
        "add_labels": add_labels,
    }
    user = current_user()
    if list_name is not None and list_id is None:
        values["list_id"] = task_list_id_by_name(user=user, name=list_name)
    changes = {field: value for field, value in values.items() if value is not None}
    given = arguments_given()
    for field, value in (("due_date", due_date), ("due_time", due_time)):
        if field in given:
            changes[field] = value
    reminders = _reminders(remind_minutes_before, remind_at)
    if reminders:
        changes["reminders"] = reminders
    return TaskOut.of(task_update(user=user, task_id=task_id, **changes))


@mcp_tool(title="Complete a task", idempotent=True)
def complete_task(task_id: TaskId) -> TaskOut:
    """Mark one of the user's tasks done (completing a done task changes nothing)."""
    return TaskOut.of(task_complete(user=current_user(), task_id=task_id))


@mcp_tool(title="Reopen a task", idempotent=True)
def uncomplete_task(task_id: TaskId) -> TaskOut:
    """Mark one of the user's tasks not done (reopening a pending task changes nothing).

    For a recurring task this undoes its latest completion: it goes back to that occurrence's date.
    """
    return TaskOut.of(task_uncomplete(user=current_user(), task_id=task_id))


@mcp_tool(title="Delete a task", destructive=True, idempotent=True)
def delete_task(task_id: TaskId) -> TaskDeletedOut:
    """Delete one of the user's tasks for good."""
    task_delete(user=current_user(), task_id=task_id)
    return TaskDeletedOut(deleted=True, task_id=task_id)


@mcp_tool(title="Complete several tasks", idempotent=True)
def complete_tasks(
    task_ids: Annotated[
        list[TaskId], Field(min_length=1, max_length=BATCH_MAX, description=f"1 to {BATCH_MAX} distinct task ids.")
    ],
) -> TasksOut:
    """Mark up to 25 tasks done: all of them, or none when one is not found (recurring ones move to their next date)."""
    done = task_complete_many(user=current_user(), task_ids=task_ids)
    return TasksOut(tasks=[TaskOut.of(task) for task in done], count=len(done))


@mcp_tool(title="Update several tasks", destructive=True, idempotent=True)
def update_tasks(
    updates: Annotated[
        list[TaskChange],
        Field(min_length=1, max_length=BATCH_MAX, description=f"1 to {BATCH_MAX} changes, each a task_id and fields."),
    ],
) -> TasksOut:
    """Change up to 25 tasks at once: all of the changes are made, or none when one fails."""
    changes = [change.model_dump(exclude_unset=True) for change in updates]
    changed = task_update_many(user=current_user(), updates=changes)
    return TasksOut(tasks=[TaskOut.of(task) for task in changed], count=len(changed))


@mcp_tool(title="Find tasks by date", read_only=True)
def find_tasks(
    window: Annotated[
        Literal["today", "overdue", "upcoming", "no_date", "completed"],
        Field(description="today (includes overdue), overdue, upcoming (next `days` days), no_date, completed (last `days` days)."),
    ],
    days: Annotated[int, Field(strict=True, ge=1, le=365, description="Window for upcoming/completed.")] = 7,
    list_id: Annotated[ListId | None, Field(description="Only tasks in this list.")] = None,
    label: Annotated[str | None, Field(max_length=50, pattern=NO_NUL_PATTERN, description="Only tasks with this label.")] = None,
    limit: Limit = 20,
) -> FoundTasksOut:
    """Find the user's pending tasks by date window (or recently completed ones), in the user's time zone."""
    user = current_user()
    label_id = None
    if label is not None:
        found = label_all(user=user).filter(name__iexact=label.strip()).first()
        if found is None:
            return FoundTasksOut(tasks=[], has_more=False)
        label_id = found.pk
    rows, more = task_page(task_view(user=user, view=window, days=days, list_id=list_id, label_id=label_id), limit=limit)
    return FoundTasksOut(tasks=[TaskOut.of(task) for task in rows], has_more=more)


@mcp_tool(title="List lists", read_only=True)
def list_lists() -> ListsOut:
    """The user's lists, Inbox first."""
    return ListsOut(lists=[ListOut(id=tl.pk, name=tl.name, is_inbox=tl.is_inbox) for tl in task_list_all(user=current_user())[:200]])


@mcp_tool(title="Add a list")
def add_list(name: ListName) -> ListOut:
    """Add a list (names are unique per user, ignoring case)."""
    created = task_list_create(user=current_user(), name=name)
    return ListOut(id=created.pk, name=created.name, is_inbox=False)


@mcp_tool(title="Rename a list", idempotent=True)
def rename_list(list_id: ListId, name: ListName) -> ListOut:
    """Rename one of the user's lists (the Inbox keeps its name)."""
    renamed = task_list_rename(user=current_user(), list_id=list_id, name=name)
    return ListOut(id=renamed.pk, name=renamed.name, is_inbox=renamed.is_inbox)


@mcp_tool(title="List labels", read_only=True)
def list_labels() -> LabelsOut:
    """The user's labels (a label is made by naming it on a task)."""
    return LabelsOut(labels=[LabelOut(id=label.pk, name=label.name) for label in label_all(user=current_user())[:500]])


@mcp_tool(title="Overview", read_only=True)
def get_overview() -> OverviewOut:
    """Open tasks per list, how many are overdue and due today, and the next task due."""
    data = task_overview(user=current_user())
    return OverviewOut(
        lists=[ListCountOut(**row) for row in data["lists"]],
        overdue=data["overdue"],
        due_today=data["due_today"],
        next_due=TaskOut.of(data["next_due"]) if data["next_due"] else None,
        today=data["today"],
    )


@mcp_tool(title="Task statistics", read_only=True)
def task_statistics() -> TaskStatisticsOut:
    """Count the user's tasks: total, pending, completed, overdue, due today and high-priority pending."""
    return TaskStatisticsOut(**task_statistics_select(user=current_user()))
