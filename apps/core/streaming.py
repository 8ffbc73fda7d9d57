"""Server-sent events from a synchronous generator, streamed for real under ASGI, and run to the end even when the client leaves."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

from apps.core.request_context import current_request_context, reset_request_context, set_request_context

logger = logging.getLogger(__name__)

_END = object()


def _encode(event: dict[str, Any]) -> str:
    if event.get("type") == "keepalive":  # an SSE comment: keeps proxies and the page from timing out
        return ": keep-alive\n\n"
    return f"event: {event.get('type', 'message')}\ndata: {json.dumps(event, default=str)}\n\n"


def _failure_event(exc: Exception) -> dict[str, Any]:
    """The last event of a stream whose generator failed: its 200 and first events are out, so the
    failure is told in the stream (the page shows it), not by a cut connection."""
    from django.db import DatabaseError

    from apps.core.outage import DatabaseUnavailable

    if isinstance(exc, DatabaseError):  # an outage is logged once per interval (apps.core.outage)
        logger.warning("a stream ended early: the database failed (%s)", type(exc).__name__)
        return {"type": "error", "code": "service_unavailable", "message": DatabaseUnavailable.PUBLIC_MESSAGE}
    logger.error("a stream's generator failed", exc_info=exc)
    return {"type": "error", "code": "server_error", "message": "Something went wrong; please try again."}


class _EventPump:
    """Pulls a sync generator one event at a time, on the caller's (worker) thread, with the request's context.

    The generator is a chat turn: its work (model calls, tools, storing the answer, usage and
    audit) happens as it is pulled, and it uses the ORM, so every pull and its clean-up must
    run on a sync thread. When the reader stops early (the client went away), ``finish()``
    pulls the rest without sending it, so the turn completes and is stored as if it had been
    read: the user finds the answer on reload. Left to the garbage collector instead, the
    generator would be closed on the event loop, where its clean-up fails
    (SynchronousOnlyOperation) and the answer, usage and audit row are lost.

    The request context (request id, client ip) is captured when the response is made, inside
    the request, and set again around every pull: the body is iterated after the middleware
    has returned, so the audit rows a streamed turn writes would otherwise carry neither.
    """

    def __init__(self, events: Iterator[dict[str, Any]]) -> None:
        self._iterator = iter(events)
        self._request_context = current_request_context()
        self._lock = threading.Lock()  # a generator must never run on two threads at once
        self.finished = False

    def next(self) -> Any:
        with self._lock:
            if self.finished:
                return _END
            token = set_request_context(self._request_context)
            try:
                return next(self._iterator)
            except StopIteration:
                self.finished = True
                return _END
            except Exception as exc:
                self.finished = True
                return _failure_event(exc)
            except BaseException:
                self.finished = True
                raise
            finally:
                reset_request_context(token)

    def finish(self) -> None:
        """Run what is left of the generator, discarding its events; idempotent."""
        with self._lock:
            if self.finished:
                return
            self.finished = True
            token = set_request_context(self._request_context)
            try:
                for _event in self._iterator:
                    pass
            except Exception:
                logger.exception("a stream's generator failed after its client went away")
            finally:
                reset_request_context(token)


class _SyncBody:
    """WSGI and the test client: the server calls close() when it stops reading."""

    def __init__(self, pump: _EventPump) -> None:
        self._pump = pump

    def __iter__(self):
        while (event := self._pump.next()) is not _END:
            yield _encode(event)

    def close(self) -> None:
        self._pump.finish()


class _AsyncBody:
    """ASGI: each pull runs on the request's thread-sensitive worker thread, shielded from cancellation.

    Django cancels the response when the client disconnects. A cancelled ``sync_to_async`` would
    also cancel whatever async work the pulled code waits for (asgiref cancels the task of an
    inner ``async_to_sync``, e.g. an MCP tool call), so the pull is shielded: it completes, and
    the rest of the turn is then run to the end on the same thread before the request is done.
    ``close()`` (called by Django after the response, also when the body was never started)
    does the same for a stream that was never read to the end.
    """

    def __init__(self, pump: _EventPump) -> None:
        self._pump = pump

    def __aiter__(self):
        return self._events()

    async def _events(self):
        pump = self._pump
        pending: asyncio.Future | None = None
        try:
            while True:
                pending = asyncio.ensure_future(sync_to_async(pump.next, thread_sensitive=True)())
                try:
                    event = await asyncio.shield(pending)
                finally:
                    if pending.done():  # not so when this task was cancelled: the pull goes on
                        pending = None
                if event is _END:
                    return
                yield _encode(event)
        finally:
            if pending is not None or not pump.finished:
                await asyncio.shield(self._finish(pending))

    async def _finish(self, pending: asyncio.Future | None) -> None:
        if pending is not None:
            try:
                await pending  # the pull in flight when the client left: let it complete
            except Exception:
                logger.exception("a stream's generator failed after its client went away")
        await sync_to_async(self._pump.finish, thread_sensitive=True)()

    def close(self) -> None:
        self._pump.finish()


def sse_response(request, events: Iterator[dict[str, Any]]) -> StreamingHttpResponse:
    """Stream ``events`` as text/event-stream; the generator always runs to its end (see _EventPump).

    Under ASGI, Django would buffer a sync iterator whole; each item is pulled on the
    thread-sensitive sync thread instead (where the ORM may run), so events leave as they come.
    """
    django_request = getattr(request, "_request", request)  # DRF wraps Django's request
    pump = _EventPump(events)
    body = _AsyncBody(pump) if isinstance(django_request, ASGIRequest) else _SyncBody(pump)
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
