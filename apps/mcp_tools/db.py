"""Where an MCP call's synchronous Django code runs: the in-process caller's thread, or a worker thread."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import weakref
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from apps.core.thread_caches import adopt_thread_caches, keep_thread_caches
from apps.mcp_tools.context import TRANSPORT_IN_PROCESS, Principal


async def run_db(principal: Principal | None, fn: Callable[..., Any], *args: Any) -> Any:
    """Run synchronous Django code for this call, off the event loop.

    For the in-process client it runs on the caller's own thread (the thread that called
    ``mcp_tool_call``), so tools share the caller's database connection and transaction.
    Otherwise (HTTP, stdio) on one of anyio's worker threads, each of which keeps its database
    connection between calls like a small pool does; at most ``database_threads()`` at once.
    """
    if principal is not None and principal.transport == TRANSPORT_IN_PROCESS:
        return await sync_to_async(fn, thread_sensitive=True)(*args)
    return await anyio.to_thread.run_sync(functools.partial(in_worker_thread, fn, *args), limiter=_limiter())


def database_threads() -> int:
    """How many MCP calls may use the database at once in this process (MCP_DATABASE_THREADS).

    SQLite takes one writer at a time, and with one GIL more threads only wait on each other:
    with eight, a call spent ~4x longer in its thread than alone and writers slept in SQLite's
    busy handler (bench/mcp_bench.py). PostgreSQL overlaps its round trips, so it gets more.
    """
    configured = settings.MCP_DATABASE_THREADS
    if configured:
        return configured
    return 1 if connections["default"].vendor == "sqlite" else 8


_limiters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()  # a limiter belongs to one event loop (tests run several)
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(database_threads())
    return limiter


def in_worker_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Call fn on a worker thread, after dropping this thread's connections that broke or were left mid-transaction.

    Django's request cycle would close connections after every request when CONN_MAX_AGE is 0;
    a worker thread instead keeps its connection (reconnecting on every call doubled the cost of
    a tools/call), so only unusable ones are closed. At most one connection per pool thread.
    """
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        if conn.get_autocommit() != conn.settings_dict["AUTOCOMMIT"] or (conn.errors_occurred and not conn.is_usable()):
            conn.close()
        else:
            conn.errors_occurred = False
    adopt_thread_caches()
    try:
        return fn(*args)
    finally:
        for conn in connections.all(initialized_only=True):
            if conn.connection is not None:
                _worker_connections.add(conn)
        keep_thread_caches()


_worker_connections: weakref.WeakSet = weakref.WeakSet()


def close_worker_connections() -> None:
    """Close the connections worker threads keep; for shutdown, when no call is running.

    The pool's threads can outlive the server (and a thread's connection otherwise lasts until
    the thread ends), so the connections are closed from here, and reopened if a thread is used
    again.
    """
    for conn in list(_worker_connections):
        raw, conn.connection = conn.connection, None
        if raw is not None:
            with contextlib.suppress(Exception):
                raw.close()
    _worker_connections.clear()
