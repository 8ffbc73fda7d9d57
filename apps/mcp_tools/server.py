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

import asyncio
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from django.utils import timezone
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, CompleteRequestParams, SetLevelRequestParams, TextContent, ToolAnnotations
from pydantic import ValidationError

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.observability import observe_tool_call
from apps.core.errors import ApplicationError, PermissionDenied
from apps.core.cache import digest, user_data_version_key
from apps.core.localcache import generations_prefetched
from apps.core.outage import DatabaseUnavailable
from apps.core.fields import NO_NUL_PATTERN
from apps.mcp_tools.auth import AccessTokenVerifier, DjangoAccessToken
from apps.mcp_tools.context import (
    SCOPE_READ,
    SCOPE_WRITE,
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
from apps.mcp_tools.features import FeaturesMixin, log_to_client, set_log_level
from apps.mcp_tools.registry import ToolSpec, registered_prompts, registered_resources, registered_tools
from apps.mcp_tools.selectors import registry_snapshot, tool_enabled, tool_states_or_defaults

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


def unknown_argument_errors(tool: Tool, arguments: dict[str, Any]) -> dict[str, list[str]]:
    """The arguments the tool does not take (its input schema would ignore them silently)."""
    errors: dict[str, list[str]] = {}
    accepted = tool.parameters.get("properties", {})
    for name in arguments:
        if name not in accepted:
            errors[str(name)[:100]] = [f"is not an argument of {tool.name} (it takes: {', '.join(accepted) or 'none'})"]
    return errors


def add_validation_errors(errors: dict[str, list[str]], exc: ValidationError) -> dict[str, list[str]]:
    """Field path -> what is wrong with it, from a refusal by the tool's input schema, added to errors."""
    for error in exc.errors(include_input=False, include_url=False):
        rule = _RULES.get(error["type"])
        message = rule(error) if rule else error["msg"]
        errors.setdefault(_field_path(error["loc"]), []).append(f"{message} ({error['type']})")
    return errors


def _rejected_arguments(exc: ToolError) -> ValidationError | None:
    """The SDK's refusal of the arguments (Tool.run validates them before calling the tool), else None."""
    if isinstance(exc, UnexpectedToolError) or not isinstance(exc.__cause__, ValidationError):
        return None
    return exc.__cause__


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


def _audit(call: ToolCall, outcome: str, error_code: str = "", *, action: str = AUDIT_ACTION) -> None:
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
            action=action,
            target_type="mcp.tool" if action == AUDIT_ACTION else "mcp.entry",
            target_id=call.tool[:64],
            outcome=outcome,
            metadata=metadata,
        )
    except DatabaseUnavailable:
        # An outage, logged once per interval by apps.core.outage: not a traceback per call.
        pass
    except DatabaseError:
        # The call itself has already happened (and a write was audited by its service): report, don't undo.
        logger.exception("could not write the audit event for MCP tool %s", call.tool[:64])


def _run_tool(fn: Callable[..., Any], call: ToolCall, kwargs: dict[str, Any]) -> Any:
    # The registry's generation and the caller's data version (the result cache's) in one round trip.
    keys = [registry_snapshot.key]
    if (user_id := getattr(call.principal.user, "pk", None)) is not None:
        keys.append(user_data_version_key(user_id))
    with generations_prefetched(keys):
        return _run_tool_checked(fn, call, kwargs)


def _run_tool_checked(fn: Callable[..., Any], call: ToolCall, kwargs: dict[str, Any]) -> Any:
    # The registry check shares the tool's thread hop: one fewer per call.
    if not tool_enabled(call.tool):
        _audit(call, AuditEvent.Outcome.DENIED, "tool_disabled")
        raise ServiceError(ToolDisabled(f"The tool {call.tool} is disabled.", extra={"tool": call.tool}))
    outcome, error_code = AuditEvent.Outcome.FAILURE, "internal_error"
    try:
        result = _cached_call(fn, call, kwargs)
        outcome, error_code = AuditEvent.Outcome.SUCCESS, ""
        return result
    except ApplicationError as exc:
        error_code = exc.code
        raise ServiceError(exc) from exc
    finally:
        _audit(call, outcome, error_code)


