"""The MCP server: the registered tools on the official SDK's MCPServer, plus the project's rules.

Every tools/call, whatever the transport (streamable HTTP, stdio, the in-process client), goes
through ``TodoMCPServer.call_tool``:

1. the principal comes from the verified access token (HTTP) or from the in-process/stdio
   binding - never from an argument, and an HTTP request never falls back to the binding;
2. an unknown or disabled tool is refused;
3. the arguments are checked against the tool's input schema (unknown names too) before any
   service runs; a failure names each field and the rule it broke;
4. the tool runs in a worker thread (Django ORM allowed); an ApplicationError becomes a tool
   error with the message the REST API shows;
5. one audit event records tool, caller kind, transport, outcome and latency.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, EmptyResult, SetLevelRequestParams, TextContent, ToolAnnotations
from pydantic import ValidationError

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.observability import observe_tool_call
from apps.core.errors import ApplicationError, PermissionDenied
from apps.mcp_tools.auth import AccessTokenVerifier, DjangoAccessToken
from apps.mcp_tools.context import (
    CALLER_EXTERNAL,
    TRANSPORT_HTTP,
    Principal,
    ToolCall,
    bound_principal,
    current_call,
    end_call,
    start_call,
)
from apps.mcp_tools.db import run_db
from apps.mcp_tools.registry import ToolSpec, registered_tools
from apps.mcp_tools.schemas import NO_NUL_PATTERN
from apps.mcp_tools.selectors import tool_enabled, tool_states_or_defaults

logger = logging.getLogger(__name__)
protocol_logger = logging.getLogger("apps.mcp_tools.protocol")

SERVER_NAME = "todo-assistant"
SERVER_VERSION = "1.0.0"
INSTRUCTIONS = (
    "Tools for the signed-in user's todo list: add, list, read, update, complete, reopen and delete tasks. "
    "Task ids come from add_task or list_tasks. Dates are YYYY-MM-DD."
)
AUDIT_ACTION = "mcp.tool_call"


class ServiceError(ToolError):
    """A service refused the call (ApplicationError); carried through the SDK to call_tool."""

    def __init__(self, error: ApplicationError) -> None:
        super().__init__(error.message)
        self.error = error


class ToolDisabled(PermissionDenied):
    default_code = "tool_disabled"


# -- arguments ---------------------------------------------------------------------------------------

_RULES: dict[str, Callable[[dict[str, Any]], str]] = {
    "missing": lambda e: "is required",
    "extra_forbidden": lambda e: "is not an accepted field",
    "string_type": lambda e: "must be a string",
    "string_too_short": lambda e: f"must be at least {e['ctx']['min_length']} character(s) long",
    "string_too_long": lambda e: f"must be at most {e['ctx']['max_length']} characters long",
    "string_pattern_mismatch": lambda e: (
        "must not contain NUL characters"
        if e["ctx"]["pattern"] == NO_NUL_PATTERN
        else f"must match the pattern {e['ctx']['pattern']}"
    ),
    "literal_error": lambda e: f"must be one of {e['ctx']['expected']}",
    "int_type": lambda e: "must be an integer",
    "greater_than_equal": lambda e: f"must be at least {e['ctx']['ge']}",
    "less_than_equal": lambda e: f"must be at most {e['ctx']['le']}",
    "list_type": lambda e: "must be a list",
    "model_type": lambda e: "must be an object",
    "dict_type": lambda e: "must be an object",
    "too_short": lambda e: f"must have at least {e['ctx']['min_length']} item(s)",
    "too_long": lambda e: f"must have at most {e['ctx']['max_length']} items",
    "value_error": lambda e: e["msg"].removeprefix("Value error, "),
}


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "arguments"


def argument_errors(tool: Tool, arguments: dict[str, Any]) -> dict[str, list[str]]:
    """Field path -> what is wrong with it, checked against the tool's input schema; empty when valid."""
    errors: dict[str, list[str]] = {}
    accepted = tool.parameters.get("properties", {})
    for name in arguments:
        if name not in accepted:
            errors[str(name)[:100]] = [f"is not an argument of {tool.name} (it takes: {', '.join(accepted) or 'none'})"]
    try:
        tool.fn_metadata.validate_arguments(arguments)
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            rule = _RULES.get(error["type"])
            message = rule(error) if rule else error["msg"]
            errors.setdefault(_field_path(error["loc"]), []).append(f"{message} ({error['type']})")
    return errors


