"""The in-process MCP client: how the chat (and any Django code) lists and calls the tools.

Each call opens the SDK's real ``mcp.Client`` on this process's MCP server, so a chat turn's
tool call is an MCP ``tools/call`` like any outside client's: the same validation, registry,
error mapping and audit. The user is bound on the server side (a context variable the
server reads when there is no access token); HTTP requests never use that binding.

Tools run on the thread that calls these functions, with its database connection: calling
them inside ``transaction.atomic`` puts the tools' writes in that transaction.

Sync functions for views and services; ``a``-prefixed coroutines for async code.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from mcp import Client, MCPError
from mcp.types import TextContent

from apps.core.errors import Unauthenticated
from apps.mcp_tools.context import CALLER_CHAT, TRANSPORT_IN_PROCESS, Principal, bind_principal, unbind_principal
from apps.mcp_tools.server import ERROR_META_KEY, get_server

_CALLER_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class ToolCallOutcome:
    content_text: str  # what a model reads: the result as JSON text, or the error message
    structured: dict[str, Any] | None  # the structured result, or {"error": {code, message, extra}}
    is_error: bool


def _tool_dict(tool: Any) -> dict[str, Any]:
    hints = tool.annotations
    return {
        "name": tool.name,
        "title": tool.title,
        "description": tool.description or "",
        "input_schema": tool.input_schema,
        "output_schema": tool.output_schema,
        "annotations": {
            "read_only_hint": getattr(hints, "read_only_hint", None),
            "destructive_hint": getattr(hints, "destructive_hint", None),
            "idempotent_hint": getattr(hints, "idempotent_hint", None),
            "open_world_hint": getattr(hints, "open_world_hint", None),
        },
    }


def _check_caller(user: Any, caller: str) -> None:
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        raise Unauthenticated("An active, signed-in user is needed to use the tools.")
    if not _CALLER_RE.match(caller):
        raise ValueError(f"caller must match {_CALLER_RE.pattern}")


@contextlib.asynccontextmanager
async def _client_for(user: Any, caller: str) -> AsyncIterator[Client]:
    _check_caller(user, caller)
    token = bind_principal(Principal(user=user, caller=caller, transport=TRANSPORT_IN_PROCESS))
    try:
        # cache=None: tool lists must reflect the registry now, not a cached answer.
        async with Client(get_server(), cache=None) as client:
            yield client
    finally:
        unbind_principal(token)


async def amcp_tools_list(*, user, caller: str = CALLER_CHAT) -> list[dict[str, Any]]:
    """The enabled tools: name, title, description, input_schema, output_schema, annotations."""
    async with _client_for(user, caller) as client:
        result = await client.list_tools()
    return [_tool_dict(tool) for tool in result.tools]


_listed: tuple[Any, list[dict[str, Any]]] | None = None


def local_tools_list(*, user, caller: str = CALLER_CHAT) -> list[dict[str, Any]]:
    """What ``tools/list`` answers, built in this thread from the process's copies: the server's
    tools (built once) and the registry snapshot (re-read when a registration row changes).

    For the chat turn, which needs the list on every turn: no MCP session, event loop or thread
    hop. The list is rebuilt only when the snapshot changes; do not modify what it returns.
    """
    global _listed
    from apps.mcp_tools.selectors import tool_states_or_defaults

    _check_caller(user, caller)
    states = tool_states_or_defaults()
    cached = _listed
    if cached is not None and cached[0] is states:
        return cached[1]
    listed = []
    for tool in get_server().sdk_tools.values():
        state = states.get(tool.name)
        if state is not None and not state.enabled:
            continue
        hints = tool.annotations
        listed.append(
            {
                "name": tool.name,
                "title": tool.title,
                "description": (state.description_override if state is not None else "") or tool.description or "",
                "input_schema": tool.parameters,
                "output_schema": tool.output_schema,
                "annotations": {
                    "read_only_hint": getattr(hints, "read_only_hint", None),
                    "destructive_hint": getattr(hints, "destructive_hint", None),
                    "idempotent_hint": getattr(hints, "idempotent_hint", None),
                    "open_world_hint": getattr(hints, "open_world_hint", None),
                },
            }
        )
    _listed = (states, listed)
    return listed


async def amcp_tool_call(*, user, name: str, arguments: dict[str, Any] | None, caller: str = CALLER_CHAT) -> ToolCallOutcome:
    """Call one tool as ``user``; a refused or failed call is an outcome with is_error, not an exception."""
    if not isinstance(name, str) or not isinstance(arguments, dict | None):
        message = "A tool call needs a tool name and an object of arguments."
        return ToolCallOutcome(message, {"error": {"code": "invalid_call", "message": message, "extra": {}}}, True)
    async with _client_for(user, caller) as client:
        try:
            result = await client.call_tool(name, arguments or {})
        except MCPError as exc:  # a protocol-level refusal (e.g. malformed params)
            message = exc.error.message
            return ToolCallOutcome(message, {"error": {"code": "protocol_error", "message": message, "extra": {}}}, True)
    text = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
    return ToolCallOutcome(content_text=text, structured=_structured(result), is_error=bool(result.is_error))


def _structured(result: Any) -> dict[str, Any] | None:
    if not result.is_error:
        return result.structured_content
    # Error results carry no structured content (clients validate it against the output schema);
    # the server puts the API's error shape under _meta instead.
    error = (result.meta or {}).get(ERROR_META_KEY)
    if not isinstance(error, dict):
        message = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
        error = {"code": "tool_error", "message": message, "extra": {}}
    return {"error": error}


async def amcp_catalog(*, user, caller: str = CALLER_CHAT) -> dict[str, list[dict[str, Any]]]:
    """Everything this user may use: tools, resources, resource templates and prompts (enabled ones)."""
    async with _client_for(user, caller) as client:
        tools = (await client.list_tools()).tools
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
        prompts = (await client.list_prompts()).prompts
    return {
        "tools": [_tool_dict(tool) for tool in tools],
        "resources": [
            {"uri": str(r.uri), "name": r.name, "title": r.title, "description": r.description or "", "mime_type": r.mime_type}
            for r in resources
        ],
        "resource_templates": [
            {
                "uri_template": t.uri_template,
                "name": t.name,
                "title": t.title,
                "description": t.description or "",
                "mime_type": t.mime_type,
            }
            for t in templates
        ],
        "prompts": [
            {
                "name": p.name,
                "title": p.title,
                "description": p.description or "",
                "arguments": [
                    {"name": a.name, "description": a.description or "", "required": bool(a.required)}
                    for a in (p.arguments or [])
                ],
            }
            for p in prompts
        ],
    }


def mcp_catalog(*, user, caller: str = CALLER_CHAT) -> dict[str, list[dict[str, Any]]]:
    """Sync form of amcp_catalog."""
    return async_to_sync(amcp_catalog)(user=user, caller=caller)


def mcp_tools_list(*, user, caller: str = CALLER_CHAT) -> list[dict[str, Any]]:
    """Sync form of amcp_tools_list (for views, services and tasks)."""
    return async_to_sync(amcp_tools_list)(user=user, caller=caller)


def mcp_tool_call(*, user, name: str, arguments: dict[str, Any] | None, caller: str = CALLER_CHAT) -> ToolCallOutcome:
    """Sync form of amcp_tool_call (for views, services and tasks)."""
    return async_to_sync(amcp_tool_call)(user=user, name=name, arguments=arguments, caller=caller)
