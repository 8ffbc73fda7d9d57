"""Server-sent events from a synchronous generator, streamed for real under ASGI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

_END = object()


def _encode(event: dict[str, Any]) -> str:
    if event.get("type") == "keepalive":  # an SSE comment: keeps proxies and the page from timing out
        return ": keep-alive\n\n"
    return f"event: {event.get('type', 'message')}\ndata: {json.dumps(event, default=str)}\n\n"


def sse_response(request, events: Iterator[dict[str, Any]]) -> StreamingHttpResponse:
    """Stream ``events`` as text/event-stream.

    Under ASGI, Django would buffer a sync iterator whole; each item is pulled on the
    thread-sensitive sync thread instead (where the ORM may run), so events leave as they come.
    """
    django_request = getattr(request, "_request", request)  # DRF wraps Django's request
    if isinstance(django_request, ASGIRequest):
        iterator = iter(events)

        async def content():
            while (event := await sync_to_async(next, thread_sensitive=True)(iterator, _END)) is not _END:
                yield _encode(event)

        body = content()
    else:
        body = (_encode(event) for event in events)
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
