"""Argument types (with the constraints the input schemas publish) and output models of the todo MCP tools."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from apps.core.fields import NO_NUL_PATTERN
from apps.core.ids import MAX_ID
from apps.todos.models import DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH, Task

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SEARCH_MAX_LENGTH = 200
LIST_LIMIT_MAX = 100
ADD_TASKS_MAX = 25


def _iso_date(value: object) -> date:
    # Only "YYYY-MM-DD": pydantic alone would also take numbers (Unix time) and datetimes.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        return date.fromisoformat(value)  # ValueError names the bad part ("month must be in 1..12")
    raise ValueError("must be a date in YYYY-MM-DD format")


IsoDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": _ISO_DATE.pattern}),
]
TaskId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID, description="The task's id.")]
Title = Annotated[
    str,
    Field(min_length=1, max_length=TITLE_MAX_LENGTH, pattern=NO_NUL_PATTERN, description="Short title of the task."),
]
Description = Annotated[
    str, Field(max_length=DESCRIPTION_MAX_LENGTH, pattern=NO_NUL_PATTERN, description="Longer notes; may be empty.")
]
Priority = Annotated[Literal["low", "normal", "high"], Field(description="How important the task is.")]
DueDate = Annotated[IsoDate, Field(description="Due date, YYYY-MM-DD.")]
Status = Annotated[Literal["all", "pending", "completed"], Field(description="Which tasks to list.")]
SearchText = Annotated[
    str,
    Field(
        max_length=SEARCH_MAX_LENGTH,
        pattern=NO_NUL_PATTERN,
        description="Only tasks whose title or description contains this text (case-insensitive).",
    ),
]
Limit = Annotated[int, Field(strict=True, ge=1, le=LIST_LIMIT_MAX, description="At most this many tasks.")]


class NewTask(BaseModel):
    """One task for add_tasks: the same fields as add_task."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description = ""
    priority: Priority = "normal"
    due_date: DueDate | None = None


class TaskOut(BaseModel):
    """A task as every tool returns it (the same fields as the REST API)."""

    id: int
    title: str
    description: str
    completed: bool
    completed_at: datetime | None
    priority: Literal["low", "normal", "high"]
    due_date: date | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        return cls(
            id=task.pk,
            title=task.title,
            description=task.description,
            completed=task.completed,
            completed_at=task.completed_at,
            priority=task.priority,
            due_date=task.due_date,
            created_at=task.created_at,
            updated_at=task.updated_at,
        )


class TaskListOut(BaseModel):
    tasks: list[TaskOut] = Field(description="The tasks, newest first, at most `limit` of them.")
    count: int = Field(description="How many tasks match the filters (may exceed the number returned).")


class TasksAddedOut(BaseModel):
    tasks: list[TaskOut]
    count: int


class TaskDeletedOut(BaseModel):
    deleted: Literal[True]
    task_id: int


class TaskStatisticsOut(BaseModel):
    total: int
    pending: int
    completed: int
    overdue: int
    due_today: int
    high_priority_pending: int
