"""/mcp's fast path: one authenticated JSON-RPC tools/call answered without the SDK's HTTP transport.

The SDK serves a handshake-era (2025-11-25) stateless POST by building a transport, a server
task, memory streams and a JSON-RPC dispatcher for it, behind Starlette and three auth layers,
then runs its per-request kernel (``serve_one``: a connection, a dispatch context, a session,
params validation, the server middleware, the handler, result serialisation): most of a call's
CPU. Here the plain call (params ``{"name": str, "arguments": object}`` and nothing else)
runs the server's own middleware (the SDK's OpenTelemetry span and requestState seal, the
project's ProtocolLog), ``TodoMCPServer.call_tool`` (scope, arguments, the SDK's argument
validation and result conversion, the audit row), the handler's error mapping and the SDK's
per-version result serialisation, and is answered with the body, status and headers the SDK's
JSON response would carry. Any other shape (``_meta``, a progress token, a task, other params)
or any other middleware goes through the SDK's kernel (``serve_one``); a 2026-07-28 request
goes to the SDK's own single-exchange handler, minus Starlette.

Only a request the SDK would accept is taken: a POST the SDK's content-type and Accept checks
pass, one JSON-RPC request (no batch, no notification) for tools/call, and a bearer token the
SDK's auth middleware would accept (verified the same way, with this request's memo). Anything
else returns False and goes to the SDK app, which answers it (a 401, a 406, a parse error ...).
Off with ``MCP_FAST_PATH=false``. Tests: tests/mcp_tools/test_fast_path.py compares the paths.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import pydantic_core
from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server._streamable_http_modern import _SingleExchangeDispatchContext, handle_modern_request
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.request_state import RequestStateBoundary
from mcp.server.runner import _apply_middleware, _dump_result, serve_one
from mcp.server.streamable_http import CONTENT_TYPE_JSON, check_accept_headers
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data, progress_token_from_params
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp.shared.transport_context import TransportContext
from mcp_types import (
    DEFAULT_NEGOTIATED_VERSION,
    INTERNAL_ERROR,
    ErrorData,
    JSONRPCError,
    JSONRPCRequest,
    JSONRPCResponse,
    jsonrpc_message_adapter,
)
from mcp_types.methods import serialize_server_result
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.authentication import AuthCredentials
from starlette.requests import Request

from apps.mcp_tools.auth import AccessTokenVerifier
from apps.mcp_tools.server import ProtocolLog

logger = logging.getLogger(__name__)

_verifier = AccessTokenVerifier()


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _content_type_accepted(content_type: str | None) -> bool:
    # Both of the SDK's checks: TransportSecurityMiddleware's (400) and the transport's own (415).
    if content_type is None or not content_type.lower().startswith(CONTENT_TYPE_JSON):
        return False
    return CONTENT_TYPE_JSON in (part.strip() for part in content_type.split(";")[0].split(","))


async def _authenticated(scope: dict[str, Any]) -> AuthenticatedUser | None:
    """The user the SDK's BearerAuthBackend would put on this request, or None (the SDK answers 401)."""
    authorization = _header(scope, b"authorization")  # the first one, as Starlette's headers.get
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    token = await _verifier.verify_token(authorization[7:])  # the request's memo: no second verification
    if not token or (token.expires_at and token.expires_at < int(time.time())):
        return None
    return AuthenticatedUser(token)  # no required scopes, no resource check (AuthSettings in server.py)


def _single_tools_call(body: bytes) -> JSONRPCRequest | None:
    """The body as the SDK's transport parses it, if it is one tools/call request; else None."""
    try:
        raw = pydantic_core.from_json(body)
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("method") != "tools/call" or "id" not in raw:
        return None
    try:
        message = jsonrpc_message_adapter.validate_python(raw, by_name=False)
    except ValidationError:
        return None
    return message if isinstance(message, JSONRPCRequest) else None


async def answer_tools_call(server: Any, manager: Any, scope: dict[str, Any], receive, send, body: bytes) -> bool:
    """Answer the request as the SDK's JSON app would; False (nothing sent) to leave it to that app.

    ``server`` is the TodoMCPServer, ``manager`` the JSON app's session manager (its lifespan
    state and security settings); ``receive`` replays ``body``.
    """
    lowlevel = server._lowlevel_server
    if scope.get("method") != "POST" or not _content_type_accepted(_header(scope, b"content-type")):
        return False
    version = _header(scope, b"mcp-protocol-version")
    modern = version in MODERN_PROTOCOL_VERSIONS
    if not modern and version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
        return False
    message = _single_tools_call(body)
    if message is None:
        return False
    user = await _authenticated(scope)
    if user is None:
        return False
    # What AuthenticationMiddleware adds to the scope; the tool's request context reads it.
    scope = {**scope, "user": user, "auth": AuthCredentials(user.scopes)}
    request = Request(scope, receive)
    has_json, _has_sse = check_accept_headers(request)
    if not has_json:
        return False  # the SDK's 406
    reset = auth_context_var.set(user)  # what AuthContextMiddleware does: get_access_token() in the tool
    try:
        if modern:
            # The SDK's own single-exchange entry, as StreamableHTTPSessionManager calls it.
            await handle_modern_request(
                lowlevel, manager.security_settings, True, manager._lifespan_state, scope, receive, send
            )
            return True
        version = version or DEFAULT_NEGOTIATED_VERSION
        answer = await serve_direct(server, request, message, version)
        if answer is None:  # not the plain shape: the SDK's kernel
            answer = await _serve_legacy(lowlevel, manager, request, message, version)
    finally:
        auth_context_var.reset(reset)
    # As StreamableHTTPServerTransport._create_json_response writes it, through Starlette's
    # Response (stateless: no session id): the same bytes and headers, in that order.
    content = answer.model_dump_json(by_alias=True, exclude_unset=True).encode()
    await send({
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", CONTENT_TYPE_JSON.encode()), (b"content-length", str(len(content)).encode())],
    })
    await send({"type": "http.response.body", "body": content})
    return True


