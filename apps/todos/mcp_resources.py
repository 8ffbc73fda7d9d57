"""The todo list as MCP resources and prompts, with completions for their arguments (see apps.mcp_tools.registry)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.core.errors import NotFound
from apps.mcp_tools.context import current_user
from apps.mcp_tools.registry import PromptArgument, mcp_prompt, mcp_resource
from apps.todos.tool_schemas import TaskOut
from apps.todos.models import Task
from apps.todos.selectors import task_get, task_list

VIEW_LIMIT = 100
COMPLETION_LIMIT = 20


def _tasks_payload(tasks, view: str) -> dict:
    rows = list(tasks[:VIEW_LIMIT])
    return {
        "view": view,
        "date": timezone.localdate().isoformat(),
        "count": tasks.count(),
        "tasks": [TaskOut.of(task).model_dump(mode="json") for task in rows],
    }


def _today():
    return timezone.localdate()


# -- completions ------------------------------------------------------------------------------------


def complete_task_id(user, partial: str) -> list[str]:
    """This user's open task ids, those starting with what was typed or whose title contains it."""
    partial = (partial or "").strip()[:100]
    tasks = task_list(user=user, status="pending")
    if partial.isdigit():
        ids = [str(pk) for pk in tasks.values_list("pk", flat=True)[:500] if str(pk).startswith(partial)]
        return ids[:COMPLETION_LIMIT]
    if partial:
        tasks = tasks.filter(title__icontains=partial)
    return [str(pk) for pk in tasks.values_list("pk", flat=True)[:COMPLETION_LIMIT]]


def complete_task_title(user, partial: str) -> list[str]:
    partial = (partial or "").strip()[:100]
    tasks = task_list(user=user, status="pending")
    if partial:
        tasks = tasks.filter(title__icontains=partial)
    return list(dict.fromkeys(tasks.values_list("title", flat=True)[:COMPLETION_LIMIT]))


def complete_priority(user, partial: str) -> list[str]:
    return [value for value in Task.Priority.values if value.startswith((partial or "").strip().lower())]


# -- resources --------------------------------------------------------------------------------------


@mcp_resource(uri="tasks://today", title="Due today", name="tasks_today")
def tasks_today() -> dict:
    """Your open tasks due today (JSON: view, date, count, tasks)."""
    today = _today()
    return _tasks_payload(
        task_list(user=current_user(), status="pending", due_after=today, due_before=today, ordering="due"), "today"
    )


@mcp_resource(uri="tasks://overdue", title="Overdue", name="tasks_overdue")
def tasks_overdue() -> dict:
    """Your open tasks whose due date has passed, oldest first (JSON: view, date, count, tasks)."""
    yesterday = _today() - timedelta(days=1)
    return _tasks_payload(
        task_list(user=current_user(), status="pending", due_before=yesterday, ordering="due"), "overdue"
    )


@mcp_resource(uri="tasks://pending", title="All open tasks", name="tasks_pending")
def tasks_pending() -> dict:
    """Every open task of yours, newest first, at most 100 (JSON: view, date, count, tasks)."""
    return _tasks_payload(task_list(user=current_user(), status="pending"), "pending")


@mcp_resource(uri="task://{task_id}", title="A task", name="task", completions={"task_id": complete_task_id})
def task_resource(task_id: str) -> dict:
    """One of your tasks by id (JSON, the same fields as get_task)."""
    if not task_id.isdigit() or len(task_id) > 18:
        raise NotFound("Task not found.", code="task_not_found")
    return TaskOut.of(task_get(user=current_user(), task_id=int(task_id))).model_dump(mode="json")


# -- prompts ----------------------------------------------------------------------------------------


def _lines(tasks) -> str:
    rows = [
        f"- #{task.pk} {task.title} (priority {task.priority}{', due ' + task.due_date.isoformat() if task.due_date else ''})"
        for task in tasks[:50]
    ]
    return "\n".join(rows) or "- (none)"


@mcp_prompt(
    title="Plan my day",
    arguments=(
        PromptArgument("focus", "What matters most today, in a few words (optional)."),
        PromptArgument("priority", "Only consider tasks of this priority or higher: low, normal or high (optional).", max_length=8),
    ),
    completions={"priority": complete_priority},
)
def plan_my_day(focus: str = "", priority: str = "") -> str:
    """Plan today from your tasks due today and overdue, most important first."""
    user, today = current_user(), _today()
    ranks = {"low": 0, "normal": 1, "high": 2}
    floor = ranks.get(priority.strip().lower(), 0)
    due = [t for t in task_list(user=user, status="pending", due_before=today, ordering="due") if ranks[t.priority] >= floor]
    undated = [t for t in task_list(user=user, status="pending").filter(due_date__isnull=True) if ranks[t.priority] >= floor]
    text = (
        f"Help me plan my day ({today.isoformat()}). Order what I should do, most important first, "
        "and suggest what to postpone.\n\n"
        f"Due today or overdue:\n{_lines(due)}\n\nWithout a due date:\n{_lines(undated)}\n"
    )
    if focus.strip():
        text += f"\nMy focus today: {focus.strip()}\n"
    return text


@mcp_prompt(
    title="Weekly review",
    arguments=(PromptArgument("week_ending", "The last day of the week to review, YYYY-MM-DD (default: today).", max_length=10),),
)
def weekly_review(week_ending: str = "") -> str:
    """Review a week: what you finished, what slipped, and what to plan next."""
    from datetime import date

    try:
        end = date.fromisoformat(week_ending) if week_ending.strip() else _today()
    except ValueError:
        from apps.core.errors import ValidationFailed

        raise ValidationFailed("week_ending must be a date, YYYY-MM-DD.", extra={"field": "week_ending"}) from None
    start = end - timedelta(days=6)
    user = current_user()
    done = task_list(user=user, status="completed").filter(completed_at__date__gte=start, completed_at__date__lte=end)
    slipped = task_list(user=user, status="pending", due_before=end, ordering="due")
    return (
        f"Give me a short weekly review for {start.isoformat()} to {end.isoformat()}: what went well, what slipped "
        "and why it might have, and three things to plan for next week.\n\n"
        f"Finished this week:\n{_lines(done)}\n\nOpen and due by {end.isoformat()}:\n{_lines(slipped)}\n"
    )


@mcp_prompt(
    title="Triage overdue tasks",
    arguments=(PromptArgument("task_title", "Start from the overdue task with this title (optional).", max_length=200),),
    completions={"task_title": complete_task_title},
)
def triage_overdue(task_title: str = "") -> str:
    """For each overdue task, decide: do it today, reschedule (to when), delegate, or drop."""
    yesterday = _today() - timedelta(days=1)
    overdue = task_list(user=current_user(), status="pending", due_before=yesterday, ordering="due")
    text = (
        "Triage my overdue tasks. For each one, suggest: do it today, reschedule (give a date), delegate, "
        "or drop it, with one line of reasoning. Then offer to apply the changes with the tools.\n\n"
        f"Overdue:\n{_lines(overdue)}\n"
    )
    if task_title.strip():
        text += f"\nStart with: {task_title.strip()}\n"
    return text