def _fingerprint(spec: ToolSpec | None) -> str:
    """The code's part of a cache key: a tool changed by a deploy never reads its old results."""
    if spec is None:
        return ""
    fn = spec.fn
    return f"{fn.__module__}.{fn.__qualname__}:{fn.__annotations__.get('return', '')!s}:{SERVER_VERSION}"


def _cached_call(fn: Callable[..., Any], call: ToolCall, kwargs: dict[str, Any]) -> Any:
    """Run the tool, or answer from the two-level cache for a read-only tool named in TOOL_RESULT_CACHE_TOOLS.

    Keyed by tool name, arguments, today's date and the caller; found only under the caller's
    current data version, which every write service bumps (apps.core.cache.user_data_changed).
    """
    from apps.core.cache import two_level_cache, user_data_version_key, user_scope

    ttl = settings.TOOL_RESULT_CACHE_SECONDS
    spec = _server.specs.get(call.tool) if _server is not None else None
    user_id = getattr(call.principal.user, "pk", None)
    if ttl <= 0 or spec is None or not spec.read_only or call.tool not in settings.TOOL_RESULT_CACHE_TOOLS or not user_id:
        return fn(**kwargs)
    parts = {
        "tool": call.tool,
        "user": user_id,
        "arguments": kwargs,
        "today": timezone.localdate().isoformat(),  # "overdue" and "due today" change at midnight
        "code": _fingerprint(spec),
    }
    result, _cached = two_level_cache.get_or_compute(
        "tool", parts, lambda: fn(**kwargs), version_keys=[user_data_version_key(user_id)], ttl=ttl,
        scope=user_scope(user_id),
    )
    return result


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


def required_scope(spec: ToolSpec) -> str:
    """The scope a tool needs: tasks:read for read-only tools, tasks:write for the rest."""
    return SCOPE_READ if spec.read_only else SCOPE_WRITE


def scope_allows(scopes: frozenset[str] | None, needed: str) -> bool:
    if scopes is None:
        return True
    # tasks:write is every tool, reads included.
    return needed in scopes or SCOPE_WRITE in scopes


def tool_scope_problem(name: str, scopes: frozenset[str] | None) -> str | None:
    """The scope missing for this tool call, or None (an unknown tool is left to call_tool)."""
    spec = get_server().specs.get(name)
    if spec is None:
        return None
    needed = required_scope(spec)
    return None if scope_allows(scopes, needed) else needed


def _token_principal() -> Principal | None:
    token = get_access_token()
    if isinstance(token, DjangoAccessToken):
        scopes = frozenset(token.scopes) if token.oauth_application_id is not None else None
        return Principal(
            user=token.user, caller=CALLER_EXTERNAL, transport=TRANSPORT_HTTP, credential=token.client_id, scopes=scopes
        )
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


def _progress_reporter(context: Any) -> Callable[..., None] | None:
    """A thread-safe progress callback for this request, or None when the client gave no progress token."""
    try:
        meta = context.request_context.meta or {}
        if isinstance(meta, dict):
            progress_token = meta.get("progress_token", meta.get("progressToken"))
        else:
            progress_token = getattr(meta, "progress_token", None)
    except (AttributeError, ValueError):
        return None
    if progress_token is None:
        return None
    loop = asyncio.get_running_loop()

    def report(done: float, total: float | None = None, message: str | None = None) -> None:
        # Called from the tool's thread; the loop is free while it waits for that thread.
        future = asyncio.run_coroutine_threadsafe(context.report_progress(done, total, message), loop)
        try:
            future.result(timeout=5)
        except Exception:  # a client gone or slow: the tool goes on
            logger.debug("progress notification not sent", exc_info=True)

    return report


