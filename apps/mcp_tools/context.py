"""Who is calling a tool: the principal of the current MCP request, kept in context variables.

The principal comes from the bearer access token (HTTP) or, for the in-process client and the
stdio command, from a server-side binding made by trusted code in this process. A tool reads
it with ``current_user()``; no tool argument can name a user.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any

CALLER_CHAT = "chat"
CALLER_EXTERNAL = "external"

# OAuth scopes: tasks:read (read-only tools, resources, prompts, completions), tasks:write (everything).
SCOPE_READ = "tasks:read"
SCOPE_WRITE = "tasks:write"

TRANSPORT_HTTP = "http"
TRANSPORT_STDIO = "stdio"
TRANSPORT_IN_PROCESS = "in-process"


@dataclass(frozen=True)
class Principal:
    user: Any
    caller: str  # chat | external (or another short label the in-process caller chose)
    transport: str  # http | stdio | in-process
    credential: str = ""  # the access token's public prefix, never the secret
    # OAuth scopes the caller holds; None = every scope (personal tokens, in-process, stdio).
    scopes: frozenset[str] | None = None


@dataclass(frozen=True)
class ToolCall:
    principal: Principal
    tool: str
    started: float  # time.perf_counter() when the call arrived
    arguments_given: frozenset[str] = field(default_factory=frozenset)
    # Sends a progress notification (done, total, message) when the client gave a progress token.
    progress: Any = None


# Set only by apps.mcp_tools.client and the mcp_stdio command, never from request data.
_binding: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("mcp_bound_principal", default=None)
_call: contextvars.ContextVar[ToolCall | None] = contextvars.ContextVar("mcp_tool_call", default=None)


def bind_principal(principal: Principal) -> contextvars.Token:
    return _binding.set(principal)


def unbind_principal(token: contextvars.Token) -> None:
    _binding.reset(token)


def bound_principal() -> Principal | None:
    return _binding.get()


def start_call(call: ToolCall) -> contextvars.Token:
    return _call.set(call)


def end_call(token: contextvars.Token) -> None:
    _call.reset(token)


def current_call() -> ToolCall:
    call = _call.get()
    if call is None:
        raise RuntimeError("Not inside an MCP tool call.")
    return call


def current_user():
    """The user the current tool call acts for."""
    return current_call().principal.user


def arguments_given() -> frozenset[str]:
    """Names of the arguments the caller actually sent (to tell "left out" from "null")."""
    return current_call().arguments_given


def report_progress(done: float, total: float | None = None, message: str | None = None) -> None:
    """From a tool: tell the client how far it got (a no-op unless the client asked for progress)."""
    call = _call.get()
    if call is not None and call.progress is not None:
        call.progress(done, total, message)
