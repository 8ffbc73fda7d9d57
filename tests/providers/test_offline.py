"""The offline provider: phrasing table, multi-step flows, and proof that it opens no socket."""

from __future__ import annotations

import json
import socket
from datetime import date

import pytest

from apps.providers.adapters import get_adapter
from apps.providers.adapters.offline import CLARIFY_MARKER, OfflineAdapter, parse_date
from apps.providers.types import ChatMessage, CompletionReply, CompletionRequest, StreamDone, TextDelta
from tests.providers.helpers import TODO_TOOLS, task, user_request

TODAY = date(2026, 11, 18)  # a Wednesday

# phrase -> (tool, arguments); tool None means a plain-text answer containing the given text.
PHRASES: list[tuple[str, str | None, dict | str]] = [
    # add
    ("add buy milk", "add_task", {"title": "buy milk"}),
    ("Add buy milk.", "add_task", {"title": "buy milk"}),
    ("remind me to call mom tomorrow", "add_task", {"title": "call mom", "due_date": "2026-11-19"}),
    ("I need to buy eggs", "add_task", {"title": "buy eggs"}),
    ("new task: write report, high priority", "add_task", {"title": "write report", "priority": "high"}),
    ("please add pay rent on 2026-12-01", "add_task", {"title": "pay rent", "due_date": "2026-12-01"}),
    ("add dentist appointment next monday", "add_task", {"title": "dentist appointment", "due_date": "2026-11-23"}),
    ("add water plants today", "add_task", {"title": "water plants", "due_date": "2026-11-18"}),
    ("Add “call the bank” to my list, urgent", "add_task", {"title": "call the bank", "priority": "high"}),
    ("create a task to file taxes by december 15, low priority", "add_task",
     {"title": "file taxes", "due_date": "2026-12-15", "priority": "low"}),
    ("don't let me forget to water the plants on saturday", "add_task",
     {"title": "water the plants", "due_date": "2026-11-21"}),
    ("add buy milk with notes: 2 litres, semi-skimmed", "add_task",
     {"title": "buy milk", "description": "2 litres, semi-skimmed"}),
    ("todo: renew passport in 2 weeks", "add_task", {"title": "renew passport", "due_date": "2026-12-02"}),
    # list
    ("what's on my list", "list_tasks", {}),
    ("What’s on my list?", "list_tasks", {}),
    ("show completed", "list_tasks", {"status": "completed"}),
    ("list pending tasks", "list_tasks", {"status": "pending"}),
    ("show tasks about milk", "list_tasks", {"search": "milk"}),
    ("what do I have to do today", "list_tasks",
     {"status": "pending", "due_after": "2026-11-18", "due_before": "2026-11-18"}),
    ("anything overdue?", "list_tasks", {"status": "pending", "due_before": "2026-11-17"}),
    ("show my tasks due this week", "list_tasks", {"due_after": "2026-11-18", "due_before": "2026-11-22"}),
    ("find dentist", "list_tasks", {"search": "dentist"}),
    ("show me the first 5 pending tasks", "list_tasks", {"status": "pending", "limit": 5}),
    # complete
    ("mark 3 done", "complete_task", {"task_id": 3}),
    ("complete task 3", "complete_task", {"task_id": 3}),
    ("Mark task #3 as completed", "complete_task", {"task_id": 3}),
    ("tick off 5", "complete_task", {"task_id": 5}),
    ("task 7 is done", "complete_task", {"task_id": 7}),
    ("I finished the milk one", "list_tasks", {"search": "milk"}),
    ("mark the laundry task as done", "list_tasks", {"search": "laundry"}),
    # uncomplete
    ("reopen 3", "uncomplete_task", {"task_id": 3}),
    ("mark 3 as not done", "uncomplete_task", {"task_id": 3}),
    ("uncheck task 2", "uncomplete_task", {"task_id": 2}),
    # delete
    ("delete task 4", "delete_task", {"task_id": 4}),
    ("remove #4 from my list", "delete_task", {"task_id": 4}),
    ("remove the milk one", "list_tasks", {"search": "milk"}),
    ("delete the task about taxes", "list_tasks", {"search": "taxes"}),
    # update
    ("rename 3 to buy oat milk", "update_task", {"task_id": 3, "title": "buy oat milk"}),
    ("change task 3 priority to high", "update_task", {"task_id": 3, "priority": "high"}),
    ("make 2 low priority", "update_task", {"task_id": 2, "priority": "low"}),
    ("move 3 to friday", "update_task", {"task_id": 3, "due_date": "2026-11-20"}),
    ("push task 2 to next week", "update_task", {"task_id": 2, "due_date": "2026-11-23"}),
    ("change 3 to tomorrow", "update_task", {"task_id": 3, "due_date": "2026-11-19"}),
    ("set the description of 3 to use the blue form", "update_task",
     {"task_id": 3, "description": "use the blue form"}),
    # anything else
    ("what is the weather like", None, "offline mode"),
    ("tell me a joke", None, "offline mode"),
    ("hello", None, "offline mode"),
    ("move 3 to someday", None, "couldn't understand the date"),
]


