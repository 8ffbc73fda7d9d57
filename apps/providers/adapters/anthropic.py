"""Anthropic Messages API adapter."""

from __future__ import annotations

from collections.abc import Generator
from types import ModuleType
from typing import Any, ClassVar

import anthropic
import httpx2

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

_STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "error",
}


def to_anthropic_payload(messages: tuple[ChatMessage, ...]) -> tuple[str, list[dict[str, Any]]]:
    """Split out the system prompt and build alternating user/assistant block lists.

    Tool results become ``tool_result`` blocks in a user turn; consecutive
    turns of the same role are merged, so several tool results (and any user
    text after them) travel as one user message, results first.
    """
    system_parts: list[str] = []
    wire: list[dict[str, Any]] = []

    def append(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if wire and wire[-1]["role"] == role:
            wire[-1]["content"].extend(blocks)
        else:
            wire.append({"role": role, "content": blocks})

    for message in messages:
        if message.role == "system":
            if message.content:
                system_parts.append(message.content)
        elif message.role == "tool":
            append(
                "user",
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": message.tool_call_id or "",
                        "content": message.content,
                        "is_error": message.is_error,
                    }
                ],
            )
        elif message.role == "assistant":
            blocks: list[dict[str, Any]] = []
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            for call in message.tool_calls:
                # `input` must be an object; a call whose arguments were not one is
                # answered by an error tool_result, so {} loses nothing.
                blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments or {}})
            append("assistant", blocks)
        else:
            if message.content:
                append("user", [{"type": "text", "text": message.content}])
    return "\n\n".join(system_parts), wire


def _usage(raw: Any, *, output_override: int | None = None) -> Usage:
    if raw is None:
        return Usage(0, output_override or 0)
    # Cached prompt tokens are still prompt tokens for accounting.
    input_tokens = sum(
        int(getattr(raw, name, 0) or 0)
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    output = output_override if output_override is not None else int(getattr(raw, "output_tokens", 0) or 0)
    return Usage(input_tokens, output)


class AnthropicAdapter(SdkAdapter):
    kind: ClassVar[str] = "anthropic"
    provider_label: ClassVar[str] = "anthropic"
    sdk: ClassVar[ModuleType] = anthropic
    request_id_header: ClassVar[str] = "request-id"

    def _sdk_client(self, *, api_key: str, base_url: str, http_client: httpx2.Client) -> anthropic.Anthropic:
        # Always pass api_key explicitly: without it the SDK would look for
        # credentials in the environment and on disk.
        return anthropic.Anthropic(
            api_key=api_key, base_url=base_url or None, max_retries=SDK_MAX_RETRIES, http_client=http_client
        )

    def _request_kwargs(self, request: CompletionRequest) -> dict[str, Any]:
        system, messages = to_anthropic_payload(request.messages)
        kwargs: dict[str, Any] = {"model": request.model, "max_tokens": request.max_tokens, "messages": messages}
        if system:
            kwargs["system"] = system
        if request.tools:
            kwargs["tools"] = [
                {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}
                for tool in request.tools
            ]
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        return kwargs

    def _create(self, client: anthropic.Anthropic, kwargs: dict[str, Any], *, stream: bool) -> Any:
        if stream:
            return client.messages.create(**kwargs, stream=True)
        return client.messages.with_raw_response.create(**kwargs)

    def _reply(self, message: Any, request: CompletionRequest, request_id: str | None) -> CompletionReply:
        content = getattr(message, "content", None)
        if not isinstance(content, list):
            raise bad_response(self.provider_label, "reply is not a message")
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in content:
            block_type = getattr(block, "type", None)
            if block_type == "text":
                texts.append(block.text or "")
            elif block_type == "tool_use":
                calls.append(ToolCall.from_value(id=block.id, name=block.name, value=block.input))
        stop_reason = getattr(message, "stop_reason", None)
        if stop_reason is None:
            raise bad_response(self.provider_label, "reply has no stop reason")
        return CompletionReply(
            text="".join(texts),
            tool_calls=tuple(calls),
            usage=_usage(getattr(message, "usage", None)),
            finish_reason="tool_calls" if calls else _STOP_REASONS.get(stop_reason, "stop"),
            model=getattr(message, "model", None) or request.model,
            provider_request_id=request_id or getattr(message, "id", None),
        )

    def _stream_events(
        self, sdk_stream: Any, request: CompletionRequest, request_id: str | None
    ) -> Generator[TextDelta, None, CompletionReply]:
        text_parts: list[str] = []
        blocks: dict[int, dict[str, Any]] = {}
        input_usage: Any = None
        output_tokens: int | None = None
        stop_reason: str | None = None
        stopped = False
        model = request.model
        message_id: str | None = None
        for event in sdk_stream:
            event_type = getattr(event, "type", None)
            if event_type == "message_start":
                message_id = event.message.id
                model = event.message.model or model
                input_usage = event.message.usage
            elif event_type == "content_block_start":
                block = event.content_block
                if block.type == "tool_use":
                    blocks[event.index] = {"id": block.id, "name": block.name, "json": [], "input": block.input}
                elif block.type == "text" and block.text:
                    text_parts.append(block.text)
                    yield TextDelta(block.text)
            elif event_type == "content_block_delta":
                delta = event.delta
                if delta.type == "text_delta" and delta.text:
                    text_parts.append(delta.text)
                    yield TextDelta(delta.text)
                elif delta.type == "input_json_delta" and event.index in blocks:
                    blocks[event.index]["json"].append(delta.partial_json)
            elif event_type == "message_delta":
                stop_reason = event.delta.stop_reason or stop_reason
                if event.usage is not None and event.usage.output_tokens is not None:
                    output_tokens = event.usage.output_tokens
            elif event_type == "message_stop":
                stopped = True
        if not stopped or stop_reason is None:
            raise bad_response(self.provider_label, "the reply stream ended before it finished")
        calls = tuple(
            ToolCall.from_raw(id=block["id"], name=block["name"], raw_arguments="".join(block["json"]))
            if block["json"]
            else ToolCall.from_value(id=block["id"], name=block["name"], value=block["input"] or {})
            for _, block in sorted(blocks.items())
        )
        return CompletionReply(
            text="".join(text_parts),
            tool_calls=calls,
            usage=_usage(input_usage, output_override=output_tokens),
            finish_reason="tool_calls" if calls else _STOP_REASONS.get(stop_reason, "stop"),
            model=model,
            provider_request_id=request_id or message_id,
        )


__all__ = ["AnthropicAdapter", "to_anthropic_payload"]
