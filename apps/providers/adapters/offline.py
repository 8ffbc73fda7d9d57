"""Offline provider: a rule-based stand-in for a model, with no network and no SDK.

It reads the conversation the way a model would: a user's todo request becomes
the same tool calls a model would make; tool results become a short
plain-English answer. Anything else gets a plain "offline mode" help text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, ClassVar

from apps.providers.adapters.base import ProviderAdapter
from apps.providers.types import (
    ChatMessage,
    CompletionReply,
    CompletionRequest,
    StreamDone,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
)

MODEL_NAME = "offline-rules"
TITLE_MAX = 200
DESCRIPTION_MAX = 5000
CLARIFY_MARKER = "Which one do you mean?"

HELP_TEXT = (
    "I'm running in offline mode (no AI model is connected), so I only understand simple todo commands:\n"
    "• add a task: “add buy milk tomorrow, high priority”, “remind me to call mom on friday”\n"
    "• list tasks: “what's on my list”, “show completed”, “show tasks about milk”\n"
    "• finish or reopen: “mark 3 done”, “I finished the milk one”, “reopen 3”\n"
    "• change a task: “rename 3 to buy oat milk”, “change task 3 priority to high”, “move 3 to friday”\n"
    "• delete: “delete task 4”, “remove the milk one”"
)

_I = re.IGNORECASE

# -- dates ---------------------------------------------------------------------------

_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
_WD = "|".join(_WEEKDAYS)
_MON = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_BODY = (
    r"(?P<iso>\d{4}-\d{1,2}-\d{1,2})"
    r"|(?P<today>today|tonight|this (?:morning|afternoon|evening))"
    r"|(?P<dat>(?:the )?day after tomorrow)"
    r"|(?P<tomorrow>tomorrow|tmrw)"
    r"|(?P<in>in (?P<n>\d{1,3}|a|an|one|two|three|four|five|six|seven) (?P<unit>days?|weeks?))"
    r"|(?P<nextweek>next week)"
    rf"|(?:(?P<mod>next|this|this coming|coming) )?(?P<wd>{_WD})"
    rf"|(?P<mon1>{_MON})\.? (?P<d1>\d{{1,2}})(?:st|nd|rd|th)?(?:,? (?P<y1>\d{{4}}))?"
    rf"|(?:the )?(?P<d2>\d{{1,2}})(?:st|nd|rd|th)? (?:of )?(?P<mon2>{_MON})(?:,? (?P<y2>\d{{4}}))?"
)
_DATE_PREFIX = r"(?:(?:due )?(?:on|by|for|before|until|till) |due )?"
_DATE_ANYWHERE = re.compile(rf"(?<![\w-]){_DATE_PREFIX}(?:{_DATE_BODY})(?![\w-])", _I)
_DATE_WHOLE = re.compile(rf"{_DATE_PREFIX}(?:{_DATE_BODY})", _I)


def _resolve_date(m: re.Match[str], today: date) -> date | None:
    g = m.groupdict()
    if g["iso"]:
        try:
            year, month, day = (int(part) for part in g["iso"].split("-"))
            return date(year, month, day)
        except ValueError:
            return None
    if g["today"]:
        return today
    if g["dat"]:
        return today + timedelta(days=2)
    if g["tomorrow"]:
        return today + timedelta(days=1)
    if g["in"]:
        count = int(g["n"]) if g["n"].isdigit() else _NUMBER_WORDS[g["n"].lower()]
        return today + timedelta(days=count * (7 if g["unit"].lower().startswith("week") else 1))
    if g["nextweek"]:
        return today + timedelta(days=7 - today.weekday())  # next Monday
    if g["wd"]:
        ahead = (_WEEKDAYS.index(g["wd"].lower()) - today.weekday()) % 7
        # "friday" said on a Friday means next week's; "this friday" means today.
        if ahead == 0 and (g["mod"] or "").lower() != "this":
            ahead = 7
        return today + timedelta(days=ahead)
    month_name, day_text, year_text = (g["mon1"], g["d1"], g["y1"]) if g["mon1"] else (g["mon2"], g["d2"], g["y2"])
    if month_name:
        month = _MONTHS[month_name.lower()]
        try:
            if year_text:
                return date(int(year_text), month, int(day_text))
            candidate = date(today.year, month, int(day_text))
            # A month-day without a year means the next one to come.
            return candidate if candidate >= today else date(today.year + 1, month, int(day_text))
        except ValueError:
            return None
    return None


def parse_date(text: str, today: date) -> date | None:
    """A whole phrase as a date ("friday", "on 2026-12-01", "in 3 days"), else None."""
    m = _DATE_WHOLE.fullmatch(text.strip())
    return _resolve_date(m, today) if m else None


def extract_date(text: str, today: date) -> tuple[date | None, str]:
    """Find the last date phrase in ``text``; return it and the text without it."""
    for m in reversed(list(_DATE_ANYWHERE.finditer(text))):
        when = _resolve_date(m, today)
        if when is not None:
            return when, _tidy(text[: m.start()] + " " + text[m.end() :])
    return None, text


# -- text helpers ----------------------------------------------------------------------


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,;:.!?])", r"\1", text)
    return text.strip(" ,;:-–—")


def _unquote(text: str) -> str:
    text = text.strip()
    pairs = [("“", "”"), ('"', '"'), ("'", "'"), ("‘", "’"), ("«", "»")]
    for left, right in pairs:
        if len(text) >= 2 and text.startswith(left) and text.endswith(right):
            return text[1:-1].strip()
    return text


_POLITE_START = re.compile(
    r"^(?:please|pls|plz|hey|ok(?:ay)?|so|also|and|then|now|oh|um+|"
    r"(?:can|could|would|will) you(?: please)?|would you mind|i'd like you to|i want you to)[,!]?\s+",
    _I,
)


def _clean(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'")
    text = re.sub(r"\s+", " ", text).strip()
    text = text.rstrip(" .!?")
    previous = None
    while previous != text:
        previous = text
        text = _POLITE_START.sub("", text)
    text = re.sub(r"[,\s]+(?:please|pls|thanks|thank you)$", "", text, flags=_I)
    return text.strip()


# -- intents ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Intent:
    """What the offline model decided: call a tool, find a task first, or just say something."""

    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    find: str | None = None  # search text: list_tasks first, then run `tool` on the single match
    say: str | None = None


_REF_ID = r"(?:(?:task|todo|to-do|item|number|no\.?)\s*)?#?(?P<id>\d+)"
_REF = (
    rf"(?:{_REF_ID}"
    r"|the (?:task|todo|to-do|item|one) (?:about|called|named|for|with|mentioning) [\"“']?(?P<q1>.+?)[\"”']?"
    r"|(?:the|my) [\"“']?(?P<q2>.+?)[\"”']? (?:one|task|todo|to-do|item)"
    r"|[\"“](?P<q3>.+?)[\"”])"
)
_DONE = r"(?:done|complete|completed|finished|checked off|ticked off)"
_NOT_DONE = r"(?:not done|undone|not complete|not completed|incomplete|not finished|unfinished|pending|open|to ?do)"
_PRIORITY_WORDS = {"low": "low", "normal": "normal", "medium": "normal", "high": "high", "urgent": "high", "top": "high"}


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace("{REF}", _REF), _I)


_UNCOMPLETE = [
    _rx(rf"(?:mark|set|flag|make) {{REF}} (?:as )?{_NOT_DONE}(?: again)?"),
    _rx(r"(?:reopen|re-open|uncomplete|un-complete|undo|unmark|uncheck|untick|restore|reactivate) {REF}"),
    _rx(r"{REF} (?:is not|isn't|is not actually|isn't actually) (?:done|finished|complete)(?: yet| after all)?"),
    _rx(r"i (?:haven't|have not|didn't|did not) (?:finish|finished|complete|completed|do|done) {REF}(?: yet| after all)?"),
]
_COMPLETE = [
    _rx(rf"(?:mark|set|flag|make) {{REF}} (?:as )?{_DONE}"),
    _rx(r"(?:tick|check|cross) off {REF}"),
    _rx(r"(?:tick|check|cross) {REF} off"),
    _rx(r"(?:complete|finish|close|done with|finished with) {REF}"),
    _rx(r"(?:i(?:'ve| have)? )?(?:just |already )?(?:finished|completed|done|did) {REF}"),
    _rx(rf"{{REF}} (?:is )?(?:now )?{_DONE}"),
]
_DELETE = [
    _rx(
        r"(?:delete|remove|drop|erase|trash|discard|get rid of|cancel|scrap|forget about) {REF}"
        r"(?: from (?:my |the )?(?:list|tasks|todo list|to-do list|todos))?"
    ),
]
_RENAME = [
    _rx(r"(?:rename|retitle) {REF} (?:to|as|into) (?P<title>.+)"),
    _rx(r"(?:change|update|set) (?:the )?(?:title|name) of {REF} to (?P<title>.+)"),
    _rx(r"(?:change|update|set) {REF}(?:'s)? (?:title|name) to (?P<title>.+)"),
]
_PRIORITY = [
    _rx(r"(?:change|set|update|make) (?:the )?priority of {REF} (?:to |as )?(?P<prio>low|normal|medium|high|urgent|top)(?: priority)?"),
    _rx(r"(?:change|set|update) {REF}(?:'s)? priority (?:to |as )?(?P<prio>low|normal|medium|high|urgent|top)"),
    _rx(r"(?:make|set|mark) {REF} (?:as )?(?:a )?(?P<prio>low|normal|medium|high|urgent|top)(?: priority)?"),
    _rx(r"(?P<prio>prioriti[sz]e|deprioriti[sz]e) {REF}"),
]
_DUE = [
    _rx(r"(?:move|reschedule|postpone|push(?: back)?|defer|shift|delay) {REF} (?:to|until|till|for|on) (?P<date>.+)"),
    _rx(r"(?:change|set|update|move) (?:the )?due date (?:of|for|on) {REF} to (?P<date>.+)"),
    _rx(r"(?:change|set|update) {REF}(?:'s)? due(?: date)? (?:to |for )?(?P<date>.+)"),
    _rx(r"(?:make )?{REF} (?:is )?due (?P<date>.+)"),
]
_DESCRIPTION = [
    _rx(r"(?:set|change|update) (?:the )?(?:description|notes?|details) (?:of|for|on) {REF} to (?P<desc>.+)"),
    _rx(r"add (?:a )?(?:note|description|details) to {REF}:? (?P<desc>.+)"),
]
_CHANGE_GENERIC = _rx(r"(?:change|update|set) {REF} to (?P<value>.+)")

_ADD_EXPLICIT = [
    re.compile(r"^add (?:to|on) (?:my |the )?(?:todo |to-do )?(?:list|tasks)[:\s-]+(?P<rest>.+)$", _I),
    re.compile(
        r"^(?:add|create|make|put|new|insert|jot down|note down|write down|note)"
        r"(?: (?:a |an )?(?:new )?(?:task|todo|to-do|item|reminder|entry))?(?: (?:to|that|saying))?[:\s-]+(?P<rest>.+)$",
        _I,
    ),
    re.compile(r"^(?:task|todo|to-do|reminder)[:\s-]+(?P<rest>.+)$", _I),
    re.compile(r"^remind me (?:to |about |that )?(?P<rest>.+)$", _I),
]
_ADD_IMPLICIT = re.compile(
    r"^(?:i (?:really )?(?:need|have|want|ought|must|should|gotta|got)(?: to)?|i've got to|i'd like to|"
    r"need to|have to|gotta|must|don't (?:let me )?forget(?: to)?|do not (?:let me )?forget(?: to)?|remember to) "
    r"(?P<rest>.+)$",
    _I,
)

_LIST_VERB = re.compile(r"^(?:show|list|display|view|see|give me|find|search|look up|look for)\b", _I)
_LIST_QUESTION = re.compile(
    r"^(?:what|which|any|anything|do i have|how many|tell me|read|check|get|is there|are there)\b", _I
)
_LIST_NOUN = re.compile(
    r"\b(?:tasks?|todos?|to-dos?|list|agenda|plate|reminders|to do|left|pending|completed|done|"
    r"overdue|due|outstanding|open)\b",
    _I,
)
_LIST_ANYWHERE = re.compile(r"\b(?:my|the) (?:todo |to-do )?(?:list|tasks|todos|to-dos)\b|^(?:tasks|todos|agenda)$", _I)


def _is_list_request(text: str) -> bool:
    return bool(
        _LIST_VERB.search(text)
        or (_LIST_QUESTION.search(text) and _LIST_NOUN.search(text))
        or _LIST_ANYWHERE.search(text)
    )


_GENERIC_QUERY = re.compile(
    r"^(?:(?:my|the|all|all my|all the|pending|open|completed|done) )*(?:tasks?|todos?|to-dos?|items?|list|todo list|everything)?$",
    _I,
)


def _ref(m: re.Match[str]) -> tuple[int | None, str | None]:
    g = m.groupdict()
    if g.get("id"):
        return int(g["id"]), None
    query = g.get("q1") or g.get("q2") or g.get("q3")
    return None, _unquote(query) if query else None


def _on_task(m: re.Match[str], tool: str, changes: dict[str, Any]) -> Intent:
    task_id, query = _ref(m)
    if task_id is not None:
        return Intent(tool=tool, arguments={"task_id": task_id, **changes})
    return Intent(tool=tool, arguments=dict(changes), find=query)


def _first_match(patterns: list[re.Pattern[str]], text: str) -> re.Match[str] | None:
    for pattern in patterns:
        m = pattern.fullmatch(text)
        if m:
            return m
    return None


def _extract_priority(text: str) -> tuple[str | None, str]:
    patterns = [
        r"[,;(\s]*\b(?:with |at |as )?(?:a )?(?P<p>high|low|normal|medium|top|urgent)[ -]priority\b\)?",
        r"[,;(\s]*\bpriority[:\s]+(?P<p>high|low|normal|medium|urgent)\b\)?",
        r"[,;!\s-]+(?:it's |its |it is |this is )?(?P<p>urgent|important|asap)!*$",
        r"^(?P<p>urgent|important)[:!\s-]+",
    ]
    for pattern in patterns:
        m = re.search(pattern, text, _I)
        if m:
            word = m.group("p").lower()
            priority = _PRIORITY_WORDS.get(word, "high")
            return priority, _tidy(text[: m.start()] + " " + text[m.end() :])
    return None, text


def _parse_add(rest: str, today: date) -> Intent:
    text = rest.strip()
    description = None
    m = re.search(r"[,;(\s]+(?:with )?(?:a )?(?:description|notes?|details)[:\s]+(?P<d>.+?)\)?$", text, _I)
    if m:
        description = _unquote(m.group("d"))[:DESCRIPTION_MAX]
        text = text[: m.start()]
    priority, text = _extract_priority(text)
    text = re.sub(
        r"\s+(?:to|on|onto|in) (?:my |the )?(?:todo |to-do |task )?(?:list|tasks|todos)\b", "", text, flags=_I
    )
    due, text = extract_date(text, today)
    text = re.sub(r"^(?:a |an )?(?:task|reminder|todo|to-do)(?: to| that| saying)?[:\s]+", "", text, flags=_I)
    title = _unquote(_tidy(text))
    if not title:
        return Intent(say="What should the new task be called? For example: “add buy milk”.")
    arguments: dict[str, Any] = {"title": title[:TITLE_MAX]}
    if description:
        arguments["description"] = description
    if priority:
        arguments["priority"] = priority
    if due:
        arguments["due_date"] = due.isoformat()
    return Intent(tool="add_task", arguments=arguments)


def _parse_list(text: str, today: date) -> Intent:
    arguments: dict[str, Any] = {}
    lowered = text.lower()
    if re.search(r"\b(?:overdue|late|past due)\b", lowered):
        arguments["status"] = "pending"
        arguments["due_before"] = (today - timedelta(days=1)).isoformat()
    elif re.search(r"\b(?:completed|done|finished|closed|ticked off|checked off)\b", lowered):
        arguments["status"] = "completed"
    elif re.search(
        r"\b(?:pending|open|incomplete|outstanding|remaining|unfinished|not done|left|active|undone)\b"
        r"|\bto ?do\b(?! ?list)|\b(?:need|have|got) to do\b",
        lowered,
    ):
        arguments["status"] = "pending"
    elif re.search(r"\ball\b|\beverything\b", lowered):
        arguments["status"] = "all"

    # Due-date filters.
    m = re.search(r"\bdue (?:before|by) (?P<d>.+?)$", text, _I)
    m_after = re.search(r"\bdue after (?P<d>.+?)$", text, _I)
    if m and parse_date(m.group("d"), today):
        arguments["due_before"] = parse_date(m.group("d"), today).isoformat()  # type: ignore[union-attr]
        text = text[: m.start()]
    elif m_after and parse_date(m_after.group("d"), today):
        arguments["due_after"] = parse_date(m_after.group("d"), today).isoformat()  # type: ignore[union-attr]
        text = text[: m_after.start()]
    elif re.search(r"\bthis week\b", lowered):
        arguments["due_after"] = today.isoformat()
        arguments["due_before"] = (today + timedelta(days=6 - today.weekday())).isoformat()
        text = re.sub(r"(?:\b(?:due|for) )?\bthis week\b", "", text, flags=_I)
    else:
        m_day = re.search(r"(?:\b(?:due|for|on) )?\b(?P<d>today|tomorrow|tonight)\b", text, _I)
        if m_day:
            day = parse_date(m_day.group("d"), today)
            assert day is not None
            arguments["due_after"] = arguments["due_before"] = day.isoformat()
            text = text[: m_day.start()] + text[m_day.end() :]

    m = re.search(r"\b(?:first|top|last) (?P<n>\d{1,3})\b", text, _I)
    if m and 1 <= int(m.group("n")) <= 100:
        arguments["limit"] = int(m.group("n"))

    m = re.search(
        r"\b(?:about|containing|mentioning|matching|related to|regarding|with the word|called|named|"
        r"that (?:mentions?|contains?|says?)|with|for)\s+(?P<q>.+?)$",
        text,
        _I,
    ) or re.match(r"^(?:search|find|look up|look for)(?: for)?(?: (?:tasks?|todos?))?\s+(?P<q>.+?)$", text, _I)
    if m:
        query = _unquote(m.group("q"))
        query = re.sub(r"\s+(?:in|on) (?:my |the )?(?:list|tasks|todo list)$", "", query, flags=_I).strip()
        if query and not _GENERIC_QUERY.fullmatch(query):
            arguments["search"] = query
    return Intent(tool="list_tasks", arguments=arguments)


def parse_request(text: str, today: date) -> Intent:
    """Turn one user message into an Intent."""
    text = _clean(text)
    if not text:
        return Intent(say=HELP_TEXT)
    if re.fullmatch(r"(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening)|yo)(?: there)?", text, _I):
        return Intent(say="Hello! " + HELP_TEXT)
    if re.fullmatch(r"(?:thanks|thank you|thx|cheers|great|perfect|ok|okay|cool)(?: so much| a lot)?", text, _I):
        return Intent(say="You're welcome!")
    if re.fullmatch(r"(?:help|\?|what can you do|how does this work|commands)", text, _I):
        return Intent(say=HELP_TEXT)

    if m := _first_match(_UNCOMPLETE, text):
        return _on_task(m, "uncomplete_task", {})
    if m := _first_match(_COMPLETE, text):
        return _on_task(m, "complete_task", {})
    if m := _first_match(_DELETE, text):
        return _on_task(m, "delete_task", {})
    if m := _first_match(_RENAME, text):
        return _on_task(m, "update_task", {"title": _unquote(m.group("title"))[:TITLE_MAX]})
    if m := _first_match(_PRIORITY, text):
        word = m.group("prio").lower()
        priority = "high" if word.startswith("prior") else "low" if word.startswith("deprior") else _PRIORITY_WORDS[word]
        return _on_task(m, "update_task", {"priority": priority})
    if m := _first_match(_DUE, text):
        when = parse_date(m.group("date"), today)
        if when is None:
            return Intent(say=f"I couldn't understand the date “{m.group('date')}”. Try “friday” or “2026-12-01”.")
        return _on_task(m, "update_task", {"due_date": when.isoformat()})
    if m := _first_match(_DESCRIPTION, text):
        return _on_task(m, "update_task", {"description": _unquote(m.group("desc"))[:DESCRIPTION_MAX]})
    if m := _CHANGE_GENERIC.fullmatch(text):
        value = m.group("value")
        when = parse_date(value, today)
        priority, rest = _extract_priority(value)
        if when is not None:
            return _on_task(m, "update_task", {"due_date": when.isoformat()})
        if priority and not rest:
            return _on_task(m, "update_task", {"priority": priority})
        if value.lower() in _PRIORITY_WORDS:
            return _on_task(m, "update_task", {"priority": _PRIORITY_WORDS[value.lower()]})
        return _on_task(m, "update_task", {"title": _unquote(value)[:TITLE_MAX]})

    for pattern in _ADD_EXPLICIT:
        m = pattern.match(text)
        if m:
            return _parse_add(m.group("rest"), today)
    if _is_list_request(text):
        return _parse_list(text, today)
    m = _ADD_IMPLICIT.match(text)
    if m:
        rest = m.group("rest")
        # "I need to add milk to my list" is an explicit add after all.
        inner = parse_request(rest, today) if re.match(r"^(?:add|create|put|remind)\b", rest, _I) else None
        return inner if inner is not None and inner.tool == "add_task" else _parse_add(rest, today)
    return Intent(say=HELP_TEXT)


# -- answering tool results ------------------------------------------------------------------


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
    return f"“{task.get('title', '')}”"


def _task_line(task: dict[str, Any]) -> str:
    parts = [f"{task.get('title', '')} (#{task.get('id')})"]
    if task.get("due_date"):
        parts.append(f"due {task['due_date']}")
    if task.get("priority") in ("high", "low"):
        parts.append(f"{task['priority']} priority")
    if task.get("completed"):
        parts.append("done ✓")
    return " — ".join(parts)


def _list_answer(payload: Any, arguments: dict[str, Any]) -> str:
    tasks = payload.get("tasks") if isinstance(payload, dict) else None
    if not isinstance(tasks, list):
        return "I got an answer I couldn't read from the task list."
    status = arguments.get("status")
    search = arguments.get("search")
    if not tasks:
        if search:
            return f"No tasks match “{search}”."
        if status == "completed":
            return "You have no completed tasks."
        if status == "pending" or arguments.get("due_before") or arguments.get("due_after"):
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
    count = payload.get("count")
    if isinstance(count, int) and count > len(tasks):
        lines.append(f"…and {count - len(tasks)} more.")
    return "\n".join(lines)


def _update_answer(task: dict[str, Any], arguments: dict[str, Any]) -> str:
    changes = []
    if "title" in arguments:
        changes.append(f"renamed to {_title(task)}")
    if "priority" in arguments:
        changes.append(f"priority {task.get('priority', arguments['priority'])}")
    if "due_date" in arguments:
        due = task.get("due_date", arguments["due_date"])
        changes.append(f"due {due}" if due else "no due date")
    if "description" in arguments:
        changes.append("description updated")
    detail = ": " + ", ".join(changes) if changes else ""
    return f"Updated task #{task.get('id')}{detail}." if "title" in arguments else f"Updated {_title(task)} (#{task.get('id')}){detail}."


def summarise_tool_result(
    name: str, content: str, *, is_error: bool, arguments: dict[str, Any], known_titles: dict[int, str]
) -> str:
    payload = _load(content)
    if is_error or (isinstance(payload, dict) and "error" in payload and len(payload) <= 2):
        return f"Sorry, that didn't work: {_error_text(payload)}"
    if name == "list_tasks":
        return _list_answer(payload, arguments)
    if name == "delete_task":
        task_id = payload.get("task_id") if isinstance(payload, dict) else None
        task_id = task_id if task_id is not None else arguments.get("task_id")
        title = known_titles.get(task_id) if isinstance(task_id, int) else None
        return f"Deleted “{title}” (#{task_id})." if title else f"Deleted task #{task_id}."
    if not isinstance(payload, dict):
        return "Done."
    if name == "add_task":
        extras = []
        if payload.get("due_date"):
            extras.append(f"due {payload['due_date']}")
        if payload.get("priority") in ("high", "low"):
            extras.append(f"{payload['priority']} priority")
        suffix = f", {', '.join(extras)}" if extras else ""
        return f"Added {_title(payload)} (#{payload.get('id')}){suffix}."
    if name == "complete_task":
        return f"Marked {_title(payload)} done."
    if name == "uncomplete_task":
        return f"Marked {_title(payload)} as not done."
    if name == "update_task":
        return _update_answer(payload, arguments)
    if name == "get_task":
        state = "done" if payload.get("completed") else "pending"
        line = f"{_title(payload)} (#{payload.get('id')}) is {state}, {payload.get('priority', 'normal')} priority"
        line += f", due {payload['due_date']}." if payload.get("due_date") else "."
        if payload.get("description"):
            line += f"\n{payload['description']}"
        return line
    return "Done."


# -- the adapter ---------------------------------------------------------------------------------


_STATUS_FOR_TOOL = {"complete_task": "pending", "uncomplete_task": "completed"}
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5, "5th": 5}


class OfflineAdapter(ProviderAdapter):
    """Rule-based "model". ``today`` (a date or a callable) fixes the clock for tests."""

    kind: ClassVar[str] = "offline"
    requires_api_key: ClassVar[bool] = False

    def __init__(self, *, today: date | Callable[[], date] | None = None) -> None:
        self._today = today

    def today(self) -> date:
        if self._today is None:
            return date.today()
        return self._today() if callable(self._today) else self._today

    def complete(
        self, request: CompletionRequest, *, api_key: str = "", base_url: str = "", timeout: float = 0.0
    ) -> CompletionReply:
        text, calls = _Turn(request, self.today()).answer()
        return CompletionReply(
            text=text,
            tool_calls=calls,
            usage=Usage(0, 0),  # no model ran, nothing to bill
            finish_reason="tool_calls" if calls else "stop",
            model=request.model or MODEL_NAME,
            provider_request_id=None,
        )

    def stream(
        self, request: CompletionRequest, *, api_key: str = "", base_url: str = "", timeout: float = 0.0
    ) -> Iterator[StreamEvent]:
        reply = self.complete(request)
        for piece in re.findall(r"\S+\s*|\s+", reply.text):
            yield TextDelta(piece)
        yield StreamDone(reply)


class _Turn:
    """One reply, computed from the whole conversation (the offline model keeps no state)."""

    def __init__(self, request: CompletionRequest, today: date) -> None:
        self.request = request
        self.today = today
        self.messages = [m for m in request.messages if m.role != "system"]
        self.tool_names = {tool.name for tool in request.tools}
        self.calls_so_far = sum(len(m.tool_calls) for m in self.messages)

    def answer(self) -> tuple[str, tuple[ToolCall, ...]]:
        if not self.messages:
            return HELP_TEXT, ()
        last = self.messages[-1]
        if last.role == "tool":
            return self._after_tools()
        if last.role == "user":
            return self._act(self._user_intent())
        return HELP_TEXT, ()

    # -- user turn --------------------------------------------------------------------
    def _last_index(self, role: str, before: int | None = None) -> int | None:
        end = len(self.messages) if before is None else before
        for index in range(end - 1, -1, -1):
            if self.messages[index].role == role:
                return index
        return None

    def _user_intent(self) -> Intent:
        user_index = self._last_index("user")
        if user_index is None:
            return Intent(say=HELP_TEXT)
        text = self.messages[user_index].content
        answered = self._clarification_answer(user_index, text)
        return answered if answered is not None else parse_request(text, self.today)

    def _clarification_answer(self, user_index: int, text: str) -> Intent | None:
        """A reply like "3" or "the second one" to our own "Which one do you mean?"."""
        if user_index < 2:
            return None
        question = self.messages[user_index - 1]
        if question.role != "assistant" or CLARIFY_MARKER not in question.content:
            return None
        cleaned = _clean(text).lower()
        listed = [int(n) for n in re.findall(r"\(#(\d+)\)", question.content)]
        chosen: int | None = None
        m = re.fullmatch(r"(?:#|task |number |no\.? ?)?(\d+)", cleaned)
        if m:
            number = int(m.group(1))
            chosen = number if number in listed else listed[number - 1] if 1 <= number <= len(listed) else None
        m = re.fullmatch(r"(?:the )?(first|second|third|fourth|fifth|1st|2nd|3rd|4th|5th|last)(?: one)?", cleaned)
        if m and listed:
            position = len(listed) if m.group(1) == "last" else _ORDINALS[m.group(1)]
            chosen = listed[position - 1] if position <= len(listed) else None
        if chosen is None:
            return None
        original_index = self._last_index("user", before=user_index - 1)
        if original_index is None:
            return None
        original = parse_request(self.messages[original_index].content, self.today)
        if original.tool is None or original.find is None:
            return None
        return Intent(tool=original.tool, arguments={"task_id": chosen, **original.arguments})

    def _act(self, intent: Intent) -> tuple[str, tuple[ToolCall, ...]]:
        if intent.say is not None:
            return intent.say, ()
        if intent.find is not None:
            return self._call("list_tasks", {"search": intent.find})
        assert intent.tool is not None
        return self._call(intent.tool, intent.arguments)

    def _call(self, tool: str, arguments: dict[str, Any]) -> tuple[str, tuple[ToolCall, ...]]:
        if tool not in self.tool_names:
            return f"I can't do that right now: the {tool} tool isn't available.", ()
        self.calls_so_far += 1
        call = ToolCall(
            id=f"offline-call-{self.calls_so_far}",
            name=tool,
            arguments=arguments,
            raw_arguments=json.dumps(arguments),
        )
        return "", (call,)

    # -- tool results -----------------------------------------------------------------
    def _after_tools(self) -> tuple[str, tuple[ToolCall, ...]]:
        user_index = self._last_index("user")
        since_user = self.messages[(user_index or -1) + 1 :]
        calls_by_id = {call.id: call for m in since_user if m.role == "assistant" for call in m.tool_calls}
        called = [call.name for call in calls_by_id.values()]
        results = []
        for message in reversed(self.messages):
            if message.role != "tool":
                break
            results.append(message)
        results.reverse()

        intent = self._user_intent()
        if intent.find is not None and intent.tool and intent.tool not in called and called == ["list_tasks"]:
            return self._resolve(intent, results[-1])

        known_titles = self._known_titles()
        lines = []
        for result in results:
            call = calls_by_id.get(result.tool_call_id or "")
            name = result.name or (call.name if call else "")
            arguments = (call.arguments or {}) if call else {}
            lines.append(
                summarise_tool_result(
                    name, result.content, is_error=result.is_error, arguments=arguments, known_titles=known_titles
                )
            )
        return "\n".join(lines), ()

    def _known_titles(self) -> dict[int, str]:
        titles: dict[int, str] = {}
        for message in self.messages:
            if message.role != "tool":
                continue
            payload = _load(message.content)
            tasks = payload.get("tasks") if isinstance(payload, dict) and "tasks" in payload else [payload]
            for task in tasks if isinstance(tasks, list) else []:
                if isinstance(task, dict) and isinstance(task.get("id"), int) and task.get("title"):
                    titles[task["id"]] = task["title"]
        return titles

    def _resolve(self, intent: Intent, result: ChatMessage) -> tuple[str, tuple[ToolCall, ...]]:
        assert intent.tool is not None and intent.find is not None
        payload = _load(result.content)
        if result.is_error or not isinstance(payload, dict) or not isinstance(payload.get("tasks"), list):
            return f"Sorry, I couldn't look that up: {_error_text(payload)}", ()
        query = intent.find
        matches = [t for t in payload["tasks"] if isinstance(t, dict) and isinstance(t.get("id"), int)]
        wanted_status = _STATUS_FOR_TOOL.get(intent.tool)
        if wanted_status == "pending":
            candidates = [t for t in matches if not t.get("completed")]
        elif wanted_status == "completed":
            candidates = [t for t in matches if t.get("completed")]
        else:
            candidates = matches
        exact = [t for t in candidates if str(t.get("title", "")).strip().lower() == query.lower()]
        if len(exact) == 1:
            candidates = exact
        if len(candidates) == 1:
            return self._call(intent.tool, {"task_id": candidates[0]["id"], **intent.arguments})
        if not candidates:
            if wanted_status == "pending" and matches:
                return f"{_title(matches[0])} is already done.", ()
            if wanted_status == "completed" and matches:
                return f"{_title(matches[0])} isn't marked done.", ()
            kind = {"pending": "pending task", "completed": "completed task"}.get(wanted_status or "", "task")
            return f"I couldn't find a {kind} matching “{query}”.", ()
        lines = [f"Several tasks match “{query}”:"]
        lines += [f"{n}. {task.get('title', '')} (#{task['id']})" for n, task in enumerate(candidates[:10], start=1)]
        lines.append(f"{CLARIFY_MARKER} Reply with its number, e.g. “{candidates[0]['id']}”.")
        return "\n".join(lines), ()
