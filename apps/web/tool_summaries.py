"""One-line summaries of tool calls for the chat's tool cards ("Added task #12 ‘buy oat milk’, due Fri")."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

TITLE_MAX = 50
ERROR_MAX = 160
NAMES_SHOWN = 3


def _data(value: Any) -> Any:
    """A result as stored (JSON text) or as streamed (structured): the same dict either way."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _cut(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _quoted(title: Any) -> str:
    return f"‘{_cut(title, TITLE_MAX)}’"


def _day(value: Any, today: date) -> str:
    """A due date as a person says it: today, tomorrow, Fri (this week), Dec 20, Jan 3 2028."""
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    delta = (day - today).days
    if delta == 0:
        return "today"
    if delta == 1:
        return "tomorrow"
    if delta == -1:
        return "yesterday"
    if 1 < delta < 7:
        return day.strftime("%a")
    return day.strftime("%b %-d") + ("" if day.year == today.year else day.strftime(" %Y"))


def _task(task: dict, today: date, *, details: bool = True) -> str:
    text = f"task #{task['id']} {_quoted(task['title'])}"
    if not details:
        return text
    if task.get("due_date"):
        text += f", due {_day(task['due_date'], today)}"
    if task.get("priority") == "high":
        text += ", high priority"
    return text


def _names(tasks: list[dict]) -> str:
    shown = [_quoted(t["title"]) for t in tasks[:NAMES_SHOWN]]
    rest = len(tasks) - len(shown)
    if rest:
        return ", ".join(shown) + f" and {rest} more"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _add_task(arguments: dict, result: dict, today: date) -> str:
    return "Added " + _task(result, today)


def _add_tasks(arguments: dict, result: dict, today: date) -> str:
    tasks = result["tasks"]
    return f"Added {_plural(len(tasks), 'task')}: {_names(tasks)}" if tasks else "Added no tasks"


def _list_tasks(arguments: dict, result: dict, today: date) -> str:
    shown, count = len(result["tasks"]), int(result["count"])
    status = arguments.get("status") or "all"
    noun = "task" if status == "all" else f"{status} task"
    filters = ""
    if arguments.get("search"):
        filters += f" matching {_quoted(arguments['search'])}"
    if arguments.get("due_after"):
        filters += f" due from {_day(arguments['due_after'], today)}"
    if arguments.get("due_before"):
        filters += f" due by {_day(arguments['due_before'], today)}"
    if count == 0:
        return f"Found no {noun}s{filters}"
    if shown < count:
        return f"Listed {shown} of {count} {noun}s{filters}"
    return f"Listed {_plural(count, noun)}{filters}"


def _get_task(arguments: dict, result: dict, today: date) -> str:
    return "Looked up " + _task(result, today)


def _update_task(arguments: dict, result: dict, today: date) -> str:
    changes = []
    if "title" in arguments and arguments["title"] is not None:
        changes.append("renamed")
    if arguments.get("description") is not None:
        changes.append("new description")
    if arguments.get("priority"):
        changes.append(f"priority {arguments['priority']}")
    if "due_date" in arguments:
        changes.append(f"due {_day(arguments['due_date'], today)}" if arguments["due_date"] else "no due date")
    if arguments.get("list_name"):
        changes.append(f"moved to {_quoted(arguments['list_name'])}")
    elif arguments.get("list_id"):
        changes.append("moved to another list")
    if arguments.get("add_labels"):
        changes.append("tagged " + ", ".join(f"#{_cut(name, 20)}" for name in arguments["add_labels"][:3]))
    if arguments.get("recurrence") is not None and "recurrence" in arguments:
        changes.append("repeats" if arguments["recurrence"] else "no longer repeats")
    text = "Updated " + _task(result, today, details=False)
    return text + (": " + ", ".join(changes) if changes else "")


def _complete_task(arguments: dict, result: dict, today: date) -> str:
    return "Completed " + _task(result, today, details=False)


def _uncomplete_task(arguments: dict, result: dict, today: date) -> str:
    return "Reopened " + _task(result, today)