def _describe(errors: dict[str, list[str]]) -> str:
    parts = [f"{field} {message}" for field, messages in errors.items() for message in messages]
    return "Invalid arguments: " + "; ".join(parts) + "."


ERROR_META_KEY = "todo-assistant/error"


def error_result(code: str, message: str, extra: dict[str, Any] | None = None) -> CallToolResult:
    """A tool error: the message as text (what a model and a person read), the API's error shape in _meta.

    No structured content: a client validates structuredContent against the tool's output schema
    whenever it is present (the TypeScript SDK 1.x does so even when isError is set), and an
    error is not a task. The code and extra stay machine-readable under ``_meta``, which the
    spec leaves to the server (a prefixed key) and no client validates.
    """
    return CallToolResult(
        content=[TextContent(type="text", text=message)],
        is_error=True,
        _meta={ERROR_META_KEY: {"code": code, "message": message, "extra": extra or {}}},
    )


# -- audit -------------------------------------------------------------------------------------------


def _audit(call: ToolCall, outcome: str, error_code: str = "") -> None:
    metadata: dict[str, Any] = {
        "tool": call.tool,
        "caller": call.principal.caller,
        "transport": call.principal.transport,
        "latency_ms": round((time.perf_counter() - call.started) * 1000, 2),
    }
    if error_code:
        metadata["error_code"] = error_code
    if call.principal.credential:
        metadata["token_prefix"] = call.principal.credential
    observe_tool_call(call.tool[:64], outcome, {k: v for k, v in metadata.items() if k != "token_prefix"})
    try:
        audit_record(
            actor=call.principal.user,
            action=AUDIT_ACTION,
            target_type="mcp.tool",
            target_id=call.tool[:64],
            outcome=outcome,
            metadata=metadata,
        )
    except DatabaseError:
        # The call itself has already happened (and a write was audited by its service): report, don't undo.
        logger.exception("could not write the audit event for MCP tool %s", call.tool[:64])


def _run_tool(fn: Callable[..., Any], call: ToolCall, kwargs: dict[str, Any]) -> Any:
    # The registry check shares the tool's thread hop: one fewer per call.
    if not tool_enabled(call.tool):
        _audit(call, AuditEvent.Outcome.DENIED, "tool_disabled")
        raise ServiceError(ToolDisabled(f"The tool {call.tool} is disabled.", extra={"tool": call.tool}))
    outcome, error_code = AuditEvent.Outcome.FAILURE, "internal_error"
    try:
        result = fn(**kwargs)
        outcome, error_code = AuditEvent.Outcome.SUCCESS, ""
        return result
    except ApplicationError as exc:
        error_code = exc.code
        raise ServiceError(exc) from exc
    finally:
        _audit(call, outcome, error_code)


def _instrumented(spec: ToolSpec) -> Callable[..., Any]:
    """What the SDK calls: the tool, run where run_db says, with its error mapping and audit event."""
    fn = spec.fn

    @functools.wraps(fn)  # the SDK reads the signature (and so the input schema) through __wrapped__
    async def run(**kwargs: Any) -> Any:
        call = current_call()
        return await run_db(call.principal, _run_tool, fn, call, kwargs)

    return run


def _sdk_tool(spec: ToolSpec) -> Tool:
    tool = Tool.from_function(
        _instrumented(spec),
        name=spec.name,
        title=spec.title,
        description=spec.description,
        annotations=ToolAnnotations(
            title=spec.title,
            read_only_hint=spec.read_only,
            destructive_hint=spec.destructive,
            idempotent_hint=spec.idempotent,
            open_world_hint=spec.open_world,
        ),
        structured_output=True,
    )
    # Unknown arguments are refused (a `user_id` must not be silently ignored); say so in the schema.
    tool.parameters["additionalProperties"] = False
    return tool


# -- the server --------------------------------------------------------------------------------------


def _token_principal() -> Principal | None:
    token = get_access_token()
    if isinstance(token, DjangoAccessToken):
        return Principal(user=token.user, caller=CALLER_EXTERNAL, transport=TRANSPORT_HTTP, credential=token.client_id)
    return None


def _principal(context: Any) -> Principal | None:
    if (principal := _token_principal()) is not None:
        return principal
    try:
        http_request = context.request_context.request
    except (AttributeError, ValueError):  # no request context: not a protocol call
        return None
    if http_request is not None:
        # An HTTP request without a verified token never borrows the in-process binding.
        return None
    return bound_principal()