class TodoMCPServer(FeaturesMixin, MCPServer):
    """MCPServer with the project's tool-call pipeline (see the module docstring)."""

    def __init__(self, specs: dict[str, ToolSpec], resources=None, prompts=None) -> None:
        self.specs = specs
        self.resource_specs = dict(resources or {})
        self.prompt_specs = dict(prompts or {})
        self.sdk_tools = {name: _sdk_tool(spec) for name, spec in specs.items()}
        public_url = settings.MCP_PUBLIC_URL
        super().__init__(
            name=SERVER_NAME,
            title="Todo Assistant",
            version=SERVER_VERSION,
            instructions=INSTRUCTIONS,
            token_verifier=AccessTokenVerifier(),
            auth=AuthSettings(
                # This site is the authorization server (apps.oauth) and issues personal tokens too.
                issuer_url=public_url,
                resource_server_url=f"{public_url}/mcp",
                validate_token_resource=False,
            ),
            tools=list(self.sdk_tools.values()),
            middleware=[ProtocolLog()],
            warn_on_duplicate_tools=False,
        )
        # The SDK leaves logging/setLevel (removed in 2026-07-28) to the application.
        self._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, set_log_level)
        self._lowlevel_server.add_request_handler("completion/complete", CompleteRequestParams, self.complete)

    # Used by FeaturesMixin (resources, prompts, completions).
    def _entry_principal(self, context: Any = None) -> Principal | None:
        if context is not None:
            return _principal(context)
        return _token_principal() or bound_principal()

    async def _entry_allowed(self, principal: Principal | None, name: str) -> bool:
        if principal is None or not scope_allows(principal.scopes, SCOPE_READ):
            return False
        state = (await run_db(principal, tool_states_or_defaults)).get(name)
        return state is None or state.enabled

    def _entry_audit(self, call: ToolCall, outcome: str, error_code: str = "", *, action: str) -> None:
        _audit(call, outcome, error_code, action=action)

    async def list_tools(self):
        principal = _token_principal() or bound_principal()
        found = await run_db(principal, _listing_lookup, principal, self._code_version)
        if found is not None and found.hit:
            return found.value
        listed = await self._list_tools_fresh(principal)
        if found is not None and not found.bypassed:
            await run_db(principal, _listing_store, found, listed)
        return listed

    @functools.cached_property
    def _code_version(self) -> str:
        return digest(sorted((name, _fingerprint(spec), spec.description) for name, spec in self.specs.items()))

    async def _list_tools_fresh(self, principal: Principal | None):
        tools = await super().list_tools()
        states = await run_db(principal, tool_states_or_defaults)
        scopes = principal.scopes if principal is not None else None
        listed = []
        for tool in tools:
            spec = self.specs.get(tool.name)
            if spec is not None and not scope_allows(scopes, required_scope(spec)):
                continue  # outside the token's scopes: not offered
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
            result = await self._call_tool(name, arguments or {}, context, started)
            if isinstance(result, CallToolResult) and result.is_error and context is not None:
                error = (result.meta or {}).get(ERROR_META_KEY, {})
                await log_to_client(
                    context,
                    _principal(context),
                    "error",
                    {"tool": str(name)[:64], "code": error.get("code", ""), "message": error.get("message", "")},
                )
            return result
        except ToolError:
            raise  # the SDK turns it into an is_error result (a crashed tool: a generic message)
        except DatabaseUnavailable:  # logged once per interval by apps.core.outage
            return error_result(
                "service_unavailable",
                DatabaseUnavailable.PUBLIC_MESSAGE,
                {"retry_after": DatabaseUnavailable.retry_after()},
            )
        except Exception:
            # Anything else would reach the client as its str(): log it here, answer generically.
            logger.exception("MCP tool call %r failed", str(name)[:64])
            return error_result("internal_error", "The tool failed unexpectedly.")

    async def _call_tool(self, name: str, arguments: dict[str, Any], context: Any, started: float) -> Any:
        principal = _principal(context)
        if principal is None:
            return error_result("not_authenticated", "Authentication required.")
        call = ToolCall(
            principal=principal,
            tool=str(name),
            started=started,
            arguments_given=frozenset(arguments),
            progress=_progress_reporter(context),
        )

        tool = self.sdk_tools.get(name)
        if tool is None:
            # The name is the caller's text, as long as the body allows: only its start is kept.
            shown = str(name)[:64]
            await run_db(principal, _audit, dataclasses.replace(call, tool=shown), AuditEvent.Outcome.DENIED, "tool_not_found")
            return error_result("tool_not_found", f"Unknown tool: {shown}.", {"tool": shown})

        needed = required_scope(self.specs[name])
        if not scope_allows(principal.scopes, needed):
            await run_db(principal, _audit, call, AuditEvent.Outcome.DENIED, "insufficient_scope")
            return error_result(
                "insufficient_scope",
                f"This token may not call {name}: it needs the {needed} scope.",
                {"tool": name, "required_scope": needed},
            )

        # Arguments first (no database needed): the SDK validates them before it calls the tool,
        # once. Whether operators disabled the tool is checked in the same thread hop as the tool
        # itself (_run_tool).
        errors = unknown_argument_errors(tool, arguments)
        if errors:  # with the validation's own findings, in one answer
            try:
                tool.fn_metadata.validate_arguments(arguments)
            except ValidationError as exc:
                add_validation_errors(errors, exc)
            return await self._invalid_arguments(call, errors)

        token = start_call(call)
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc.__cause__, ServiceError):
                error = exc.__cause__.error
                return error_result(error.code, error.message, error.extra)
            if isinstance(exc.__cause__, DatabaseUnavailable):
                raise exc.__cause__ from None  # call_tool answers it
            if (rejected := _rejected_arguments(exc)) is not None:
                errors = add_validation_errors({}, rejected)
            else:
                raise
        finally:
            end_call(token)
        return await self._invalid_arguments(call, errors)

    async def _invalid_arguments(self, call: ToolCall, errors: dict[str, list[str]]) -> CallToolResult:
        await run_db(call.principal, _audit, call, AuditEvent.Outcome.FAILURE, "invalid_arguments")
        return error_result("invalid_arguments", _describe(errors), {"fields": errors})


