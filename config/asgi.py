"""Root ASGI app: answers the lifespan scope itself and routes paths to mounted apps or Django.

Django's ASGI handler refuses the lifespan scope, and the MCP SDK needs a lifespan to
start its session manager, so this small router sits in front of both.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]
LifespanFactory = Callable[[], contextlib.AbstractAsyncContextManager]


class RootApp:
    """Routes by path prefix; everything unmatched goes to Django."""

    def __init__(self, default: ASGIApp) -> None:
        self.default = default
        self.mounts: list[tuple[str, ASGIApp]] = []
        self.lifespans: list[LifespanFactory] = []

    def mount(self, prefix: str, app: ASGIApp) -> None:
        self.mounts.append((prefix, app))

    def on_lifespan(self, factory: LifespanFactory) -> None:
        self.lifespans.append(factory)

    def _route(self, path: str) -> ASGIApp:
        for prefix, app in self.mounts:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return app
        return self.default

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self._route(scope.get("path", ""))(scope, receive, send)

    async def _lifespan(self, receive, send) -> None:
        stack = contextlib.AsyncExitStack()
        message = await receive()
        assert message["type"] == "lifespan.startup"
        try:
            for factory in self.lifespans:
                await stack.enter_async_context(factory())
        except Exception as exc:  # report the failure to the server instead of hanging
            logger.exception("lifespan startup failed")
            await stack.aclose()
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        await stack.aclose()
        await send({"type": "lifespan.shutdown.complete"})


class BodyLimit:
    """Refuses a request body over ``limit`` bytes before Django spools it to disk.

    Django's ASGI handler reads the whole body (to a temporary file past 2.5 MB) before a view
    can refuse it, so a client could make it store gigabytes. A declared Content-Length over the
    limit is a 413 at once; a chunked body is cut off when it passes the limit (Django sees the
    client leave, and the 413 is sent here).
    """

    def __init__(self, app: ASGIApp, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._too_large(scope, send)
                return
        received = 0
        exceeded = False
        started = False

        async def limited_receive():
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)
        if exceeded and not started:
            await self._too_large(scope, send)

    @staticmethod
    async def _too_large(scope: Scope, send) -> None:
        if scope.get("path", "").startswith("/api/"):
            body = b'{"error": {"code": "request_too_large", "message": "The request body is too large.", "extra": {}}}'
            content_type = b"application/json"
        else:
            body, content_type = b"Request body too large.", b"text/plain; charset=utf-8"
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402  (needs Django set up)

from apps.core.asgi_lanes import LaneASGIHandler  # noqa: E402

# Django's handler, with request threads (and their database connections) kept between requests.
django_application = LaneASGIHandler(settings.REQUEST_THREADS, settings.REQUEST_THREAD_WAIT_SECONDS)

if settings.PYTHON_SWITCH_INTERVAL_SECONDS > 0:
    # The event loop and the worker threads (Django's sync views, MCP database calls) share the GIL.
    sys.setswitchinterval(settings.PYTHON_SWITCH_INTERVAL_SECONDS)

application = RootApp(BodyLimit(django_application, lambda: settings.DATA_UPLOAD_MAX_MEMORY_SIZE))

from apps.providers.adapters import warm_adapters  # noqa: E402  (needs Django set up)
from apps.providers.adapters.http import close_shared_clients  # noqa: E402

warm_adapters()


@contextlib.asynccontextmanager
async def _provider_clients():
    try:
        yield
    finally:
        close_shared_clients()  # the shared provider HTTP clients (connection pools)
        django_application.close_lanes()  # the request threads' database connections


application.on_lifespan(_provider_clients)

from apps.mcp_tools.http import MCP_PATH, METADATA_PATH, mcp_http_app  # noqa: E402  (needs Django set up)

application.mount(MCP_PATH, mcp_http_app)
application.mount(METADATA_PATH, mcp_http_app)
application.on_lifespan(mcp_http_app.lifespan)


@contextlib.asynccontextmanager
async def _freeze_startup_heap():
    """Last at startup: what is alive now stays, so collections stop walking it (PYTHON_GC_FREEZE)."""
    if settings.PYTHON_GC_FREEZE:
        gc.collect()
        gc.freeze()
    try:
        yield
    finally:
        if settings.PYTHON_GC_FREEZE:
            gc.unfreeze()  # collectable again (a test's server, or a reload in the same process)


application.on_lifespan(_freeze_startup_heap)
