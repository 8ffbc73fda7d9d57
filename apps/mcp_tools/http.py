"""Streamable HTTP for the root ASGI app: /mcp and its protected-resource metadata.

The SDK's app is stateless and answers with JSON, so GET (a server-to-client SSE stream) and
DELETE (ending a session) have nothing to serve: they are a 405 here, as the spec allows,
instead of the SDK's never-ending event stream. A request that asks for progress (a progress
token) or log messages (the 2026-07-28 log-level ``_meta`` key) is answered by a second,
streaming SDK app instead, since notifications have no wire in a JSON response. Its session manager can run only once, so each
lifespan (one per server process, or one per test driving the app) builds a fresh SDK app and
requests are served by the one started on their own event loop. Host and Origin are checked
here, before authentication, against Django's ALLOWED_HOSTS (the SDK's own check only knows
exact host names, not Django's ``.example.com`` and ``*`` forms). After these checks, one
authenticated tools/call is answered without the SDK's transport (apps.mcp_tools.fast_path).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from mcp.server.connection import LOG_LEVEL_META_KEY
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, PARSE_ERROR, UNSUPPORTED_PROTOCOL_VERSION
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from apps.core import loop_cache
from apps.core.cache import user_data_version_key
from apps.core.localcache import MISS, generations_prefetched, prefetched_for_request, request_read_ahead
from apps.core.parsers import json_depth
from apps.core.request_context import RequestContext, reset_request_context, set_request_context
from apps.core.outage import DatabaseUnavailable
from apps.limits.mcp import Refusal, mcp_call_refusal, mcp_call_refusal_local
from apps.limits.selectors import user_policies
from apps.mcp_tools.auth import (
    DjangoAccessToken,
    known_user_id,
    remember_verification,
    verification_generation_key,
    verifications_for_this_request,
    verify_in_thread,
    verify_local,
)
from apps.mcp_tools.db import close_worker_connections, run_db
from apps.mcp_tools.fast_path import answer_tools_call
from apps.mcp_tools.selectors import registry_snapshot
from apps.mcp_tools.server import get_server, sync_registry_at_startup, tool_scope_problem

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
METADATA_PATH = "/.well-known/oauth-protected-resource"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SUPPORTED_PROTOCOL_VERSIONS = (*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS)
_PRINTABLE_RE = re.compile(r"[^\x20-\x7e]")


async def _send_json(send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "extra": {}}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_rpc_error(
    send, status: int, code: int, message: str, *, data: Any = None, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A JSON-RPC error with no id, the shape MCP clients read (as the SDK's own 4xx answers are)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _valid_request_id(value: Any) -> bool:
    # MCP: a request id is a string or an integer, never null (bool is an int to Python, not to JSON).
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def message_problem(body: bytes) -> tuple[int, str] | None:
    """A JSON-RPC error (code, message) for a body the SDK would mishandle, else None.

    The SDK takes a request whose id is not a string or an integer (``{"a": 1}``, ``null``) for a
    notification and answers 202, so the client waits for an answer that never comes.
    """
    limit = settings.API_JSON_MAX_DEPTH
    if json_depth(body) > limit:
        return PARSE_ERROR, f"Parse error: the body is nested deeper than {limit} levels."
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON: the SDK answers with its own parse error
    for message in parsed if isinstance(parsed, list) else [parsed]:
        if isinstance(message, dict) and "method" in message and "id" in message:
            if not _valid_request_id(message["id"]):
                return INVALID_REQUEST, (
                    "Invalid Request: id must be a string or an integer "
                    "(leave it out only for a notification, which gets no answer)."
                )
    return None


async def _read_body(scope: dict[str, Any], receive, limit: int) -> bytes | None:
    """The whole request body, or None when it is larger than ``limit`` (or the client left)."""
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None  # http.disconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive):
    """A receive() that hands the SDK the body already read, then the client's own messages."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay():
        if pending:
            return pending.pop()
        return await receive()

    return replay


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _wants_stream(scope: dict[str, Any], body: bytes) -> bool:
    """A request asking for progress or log messages, from a client that accepts SSE: its answer is streamed."""
    if (b"progressToken" not in body and LOG_LEVEL_META_KEY.encode() not in body) or "text/event-stream" not in (
        _header(scope, b"accept") or ""
    ):
        return False
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return False
    for message in parsed if isinstance(parsed, list) else [parsed]:
        params = message.get("params") if isinstance(message, dict) else None
        meta = params.get("_meta") if isinstance(params, dict) else None
        if isinstance(meta, dict) and (meta.get("progressToken") is not None or meta.get(LOG_LEVEL_META_KEY)):
            return True
    return False


