"""/mcp's fast path: one authenticated JSON-RPC tools/call answered without the SDK's HTTP transport.

The SDK serves a handshake-era (2025-11-25) stateless POST by building a transport, a server
task, memory streams and a JSON-RPC dispatcher for it, behind Starlette and three auth layers:
most of a call's CPU. Here the same request runs through the SDK's own per-request kernel
(``serve_one``: params validation, server middleware, ``TodoMCPServer.call_tool``, result
serialisation) and is answered with the body, status and headers that transport would send;
a 2026-07-28 request goes straight to the SDK's own single-exchange handler, minus Starlette.

Only a request the SDK would accept is taken: a POST the SDK's content-type and Accept checks
pass, one JSON-RPC request (no batch, no notification) for tools/call, and a bearer token the
SDK's auth middleware would accept (verified the same way, with this request's memo). Anything
else returns False and goes to the SDK app, which answers it (a 401, a 406, a parse error ...).
Off with ``MCP_FAST_PATH=false``. Tests: tests/mcp_tools/test_fast_path.py compares both paths.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pydantic_core
from mcp.server._streamable_http_modern import _SingleExchangeDispatchContext, handle_modern_request
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.connection import Connection
from mcp.server.runner import serve_one
from mcp.server.streamable_http import CONTENT_TYPE_JSON, check_accept_headers
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data, progress_token_from_params
from mcp.shared.message import ServerMessageMetadata
from mcp.shared.transport_context import TransportContext
from mcp_types import (
    DEFAULT_NEGOTIATED_VERSION,
    ErrorData,
    JSONRPCError,
    JSONRPCRequest,
    JSONRPCResponse,
    jsonrpc_message_adapter,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.authentication import AuthCredentials
from starlette.requests import Request
from starlette.responses import Response

from apps.mcp_tools.auth import AccessTokenVerifier

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


async def answer_tools_call(lowlevel: Any, manager: Any, scope: dict[str, Any], receive, send, body: bytes) -> bool:
    """Answer the request as the SDK's JSON app would; False (nothing sent) to leave it to that app.

    ``lowlevel`` is the MCPServer's low-level server, ``manager`` the JSON app's session manager
    (its lifespan state and security settings); ``receive`` replays ``body``.
    """
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
        answer = await _serve_legacy(lowlevel, manager, request, message, version or DEFAULT_NEGOTIATED_VERSION)
    finally:
        auth_context_var.reset(reset)
    # As StreamableHTTPServerTransport._create_json_response writes it (stateless: no session id).
    await Response(
        answer.model_dump_json(by_alias=True, exclude_unset=True),
        status_code=200,
        headers={"Content-Type": CONTENT_TYPE_JSON},
    )(scope, receive, send)
    return True


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
        # JSONRPCDispatcher._handle_request's mapping. TodoMCPServer.call_tool turns a tool's own
        # failure into a tool error, so only the SDK's kernel can raise here.
        error = handler_exception_to_error_data(exc)
        if error is None:
            logger.exception("handler for %r raised", message.method)
            error = ErrorData(code=0, message=str(exc))
        return JSONRPCError(jsonrpc="2.0", id=message.id, error=error)
    return JSONRPCResponse(jsonrpc="2.0", id=message.id, result=result)
