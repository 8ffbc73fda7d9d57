"""The tool names and fields the offline assistant relies on, in one table.

The grammar emits calls to these tools with these argument names, and the phrasing reads these
fields back from their results; a renamed tool or field is changed here (tests check this table
against the registered MCP tools).
"""

from __future__ import annotations

TITLE_MAX = 200
DESCRIPTION_MAX = 5000


class T:
    """Tool names."""

    ADD_TASK = "add_task"
    LIST_TASKS = "list_tasks"
    GET_TASK = "get_task"
    UPDATE_TASK = "update_task"
    COMPLETE_TASK = "complete_task"
    UNCOMPLETE_TASK = "uncomplete_task"
    DELETE_TASK = "delete_task"


class F:
    """Argument and result field names."""

    TASK_ID = "task_id"
    ID = "id"
    TITLE = "title"
    DESCRIPTION = "description"
    PRIORITY = "priority"
    DUE_DATE = "due_date"
    DUE_TIME = "due_time"
    RECURRENCE = "recurrence"
    LIST_NAME = "list_name"
    LABELS = "labels"
    ADD_LABELS = "add_labels"
    REMIND_MINUTES_BEFORE = "remind_minutes_before"
    COMPLETED = "completed"
    STATUS = "status"
    SEARCH = "search"
    DUE_BEFORE = "due_before"
    DUE_AFTER = "due_after"
    LIMIT = "limit"
    TASKS = "tasks"
    COUNT = "count"


# Which arguments of which tool the grammar may send (checked against the tools' input schemas).
TOOL_ARGUMENTS: dict[str, frozenset[str]] = {
    T.ADD_TASK: frozenset(
        {F.TITLE, F.DESCRIPTION, F.PRIORITY, F.DUE_DATE, F.DUE_TIME, F.RECURRENCE, F.LIST_NAME, F.REMIND_MINUTES_BEFORE}
    ),
    T.LIST_TASKS: frozenset({F.STATUS, F.SEARCH, F.DUE_BEFORE, F.DUE_AFTER, F.LIMIT}),
    T.GET_TASK: frozenset({F.TASK_ID}),
    T.UPDATE_TASK: frozenset({F.TASK_ID, F.TITLE, F.DESCRIPTION, F.PRIORITY, F.DUE_DATE, F.LIST_NAME, F.ADD_LABELS}),
    T.COMPLETE_TASK: frozenset({F.TASK_ID}),
    T.UNCOMPLETE_TASK: frozenset({F.TASK_ID}),
    T.DELETE_TASK: frozenset({F.TASK_ID}),
}
