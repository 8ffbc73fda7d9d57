"""The root ASGI app: answers lifespan itself, routes mounts, sends the rest to Django."""

from __future__ import annotations

import asyncio
import contextlib

import httpx2
import pytest

from config.asgi import RootApp, application


async def run_lifespan(app, *, fail: bool = False) -> list[str]:
    """Drive a full startup/shutdown and return the message types the app sent."""
    inbox: asyncio.Queue = asyncio.Queue()
    sent: list[str] = []
    await inbox.put({"type": "lifespan.startup"})

    async def receive():
        return await inbox.get()

    async def send(message):
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            await inbox.put({"type": "lifespan.shutdown"})

    await asyncio.wait_for(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send), 5)
    return sent


def test_lifespan_is_answered_and_hooks_run_in_order():
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def hook():
        events.append("start")
        yield
        events.append("stop")

    async def default(scope, receive, send):
        raise AssertionError("lifespan must not reach Django")

    app = RootApp(default)
    app.on_lifespan(hook)
    sent = asyncio.run(run_lifespan(app))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == ["start", "stop"]


def test_a_failing_startup_hook_is_reported_not_hung():
    @contextlib.asynccontextmanager
    async def broken():
        raise RuntimeError("cannot start")
        yield

    app = RootApp(lambda *a: None)
    app.on_lifespan(broken)
    assert asyncio.run(run_lifespan(app)) == ["lifespan.startup.failed"]


def test_mounted_prefixes_are_routed_and_the_rest_goes_to_the_default():
    async def mounted(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"mounted"})

    async def default(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"default"})

    app = RootApp(default)
    app.mount("/mcp", mounted)

    async def fetch(path):
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver") as c:
            return (await c.get(path)).text

    assert asyncio.run(fetch("/mcp")) == "mounted"
    assert asyncio.run(fetch("/mcp/")) == "mounted"
    assert asyncio.run(fetch("/mcpx")) == "default"
    assert asyncio.run(fetch("/other")) == "default"


@pytest.mark.django_db(transaction=True)
def test_the_project_app_serves_django_through_the_router():
    async def fetch():
        transport = httpx2.ASGITransport(app=application)
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return await c.get("/healthz")

    response = asyncio.run(fetch())
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert asyncio.run(run_lifespan(application)) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.mark.django_db(transaction=True)
def test_an_oversize_body_is_refused_before_django_reads_it(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    async def post(content, headers=None):
        transport = httpx2.ASGITransport(app=application)
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return await c.post("/api/v1/tasks/", content=content, headers=headers or {})

    declared = asyncio.run(post(b"x" * 5000, {"Content-Type": "application/json"}))
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "request_too_large"

    async def chunks():  # no Content-Length: the body is cut off as it passes the limit
        for _ in range(50):
            yield b"x" * 500

    chunked = asyncio.run(post(chunks(), {"Content-Type": "application/json"}))
    assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "request_too_large"

    small = asyncio.run(post(b"{}", {"Content-Type": "application/json"}))
    assert small.status_code == 401  # under the limit: Django answers (no token here)


def test_the_heap_alive_at_startup_is_frozen_until_shutdown(settings):
    """What the server holds from startup on stays out of the collector's walks (PYTHON_GC_FREEZE)."""
    import gc

    from config.asgi import _freeze_startup_heap

    assert application.lifespans[-1] is _freeze_startup_heap  # last: after the other hooks' set-up

    async def frozen_while_serving() -> int:
        async with _freeze_startup_heap():
            return gc.get_freeze_count()

    assert asyncio.run(frozen_while_serving()) > 10_000
    assert gc.get_freeze_count() == 0  # unfrozen at shutdown
    settings.PYTHON_GC_FREEZE = False
    assert asyncio.run(frozen_while_serving()) == 0