def _called_tools(body: bytes) -> list[str]:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return []
    names = []
    for message in parsed if isinstance(parsed, list) else [parsed]:
        if isinstance(message, dict) and message.get("method") == "tools/call":
            params = message.get("params")
            if isinstance(params, dict) and isinstance(params.get("name"), str):
                names.append(params["name"])
    return names


def _bearer(authorization: str | None) -> str | None:
    if not authorization or not authorization[:7].lower() == "bearer ":
        return None
    return authorization[7:].strip()


def _scope_missing(token: DjangoAccessToken | None, names: list[str]) -> str | None:
    """The scope an OAuth token lacks for a tool it calls, else None (personal tokens have every scope)."""
    if token is None or token.oauth_application_id is None:
        return None
    for name in names:
        if (needed := tool_scope_problem(name, frozenset(token.scopes))) is not None:
            return needed
    return None


def _tool_call_checks_in_thread(plaintext: str, names: list[str]) -> tuple[Any, str | None, Refusal | None]:
    # With Redis, the token's and the policies' generations in one round trip instead of two.
    with generations_prefetched([verification_generation_key(plaintext), user_policies.key]):
        token = verify_in_thread(plaintext)
        missing = _scope_missing(token, names)
        if token is None or missing is not None:
            return token, missing, None
        return token, None, mcp_call_refusal(user=token.user, calls=len(names))


async def _read_ahead_on_loop(plaintext: str) -> bool:
    """With Redis: the generations this request's checks and its tool's hop read (the token's,
    the policies', the registry's and, when this process has seen the token, its user's data
    version), in one MGET awaited on the event loop, kept for the rest of the request. False when
    that cannot be done here (no read-ahead for this request, or the read failed)."""
    found = prefetched_for_request()
    if found is None:
        return False
    keys = [verification_generation_key(plaintext), user_policies.key, registry_snapshot.key]
    if (user_id := known_user_id(plaintext)) is not None:
        keys.append(user_data_version_key(user_id))
    missing = [key for key in keys if key not in found]
    if not missing:
        return True
    read = await loop_cache.get_many(missing)
    if read is None:
        return False
    found.update(read)
    return True


async def _tool_call_checks(scope: dict[str, Any], body: bytes) -> tuple[str | None, Refusal | None]:
    """For tools/call: the scope an OAuth token lacks (403, so the client can step up), else the
    user's tools/call limit refusing (429); (None, None) to go on.

    The token is verified once here; the SDK's auth middleware gets the same answer for this
    request (apps.mcp_tools.auth). Decided on the event loop when this process's copies can
    tell (the embedded default, or with Redis once the generations were read on the loop), else
    in one worker-thread hop for all three checks.
    """
    names = _called_tools(body)
    if not names:
        return None, None
    plaintext = _bearer(_header(scope, b"authorization"))
    if plaintext is None:
        return None, None  # the SDK answers 401
    token = verify_local(plaintext)
    if token is MISS and await _read_ahead_on_loop(plaintext):
        token = verify_local(plaintext)
    if token is MISS:
        token, missing, refusal = await run_db(None, _tool_call_checks_in_thread, plaintext, names)
    else:
        missing, refusal = _scope_missing(token, names), None
        if token is not None and missing is None:
            refusal = mcp_call_refusal_local(user=token.user, calls=len(names))
            if refusal is MISS:
                refusal = await run_db(None, functools.partial(mcp_call_refusal, user=token.user, calls=len(names)))
    remember_verification(plaintext, token)
    return missing, refusal