def _delete_task(arguments: dict, result: dict, today: date) -> str:
    return f"Deleted task #{result.get('task_id', arguments.get('task_id'))}"


def _complete_tasks(arguments: dict, result: dict, today: date) -> str:
    return f"Completed {_plural(len(result['tasks']), 'task')}: {_names(result['tasks'])}"


def _update_tasks(arguments: dict, result: dict, today: date) -> str:
    return f"Updated {_plural(len(result['tasks']), 'task')}: {_names(result['tasks'])}"


_WINDOWS = {"today": "due today or overdue", "overdue": "overdue", "upcoming": "coming up", "no_date": "without a date",
            "completed": "completed recently"}


def _find_tasks(arguments: dict, result: dict, today: date) -> str:
    what = _WINDOWS.get(str(arguments.get("window")), "found")
    tasks = result["tasks"]
    if not tasks:
        return f"Found no tasks {what}"
    more = " (more not shown)" if result.get("has_more") else ""
    return f"Found {_plural(len(tasks), 'task')} {what}{more}"


def _list_lists(arguments: dict, result: dict, today: date) -> str:
    lists = result["lists"]
    return f"Listed {_plural(len(lists), 'list')}: " + ", ".join(_quoted(item["name"]) for item in lists[:NAMES_SHOWN]) + (
        f" and {len(lists) - NAMES_SHOWN} more" if len(lists) > NAMES_SHOWN else ""
    )


def _add_list(arguments: dict, result: dict, today: date) -> str:
    return f"Added list #{result['id']} {_quoted(result['name'])}"


def _rename_list(arguments: dict, result: dict, today: date) -> str:
    return f"Renamed list #{result['id']} to {_quoted(result['name'])}"


def _list_labels(arguments: dict, result: dict, today: date) -> str:
    return f"Listed {_plural(len(result['labels']), 'label')}"


def _get_overview(arguments: dict, result: dict, today: date) -> str:
    text = f"Overview: {result['overdue']} overdue, {result['due_today']} due today"
    if result.get("next_due"):
        text += f", next {_quoted(result['next_due']['title'])} {_day(result['next_due']['due_date'], today)}"
    return text


def _task_statistics(arguments: dict, result: dict, today: date) -> str:
    return (
        f"Counted {_plural(int(result['total']), 'task')}: {result['pending']} pending, "
        f"{result['overdue']} overdue, {result['due_today']} due today"
    )


SUMMARIES: dict[str, Callable[[dict, dict, date], str]] = {
    "add_task": _add_task,
    "add_tasks": _add_tasks,
    "list_tasks": _list_tasks,
    "get_task": _get_task,
    "update_task": _update_task,
    "complete_task": _complete_task,
    "uncomplete_task": _uncomplete_task,
    "delete_task": _delete_task,
    "task_statistics": _task_statistics,
    "complete_tasks": _complete_tasks,
    "update_tasks": _update_tasks,
    "find_tasks": _find_tasks,
    "list_lists": _list_lists,
    "add_list": _add_list,
    "rename_list": _rename_list,
    "list_labels": _list_labels,
    "get_overview": _get_overview,
}


def _error_message(result: Any) -> str:
    if isinstance(result, dict):
        error = result.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        return json.dumps(result, ensure_ascii=False, default=str)
    return str(result or "").removeprefix("Error: ")


def tool_summary(*, name: str, arguments: Any, result: Any, is_error: bool, today: date) -> str:
    """What the call did, in one line; a result of an unexpected shape gets a plain "Ran <tool>"."""
    result = _data(result)
    if is_error:
        message = _error_message(result)
        return f"{_cut(name, TITLE_MAX)}: {_cut(message, ERROR_MAX)}" if message else _cut(name, TITLE_MAX)
    summarize = SUMMARIES.get(name)
    arguments = _data(arguments)
    if summarize is not None and isinstance(result, dict):
        try:
            return summarize(arguments if isinstance(arguments, dict) else {}, result, today)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            pass  # another shape than this tool gives today: say no more than we know
    return f"Ran {_cut(name, TITLE_MAX)}"
