"""Shared test data: the todo tool contract and small request builders."""

from __future__ import annotations

from apps.providers.types import ChatMessage, CompletionRequest, ToolSpec

_TASK_ID = {"task_id": {"type": "integer", "minimum": 1}}
_PRIORITY = {"type": "string", "enum": ["low", "normal", "high"]}
_DATE = {"type": "string", "format": "date"}

TODO_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "add_task",
        "Add a task.",
        {
            "type": "object",
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": {"type": "string", "maxLength": 5000},
                "priority": _PRIORITY,
                "due_date": _DATE,
            },
            "required": ["title"],
        },
    ),
    ToolSpec(
        "list_tasks",
        "List tasks.",
        {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["all", "pending", "completed"]},
                "search": {"type": "string"},
                "due_before": _DATE,
                "due_after": _DATE,
                "limit": {"type": "integer", "minimum": 1, "maximum": 100},
            },
        },
    ),
    ToolSpec("get_task", "Get one task.", {"type": "object", "properties": _TASK_ID, "required": ["task_id"]}),
    ToolSpec(
        "update_task",
        "Change a task.",
        {
            "type": "object",
            "properties": {
                **_TASK_ID,
                "title": {"type": "string"},
                "description": {"type": "string"},
                "priority": _PRIORITY,
                "due_date": _DATE,
            },
            "required": ["task_id"],
        },
    ),
    ToolSpec("complete_task", "Mark done.", {"type": "object", "properties": _TASK_ID, "required": ["task_id"]}),
    ToolSpec("uncomplete_task", "Mark not done.", {"type": "object", "properties": _TASK_ID, "required": ["task_id"]}),
    ToolSpec("delete_task", "Delete.", {"type": "object", "properties": _TASK_ID, "required": ["task_id"]}),
)


def task(task_id: int, title: str, *, completed: bool = False, priority: str = "normal", due_date: str | None = None) -> dict:
    return {
        "id": task_id,
        "title": title,
        "description": "",
        "completed": completed,
        "completed_at": "2026-11-17T10:00:00Z" if completed else None,
        "priority": priority,
        "due_date": due_date,
        "created_at": "2026-11-01T10:00:00Z",
        "updated_at": "2026-11-01T10:00:00Z",
    }


def user_request(text: str, *, model: str = "test-model", system: str | None = "You manage todos.") -> CompletionRequest:
    messages: tuple[ChatMessage, ...] = (ChatMessage("user", text),)
    if system:
        messages = (ChatMessage("system", system),) + messages
    return CompletionRequest(model=model, messages=messages, tools=TODO_TOOLS)