async def _send_insufficient_scope(send, needed: str) -> None:
    metadata = f"{settings.MCP_PUBLIC_URL}{METADATA_PATH}{MCP_PATH}"
    description = f"This tool needs the {needed} scope."
    challenge = (
        f'Bearer error="insufficient_scope", scope="{needed}", '
        f'error_description="{description}", resource_metadata="{metadata}"'
    )
    body = json.dumps({"error": "insufficient_scope", "error_description": description}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", challenge.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def host_allowed(host: str | None) -> bool:
    domain, _port = split_domain_port(host or "")
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def origin_allowed(origin: str | None) -> bool:
    if origin is None:
        return True  # not a browser request (browsers always send Origin on a cross-site POST)
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and host_allowed(parts.netloc)


class McpHttpApp:
    """ASGI app mounted at /mcp and /.well-known/oauth-protected-resource by config.asgi."""

    def __init__(self) -> None:
        self._apps: dict[asyncio.AbstractEventLoop, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(sync_registry_at_startup)
        server = await anyio.to_thread.run_sync(get_server)
        apps_and_managers = []
        # One app answers with JSON; the other streams SSE, for requests that asked for progress
        # (notifications have no wire in a JSON response).
        for json_response in (True, False):
            app = server.streamable_http_app(
                streamable_http_path=MCP_PATH,
                stateless_http=True,
                json_response=json_response,
                max_request_body_size=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
                # Checked in __call__ against ALLOWED_HOSTS, before authentication.
                transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            )
            apps_and_managers.append((app, server.session_manager))  # the manager of the app just built
        loop = asyncio.get_running_loop()
        try:
            async with contextlib.AsyncExitStack() as stack:
                for _app, manager in apps_and_managers:
                    await stack.enter_async_context(manager.run())
                # (JSON app, streaming app, the MCPServer and the JSON app's manager for the fast path)
                self._apps[loop] = (
                    apps_and_managers[0][0],
                    apps_and_managers[1][0],
                    server,
                    apps_and_managers[0][1],
                )
                try:
                    yield
                finally:
                    self._apps.pop(loop, None)
        finally:
            await loop_cache.close_loop_clients()
            if not self._apps:  # the last server in this process is gone
                close_worker_connections()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        if not host_allowed(_header(scope, b"host")):
            await _send_json(send, 421, "invalid_host", "Invalid Host header.")
            return
        if not origin_allowed(_header(scope, b"origin")):
            await _send_json(send, 403, "invalid_origin", "Invalid Origin header.")
            return
        apps = self._apps.get(asyncio.get_running_loop())
        if apps is None:
            await _send_json(send, 503, "service_unavailable", "The MCP endpoint is not started.")
            return
        started = False

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        with verifications_for_this_request(), request_read_ahead():
            try:
                await self._serve(apps, scope, receive, tracked_send)
            except DatabaseUnavailable:
                # The token check or the limit needed the database and it is down (logged once per
                # interval by apps.core.outage): a 503 the client can retry, not a 500.
                if started:
                    raise
                wait = DatabaseUnavailable.retry_after()
                await _send_rpc_error(
                    send, 503, INTERNAL_ERROR, DatabaseUnavailable.PUBLIC_MESSAGE,
                    headers=[(b"retry-after", str(wait).encode())],
                )

    async def _serve(self, apps, scope, receive, send) -> None:
        app = apps[0]
        body = None
        if scope.get("path", "").rstrip("/") == MCP_PATH:
            checked = await self._checked_post(scope, receive, send)
            if checked is None:
                return
            receive, streamed, body = checked
            if streamed:
                app, body = apps[1], None
        incoming = _header(scope, b"x-request-id") or ""
        client = scope.get("client")
        context = RequestContext(
            request_id=incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex,
            client_ip=client[0] if client else None,
        )
        token = set_request_context(context)  # audit rows of this request carry its id and address
        try:
            if body is not None and settings.MCP_FAST_PATH:
                if await answer_tools_call(apps[2], apps[3], scope, receive, send, body):
                    return
            await app(scope, receive, send)
        finally:
            reset_request_context(token)


    async def _checked_post(self, scope, receive, send):
        """The checks the SDK leaves out, before authentication.

        Returns (a replaying receive, whether to answer with an SSE stream, the body), or None if answered.
        """
        method = scope.get("method", "")
        if method != "POST":
            await _send_rpc_error(
                send,
                405,
                INVALID_REQUEST,
                f"Method Not Allowed: this server is stateless and answers POST with JSON; "
                f"{method[:16]} is not served.",
                headers=[(b"allow", b"POST")],
            )
            return None
        version = _header(scope, b"mcp-protocol-version")
        if version is not None and version not in SUPPORTED_PROTOCOL_VERSIONS:
            shown = _PRINTABLE_RE.sub("?", version[:40])
            await _send_rpc_error(
                send,
                400,
                UNSUPPORTED_PROTOCOL_VERSION,
                f"Unsupported MCP-Protocol-Version {shown!r}; "
                f"this server supports {', '.join(SUPPORTED_PROTOCOL_VERSIONS)}.",
                data={"supported": list(SUPPORTED_PROTOCOL_VERSIONS), "requested": shown},
            )
            return None
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = await _read_body(scope, receive, limit)
        if body is None:
            await _send_rpc_error(send, 413, INVALID_REQUEST, f"Request body too large (the limit is {limit} bytes).")
            return None
        problem = message_problem(body)
        if problem is not None:
            await _send_rpc_error(send, 400, *problem)
            return None
        missing, refusal = await _tool_call_checks(scope, body)
        if missing is not None:
            await _send_insufficient_scope(send, missing)
            return None
        if refusal is not None:  # the user's tools/call limit (apps.limits.mcp), a 429 before the SDK
            message, headers = refusal
            hdrs = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
            await _send_rpc_error(send, 429, INVALID_REQUEST, message, headers=hdrs)
            return None
        return _replaying(body, receive), _wants_stream(scope, body), body


mcp_http_app = McpHttpApp()