# The server middleware serve_direct knows to read nothing but the context fields it fills in
# (the SDK's span and requestState seal, the project's log line); any other: the SDK's kernel.
_DIRECT_MIDDLEWARE = (OpenTelemetryMiddleware, RequestStateBoundary, ProtocolLog)
_PLAIN_PARAMS = frozenset({"name", "arguments"})


def _plain_call(params: Any) -> bool:
    """``{"name": str, "arguments": object}`` (arguments optional) and nothing else."""
    if not isinstance(params, dict) or not params.keys() <= _PLAIN_PARAMS:
        return False
    arguments = params.get("arguments")
    return isinstance(params.get("name"), str) and (arguments is None or isinstance(arguments, dict))


async def serve_direct(
    server: Any, request: Request, message: JSONRPCRequest, version: str
) -> JSONRPCResponse | JSONRPCError | None:
    """What ``serve_one`` answers for a plain tools/call, without its kernel; None for any other call.

    The same steps in the same order: the server middleware (outermost first) around the
    registered handler (``MCPServer._handle_call_tool``) and the result's serialisation, then
    the dispatcher's exception mapping. Not built: the connection, the dispatch context, the
    session. In a JSON response nothing but the answer has a wire, and a plain call asks for
    no progress; the principal comes from the verified token, as on the SDK's path.
    """
    lowlevel = server._lowlevel_server
    params = message.params
    if (
        not _plain_call(params)
        or "tools/call" in lowlevel.cache_hints
        or lowlevel.get_request_handler("tools/call") is None
        or not all(type(middleware) in _DIRECT_MIDDLEWARE for middleware in lowlevel.middleware)
    ):
        return None
    entry = lowlevel.get_request_handler("tools/call")

    async def handle(ctx: ServerRequestContext) -> dict[str, Any]:
        # ServerRunner._on_request's inner step for a spec method (the plain shape passes its
        # surface validation), then _serialize for a handshake-era version: no cache hint
        # (checked above), the per-version sieve.
        result = await entry.handler(ctx, entry.params_type.model_validate(params, by_name=False))
        if isinstance(result, ErrorData):
            raise MCPError.from_error_data(result)
        try:
            return serialize_server_result("tools/call", version, _dump_result(result))
        except ValidationError:
            logger.exception("handler for %r returned an invalid result", "tools/call")
            raise MCPError(code=INTERNAL_ERROR, message="Handler returned an invalid result") from None

    call = handle
    for middleware in reversed(lowlevel.middleware):
        call = functools.partial(_apply_middleware, middleware, call)  # as ServerRunner composes them
    ctx = ServerRequestContext(
        session=None,  # the middleware above reads none of what is left out
        lifespan_context=None,
        protocol_version=version,
        method="tools/call",
        params=params,
        request_id=message.id,
        request=request,
    )
    try:
        result = await call(ctx)
    except Exception as exc:
        return _error_answer(message, exc)
    return JSONRPCResponse(jsonrpc="2.0", id=message.id, result=_dump_result(result))


def _error_answer(message: JSONRPCRequest, exc: Exception) -> JSONRPCError:
    # JSONRPCDispatcher._handle_request's mapping. TodoMCPServer.call_tool turns a tool's own
    # failure into a tool error, so only the SDK's kernel (or its middleware) can raise here.
    error = handler_exception_to_error_data(exc)
    if error is None:
        logger.exception("handler for %r raised", message.method)
        error = ErrorData(code=0, message=str(exc))
    return JSONRPCError(jsonrpc="2.0", id=message.id, error=error)


async def _serve_legacy(
    lowlevel: Any, manager: Any, request: Request, message: JSONRPCRequest, version: str
) -> JSONRPCResponse | JSONRPCError:
    """What the stateless transport's dispatcher answers for this request (JSON mode: no back channel)."""
    dctx = _SingleExchangeDispatchContext(  # notifications and progress have no wire in a JSON response
        transport=TransportContext(kind="streamable-http", can_send_request=False),
        request_id=message.id,
        message_metadata=ServerMessageMetadata(request_context=request, can_send_request=False),
        progress_token=progress_token_from_params(message.params),
    )
    connection = Connection.from_envelope(version, None, None)  # as _handle_stateless_request builds it
    try:
        result = await serve_one(
            lowlevel, dctx, message.method, message.params, connection=connection,
            lifespan_state=manager._lifespan_state,
        )
    except Exception as exc:
        return _error_answer(message, exc)
    return JSONRPCResponse(jsonrpc="2.0", id=message.id, result=result)
