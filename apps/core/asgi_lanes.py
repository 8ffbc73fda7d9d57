"""Django's ASGI handler with each request's sync code on one of a few long-lived threads ("lanes").

Django's own handler gives every request a new thread for its sync code (views, middleware,
the ORM), and with it a new database connection: on the embedded SQLite default, opening
the file and closing it again (the close of the last connection checkpoints the WAL) cost
more than the chat turn's own work; on PostgreSQL, a TCP connect and an authentication per
request. A lane is a single-thread executor that outlives the request, so the thread and its
connection (``CONN_MAX_AGE``) are reused, as under a threaded WSGI server.

The middleware chain and the view run in Django's sync mode, as under WSGI: one hop from the
event loop to the lane for the whole chain. (In async mode, the chain hopped lane -> loop -> lane
in the middle wherever a sync-only middleware met an async-capable one, twice per request.)

Semantics are Django's: one request's sync code runs on one thread, and a lane serves one
request at a time (it is taken for the whole of ``handle``, streamed body included; the request
body is read before, so a slow upload holds no lane). A lane
is still busy for a moment after its response went out (``response.close()`` and the
``request_finished`` signal run on it), and a keep-alive client sends its next request in
that moment: so a request that finds every lane busy waits for one, first come first served,
for up to ``wait_seconds``. (Without the wait, at as many clients as lanes a third of the
requests went past the lanes: a new thread and a new database connection each.) After the
wait - every lane held by a long stream, say - it gets a thread of its own as in Django, and
that thread's connections are closed at the end of the request, so nothing outlives it.

Uses asgiref's public ``ThreadSensitiveContext(executor=...)`` (asgiref >= 3.10).
"""

from __future__ import annotations

import asyncio
import collections
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler
from django.http import FileResponse
from django.db import connections

from apps.core.thread_caches import adopt_thread_caches, keep_thread_caches


async def _body_read_first(receive):
    """The whole request body read here, on the event loop, and replayed to Django; None if the client left.

    A lane is taken only once the body is in: a client sending its body slowly (a byte a second,
    or never its last chunk) holds a coroutine, not one of the few lanes every request needs.
    The body is at most DATA_UPLOAD_MAX_MEMORY_SIZE (config.asgi.BodyLimit cuts it off there).
    """
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

    async def replay():
        return pending.pop() if pending else await receive()

    return replay


def _close_connections() -> None:
    for connection in connections.all(initialized_only=True):
        connection.close()


class LaneASGIHandler(ASGIHandler):
    def __init__(self, lanes: int, wait_seconds: float = 0.5) -> None:
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)  # the whole chain runs on the lane (see above)
        self.max_lanes = max(0, lanes)
        self.wait_seconds = max(0.0, wait_seconds)
        # A server process serves on one event loop, but tests run several servers (each with its
        # own loop) on one handler: a waiter is woken on its own loop (list and deque operations
        # are atomic).
        self._idle: list[ThreadPoolExecutor] = []
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._created = 0

    def _take_lane(self) -> ThreadPoolExecutor | None:
        if self._idle:
            return self._idle.pop()
        if self._created < self.max_lanes:
            self._created += 1
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"django-lane-{self._created}")
        return None

    async def _wait_for_lane(self) -> ThreadPoolExecutor | None:
        """A lane handed over by a request that ends within ``wait_seconds``, else None."""
        lane = self._take_lane()
        if lane is not None or self.max_lanes == 0 or self.wait_seconds == 0:
            return lane
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.wait_seconds, lambda: waiter.done() or waiter.set_result(None))
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:  # the client left while waiting; a lane handed over is passed on
            if waiter.done() and not waiter.cancelled() and waiter.result() is not None:
                self._give_back(waiter.result())
            raise
        finally:
            timer.cancel()

    def _give_back(self, lane: ThreadPoolExecutor) -> None:
        while self._waiters:
            try:
                waiter = self._waiters.popleft()
            except IndexError:  # taken by another loop's thread meanwhile
                break
            if waiter.done():  # (one that timed out or was cancelled is skipped)
                continue
            loop = waiter.get_loop()
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if loop is running:
                waiter.set_result(lane)
                return
            try:
                loop.call_soon_threadsafe(self._hand_over, waiter, lane)
                return
            except RuntimeError:  # that loop is closed: its waiter is gone
                continue
        self._idle.append(lane)

    def _hand_over(self, waiter: asyncio.Future, lane: ThreadPoolExecutor) -> None:
        """On the waiter's own loop: the lane, unless it stopped waiting meanwhile (then the next one)."""
        if waiter.done():
            self._give_back(lane)
        else:
            waiter.set_result(lane)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        receive = await _body_read_first(receive)
        if receive is None:  # the client left (or passed the body limit) before its body was in
            return
        lane = await self._wait_for_lane()
        if lane is None:
            async with ThreadSensitiveContext():
                try:
                    await self.handle(scope, receive, send)
                finally:
                    # The thread goes away with the request: so do its connections.
                    await sync_to_async(_close_connections, thread_sensitive=True)()
            return
        try:
            async with ThreadSensitiveContext(executor=lane):
                await self.handle(scope, receive, send)
        finally:
            self._give_back(lane)

    async def listen_for_disconnect(self, receive):
        """Django's, returning where it raises RequestAborted (which its ``handle`` only catches and drops).

        uvicorn answers ``receive()`` with ``http.disconnect`` once the response is out, so this
        task ended with that exception after every request; ``handle`` re-raised it from the
        task and kept the task in a local, which made a reference cycle of its own frame and
        so of the whole request (the request, its user, the view, the turn's objects): ~250
        objects per request left to the garbage collector, whose pauses were the tail of c=16.
        Returning ends the task just as well: ``handle`` then cancels the view's task if it is
        still running, as it does for the exception.
        """
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        # This should never happen (Django's own check).
        raise AssertionError(f"Invalid ASGI message after request body: {message['type']}")

    def _get_response_on_lane(self, request):
        adopt_thread_caches()  # the lane's cache backends, not new ones per request (core.thread_caches)
        try:
            return self.get_response(request)
        finally:
            keep_thread_caches()

    async def run_get_response(self, request):
        response = await sync_to_async(self._get_response_on_lane, thread_sensitive=True)(request)
        response._handler_class = self.__class__
        if isinstance(response, FileResponse):  # the ASGI server chunks it (as Django's handler does)
            response.block_size = self.chunk_size
        return response

    def close_lanes(self) -> None:
        """Close each lane's connections on its own thread, then stop the threads (server shutdown)."""
        lanes, self._idle = self._idle, []
        self._created -= len(lanes)  # new lanes may be made again (tests start servers one after another)
        for lane in lanes:
            try:
                lane.submit(_close_connections).result(timeout=5)
            except Exception:  # a connection that fails to close is gone either way
                pass
            lane.shutdown(wait=False)
