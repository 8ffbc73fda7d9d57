"""Provider-neutral request, reply and stream-event types shared by every adapter."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "tool_calls", "length", "error"]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """A tool call asked for by the model.

    ``arguments`` is None when the model sent something that is not a JSON
    object; ``error`` then says why, so the caller can hand that back to the
    model as a tool error instead of running the tool.
    """

    id: str
    name: str
    arguments: dict[str, Any] | None
    raw_arguments: str
    error: str | None = None

    @classmethod
    def from_raw(cls, *, id: str, name: str, raw_arguments: str | None) -> ToolCall:
        raw = raw_arguments or ""
        # An empty argument string is how models say "no arguments".
        if not raw.strip():
            return cls(id=id, name=name, arguments={}, raw_arguments=raw)
        try:
            value = json.loads(raw)
        except ValueError as exc:
            return cls(
                id=id,
                name=name,
                arguments=None,
                raw_arguments=raw,
                error=f"Tool arguments are not valid JSON ({exc.msg} at position {exc.pos}).",
            )
        if not isinstance(value, dict):
            return cls(
                id=id,
                name=name,
                arguments=None,
                raw_arguments=raw,
                error=f"Tool arguments must be a JSON object, got {type(value).__name__}.",
            )
        return cls(id=id, name=name, arguments=value, raw_arguments=raw)

    @classmethod
    def from_value(cls, *, id: str, name: str, value: Any) -> ToolCall:
        """Build from an already-decoded value (Anthropic sends ``input`` decoded)."""
        if isinstance(value, str):
            return cls.from_raw(id=id, name=name, raw_arguments=value)
        raw = json.dumps(value)
        if not isinstance(value, dict):
            return cls(
                id=id,
                name=name,
                arguments=None,
                raw_arguments=raw,
                error=f"Tool arguments must be a JSON object, got {type(value).__name__}.",
            )
        return cls(id=id, name=name, arguments=value, raw_arguments=raw)


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    is_error: bool = False


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int = 1024
    temperature: float | None = None


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class CompletionReply:
    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage
    finish_reason: FinishReason
    model: str
    provider_request_id: str | None = None
    # Seconds until the provider takes requests again, when its rate-limit headers say nothing is left.
    rate_limit_wait: float | None = None


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class StreamDone:
    reply: CompletionReply


StreamEvent = TextDelta | StreamDone

__all__ = [
    "ChatMessage",
    "CompletionReply",
    "CompletionRequest",
    "FinishReason",
    "Role",
    "StreamDone",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolSpec",
    "Usage",
]
