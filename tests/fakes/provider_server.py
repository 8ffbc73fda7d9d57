"""A scriptable fake of the OpenAI and Anthropic HTTP APIs on a real local socket.

Routes: ``POST /v1/chat/completions`` (OpenAI), ``POST /v1/messages``
(Anthropic), ``GET /v1/models`` (both; cheap key check). Plain JSON and SSE
streaming are answered the way the real APIs shape them.

Script a route with ``reply_text`` / ``reply_tool_calls`` / ``fault``; each
call consumes one scripted answer. With nothing scripted and ``auto`` on, the
server answers with a plain text echo of the last user message.
"""

from __future__ import annotations

import collections
import itertools
import json
import random
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OPENAI = "openai"
ANTHROPIC = "anthropic"
MODELS = "models"
ROUTES = {
    "/v1/chat/completions": OPENAI,
    "/chat/completions": OPENAI,
    "/v1/messages": ANTHROPIC,
    "/v1/models": MODELS,
    "/models": MODELS,
}

FAULTS = frozenset(
    {
        "rate_limited",  # 429 with Retry-After
        "unauthorized",  # 401
        "forbidden",  # 403
        "server_error",  # 500
        "unavailable",  # 503
        "overloaded",  # 529 (Anthropic's overloaded_error)
        "context_too_long",  # 400 with the vendor's context-length error
        "bad_request",  # 400, something else
        "not_found",  # 404 (unknown model)
        "slow",  # sleep `delay` seconds, then answer normally
        "malformed",  # 200 with a non-JSON body
        "empty_choices",  # 200 with "choices": [] (OpenAI) / no content & stop reason (Anthropic)
        "cut_stream",  # stream some events, then drop the connection mid-body
        "stream_no_finish",  # stream some events, then end the body cleanly without a finish
        "stream_error_event",  # stream starts, then an in-stream error event (overloaded)
        "drip",  # 200 headers at once, then one body byte every `delay` seconds for `duration` (or until stop)
    }
)


@dataclass(frozen=True)
class ScriptedToolCall:
    name: str
    arguments: dict[str, Any] | str  # a str is sent verbatim (use it for invalid JSON)
    id: str | None = None


@dataclass
class Scripted:
    """One scripted answer. ``fault`` None means a normal reply."""

    text: str = ""
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    usage: tuple[int, int] = (11, 7)
    fault: str | None = None
    retry_after: str | None = "7"
    delay: float = 0.0
    model: str | None = None
    finish: str | None = None  # override the finish reason (e.g. "length")
    headers: dict[str, str] = field(default_factory=dict)  # extra answer headers (rate-limit ones, say)
    duration: float | None = None  # "drip": how long to keep dripping (None: until the server stops)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    route: str | None
    headers: dict[str, str]  # lower-cased names
    body: Any  # decoded JSON, or None
    raw_body: bytes
    at: float = 0.0  # time.monotonic() when the request arrived
    peer: tuple[str, int] | None = None  # the client's address and port (one per TCP connection)

    @property
    def stream(self) -> bool:
        return bool(isinstance(self.body, dict) and self.body.get("stream"))

    def api_key(self) -> str | None:
        """The key as sent, from `x-api-key` or `Authorization: Bearer ...`."""
        if self.headers.get("x-api-key"):
            return self.headers["x-api-key"]
        auth = self.headers.get("authorization", "")
        return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None