# The todo list people expect (issue 18): repetition, times, reminders, lists and labels.
PHRASES += [
    ("add pay rent every month on the 1st", "add_task", {"title": "pay rent", "recurrence": "FREQ=MONTHLY;BYMONTHDAY=1"}),
    ("remind me at 9 tomorrow to call mum", "add_task",
     {"title": "call mum", "due_date": "2026-11-19", "due_time": "09:00", "remind_minutes_before": 0}),
    ("what is overdue", "list_tasks", {"status": "pending", "due_before": "2026-11-17"}),
    ("move milk to Shopping", "list_tasks", {"search": "milk"}),
    ("move 3 to Shopping", "update_task", {"task_id": 3, "list_name": "Shopping"}),
    ("move 3 to the groceries list", "update_task", {"task_id": 3, "list_name": "groceries"}),
    ("tag 3 urgent", "update_task", {"task_id": 3, "add_labels": ["urgent"]}),
    ("label task 4 as home", "update_task", {"task_id": 4, "add_labels": ["home"]}),
    ("tag it urgent", None, "Which task do you mean?"),  # nothing shown yet that "it" could be
    ("add gym every monday and thursday at 7am", "add_task",
     {"title": "gym", "due_time": "07:00", "recurrence": "FREQ=WEEKLY;BYDAY=MO,TH"}),
    ("add standup every weekday at 9:30", "add_task",
     {"title": "standup", "due_time": "09:30", "recurrence": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"}),
    ("add water plants every 3 days", "add_task", {"title": "water plants", "recurrence": "FREQ=DAILY;INTERVAL=3"}),
    ("add pay rent on the last day of every month", "add_task", {"title": "pay rent", "recurrence": "FREQ=MONTHLY;BYMONTHDAY=-1"}),
    ("add take out the bins weekly", "add_task", {"title": "take out the bins", "recurrence": "FREQ=WEEKLY"}),
    ("add dinner at 7pm tomorrow", "add_task", {"title": "dinner", "due_date": "2026-11-19", "due_time": "19:00"}),
    ("add eggs to Shopping", "add_task", {"title": "eggs", "list_name": "Shopping"}),
    ("add call bank to the Work list tomorrow", "add_task", {"title": "call bank", "due_date": "2026-11-19", "list_name": "Work"}),
    ("add meet bob at the station", "add_task", {"title": "meet bob at the station"}),  # "at" + words is no time
]


def reply_for(request: CompletionRequest) -> CompletionReply:
    return OfflineAdapter(today=TODAY).complete(request)


@pytest.mark.parametrize("phrase, tool, expected", PHRASES, ids=[p[0] for p in PHRASES])
def test_phrasing_table(phrase, tool, expected):
    reply = reply_for(user_request(phrase))
    if tool is None:
        assert reply.tool_calls == ()
        assert reply.finish_reason == "stop"
        assert expected in reply.text
        return
    assert reply.finish_reason == "tool_calls"
    assert reply.text == ""
    (call,) = reply.tool_calls
    assert (call.name, call.arguments) == (tool, expected)
    assert json.loads(call.raw_arguments) == expected and call.error is None
    assert reply.usage.input_tokens == reply.usage.output_tokens == 0


def test_table_covers_every_operation():
    tools = {tool for _, tool, _ in PHRASES}
    assert {"add_task", "list_tasks", "complete_task", "uncomplete_task", "delete_task", "update_task", None} <= tools
    assert len(PHRASES) >= 48


@pytest.mark.parametrize(
    "text, expected",
    [
        ("tomorrow", date(2026, 11, 19)),
        ("today", TODAY),
        ("next monday", date(2026, 11, 23)),
        ("on 2026-12-01", date(2026, 12, 1)),
        ("wednesday", date(2026, 11, 25)),  # said on a Wednesday: next week's
        ("this wednesday", TODAY),
        ("in 3 days", date(2026, 11, 21)),
        ("by jan 5", date(2027, 1, 5)),  # month-day in the past this year -> next year
        ("the 3rd of december", date(2026, 12, 3)),
        ("2026-02-30", None),
        ("someday", None),
    ],
)
def test_dates_are_read_relative_to_the_injected_clock(text, expected):
    assert parse_date(text, TODAY) == expected


# -- multi-turn flows ---------------------------------------------------------------------------------


def continue_with(request: CompletionRequest, reply: CompletionReply, *results: tuple[object, bool]) -> CompletionRequest:
    """Append the model's tool calls and our tool results (JSON), as the chat service would."""
    messages = request.messages + (ChatMessage("assistant", reply.text, tool_calls=reply.tool_calls),)
    for call, (payload, is_error) in zip(reply.tool_calls, results, strict=True):
        messages += (
            ChatMessage("tool", json.dumps(payload), tool_call_id=call.id, name=call.name, is_error=is_error),
        )
    return CompletionRequest(model=request.model, messages=messages, tools=request.tools)


def test_add_then_summarise_the_result():
    request = user_request("add buy milk")
    first = reply_for(request)
    second = reply_for(continue_with(request, first, (task(12, "buy milk"), False)))
    assert second.text == "Added “buy milk” (#12)."
    assert second.tool_calls == () and second.finish_reason == "stop"


def test_add_summary_mentions_due_date_and_priority():
    request = user_request("add call mom tomorrow, high priority")
    first = reply_for(request)
    second = reply_for(continue_with(request, first, (task(4, "call mom", priority="high", due_date="2026-11-19"), False)))
    assert second.text == "Added “call mom” (#4), due 2026-11-19, high priority."


def test_list_is_summarised_as_a_numbered_list():
    request = user_request("what's on my list")
    first = reply_for(request)
    result = {"tasks": [task(1, "buy milk"), task(2, "call mom", completed=True, due_date="2026-11-19")], "count": 2}
    text = reply_for(continue_with(request, first, (result, False))).text
    assert text == "Here are your tasks:\n1. buy milk (#1)\n2. call mom (#2) — due 2026-11-19 — done ✓"


def test_empty_search_result_says_nothing_matches():
    request = user_request("show tasks about kites")
    first = reply_for(request)
    text = reply_for(continue_with(request, first, ({"tasks": [], "count": 0}, False))).text
    assert text == "No tasks match “kites”."


@pytest.mark.parametrize(
    "phrase, result, expected",
    [
        ("mark 3 done", task(3, "buy milk", completed=True), "Marked “buy milk” done."),
        ("reopen 3", task(3, "buy milk"), "Marked “buy milk” as not done."),
        ("delete task 4", {"deleted": True, "task_id": 4}, "Deleted task #4."),
        ("rename 3 to buy oat milk", task(3, "buy oat milk"), "Updated task #3: renamed to “buy oat milk”."),
        ("move 3 to friday", task(3, "buy milk", due_date="2026-11-20"), "Updated “buy milk” (#3): due 2026-11-20."),
        ("change task 3 priority to high", task(3, "buy milk", priority="high"), "Updated “buy milk” (#3): priority high."),
    ],
)
def test_single_operations_are_summarised(phrase, result, expected):
    request = user_request(phrase)
    first = reply_for(request)
    assert reply_for(continue_with(request, first, (result, False))).text == expected


def test_tool_error_is_explained_plainly():
    request = user_request("complete task 99")
    first = reply_for(request)
    error = {"error": {"code": "not_found", "message": "Task 99 does not exist"}}
    text = reply_for(continue_with(request, first, (error, True))).text
    assert text == "Sorry, that didn't work: Task 99 does not exist."


def test_finishing_by_description_looks_up_then_completes_the_single_pending_match():
    # Given "I finished the milk one"
    request = user_request("I finished the milk one")
    lookup = reply_for(request)
    assert [(c.name, c.arguments) for c in lookup.tool_calls] == [("list_tasks", {"search": "milk"})]

    # When the search finds one pending and one already-done milk task
    found = {"tasks": [task(3, "buy milk"), task(8, "milk the cow", completed=True)], "count": 2}
    request = continue_with(request, lookup, (found, False))
    act = reply_for(request)

    # Then it completes the pending one
    assert [(c.name, c.arguments) for c in act.tool_calls] == [("complete_task", {"task_id": 3})]
    assert act.tool_calls[0].id != lookup.tool_calls[0].id

    # And summarises the result
    done = reply_for(continue_with(request, act, (task(3, "buy milk", completed=True), False)))
    assert done.text == "Marked “buy milk” done." and done.tool_calls == ()


def test_several_matches_make_it_ask_which_and_a_number_answers():
    request = user_request("I finished the milk one")
    lookup = reply_for(request)
    found = {"tasks": [task(3, "buy milk"), task(5, "oat milk")], "count": 2}
    request = continue_with(request, lookup, (found, False))
    question = reply_for(request)
    assert question.tool_calls == ()
    assert CLARIFY_MARKER in question.text
    assert "1. buy milk (#3)" in question.text and "2. oat milk (#5)" in question.text

    for answer, expected_id in [("5", 5), ("the first one", 3), ("2", 5), ("#3", 3)]:
        follow_up = CompletionRequest(
            model="m",
            tools=TODO_TOOLS,
            messages=request.messages + (ChatMessage("assistant", question.text), ChatMessage("user", answer)),
        )
        (call,) = reply_for(follow_up).tool_calls
        assert (call.name, call.arguments) == ("complete_task", {"task_id": expected_id}), answer


def test_removing_by_description_deletes_and_names_the_task():
    request = user_request("remove the milk one")
    lookup = reply_for(request)
    request = continue_with(request, lookup, ({"tasks": [task(4, "buy milk", completed=True)], "count": 1}, False))
    act = reply_for(request)
    assert [(c.name, c.arguments) for c in act.tool_calls] == [("delete_task", {"task_id": 4})]
    text = reply_for(continue_with(request, act, ({"deleted": True, "task_id": 4}, False))).text
    assert text == "Deleted “buy milk” (#4)."


def test_nothing_pending_to_finish_is_said_plainly():
    request = user_request("I finished the milk one")
    lookup = reply_for(request)
    only_done = reply_for(continue_with(request, lookup, ({"tasks": [task(3, "buy milk", completed=True)], "count": 1}, False)))
    assert only_done.text == "“buy milk” is already done."
    none = reply_for(continue_with(request, lookup, ({"tasks": [], "count": 0}, False)))
    assert none.text == "I couldn't find a pending task matching “milk”."


def test_without_the_tool_it_says_it_cannot():
    request = CompletionRequest(model="m", messages=(ChatMessage("user", "add buy milk"),), tools=())
    reply = reply_for(request)
    assert reply.tool_calls == () and "add_task tool isn't available" in reply.text


def test_stream_yields_the_text_in_pieces_then_done():
    adapter = OfflineAdapter(today=TODAY)
    events = list(adapter.stream(user_request("tell me a joke"), api_key="", base_url="", timeout=1))
    assert isinstance(events[-1], StreamDone)
    deltas = [e.text for e in events[:-1]]
    assert all(isinstance(e, TextDelta) for e in events[:-1]) and len(deltas) > 3
    assert "".join(deltas) == events[-1].reply.text


def test_clock_can_be_a_callable_and_defaults_to_today():
    assert OfflineAdapter(today=lambda: TODAY).today() == TODAY
    assert get_adapter("offline").today() == date.today()


def test_offline_provider_opens_no_socket(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the offline provider tried to use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    adapter = get_adapter("offline")
    for phrase, _, _ in PHRASES:
        request = user_request(phrase)
        reply = adapter.complete(request, api_key="", base_url="", timeout=1)
        list(adapter.stream(request, api_key="", base_url="", timeout=1))
        if reply.tool_calls:
            result = {"tasks": [task(3, "buy milk")], "count": 1} if reply.tool_calls[0].name == "list_tasks" else task(3, "x")
            adapter.complete(continue_with(request, reply, (result, False)), api_key="", base_url="", timeout=1)


def test_tag_it_means_the_task_just_shown():
    request = user_request("add buy milk")
    reply = reply_for(request)
    request = continue_with(request, reply, (task(7, "buy milk"), False))
    request = CompletionRequest(
        model=request.model,
        messages=request.messages + (ChatMessage("assistant", reply_for(request).text), ChatMessage("user", "tag it urgent")),
        tools=request.tools,
    )
    (call,) = reply_for(request).tool_calls
    assert (call.name, call.arguments) == ("update_task", {"task_id": 7, "add_labels": ["urgent"]})


def test_move_milk_to_shopping_finds_the_task_then_moves_it():
    request = user_request("move milk to Shopping")
    reply = reply_for(request)
    request = continue_with(request, reply, ({"tasks": [task(4, "milk")], "count": 1}, False))
    (call,) = reply_for(request).tool_calls
    assert (call.name, call.arguments) == ("update_task", {"task_id": 4, "list_name": "Shopping"})
    request = continue_with(request, reply_for(request), ({**task(4, "milk"), "list_id": 2}, False))
    assert reply_for(request).text == "Updated “milk” (#4): moved to Shopping."
