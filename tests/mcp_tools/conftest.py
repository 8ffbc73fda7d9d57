"""MCP test helpers: the project's ASGI app served by a real uvicorn, and real mcp.Client sessions."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

PROTOCOL_MODES = {"legacy": "2025-11-25", "auto": "2026-07-28"}


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, django_db_blocker) -> str:
    """config.asgi.application (Django + /mcp) on a free port, lifespan and all, for the whole session.

    Tools run in the server's worker threads with their own database connections, so tests using
    it need committed data: mark them django_db(transaction=True).
    """
    from config.asgi import application

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(application, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    with django_db_blocker.unblock():  # the lifespan syncs the tool registry
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


@contextlib.asynccontextmanager
async def http_session(
    base_url: str, token: str | None, *, mode: str = "auto", statuses: list[int] | None = None
) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def record(response):
        if statuses is not None:
            statuses.append(response.status_code)

    async with httpx2.AsyncClient(headers=headers, timeout=15, event_hooks={"response": [record]}) as http:
        transport = streamable_http_client(f"{base_url}/mcp", http_client=http)
        async with Client(transport, mode=mode, cache=None) as client:
            yield client


def run(coro) -> Any:
    return asyncio.run(coro)


async def call(client: Client, name: str, arguments: dict[str, Any] | None = None):
    return await client.call_tool(name, arguments or {})


def error_of(result) -> dict[str, Any]:
    """A tool error's {code, message, extra}: under _meta, never as structured content."""
    from apps.mcp_tools.server import ERROR_META_KEY

    assert result.is_error, result
    assert result.structured_content is None, result  # clients validate it against the output schema
    error = result.meta[ERROR_META_KEY]
    assert result.content[0].text == error["message"]
    return error