@dataclass
class FakeProviderServer:
    host: str = "127.0.0.1"
    bind_port: int = 0  # 0: any free port
    auto: bool = True
    expected_key: str | None = None  # if set, other keys get a 401 like the real APIs
    # If set: a request whose last user text is one of these gets a 401 unless it carries the mapped key.
    keys_by_user_text: dict[str, str] | None = None
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queues: dict[str, collections.deque[Scripted]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._chaos: dict[str, tuple[random.Random, float, tuple[str, ...], dict[str, Any]]] = {}

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> FakeProviderServer:
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = _QuietServer((self.host, self.bind_port), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # a "slow" handler must not hold up stop()
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    # -- scripting ----------------------------------------------------------
    def enqueue(self, route: str, scripted: Scripted) -> None:
        if route not in (OPENAI, ANTHROPIC, MODELS):
            raise ValueError(f"unknown route {route!r}")
        if scripted.fault is not None and scripted.fault not in FAULTS:
            raise ValueError(f"unknown fault {scripted.fault!r}; known: {sorted(FAULTS)}")
        with self._lock:
            self._queues[route].append(scripted)

    def reply_text(self, route: str, text: str, *, usage: tuple[int, int] = (11, 7), **kw: Any) -> None:
        self.enqueue(route, Scripted(text=text, usage=usage, **kw))

    def reply_tool_calls(
        self,
        route: str,
        calls: Iterable[ScriptedToolCall | tuple[str, dict[str, Any] | str]],
        *,
        text: str = "",
        usage: tuple[int, int] = (20, 9),
        **kw: Any,
    ) -> None:
        normalised = tuple(c if isinstance(c, ScriptedToolCall) else ScriptedToolCall(*c) for c in calls)
        self.enqueue(route, Scripted(text=text, tool_calls=normalised, usage=usage, **kw))

    def fault(self, route: str, fault: str, **kw: Any) -> None:
        self.enqueue(route, Scripted(fault=fault, **kw))

    def chaos(self, route: str, *, rate: float, seed: int, faults: Iterable[str], **kw: Any) -> None:
        """With nothing scripted, answer ``rate`` of the requests to ``route`` with a seeded random fault."""
        faults = tuple(faults)
        unknown = set(faults) - FAULTS
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}")
        with self._lock:
            self._chaos[route] = (random.Random(seed), rate, faults, kw)

    def _next(self, route: str) -> Scripted | None:
        with self._lock:
            queue = self._queues[route]
            if queue:
                return queue.popleft()
            if route in self._chaos:
                rng, rate, faults, kw = self._chaos[route]
                if rng.random() < rate:
                    return Scripted(fault=rng.choice(faults), **kw)
            return None

    def count(self, route: str | None = None) -> int:
        """How many requests the server received (for ``route``, or all)."""
        with self._lock:
            return sum(1 for r in self.requests if route is None or r.route == route)

    def pending(self, route: str) -> int:
        with self._lock:
            return len(self._queues[route])

    # -- inspection ---------------------------------------------------------
    def requests_to(self, route: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.route == route]

    def last(self, route: str | None = None) -> RecordedRequest:
        with self._lock:
            matches = [r for r in self.requests if route is None or r.route == route]
        assert matches, f"no request recorded for {route!r}"
        return matches[-1]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._queues.clear()
            self._chaos.clear()
        self.expected_key = None
        self.keys_by_user_text = None
        self.auto = True

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)


# -- wire shapes ---------------------------------------------------------------


def _last_user_text(route: str, body: Any) -> str:
    messages = body.get("messages", []) if isinstance(body, dict) else []
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
            if texts:
                return " ".join(texts)
    return ""


