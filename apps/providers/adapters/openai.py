"""OpenAI Chat Completions adapter (also the wire format of OpenAI-compatible servers)."""

from __future__ import annotations

import json
from collections.abc import Generator
from types import ModuleType
from typing import Any, ClassVar

import httpx2
import openai

from apps.providers.adapters.base import SDK_MAX_RETRIES, SdkAdapter, bad_response
from apps.providers.types import (
    ChatMessage,
    CompletionReply,
    CompletionRequest,
    FinishReason,
    TextDelta,
    ToolCall,
    Usage,
)

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "content_filter": "error",
}

# OpenAI has no is_error flag on tool results; say it in the content instead.
TOOL_ERROR_PREFIX = "ERROR: "


def to_openai_messages(messages: tuple[ChatMessage, ...]) -> list[dict[str, Any]]:
    wire: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            content = f"{TOOL_ERROR_PREFIX}{message.content}" if message.is_error else message.content
            wire.append({"role": "tool", "tool_call_id": message.tool_call_id or "", "content": content})
        elif message.role == "assistant" and message.tool_calls:
            wire.append(
                {
                    "role": "assistant",
                    "content": message.content or None,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {
                                "name": call.name,
                                # Unusable arguments were answered with a tool error; replay valid JSON.
                                "arguments": json.dumps(call.arguments) if call.arguments is not None else "{}",
                            },
                        }
                        for call in message.tool_calls
                    ],
                }
            )
        else:
            wire.append({"role": message.role, "content": message.content})
    return wire


def to_openai_tools(request: CompletionRequest) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": tool.name, "description": tool.description, "parameters": tool.input_schema},
        }
        for tool in request.tools
    ]


def _finish_reason(raw: str | None, has_tool_calls: bool) -> FinishReason:
    # Some compatible servers (Ollama) say "stop" even when they ask for tools.
    if has_tool_calls:
        return "tool_calls"
    return _FINISH_REASONS.get(raw or "", "stop")


def _usage(raw: Any) -> Usage:
    if raw is None:
        return Usage(0, 0)
    return Usage(int(getattr(raw, "prompt_tokens", 0) or 0), int(getattr(raw, "completion_tokens", 0) or 0))


class OpenAIAdapter(SdkAdapter):
    kind: ClassVar[str] = "openai"
    provider_label: ClassVar[str] = "openai"
    sdk: ClassVar[ModuleType] = openai
    request_id_header: ClassVar[str] = "x-request-id"
    # OpenAI deprecated max_tokens for chat (reasoning models refuse it).
    max_tokens_param: ClassVar[str] = "max_completion_tokens"

    def _sdk_client(self, *, api_key: str, base_url: str, http_client: httpx2.Client) -> openai.OpenAI:
        return openai.OpenAI(
            api_key=api_key, base_url=base_url or None, max_retries=SDK_MAX_RETRIES, http_client=http_client
        )

    def _request_kwargs(self, request: CompletionRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": to_openai_messages(request.messages),
            self.max_tokens_param: request.max_tokens,
        }
        if request.tools:
            kwargs["tools"] = to_openai_tools(request)
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        return kwargs

    def _create(self, client: openai.OpenAI, kwargs: dict[str, Any], *, stream: bool) -> Any:
        if stream:
            return client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True})
        return client.chat.completions.with_raw_response.create(**kwargs)

    def _reply(self, completion: Any, request: CompletionRequest, request_id: str | None) -> CompletionReply:
        provider = self.provider_label
        choices = getattr(completion, "choices", None)
        if not isinstance(choices, list):
            raise bad_response(provider, "reply is not a chat completion")
        if not choices:
            raise bad_response(provider, "reply has no choices")
        choice = choices[0]
        message = choice.message
        calls = tuple(
            ToolCall.from_raw(id=call.id, name=call.function.name, raw_arguments=call.function.arguments)
            for call in (message.tool_calls or [])
            if getattr(call, "function", None) is not None
        )
        return CompletionReply(
            text=message.content or "",
            tool_calls=calls,
            usage=_usage(completion.usage),
            finish_reason=_finish_reason(choice.finish_reason, bool(calls)),
            model=completion.model or request.model,
            provider_request_id=request_id or completion.id or None,
        )

    def _stream_events(
        self, sdk_stream: Any, request: CompletionRequest, request_id: str | None
    ) -> Generator[TextDelta, None, CompletionReply]:
        text_parts: list[str] = []
        slots: dict[int, dict[str, Any]] = {}
        finish: str | None = None
        usage = Usage(0, 0)
        model = request.model
        response_id: str | None = None
        for chunk in sdk_stream:
            response_id = response_id or getattr(chunk, "id", None)
            model = getattr(chunk, "model", None) or model
            if getattr(chunk, "usage", None) is not None:
                usage = _usage(chunk.usage)
            for choice in chunk.choices or []:
                if choice.index not in (0, None):
                    continue
                delta = choice.delta
                if delta is not None and delta.content:
                    text_parts.append(delta.content)
                    yield TextDelta(delta.content)
                for call in (delta.tool_calls or []) if delta is not None else []:
                    index = call.index if call.index is not None else len(slots)
                    slot = slots.setdefault(index, {"id": "", "name": "", "arguments": []})
                    if call.id:
                        slot["id"] = call.id
                    if call.function is not None:
                        if call.function.name and not slot["name"]:
                            slot["name"] = call.function.name
                        if call.function.arguments:
                            slot["arguments"].append(call.function.arguments)
                if choice.finish_reason:
                    finish = choice.finish_reason
        if finish is None:
            raise bad_response(self.provider_label, "the reply stream ended before it finished")
        calls = tuple(
            ToolCall.from_raw(id=slot["id"], name=slot["name"], raw_arguments="".join(slot["arguments"]))
            for _, slot in sorted(slots.items())
        )
        return CompletionReply(
            text="".join(text_parts),
            tool_calls=calls,
            usage=usage,
            finish_reason=_finish_reason(finish, bool(calls)),
            model=model,
            provider_request_id=request_id or response_id,
        )