def _listing_lookup(principal: Principal | None, code_version: str) -> Any:
    """The caller's cached tool listing, under the registry's version (a tool switched off or renamed: a miss)."""
    from apps.core.cache import two_level_cache, user_scope
    from apps.mcp_tools.selectors import registry_snapshot

    user_id = getattr(getattr(principal, "user", None), "pk", None)
    # Without the registry's per-process copies their generation is never bumped: nothing to check against.
    if settings.TOOL_LIST_CACHE_SECONDS <= 0 or not registry_snapshot.enabled or not user_id:
        return None
    # The listing depends on the token's scopes too (a read-only OAuth token sees fewer tools).
    scopes = sorted(principal.scopes) if getattr(principal, "scopes", None) is not None else None
    return two_level_cache.lookup(
        "tools",
        {"user": user_id, "code": code_version, "scopes": scopes},
        version_keys=[registry_snapshot.key],
        scope=user_scope(user_id),
    )


def _listing_store(found: Any, listed: Any) -> None:
    from apps.core.cache import two_level_cache

    two_level_cache.store(found, listed, ttl=settings.TOOL_LIST_CACHE_SECONDS)


_server: TodoMCPServer | None = None
_server_lock = threading.Lock()


def get_server() -> TodoMCPServer:
    """The process's MCP server, built on first use from the tools registered in code."""
    global _server
    with _server_lock:
        if _server is None:
            _server = TodoMCPServer(registered_tools(), registered_resources(), registered_prompts())
        return _server


def sync_registry_at_startup() -> None:
    """Create registry rows for new tools when a server starts; an unmigrated database only warns."""
    from apps.mcp_tools.services import tool_registry_sync

    close_old_connections()
    try:
        tool_registry_sync()
    except DatabaseUnavailable:
        logger.warning("MCP tool registry not synced: the database is unavailable (synced at the next start)")
    except DatabaseError as exc:
        logger.warning("MCP tool registry not synced (%s); run `manage.py migrate`", type(exc).__name__)
    finally:
        # A throwaway worker thread: its connection goes now (close_old_connections would keep a
        # healthy one for CONN_MAX_AGE, held by a thread that is about to end).
        connections.close_all()
