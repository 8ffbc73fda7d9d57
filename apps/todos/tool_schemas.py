"""Argument types (with the constraints the input schemas publish) and output models of the todo MCP tools."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from apps.core.fields import NO_NUL_PATTERN
from apps.core.ids import MAX_ID
from apps.todos.models import (
    DESCRIPTION_MAX_LENGTH,
    LABEL_NAME_MAX_LENGTH,
    LIST_NAME_MAX_LENGTH,
    RECURRENCE_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    Task,
)

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
BATCH_MAX = 25
_WALL_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _wall_time(value: object) -> time:
    if isinstance(value, str) and _WALL_TIME.match(value):
        return time.fromisoformat(value)
    raise ValueError("must be a time of day HH:MM (24-hour)")


DueTime = Annotated[
    time,
    BeforeValidator(_wall_time),
    WithJsonSchema({"type": "string", "pattern": _WALL_TIME.pattern}),
    Field(description="Due time HH:MM in the user's time zone (needs a due date)."),
]
Recurrence = Annotated[
    str,
    Field(
        max_length=RECURRENCE_MAX_LENGTH,
        pattern=NO_NUL_PATTERN,
        description="RFC 5545 RRULE, e.g. FREQ=DAILY, FREQ=WEEKLY;BYDAY=MO,WE, FREQ=MONTHLY;BYMONTHDAY=1, "
        "FREQ=YEARLY, FREQ=DAILY;INTERVAL=3; empty for none.",
    ),
]
ListId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID, description="A list's id (see list_lists).")]
ListName = Annotated[
    str, Field(min_length=1, max_length=LIST_NAME_MAX_LENGTH, pattern=NO_NUL_PATTERN, description="The list's name.")
]
ListNameRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=LIST_NAME_MAX_LENGTH,
        pattern=NO_NUL_PATTERN,
        description="The name of one of the user's lists (ignoring case), instead of list_id.",
    ),
]
LabelNames = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=LABEL_NAME_MAX_LENGTH, pattern=NO_NUL_PATTERN)]],
    Field(max_length=20, description="Label names (made when new); replaces the task's labels."),
]
ReminderMinutes = Annotated[
    int, Field(strict=True, ge=0, le=43200, description="Remind this many minutes before the due time.")
]
RemindAt = Annotated[datetime, Field(description="Remind at this moment (ISO 8601; without an offset it is the user's time).")]


class NewTask(BaseModel):
    """One task for add_tasks: the same fields as add_task."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description = ""
    priority: Priority = "normal"
    due_date: DueDate | None = None
    due_time: DueTime | None = None
    recurrence: Recurrence = ""
    list_id: ListId | None = None
    labels: LabelNames | None = None
    remind_minutes_before: ReminderMinutes | None = None
    remind_at: RemindAt | None = None


class TaskChange(BaseModel):
    """One change for update_tasks: the task's id and the fields to change (as update_task)."""

    model_config = ConfigDict(extra="forbid")

    task_id: TaskId
    title: Title | None = None
    description: Description | None = None
    priority: Priority | None = None
    due_date: DueDate | None = None
    due_time: DueTime | None = None
    recurrence: Recurrence | None = None
    list_id: ListId | None = None
    labels: LabelNames | None = None


class TaskOut(BaseModel):
    """A task as every tool returns it (the same fields as the REST API)."""

    id: int
    title: str
    description: str
    completed: bool
    completed_at: datetime | None
    priority: Literal["low", "normal", "high"]
    due_date: date | None
    due_time: str | None = Field(description="HH:MM in the user's time zone, or null.")
    recurrence: str
    list_id: int
    labels: list[str]
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
            due_time=task.due_time.strftime("%H:%M") if task.due_time else None,
            recurrence=task.recurrence,
            list_id=task.task_list_id,
            labels=sorted(label.name for label in task.labels.all()),
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


class TasksOut(BaseModel):
    tasks: list[TaskOut]
    count: int


class FoundTasksOut(BaseModel):
    tasks: list[TaskOut] = Field(description="The first page of the window, soonest first.")
    has_more: bool = Field(description="Whether more tasks are in the window than returned.")


class ListOut(BaseModel):
    id: int
    name: str
    is_inbox: bool


class ListsOut(BaseModel):
    lists: list[ListOut]


class LabelOut(BaseModel):
    id: int
    name: str


class LabelsOut(BaseModel):
    labels: list[LabelOut]


class ListCountOut(ListOut):
    open_tasks: int


class OverviewOut(BaseModel):
    lists: list[ListCountOut]
    overdue: int
    due_today: int
    next_due: TaskOut | None
    today: date = Field(description="Today's date in the user's time zone.")
