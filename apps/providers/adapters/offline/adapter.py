"""The offline adapter: a rule-based stand-in for a model, with no network and no SDK."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any, ClassVar

from apps.providers.adapters.base import ProviderAdapter
from apps.providers.adapters.offline.grammar import Intent, parse_request
from apps.providers.adapters.offline.phrasing import (
    CLARIFY_MARKER,
    HELP_TEXT,
    _error_text,
    _load,
    _title,
    summarise_tool_result,
)
from apps.providers.adapters.offline.text import _clean
from apps.providers.adapters.offline.toolset import F, T
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


_STATUS_FOR_TOOL = {"complete_task": "pending", T.UNCOMPLETE_TASK: "completed"}
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
        return Intent(tool=original.tool, arguments={F.TASK_ID: chosen, **original.arguments})

    def _act(self, intent: Intent) -> tuple[str, tuple[ToolCall, ...]]:
        if intent.say is not None:
            return intent.say, ()
        if intent.last_task:
            task_id = self._last_task_id()
            if task_id is None:
                return "Which task do you mean? Say it with its number, e.g. “tag 3 urgent”.", ()
            return self._call(intent.tool or T.UPDATE_TASK, {F.TASK_ID: task_id, **intent.arguments})
        if intent.find is not None:
            return self._call(T.LIST_TASKS, {F.SEARCH: intent.find})
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
        if intent.find is not None and intent.tool and intent.tool not in called and called == [T.LIST_TASKS]:
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

    def _last_task_id(self) -> int | None:
        """The task "it" means: the one the latest tool result was about (a single task, or a one-task list)."""
        for message in reversed(self.messages):
            if message.role != "tool" or message.is_error:
                continue
            payload = _load(message.content)
            if isinstance(payload, dict) and isinstance(payload.get(F.ID), int):
                return payload[F.ID]
            tasks = payload.get(F.TASKS) if isinstance(payload, dict) else None
            if isinstance(tasks, list) and len(tasks) == 1 and isinstance(tasks[0], dict):
                found = tasks[0].get(F.ID)
                return found if isinstance(found, int) else None
        return None

    def _known_titles(self) -> dict[int, str]:
        titles: dict[int, str] = {}
        for message in self.messages:
            if message.role != "tool":
                continue
            payload = _load(message.content)
            tasks = payload.get(F.TASKS) if isinstance(payload, dict) and F.TASKS in payload else [payload]
            for task in tasks if isinstance(tasks, list) else []:
                if isinstance(task, dict) and isinstance(task.get(F.ID), int) and task.get(F.TITLE):
                    titles[task[F.ID]] = task[F.TITLE]
        return titles

    def _resolve(self, intent: Intent, result: ChatMessage) -> tuple[str, tuple[ToolCall, ...]]:
        assert intent.tool is not None and intent.find is not None
        payload = _load(result.content)
        if result.is_error or not isinstance(payload, dict) or not isinstance(payload.get(F.TASKS), list):
            return f"Sorry, I couldn't look that up: {_error_text(payload)}", ()
        query = intent.find
        matches = [t for t in payload[F.TASKS] if isinstance(t, dict) and isinstance(t.get(F.ID), int)]
        wanted_status = _STATUS_FOR_TOOL.get(intent.tool)
        if wanted_status == "pending":
            candidates = [t for t in matches if not t.get(F.COMPLETED)]
        elif wanted_status == "completed":
            candidates = [t for t in matches if t.get(F.COMPLETED)]
        else:
            candidates = matches
        exact = [t for t in candidates if str(t.get(F.TITLE, "")).strip().lower() == query.lower()]
        if len(exact) == 1:
            candidates = exact
        if len(candidates) == 1:
            return self._call(intent.tool, {F.TASK_ID: candidates[0][F.ID], **intent.arguments})
        if not candidates:
            if wanted_status == "pending" and matches:
                return f"{_title(matches[0])} is already done.", ()
            if wanted_status == "completed" and matches:
                return f"{_title(matches[0])} isn't marked done.", ()
            kind = {"pending": "pending task", F.COMPLETED: "completed task"}.get(wanted_status or "", "task")
            return f"I couldn't find a {kind} matching “{query}”.", ()
        lines = [f"Several tasks match “{query}”:"]
        lines += [f"{n}. {task.get(F.TITLE, '')} (#{task[F.ID]})" for n, task in enumerate(candidates[:10], start=1)]
        lines.append(f"{CLARIFY_MARKER} Reply with its number, e.g. “{candidates[0][F.ID]}”.")
        return "\n".join(lines), ()