def _arguments_text(arguments: dict[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _openai_error(status: int, message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _anthropic_error(type_: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}}


# status, openai body, anthropic body
_HTTP_FAULTS: dict[str, tuple[int, dict[str, Any], dict[str, Any]]] = {
    "rate_limited": (
        429,
        _openai_error(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded"),
        _anthropic_error("rate_limit_error", "Number of requests has exceeded your rate limit"),
    ),
    "unauthorized": (
        401,
        # The real OpenAI answer echoes a masked key; the fake echoes all of it so
        # tests prove the adapter never copies upstream text.
        _openai_error(401, "Incorrect API key provided: {key}.", "invalid_request_error", "invalid_api_key"),
        _anthropic_error("authentication_error", "invalid x-api-key {key}"),
    ),
    "forbidden": (
        403,
        _openai_error(403, "Project does not have access to model (key {key})", "invalid_request_error"),
        _anthropic_error("permission_error", "Your API key {key} does not have permission"),
    ),
    "server_error": (
        500,
        _openai_error(500, "The server had an error while processing your request.", "server_error"),
        _anthropic_error("api_error", "Internal server error"),
    ),
    "unavailable": (
        503,
        _openai_error(503, "The engine is currently overloaded, please try again later.", "server_error"),
        _anthropic_error("api_error", "Service unavailable"),
    ),
    "overloaded": (
        529,
        _openai_error(529, "Overloaded", "server_error"),
        _anthropic_error("overloaded_error", "Overloaded"),
    ),
    "context_too_long": (
        400,
        _openai_error(
            400,
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 130001 tokens.",
            "invalid_request_error",
            "context_length_exceeded",
        ),
        _anthropic_error("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
    ),
    "bad_request": (
        400,
        _openai_error(400, "Invalid value for 'temperature'.", "invalid_request_error", "invalid_value"),
        _anthropic_error("invalid_request_error", "temperature: Input should be less than or equal to 1"),
    ),
    "not_found": (
        404,
        _openai_error(404, "The model `nope` does not exist", "invalid_request_error", "model_not_found"),
        _anthropic_error("not_found_error", "model: nope"),
    ),
}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a cut-off call) resets the connection; that is the point, not news.
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeProviderServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        pass

    # -- plumbing -----------------------------------------------------------
    def _read_body(self) -> tuple[bytes, Any]:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return raw, json.loads(raw) if raw else None
        except ValueError:
            return raw, None

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_bytes(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _start_sse(self, headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _drop_connection(self) -> None:
        """Close the socket without the final chunk: the client sees a truncated body."""
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _sse(self, data: Any, event: str | None = None) -> None:
        prefix = f"event: {event}\n" if event else ""
        payload = data if isinstance(data, str) else json.dumps(data)
        self._chunk(f"{prefix}data: {payload}\n\n".encode())

    # -- dispatch -----------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        route = ROUTES.get(path)
        raw, body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        recorded = RecordedRequest(method, path, route, headers, body, raw, time.monotonic(), tuple(self.client_address))
        self.fake._record(recorded)
        try:
            if route is None or (route == MODELS) != (method == "GET"):
                self._send_json(404, {"error": {"message": f"no route {method} {path}", "type": "not_found"}})
                return
            # Which wire format a /v1/models answer uses: Anthropic clients send anthropic-version.
            flavour = route if route != MODELS else (ANTHROPIC if "anthropic-version" in headers else OPENAI)
            scripted = self.fake._next(route)
            if self.fake.expected_key is not None and recorded.api_key() != self.fake.expected_key:
                scripted = Scripted(fault="unauthorized")
            wanted = (self.fake.keys_by_user_text or {}).get(_last_user_text(route, body)) if route != MODELS else None
            if wanted is not None and recorded.api_key() != wanted:
                scripted = Scripted(fault="unauthorized")
            if scripted is None:
                if not self.fake.auto:
                    self._send_json(500, {"error": {"message": "fake: nothing scripted", "type": "server_error"}})
                    return
                scripted = Scripted(text=f"echo: {_last_user_text(route, body)}")
            self._answer(route, flavour, scripted, recorded)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _answer(self, route: str, flavour: str, s: Scripted, req: RecordedRequest) -> None:
        request_id_header = "x-request-id" if flavour == OPENAI else "request-id"
        headers = {request_id_header: self.fake._new_id("req_"), **s.headers}
        if s.fault == "drip":
            self._drip(s, headers)
            return
        if s.fault == "slow":
            self.fake._sleep(s.delay or 5.0)
            if self.fake._stopping.is_set():
                return
        elif s.fault in _HTTP_FAULTS:
            status, openai_body, anthropic_body = _HTTP_FAULTS[s.fault]
            payload = json.loads(
                json.dumps(openai_body if flavour == OPENAI else anthropic_body).replace("{key}", req.api_key() or "")
            )
            if s.fault == "rate_limited" and s.retry_after is not None:
                headers["retry-after"] = s.retry_after
            self._send_json(status, payload, headers)
            return
        elif s.fault == "malformed":
            self._send_bytes(200, b"<html>502 Bad Gateway</html>{not json", "application/json", headers)
            return

        if route == MODELS:
            self._send_json(200, self._models_body(flavour), headers)
        elif route == OPENAI:
            if req.stream:
                self._openai_stream(s, req, headers)
            else:
                self._send_json(200, self._openai_body(s, req), headers)
        else:
            if req.stream:
                self._anthropic_stream(s, req, headers)
            else:
                self._send_json(200, self._anthropic_body(s, req), headers)

    def _drip(self, s: Scripted, headers: dict[str, str]) -> None:
        """Headers at once, then a byte at a time: no read ever waits long, the body never ends."""
        self._start_sse(headers)
        interval = s.delay or 0.2
        ends = time.monotonic() + s.duration if s.duration is not None else None
        while not self.fake._stopping.is_set() and (ends is None or time.monotonic() < ends):
            self._chunk(b":")
            self.fake._sleep(interval)
        self._drop_connection()

    @staticmethod
    def _models_body(flavour: str) -> dict[str, Any]:
        if flavour == OPENAI:
            return {"object": "list", "data": [{"id": "gpt-fake", "object": "model", "created": 0, "owned_by": "fake"}]}
        return {
            "data": [{"type": "model", "id": "claude-fake", "display_name": "Claude Fake", "created_at": "2026-01-01T00:00:00Z"}],
            "has_more": False,
            "first_id": "claude-fake",
            "last_id": "claude-fake",
        }

    # -- OpenAI -------------------------------------------------------------
    def _openai_tool_calls(self, s: Scripted) -> list[dict[str, Any]]:
        return [
            {
                "id": call.id or self.fake._new_id("call_"),
                "type": "function",
                "function": {"name": call.name, "arguments": _arguments_text(call.arguments)},
            }
            for call in s.tool_calls
        ]

    def _openai_finish(self, s: Scripted) -> str:
        return s.finish or ("tool_calls" if s.tool_calls else "stop")

    def _openai_body(self, s: Scripted, req: RecordedRequest) -> dict[str, Any]:
        model = s.model or req.body.get("model", "gpt-fake")
        body: dict[str, Any] = {
            "id": self.fake._new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [],
            "usage": {
                "prompt_tokens": s.usage[0],
                "completion_tokens": s.usage[1],
                "total_tokens": s.usage[0] + s.usage[1],
            },
        }
        if s.fault != "empty_choices":
            message: dict[str, Any] = {"role": "assistant", "content": s.text or None, "refusal": None}
            if s.tool_calls:
                message["tool_calls"] = self._openai_tool_calls(s)
            body["choices"] = [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": self._openai_finish(s)}
            ]
        return body

    def _openai_stream(self, s: Scripted, req: RecordedRequest, headers: dict[str, str]) -> None:
        include_usage = bool((req.body.get("stream_options") or {}).get("include_usage"))
        base = {
            "id": self.fake._new_id("chatcmpl-"),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": s.model or req.body.get("model", "gpt-fake"),
            "system_fingerprint": "fp_fake",
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            out = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            if include_usage:
                out["usage"] = None
            return out

        self._start_sse(headers)
        if s.fault == "empty_choices":
            self._sse({**base, "choices": [], "usage": None})
            self._sse("[DONE]")
            self._end_chunks()
            return
        self._sse(chunk({"role": "assistant", "content": "", "refusal": None}))
        pieces = _chunks(s.text, 4) if s.text else []
        for n, piece in enumerate(pieces):
            self._sse(chunk({"content": piece}))
            if s.fault in ("cut_stream", "stream_no_finish", "stream_error_event") and n == len(pieces) // 2:
                break
        else:
            for index, call in enumerate(self._openai_tool_calls(s)):
                self._sse(
                    chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": index,
                                    "id": call["id"],
                                    "type": "function",
                                    "function": {"name": call["function"]["name"], "arguments": ""},
                                }
                            ]
                        }
                    )
                )
                for fragment in _chunks(call["function"]["arguments"], 7):
                    self._sse(chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}))
        if s.fault == "cut_stream":
            self._drop_connection()
            return
        if s.fault == "stream_no_finish":
            self._end_chunks()
            return
        if s.fault == "stream_error_event":
            self._sse({"error": {"message": "The server is overloaded", "type": "server_error", "code": None}})
            self._end_chunks()
            return
        self._sse(chunk({}, self._openai_finish(s)))
        if include_usage:
            self._sse(
                {
                    **base,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": s.usage[0],
                        "completion_tokens": s.usage[1],
                        "total_tokens": s.usage[0] + s.usage[1],
                    },
                }
            )
        self._sse("[DONE]")
        self._end_chunks()

    # -- Anthropic ----------------------------------------------------------
    def _anthropic_finish(self, s: Scripted) -> str:
        return s.finish or ("tool_use" if s.tool_calls else "end_turn")

    def _anthropic_blocks(self, s: Scripted) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if s.text:
            blocks.append({"type": "text", "text": s.text})
        for call in s.tool_calls:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.id or self.fake._new_id("toolu_"),
                    "name": call.name,
                    # A str here is the "invalid arguments" fault: sent as-is.
                    "input": call.arguments,
                }
            )
        return blocks

    def _anthropic_body(self, s: Scripted, req: RecordedRequest) -> dict[str, Any]:
        body = {
            "id": self.fake._new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": s.model or req.body.get("model", "claude-fake"),
            "content": self._anthropic_blocks(s),
            "stop_reason": self._anthropic_finish(s),
            "stop_sequence": None,
            "usage": {"input_tokens": s.usage[0], "output_tokens": s.usage[1]},
        }
        if s.fault == "empty_choices":
            body["content"] = None
            body["stop_reason"] = None
        return body

    def _anthropic_stream(self, s: Scripted, req: RecordedRequest, headers: dict[str, str]) -> None:
        self._start_sse(headers)
        message = {
            "id": self.fake._new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": s.model or req.body.get("model", "claude-fake"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": s.usage[0], "output_tokens": 1},
        }
        self._sse({"type": "message_start", "message": message}, "message_start")
        self._sse({"type": "ping"}, "ping")
        if s.fault == "empty_choices":
            # No content and no stop reason: a message that never said how it ended.
            self._sse({"type": "message_stop"}, "message_stop")
            self._end_chunks()
            return
        index = 0
        truncating = s.fault in ("cut_stream", "stream_no_finish", "stream_error_event")
        if s.text:
            self._sse(
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            )
            pieces = _chunks(s.text, 4)
            for n, piece in enumerate(pieces):
                self._sse(
                    {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}},
                    "content_block_delta",
                )
                if truncating and n == len(pieces) // 2:
                    break
            else:
                self._sse({"type": "content_block_stop", "index": index}, "content_block_stop")
            index += 1
        if not (truncating and s.text):
            for call in s.tool_calls:
                self._sse(
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": call.id or self.fake._new_id("toolu_"),
                            "name": call.name,
                            "input": {},
                        },
                    },
                    "content_block_start",
                )
                for fragment in _chunks(_arguments_text(call.arguments), 7):
                    self._sse(
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": fragment},
                        },
                        "content_block_delta",
                    )
                self._sse({"type": "content_block_stop", "index": index}, "content_block_stop")
                index += 1
        if s.fault == "cut_stream":
            self._drop_connection()
            return
        if s.fault == "stream_no_finish":
            self._end_chunks()
            return
        if s.fault == "stream_error_event":
            self._sse(_anthropic_error("overloaded_error", "Overloaded"), "error")
            self._end_chunks()
            return
        self._sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": self._anthropic_finish(s), "stop_sequence": None},
                "usage": {"output_tokens": s.usage[1]},
            },
            "message_delta",
        )
        self._sse({"type": "message_stop"}, "message_stop")
        self._end_chunks()
