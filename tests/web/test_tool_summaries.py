"""Tool cards: a one-line summary of what each tool did, the same from the stream and from the stored transcript."""

from __future__ import annotations

import json
from datetime import date

import pytest

from apps.chat.models import Conversation
from apps.web.tool_summaries import tool_summary
from tests.chat.conftest import parse_sse

TODAY = date(2026, 12, 1)  # a Tuesday


def task(**fields):
    return {"id": 12, "title": "buy oat milk", "priority": "normal", "due_date": None, **fields}


@pytest.mark.parametrize(
    ("name", "arguments", "result", "expected"),
    [
        ("add_task", {"title": "buy oat milk"}, task(due_date="2026-12-04"), "Added task #12 ‘buy oat milk’, due Fri"),
        ("add_task", {}, task(due_date="2026-12-01", priority="high"), "Added task #12 ‘buy oat milk’, due today, high priority"),
        ("add_task", {}, task(due_date="2026-12-02"), "Added task #12 ‘buy oat milk’, due tomorrow"),
        ("add_task", {}, task(due_date="2026-12-20"), "Added task #12 ‘buy oat milk’, due Dec 20"),
        ("add_task", {}, task(due_date="2027-01-03"), "Added task #12 ‘buy oat milk’, due Jan 3 2027"),
        ("add_task", {}, task(), "Added task #12 ‘buy oat milk’"),
        (
            "add_tasks",
            {},
            {"tasks": [task(id=i, title=t) for i, t in enumerate("abcde")], "count": 5},
            "Added 5 tasks: ‘a’, ‘b’, ‘c’ and 2 more",
        ),
        ("add_tasks", {}, {"tasks": [task(id=1, title="a"), task(id=2, title="b")], "count": 2}, "Added 2 tasks: ‘a’ and ‘b’"),
        ("list_tasks", {"status": "pending"}, {"tasks": [task()] * 3, "count": 7}, "Listed 3 of 7 pending tasks"),
        ("list_tasks", {"search": "milk"}, {"tasks": [task()], "count": 1}, "Listed 1 task matching ‘milk’"),
        ("list_tasks", {"due_before": "2026-12-06"}, {"tasks": [], "count": 0}, "Found no tasks due by Sun"),
        ("get_task", {"task_id": 12}, task(), "Looked up task #12 ‘buy oat milk’"),
        (
            "update_task",
            {"task_id": 12, "priority": "high", "due_date": None},
            task(priority="high"),
            "Updated task #12 ‘buy oat milk’: priority high, no due date",
        ),
        ("complete_task", {"task_id": 12}, task(completed=True), "Completed task #12 ‘buy oat milk’"),
        ("uncomplete_task", {"task_id": 12}, task(), "Reopened task #12 ‘buy oat milk’"),
        ("delete_task", {"task_id": 12}, {"deleted": True, "task_id": 12}, "Deleted task #12"),
        (
            "task_statistics",
            {},
            {"total": 9, "pending": 5, "completed": 4, "overdue": 2, "due_today": 1, "high_priority_pending": 0},
            "Counted 9 tasks: 5 pending, 2 overdue, 1 due today",
        ),
        ("complete_tasks", {"task_ids": [1, 2]}, {"tasks": [task(id=1, title="a"), task(id=2, title="b")], "count": 2},
         "Completed 2 tasks: ‘a’ and ‘b’"),
        ("update_tasks", {}, {"tasks": [task()], "count": 1}, "Updated 1 task: ‘buy oat milk’"),
        ("find_tasks", {"window": "overdue"}, {"tasks": [task()] * 2, "has_more": True}, "Found 2 tasks overdue (more not shown)"),
        ("find_tasks", {"window": "today"}, {"tasks": [], "has_more": False}, "Found no tasks due today or overdue"),
        ("list_lists", {}, {"lists": [{"id": 1, "name": "Inbox", "is_inbox": True}]}, "Listed 1 list: ‘Inbox’"),
        ("add_list", {"name": "Shopping"}, {"id": 3, "name": "Shopping", "is_inbox": False}, "Added list #3 ‘Shopping’"),
        ("rename_list", {}, {"id": 3, "name": "Groceries", "is_inbox": False}, "Renamed list #3 to ‘Groceries’"),
        ("list_labels", {}, {"labels": [{"id": 1, "name": "urgent"}]}, "Listed 1 label"),
        ("get_overview", {}, {"lists": [], "overdue": 1, "due_today": 2, "next_due": task(due_date="2026-12-02"), "today": "2026-12-01"},
         "Overview: 1 overdue, 2 due today, next ‘buy oat milk’ tomorrow"),
        ("update_task", {"task_id": 12, "list_name": "Shopping", "add_labels": ["urgent"]}, task(),
         "Updated task #12 ‘buy oat milk’: moved to ‘Shopping’, tagged #urgent"),
    ],
)
def test_each_tool_call_reads_as_one_line(name, arguments, result, expected):
    assert tool_summary(name=name, arguments=arguments, result=result, is_error=False, today=TODAY) == expected
    # The stored form (the result as JSON text) reads the same.
    stored = tool_summary(name=name, arguments=arguments, result=json.dumps(result), is_error=False, today=TODAY)
    assert stored == expected


def test_a_failed_call_says_why_whether_streamed_or_stored():
    streamed = {"error": {"code": "not_found", "message": "Task not found.", "extra": {}}}
    assert tool_summary(name="get_task", arguments={"task_id": 9}, result=streamed, is_error=True, today=TODAY) == (
        "get_task: Task not found."
    )
    assert tool_summary(name="get_task", arguments={}, result="Error: Task not found.", is_error=True, today=TODAY) == (
        "get_task: Task not found."
    )


@pytest.mark.parametrize(
    "result",
    ["plain text", None, [1, 2], {"unexpected": True}, {"id": 1}, task(due_date="not a date"), "{" * 10_000],
)
def test_a_result_of_another_shape_never_breaks_the_card(result):
    assert tool_summary(name="add_task", arguments="oops", result=result, is_error=False, today=TODAY) == "Ran add_task"


def test_an_unknown_tool_and_a_huge_title_stay_one_short_line():
    assert tool_summary(name="weather", arguments={}, result={}, is_error=False, today=TODAY) == "Ran weather"
    long = tool_summary(name="add_task", arguments={}, result=task(title="x" * 5000 + "\n"), is_error=False, today=TODAY)
    assert len(long) < 80 and long.endswith("…’")


def test_the_streamed_card_and_the_reloaded_card_show_the_same_summary(page_a, user_a):
    response = page_a.post("/chat/send/", {"message": "add buy oat milk"}, headers={"Accept": "text/event-stream"})
    events = parse_sse(b"".join(response.streaming_content).decode())
    streamed = next(e for e in events if e["type"] == "tool_call")["html"]
    reloaded = page_a.get(f"/chat/{Conversation.objects.get().pk}/").content.decode()

    line = streamed.split('<span class="tool-summary">')[1].split("</span>")[0]
    assert line.startswith("Added task #") and line.endswith("‘buy oat milk’")
    assert f'<span class="tool-summary">{line}</span>' in reloaded
    # The JSON is folded: the card's <details> is closed in both.
    assert "<details open" not in streamed and "<details open" not in reloaded
