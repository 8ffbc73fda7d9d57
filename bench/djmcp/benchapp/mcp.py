"""get_task doing the project's work: the user-scoped read and an audit insert (fixed user, like bench/mcp_bare_orm.py)."""

import time

from django.contrib.auth import get_user_model
from mcp_server import MCPToolset

from djmcp.benchapp.models import AuditEvent, Task

_user = None


def _the_user():
    global _user
    if _user is None:
        _user = get_user_model().objects.get(username="demo")
    return _user


class TaskTools(MCPToolset):
    def get_task(self, task_id: int) -> dict:
        """Get one of the user's tasks by id."""
        started = time.perf_counter()
        user = _the_user()
        task = Task.objects.get(pk=task_id, owner=user)
        AuditEvent.objects.create(
            actor=user, action="mcp.tool_call", target_type="mcp.tool", target_id="get_task", outcome="success",
            metadata={"tool": "get_task", "latency_ms": round((time.perf_counter() - started) * 1000, 2)},
        )
        return {
            "id": task.pk, "title": task.title, "description": task.description, "priority": task.priority,
            "due_date": task.due_date.isoformat() if task.due_date else None, "completed": task.completed_at is not None,
            "created_at": task.created_at.isoformat(), "updated_at": task.updated_at.isoformat(),
        }
