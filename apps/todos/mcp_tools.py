"""MCP tools contributed by the todos app through the registration hook (apps.mcp_tools.registry)."""

from __future__ import annotations

from pydantic import BaseModel

from apps.mcp_tools.context import current_user
from apps.mcp_tools.registry import mcp_tool
from apps.todos.selectors import task_statistics as task_statistics_select


class TaskStatisticsOut(BaseModel):
    total: int
    pending: int
    completed: int
    overdue: int
    due_today: int
    high_priority_pending: int


@mcp_tool(title="Task statistics", read_only=True)
def task_statistics() -> TaskStatisticsOut:
    """Count the user's tasks: total, pending, completed, overdue, due today and high-priority pending."""
    return TaskStatisticsOut(**task_statistics_select(user=current_user()))
