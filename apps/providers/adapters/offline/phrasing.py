"""The offline assistant's answers: tool results turned into short plain-English replies."""

from __future__ import annotations

import json
from typing import Any

from apps.providers.adapters.offline.toolset import F, T

CLARIFY_MARKER = "Which one do you mean?"

HELP_TEXT = (
    "I'm running in offline mode (no AI model is connected), so I only understand simple todo commands:\n"
    "• add a task: “add buy milk tomorrow, high priority”, “remind me to call mom on friday”\n"
    "• list tasks: “what's on my list”, “show completed”, “show tasks about milk”\n"
    "• finish or reopen: “mark 3 done”, “I finished the milk one”, “reopen 3”\n"
    "• repeat and remind: “add pay rent every month on the 1st”, “remind me at 9 tomorrow to call mum”\n"
    "• change a task: “rename 3 to buy oat milk”, “change task 3 priority to high”, “move 3 to friday”\n"
    "• lists and labels: “move milk to Shopping”, “add eggs to Shopping”, “tag it urgent”, “what is overdue”\n"
    "• delete: “delete task 4”, “remove the milk one”"
)


def _load(content: str) -> Any:
    try:
        return json.loads(content)
    except (TypeError, ValueError):
        return content


def _error_text(payload: Any) -> str:
    message: Any = None
    if isinstance(payload, dict):
        error = payload.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        message = message or payload.get("message") or payload.get("detail")
    elif isinstance(payload, str):
        message = payload
    text = str(message or "something went wrong").strip()
    text = text[:300]
    return text if text.endswith((".", "!", "?")) else text + "."


def _title(task: dict[str, Any]) -> str:
    return f"“{task.get(F.TITLE, '')}”"


def _task_line(task: dict[str, Any]) -> str:
    parts = [f"{task.get(F.TITLE, '')} (#{task.get(F.ID)})"]
    if task.get(F.DUE_DATE):
        parts.append(f"due {task[F.DUE_DATE]}")
    if task.get(F.PRIORITY) in ("high", "low"):
        parts.append(f"{task[F.PRIORITY]} priority")
    if task.get(F.COMPLETED):
        parts.append("done ✓")
    return " — ".join(parts)


def _list_answer(payload: Any, arguments: dict[str, Any]) -> str:
    tasks = payload.get(F.TASKS) if isinstance(payload, dict) else None
    if not isinstance(tasks, list):
        return "I got an answer I couldn't read from the task list."
    status = arguments.get(F.STATUS)
    search = arguments.get(F.SEARCH)
    if not tasks:
        if search:
            return f"No tasks match “{search}”."
        if status == "completed":
            return "You have no completed tasks."
        if status == "pending" or arguments.get(F.DUE_BEFORE) or arguments.get(F.DUE_AFTER):
            return "Nothing to do there, you're all clear."
        return "Your list is empty."
    if search:
        header = f"Tasks matching “{search}”:"
    elif status == "completed":
        header = "Your completed tasks:"
    elif status == "pending":
        header = "Your pending tasks:"
    else:
        header = "Here are your tasks:"
    lines = [header] + [f"{n}. {_task_line(task)}" for n, task in enumerate(tasks, start=1) if isinstance(task, dict)]
    count = payload.get(F.COUNT)
    if isinstance(count, int) and count > len(tasks):
        lines.append(f"…and {count - len(tasks)} more.")
    return "\n".join(lines)


_DAY_WORDS = {"MO": "Mon", "TU": "Tue", "WE": "Wed", "TH": "Thu", "FR": "Fri", "SA": "Sat", "SU": "Sun"}


