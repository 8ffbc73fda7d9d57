"""Resources, prompts, completions and client logging for TodoMCPServer (tools are in apps.mcp_tools.server).

Like tools, each request acts for the principal of the verified access token (HTTP) or of the
in-process/stdio binding; entries disabled in the registry are absent from their list and
refused; OAuth tokens need tasks:read (tasks:write includes it). Entry functions run in a worker
thread (Django ORM allowed); an ApplicationError becomes a JSON-RPC error with its message
(a task of another user is "not found", like a task that does not exist).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.core.cache import cache
from mcp import MCPError
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.types import (
    CompleteRequestParams,
    CompleteResult,
    Completion,
    EmptyResult,
    GetPromptResult,
    Prompt,
    PromptArgument,
    PromptMessage,
    PromptReference,
    Resource,
    ResourceTemplate,
    ResourceTemplateReference,
    SetLevelRequestParams,
    TextContent,
)
from mcp_types.jsonrpc import INVALID_PARAMS
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from apps.audit.models import AuditEvent
from apps.core.errors import ApplicationError, NotFound
from apps.mcp_tools.context import Principal, ToolCall, bound_principal, end_call, start_call
from apps.mcp_tools.db import run_db
from apps.mcp_tools.registry import PromptSpec, ResourceSpec

logger = logging.getLogger(__name__)

COMPLETION_MAX_VALUES = 100  # the spec's cap per response
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
LOG_LEVEL_SECONDS = 24 * 3600


# -- logging/setLevel ---------------------------------------------------------------------------------
# Stateless HTTP has no session to keep a level in, so it is kept per access token (a hash of it)
# in the shared cache; stdio and in-process connections keep theirs in this process. Only
# handshake-era (2025-11-25) connections use it: 2026-07-28 opts in per request.

_session_levels: dict[int, str] = {}


def _log_key(session: Any) -> str:
    token = get_access_token()
    if token is not None:
        return "mcp:loglevel:" + hashlib.sha256(token.token.encode()).hexdigest()
    # stdio and in-process: one binding per connection (the SDK's session objects are per request).
    return f"session:{id(bound_principal() or session)}"


def _level_store(key: str, level: str) -> None:
    if key.startswith("session:"):
        if len(_session_levels) > 1000:
            _session_levels.clear()
        _session_levels[int(key.split(":", 1)[1])] = level
        return
    try:
        cache.set(key, level, timeout=LOG_LEVEL_SECONDS)
    except Exception:  # a cache outage costs the setting, not the request
        logger.warning("could not store an MCP client's log level")


def _level_read(key: str) -> str:
    if key.startswith("session:"):
        return _session_levels.get(int(key.split(":", 1)[1]), "info")
    try:
        return cache.get(key) or "info"
    except Exception:
        return "info"


def level_allows(threshold: str, level: str) -> bool:
    return LOG_LEVELS.index(level) >= LOG_LEVELS.index(threshold)


async def set_log_level(ctx: Any, params: SetLevelRequestParams) -> EmptyResult:
    """logging/setLevel: log messages below this level are not sent to this client (default: info)."""
    await run_db(None, _level_store, _log_key(ctx.session), params.level)
    return EmptyResult()


async def log_to_client(context: Any, principal: Principal | None, level: str, data: dict[str, Any]) -> None:
    """Send a notifications/message to the caller if its level allows; never fails the request."""
    try:
        session = context.request_context.session
        if session is None:  # the fast path's plain call: a JSON answer carries no notification
            return
        if getattr(context.request_context, "protocol_version", None) in MODERN_PROTOCOL_VERSIONS:
            threshold = "debug"  # 2026-07-28: the request's own opt-in decides (the SDK filters)
        else:
            threshold = await run_db(principal, _level_read, _log_key(session))
        if level_allows(threshold, level):
            await session.send_log_message(
                level=level, data=data, logger="todo-assistant", related_request_id=context.request_id
            )
    except Exception:  # no session (a direct call), a closed stream, ...
        logger.debug("could not send a log message to the MCP client", exc_info=True)


# -- helpers ------------------------------------------------------------------------------------------


def _invalid(message: str, **data: Any) -> MCPError:
    return MCPError(code=INVALID_PARAMS, message=message, data=data or None)


def _application_error(exc: ApplicationError, **data: Any) -> MCPError:
    return MCPError(code=INVALID_PARAMS, message=exc.message, data={"code": exc.code, **data})


def _run_entry(fn, call: ToolCall, kwargs: dict[str, Any], audit, action: str) -> Any:
    """An entry's function in a worker thread, as the call's principal, with its audit event."""
    token = start_call(call)
    outcome, code = AuditEvent.Outcome.FAILURE, "internal_error"
    try:
        result = fn(**kwargs)
        outcome, code = AuditEvent.Outcome.SUCCESS, ""
        return result
    except ApplicationError as exc:
        code = exc.code
        raise
    finally:
        end_call(token)
        audit(call, outcome, code, action=action)


class FeaturesMixin:
    """Methods TodoMCPServer takes over from MCPServer for resources, prompts and completions."""

    resource_specs: dict[str, ResourceSpec]
    prompt_specs: dict[str, PromptSpec]

    # Provided by TodoMCPServer.
    def _entry_principal(self, context: Any = None) -> Principal | None: ...
    async def _entry_allowed(self, principal: Principal | None, name: str) -> bool: ...
    def _entry_audit(self, call: ToolCall, outcome: str, error_code: str = "", *, action: str) -> None: ...

    # resources ------------------------------------------------------------------------------------

    async def _visible_resources(self) -> list[ResourceSpec]:
        principal = self._entry_principal()
        return [spec for spec in self.resource_specs.values() if await self._entry_allowed(principal, spec.name)]

    async def list_resources(self) -> list[Resource]:
        return [
            Resource(uri=spec.uri, name=spec.name, title=spec.title, description=spec.description, mime_type=spec.mime_type)
            for spec in await self._visible_resources()
            if not spec.is_template
        ]

    async def list_resource_templates(self) -> list[ResourceTemplate]:
        return [
            ResourceTemplate(
                uri_template=spec.uri, name=spec.name, title=spec.title, description=spec.description, mime_type=spec.mime_type
            )
            for spec in await self._visible_resources()
            if spec.is_template
        ]

    async def read_resource(self, uri: Any, context: Any = None):
        import time

        principal = self._entry_principal(context)
        if principal is None:
            raise _invalid("Authentication required.")
        shown = str(uri)[:200]
        for spec in self.resource_specs.values():
            params = spec.match(str(uri))
            if params is None:
                continue
            if not await self._entry_allowed(principal, spec.name):
                break  # disabled, or outside the token's scopes: as if it did not exist
            call = ToolCall(principal=principal, tool=spec.name, started=time.perf_counter())
            try:
                value = await run_db(principal, _run_entry, spec.fn, call, params, self._entry_audit, "mcp.resource_read")
            except NotFound as exc:
                raise ResourceNotFoundError(exc.message) from None
            except ApplicationError as exc:
                raise _application_error(exc, uri=shown) from None
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            return [ReadResourceContents(content=text, mime_type=spec.mime_type)]
        raise ResourceNotFoundError(f"Unknown resource: {shown}")

    # prompts --------------------------------------------------------------------------------------

    async def list_prompts(self) -> list[Prompt]:
        principal = self._entry_principal()
        return [
            Prompt(
                name=spec.name,
                title=spec.title,
                description=spec.description,
                arguments=[PromptArgument(name=a.name, description=a.description, required=a.required) for a in spec.arguments],
            )
            for spec in self.prompt_specs.values()
            if await self._entry_allowed(principal, spec.name)
        ]

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None, context: Any = None) -> GetPromptResult:
        import time

        principal = self._entry_principal(context)
        if principal is None:
            raise _invalid("Authentication required.")
        spec = self.prompt_specs.get(name)
        shown = str(name)[:64]
        if spec is None or not await self._entry_allowed(principal, spec.name):
            raise _invalid(f"Unknown prompt: {shown}.", prompt=shown)
        kwargs = _prompt_arguments(spec, arguments or {})
        call = ToolCall(principal=principal, tool=spec.name, started=time.perf_counter(), arguments_given=frozenset(kwargs))
        try:
            text = await run_db(principal, _run_entry, spec.fn, call, kwargs, self._entry_audit, "mcp.prompt_get")
        except ApplicationError as exc:
            raise _application_error(exc, prompt=shown) from None
        return GetPromptResult(
            description=spec.description,
            messages=[PromptMessage(role="user", content=TextContent(type="text", text=text))],
        )

    # completions ----------------------------------------------------------------------------------

    async def complete(self, ctx: Any, params: CompleteRequestParams) -> CompleteResult:
        principal = self._entry_principal()
        if principal is None:
            raise _invalid("Authentication required.")
        ref, argument = params.ref, params.argument
        completers: dict[str, Any] = {}
        entry = None
        if isinstance(ref, PromptReference):
            entry = self.prompt_specs.get(ref.name)
        elif isinstance(ref, ResourceTemplateReference):
            entry = next((spec for spec in self.resource_specs.values() if spec.uri == ref.uri), None)
        if entry is None or not await self._entry_allowed(principal, entry.name):
            raise _invalid("Unknown prompt or resource template.")
        completers = dict(entry.completions)
        completer = completers.get(argument.name)
        if completer is None:
            return CompleteResult(completion=Completion(values=[], total=0, has_more=False))
        values = await run_db(principal, _complete, completer, principal, str(argument.value or "")[:200])
        return CompleteResult(
            completion=Completion(values=values[:COMPLETION_MAX_VALUES], total=len(values), has_more=len(values) > COMPLETION_MAX_VALUES)
        )


def _complete(completer, principal: Principal, partial: str) -> list[str]:
    return [str(value)[:200] for value in completer(principal.user, partial)]


def _prompt_arguments(spec: PromptSpec, arguments: dict[str, Any]) -> dict[str, str]:
    accepted = {argument.name: argument for argument in spec.arguments}
    problems = []
    for name, value in arguments.items():
        argument = accepted.get(name)
        if argument is None:
            problems.append(f"{str(name)[:64]} is not an argument of {spec.name} (it takes: {', '.join(accepted) or 'none'})")
        elif not isinstance(value, str):
            problems.append(f"{name} must be a string")
        elif len(value) > argument.max_length or "\x00" in value:
            problems.append(f"{name} must be at most {argument.max_length} characters, without NUL")
    for argument in spec.arguments:
        if argument.required and not arguments.get(argument.name):
            problems.append(f"{argument.name} is required")
    if problems:
        raise _invalid("Invalid arguments: " + "; ".join(problems) + ".", prompt=spec.name)
    return {name: value for name, value in arguments.items()}
