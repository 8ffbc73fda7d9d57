"""The todo tools. Adapters only: read the caller, call one service or selector, shape the answer.

Arguments have already been checked against each tool's input schema when a function runs;
an ApplicationError raised by a service becomes a tool error with the same message the REST
API shows.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from apps.mcp_tools.context import arguments_given, current_user, report_progress
from apps.mcp_tools.registry import mcp_tool
from apps.mcp_tools.schemas import (
    ADD_TASKS_MAX,
    Description,
    DueDate,
    Limit,
    NewTask,
    Priority,
    SearchText,
    Status,
    TaskDeletedOut,
    TaskId,
    TaskListOut,
    TaskOut,
    TasksAddedOut,
    Title,
)
from apps.todos.selectors import task_get, task_list
from apps.todos.services import (
    task_complete,
    task_create,
    task_create_many,
    task_delete,
    task_uncomplete,
    task_update,
)


@mcp_tool(title="Add a task")
def add_task(
    title: Title,
    description: Description = "",
    priority: Priority = "normal",
    due_date: DueDate | None = None,
) -> TaskOut:
    """Add a task to the user's todo list and return it."""
    task = task_create(
        user=current_user(), title=title, description=description, priority=priority, due_date=due_date
    )
    return TaskOut.of(task)


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
        tasks=[task.model_dump() for task in tasks],
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
) -> TaskListOut:
    """List the user's tasks, newest first, filtered by status, text and due date; `count` is the number matching."""
    tasks = task_list(user=current_user(), status=status, search=search, due_before=due_before, due_after=due_after)
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
) -> TaskOut:
    """Change some fields of one of the user's tasks; fields left out stay as they are (due_date null clears it)."""
    values = {"title": title, "description": description, "priority": priority}
    changes = {field: value for field, value in values.items() if value is not None}
    if "due_date" in arguments_given():
        changes["due_date"] = due_date
    return TaskOut.of(task_update(user=current_user(), task_id=task_id, **changes))


@mcp_tool(title="Complete a task", idempotent=True)
def complete_task(task_id: TaskId) -> TaskOut:
    """Mark one of the user's tasks done (completing a done task changes nothing)."""
    return TaskOut.of(task_complete(user=current_user(), task_id=task_id))


@mcp_tool(title="Reopen a task", idempotent=True)
def uncomplete_task(task_id: TaskId) -> TaskOut:
    """Mark one of the user's tasks not done (reopening a pending task changes nothing)."""
    return TaskOut.of(task_uncomplete(user=current_user(), task_id=task_id))


@mcp_tool(title="Delete a task", destructive=True, idempotent=True)
def delete_task(task_id: TaskId) -> TaskDeletedOut:
    """Delete one of the user's tasks for good."""
    task_delete(user=current_user(), task_id=task_id)
    return TaskDeletedOut(deleted=True, task_id=task_id)
