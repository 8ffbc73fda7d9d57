"""Streamable HTTP for the root ASGI app: /mcp and its protected-resource metadata.

The SDK's app is stateless with JSON responses. Its session manager can run only once, so each
lifespan (one per server process, or one per test driving the app) builds a fresh SDK app and
requests are served by the one started on their own event loop. Host and Origin are checked
here, before authentication, against Django's ALLOWED_HOSTS (the SDK's own check only knows
exact host names, not Django's ``.example.com`` and ``*`` forms).
"""

from __future__ import annotations

import asyncio
import contextlib
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
from mcp.server.transport_security import TransportSecuritySettings

from apps.core.request_context import RequestContext, reset_request_context, set_request_context
from apps.mcp_tools.server import get_server, sync_registry_at_startup

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
METADATA_PATH = "/.well-known/oauth-protected-resource"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


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


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


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
        app = server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,
            json_response=True,
            max_request_body_size=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
            # Checked in __call__ against ALLOWED_HOSTS, before authentication.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        manager = server.session_manager  # the manager of the app just built
        loop = asyncio.get_running_loop()
        async with manager.run():
            self._apps[loop] = app
            try:
                yield
            finally:
                self._apps.pop(loop, None)

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
        app = self._apps.get(asyncio.get_running_loop())
        if app is None:
            await _send_json(send, 503, "service_unavailable", "The MCP endpoint is not started.")
            return
        incoming = _header(scope, b"x-request-id") or ""
        client = scope.get("client")
        context = RequestContext(
            request_id=incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex,
            client_ip=client[0] if client else None,
        )
        token = set_request_context(context)  # audit rows of this request carry its id and address
        try:
            await app(scope, receive, send)
        finally:
            reset_request_context(token)


mcp_http_app = McpHttpApp()
