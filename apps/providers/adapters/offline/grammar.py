"""The offline assistant's intent grammar: one user message becomes one Intent (a tool call or a reply)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from apps.providers.adapters.offline.dates import extract_date, parse_date
from apps.providers.adapters.offline.phrasing import HELP_TEXT
from apps.providers.adapters.offline.schedule import extract_recurrence, extract_time
from apps.providers.adapters.offline.text import _I, _clean, _tidy, _unquote
from apps.providers.adapters.offline.toolset import DESCRIPTION_MAX, TITLE_MAX, F, T


@dataclass(frozen=True)
class Intent:
    """What the offline model decided: call a tool, find a task first, or just say something."""

    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    find: str | None = None  # search text: list_tasks first, then run `tool` on the single match
    say: str | None = None
    last_task: bool = False  # "it": the task this conversation last showed


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


_REF_RX = _rx("{REF}")


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
    if g.get(F.ID):
        return int(g[F.ID]), None
    query = g.get("q1") or g.get("q2") or g.get("q3")
    return None, _unquote(query) if query else None


def _on_task(m: re.Match[str], tool: str, changes: dict[str, Any]) -> Intent:
    task_id, query = _ref(m)
    if task_id is not None:
        return Intent(tool=tool, arguments={F.TASK_ID: task_id, **changes})
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


_ADD_TO_LIST = re.compile(
    r"\s+(?:to|on|onto|in|into|under) (?:my |the )?(?P<list>[A-Z][\w&' -]{0,60}?|[\w&' -]{1,60}? list)(?: list)?$"
)


def _parse_add(rest: str, today: date, *, remind: bool = False) -> Intent:
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
    recurrence, text = extract_recurrence(text)
    at, text = extract_time(text)
    due, text = extract_date(text, today)
    list_name = None
    m = _ADD_TO_LIST.search(text)
    if m and parse_date(m.group("list"), today) is None:
        list_name = re.sub(r"\s+list$", "", m.group("list"), flags=_I).strip()
        text = text[: m.start()]
    text = re.sub(r"^(?:a |an )?(?:task|reminder|todo|to-do)(?: to| that| saying)?[:\s]+", "", text, flags=_I)
    text = re.sub(r"^(?:to|about|that)\s+", "", text, flags=_I)
    title = _unquote(_tidy(text))
    if not title:
        return Intent(say="What should the new task be called? For example: “add buy milk”.")
    arguments: dict[str, Any] = {F.TITLE: title[:TITLE_MAX]}
    if description:
        arguments[F.DESCRIPTION] = description
    if priority:
        arguments[F.PRIORITY] = priority
    if at and not due and not recurrence:
        due = today
    if due:
        arguments[F.DUE_DATE] = due.isoformat()
    if at and (due or recurrence):
        arguments[F.DUE_TIME] = at
    if recurrence:
        arguments[F.RECURRENCE] = recurrence
    if list_name:
        arguments[F.LIST_NAME] = list_name
    if remind and at and (due or recurrence):
        arguments[F.REMIND_MINUTES_BEFORE] = 0
    return Intent(tool=T.ADD_TASK, arguments=arguments)


_MOVE_TO_LIST = re.compile(
    r"(?:move|file|shift) (?P<what>.+?) (?:to|into|onto|under) (?:the |my )?(?P<target>.+?)(?P<suffix> list)?", _I
)
_TAG = _rx(
    r"(?:tag|label) (?:(?P<it>it|that|this|this one|that one)|{REF}|(?P<bare>[\w' -]+?)) (?:as |with )?#?(?P<label>[\w-]{1,50})"
)
_TAG_ADD = _rx(r"(?:add|put) (?:the )?(?:tag|label) #?(?P<label>[\w-]{1,50}) (?:to|on) (?:(?P<it>it|that|this)|{REF})")


def _move_to_list(m: re.Match[str], today: date) -> Intent | None:
    what, target = m.group("what").strip(), m.group("target").strip()
    ref = _REF_RX.fullmatch(what)
    is_id = bool(ref and ref.group("id"))
    when = parse_date(target, today)
    if when is not None:
        if is_id:
            return None  # "move 3 to friday": the due-date patterns handle it
        if ref is not None:
            return _on_task(ref, T.UPDATE_TASK, {F.DUE_DATE: when.isoformat()})
        return Intent(tool=T.UPDATE_TASK, arguments={F.DUE_DATE: when.isoformat()}, find=_unquote(what))
    if not (m.group("suffix") or target[:1].isupper() or not is_id):
        return None  # "move 3 to someday": a date we could not read, not a list
    arguments = {F.LIST_NAME: _unquote(target)[:100]}
    if ref is not None:
        return _on_task(ref, T.UPDATE_TASK, arguments)
    return Intent(tool=T.UPDATE_TASK, arguments=arguments, find=_unquote(re.sub(r"^(?:the|my) ", "", what, flags=_I)))


def _tag(m: re.Match[str]) -> Intent:
    label = m.group("label").lstrip("#")
    arguments = {F.ADD_LABELS: [label]}
    if m.groupdict().get("it"):
        return Intent(tool=T.UPDATE_TASK, arguments=arguments, last_task=True)
    bare = m.groupdict().get("bare")
    if bare:
        return Intent(tool=T.UPDATE_TASK, arguments=arguments, find=_unquote(re.sub(r"^(?:the|my) ", "", bare, flags=_I)))
    return _on_task(m, T.UPDATE_TASK, arguments)


def _parse_list(text: str, today: date) -> Intent:
    arguments: dict[str, Any] = {}
    lowered = text.lower()
    if re.search(r"\b(?:overdue|late|past due)\b", lowered):
        arguments[F.STATUS] = "pending"
        arguments[F.DUE_BEFORE] = (today - timedelta(days=1)).isoformat()
    elif re.search(r"\b(?:completed|done|finished|closed|ticked off|checked off)\b", lowered):
        arguments[F.STATUS] = "completed"
    elif re.search(
        r"\b(?:pending|open|incomplete|outstanding|remaining|unfinished|not done|left|active|undone)\b"
        r"|\bto ?do\b(?! ?list)|\b(?:need|have|got) to do\b",
        lowered,
    ):
        arguments[F.STATUS] = "pending"
    elif re.search(r"\ball\b|\beverything\b", lowered):
        arguments[F.STATUS] = "all"

    # Due-date filters.
    m = re.search(r"\bdue (?:before|by) (?P<d>.+?)$", text, _I)
    m_after = re.search(r"\bdue after (?P<d>.+?)$", text, _I)
    if m and parse_date(m.group("d"), today):
        arguments[F.DUE_BEFORE] = parse_date(m.group("d"), today).isoformat()  # type: ignore[union-attr]
        text = text[: m.start()]
    elif m_after and parse_date(m_after.group("d"), today):
        arguments[F.DUE_AFTER] = parse_date(m_after.group("d"), today).isoformat()  # type: ignore[union-attr]
        text = text[: m_after.start()]
    elif re.search(r"\bthis week\b", lowered):
        arguments[F.DUE_AFTER] = today.isoformat()
        arguments[F.DUE_BEFORE] = (today + timedelta(days=6 - today.weekday())).isoformat()
        text = re.sub(r"(?:\b(?:due|for) )?\bthis week\b", "", text, flags=_I)
    else:
        m_day = re.search(r"(?:\b(?:due|for|on) )?\b(?P<d>today|tomorrow|tonight)\b", text, _I)
        if m_day:
            day = parse_date(m_day.group("d"), today)
            assert day is not None
            arguments[F.DUE_AFTER] = arguments[F.DUE_BEFORE] = day.isoformat()
            text = text[: m_day.start()] + text[m_day.end() :]

    m = re.search(r"\b(?:first|top|last) (?P<n>\d{1,3})\b", text, _I)
    if m and 1 <= int(m.group("n")) <= 100:
        arguments[F.LIMIT] = int(m.group("n"))

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
            arguments[F.SEARCH] = query
    return Intent(tool=T.LIST_TASKS, arguments=arguments)


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
        return _on_task(m, T.UNCOMPLETE_TASK, {})
    if m := _first_match(_COMPLETE, text):
        return _on_task(m, T.COMPLETE_TASK, {})
    if m := _first_match(_DELETE, text):
        return _on_task(m, T.DELETE_TASK, {})
    if m := _first_match(_RENAME, text):
        return _on_task(m, T.UPDATE_TASK, {F.TITLE: _unquote(m.group("title"))[:TITLE_MAX]})
    if m := _first_match(_PRIORITY, text):
        word = m.group("prio").lower()
        priority = "high" if word.startswith("prior") else "low" if word.startswith("deprior") else _PRIORITY_WORDS[word]
        return _on_task(m, T.UPDATE_TASK, {F.PRIORITY: priority})
    if m := _first_match([_TAG, _TAG_ADD], text):
        return _tag(m)
    if (m := _MOVE_TO_LIST.fullmatch(text)) and (moved := _move_to_list(m, today)) is not None:
        return moved
    if m := _first_match(_DUE, text):
        when = parse_date(m.group("date"), today)
        if when is None:
            return Intent(say=f"I couldn't understand the date “{m.group('date')}”. Try “friday” or “2026-12-01”.")
        return _on_task(m, T.UPDATE_TASK, {F.DUE_DATE: when.isoformat()})
    if m := _first_match(_DESCRIPTION, text):
        return _on_task(m, T.UPDATE_TASK, {F.DESCRIPTION: _unquote(m.group("desc"))[:DESCRIPTION_MAX]})
    if m := _CHANGE_GENERIC.fullmatch(text):
        value = m.group("value")
        when = parse_date(value, today)
        priority, rest = _extract_priority(value)
        if when is not None:
            return _on_task(m, T.UPDATE_TASK, {F.DUE_DATE: when.isoformat()})
        if priority and not rest:
            return _on_task(m, T.UPDATE_TASK, {F.PRIORITY: priority})
        if value.lower() in _PRIORITY_WORDS:
            return _on_task(m, T.UPDATE_TASK, {F.PRIORITY: _PRIORITY_WORDS[value.lower()]})
        return _on_task(m, T.UPDATE_TASK, {F.TITLE: _unquote(value)[:TITLE_MAX]})

    for pattern in _ADD_EXPLICIT:
        m = pattern.match(text)
        if m:
            return _parse_add(m.group("rest"), today, remind=text.lower().startswith("remind me"))
    if _is_list_request(text):
        return _parse_list(text, today)
    m = _ADD_IMPLICIT.match(text)
    if m:
        rest = m.group("rest")
        # "I need to add milk to my list" is an explicit add after all.
        inner = parse_request(rest, today) if re.match(r"^(?:add|create|put|remind)\b", rest, _I) else None
        return inner if inner is not None and inner.tool == T.ADD_TASK else _parse_add(rest, today)
    return Intent(say=HELP_TEXT)