class ProtocolLog:
    """Server middleware: one DEBUG line per MCP request (method, tool, transport), for operators and tests."""

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        if ctx.request_id is not None and protocol_logger.isEnabledFor(logging.DEBUG):
            tool = (ctx.params or {}).get("name") if ctx.method == "tools/call" else None
            transport = "http" if ctx.request is not None else "local"
            protocol_logger.debug(
                "mcp request %s%s via %s (protocol %s)",
                ctx.method,
                f" {str(tool)[:64]!r}" if tool else "",
                transport,
                ctx.protocol_version,
            )
        return await call_next(ctx)


async def _acknowledge_log_level(ctx: Any, params: SetLevelRequestParams) -> EmptyResult:
    # Legacy (2025-11-25) clients may set a level; this server sends no log notifications,
    # and a client must not change the server's own logging, so the request is acknowledged only.
    return EmptyResult()


class TodoMCPServer(MCPServer):
    """MCPServer with the project's tool-call pipeline (see the module docstring)."""

    def __init__(self, specs: dict[str, ToolSpec]) -> None:
        self.specs = specs
        self.sdk_tools = {name: _sdk_tool(spec) for name, spec in specs.items()}
        public_url = settings.MCP_PUBLIC_URL
        super().__init__(
            name=SERVER_NAME,
            title="Todo Assistant",
            version=SERVER_VERSION,
            instructions=INSTRUCTIONS,
            token_verifier=AccessTokenVerifier(),
            auth=AuthSettings(
                # Our personal access tokens are issued by this site; there is no separate OAuth server.
                issuer_url=public_url,
                resource_server_url=f"{public_url}/mcp",
                validate_token_resource=False,
            ),
            tools=list(self.sdk_tools.values()),
            middleware=[ProtocolLog()],
            warn_on_duplicate_tools=False,
        )
        # The SDK leaves logging/setLevel (removed in 2026-07-28) to the application.
        self._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, _acknowledge_log_level)

    async def list_tools(self):
        tools = await super().list_tools()
        states = await run_db(_token_principal() or bound_principal(), tool_states_or_defaults)
        listed = []
        for tool in tools:
            state = states.get(tool.name)
            if state is not None and not state.enabled:
                continue
            if state is not None and state.description_override:
                tool = tool.model_copy(update={"description": state.description_override})
            listed.append(tool)
        return listed

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        started = time.perf_counter()
        try:
            return await self._call_tool(name, arguments or {}, context, started)
        except ToolError:
            raise  # the SDK turns it into an is_error result (a crashed tool: a generic message)
        except Exception:
            # Anything else would reach the client as its str(): log it here, answer generically.
            logger.exception("MCP tool call %r failed", str(name)[:64])
            return error_result("internal_error", "The tool failed unexpectedly.")

    async def _call_tool(self, name: str, arguments: dict[str, Any], context: Any, started: float) -> Any:
        principal = _principal(context)
        if principal is None:
            return error_result("not_authenticated", "Authentication required.")
        call = ToolCall(principal=principal, tool=str(name), started=started, arguments_given=frozenset(arguments))

        tool = self.sdk_tools.get(name)
        if tool is None:
            await run_db(principal, _audit, call, AuditEvent.Outcome.DENIED, "tool_not_found")
            shown = str(name)[:64]
            return error_result("tool_not_found", f"Unknown tool: {shown}.", {"tool": shown})

        # Arguments first (no database needed); whether operators disabled the tool is checked in
        # the same thread hop as the tool itself (_run_tool).
        errors = argument_errors(tool, arguments)
        if errors:
            await run_db(principal, _audit, call, AuditEvent.Outcome.FAILURE, "invalid_arguments")
            return error_result("invalid_arguments", _describe(errors), {"fields": errors})

        token = start_call(call)
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc.__cause__, ServiceError):
                error = exc.__cause__.error
                return error_result(error.code, error.message, error.extra)
            raise
        finally:
            end_call(token)


_server: TodoMCPServer | None = None
_server_lock = threading.Lock()


def get_server() -> TodoMCPServer:
    """The process's MCP server, built on first use from the tools registered in code."""
    global _server
    with _server_lock:
        if _server is None:
            _server = TodoMCPServer(registered_tools())
        return _server


def sync_registry_at_startup() -> None:
    """Create registry rows for new tools when a server starts; an unmigrated database only warns."""
    from apps.mcp_tools.services import tool_registry_sync

    close_old_connections()
    try:
        tool_registry_sync()
    except DatabaseError as exc:
        logger.warning("MCP tool registry not synced (%s); run `manage.py migrate`", type(exc).__name__)
    finally:
        close_old_connections()