def _repeat_words(rule: str) -> str:
    parts = dict(part.split("=", 1) for part in str(rule).split(";") if "=" in part)
    freq = {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year"}.get(parts.get("FREQ", ""), "time")
    interval = parts.get("INTERVAL", "1")
    words = f"every {freq}" if interval == "1" else f"every {interval} {freq}s"
    if parts.get("BYDAY") == "MO,TU,WE,TH,FR":
        return "every weekday"
    if parts.get("BYDAY"):
        words += " on " + ", ".join(_DAY_WORDS.get(day, day) for day in parts["BYDAY"].split(","))
    if parts.get("BYMONTHDAY"):
        day = parts["BYMONTHDAY"]
        words += " on the last day" if day == "-1" else f" on day {day}"
    return words


def _update_answer(task: dict[str, Any], arguments: dict[str, Any]) -> str:
    changes = []
    if F.TITLE in arguments:
        changes.append(f"renamed to {_title(task)}")
    if F.PRIORITY in arguments:
        changes.append(f"priority {task.get(F.PRIORITY, arguments[F.PRIORITY])}")
    if F.DUE_DATE in arguments:
        due = task.get(F.DUE_DATE, arguments[F.DUE_DATE])
        changes.append(f"due {due}" if due else "no due date")
    if F.DESCRIPTION in arguments:
        changes.append("description updated")
    if F.LIST_NAME in arguments:
        changes.append(f"moved to {arguments[F.LIST_NAME]}")
    if F.ADD_LABELS in arguments:
        labels = task.get(F.LABELS) if isinstance(task.get(F.LABELS), list) else arguments[F.ADD_LABELS]
        changes.append("labels " + ", ".join(f"#{name}" for name in labels))
    detail = ": " + ", ".join(changes) if changes else ""
    return f"Updated task #{task.get(F.ID)}{detail}." if F.TITLE in arguments else f"Updated {_title(task)} (#{task.get(F.ID)}){detail}."


def summarise_tool_result(
    name: str, content: str, *, is_error: bool, arguments: dict[str, Any], known_titles: dict[int, str]
) -> str:
    payload = _load(content)
    if is_error or (isinstance(payload, dict) and "error" in payload and len(payload) <= 2):
        return f"Sorry, that didn't work: {_error_text(payload)}"
    if name == T.LIST_TASKS:
        return _list_answer(payload, arguments)
    if name == T.DELETE_TASK:
        task_id = payload.get(F.TASK_ID) if isinstance(payload, dict) else None
        task_id = task_id if task_id is not None else arguments.get(F.TASK_ID)
        title = known_titles.get(task_id) if isinstance(task_id, int) else None
        return f"Deleted “{title}” (#{task_id})." if title else f"Deleted task #{task_id}."
    if not isinstance(payload, dict):
        return "Done."
    if name == T.ADD_TASK:
        extras = []
        if payload.get(F.DUE_DATE):
            extras.append(f"due {payload[F.DUE_DATE]}")
        if payload.get(F.DUE_TIME):
            extras.append(f"at {payload[F.DUE_TIME]}")
        if payload.get(F.RECURRENCE):
            extras.append(f"repeats ({_repeat_words(payload[F.RECURRENCE])})")
        if payload.get(F.PRIORITY) in ("high", "low"):
            extras.append(f"{payload[F.PRIORITY]} priority")
        if arguments.get(F.LIST_NAME):
            extras.append(f"in {arguments[F.LIST_NAME]}")
        if arguments.get(F.REMIND_MINUTES_BEFORE) is not None:
            extras.append("I'll remind you then")
        suffix = f", {', '.join(extras)}" if extras else ""
        return f"Added {_title(payload)} (#{payload.get(F.ID)}){suffix}."
    if name == T.COMPLETE_TASK:
        return f"Marked {_title(payload)} done."
    if name == T.UNCOMPLETE_TASK:
        return f"Marked {_title(payload)} as not done."
    if name == T.UPDATE_TASK:
        return _update_answer(payload, arguments)
    if name == T.GET_TASK:
        state = "done" if payload.get(F.COMPLETED) else "pending"
        line = f"{_title(payload)} (#{payload.get(F.ID)}) is {state}, {payload.get(F.PRIORITY, 'normal')} priority"
        line += f", due {payload[F.DUE_DATE]}." if payload.get(F.DUE_DATE) else "."
        if payload.get(F.DESCRIPTION):
            line += f"\n{payload[F.DESCRIPTION]}"
        return line
    return "Done."

