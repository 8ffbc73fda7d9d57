"""Shared HTTP clients for the provider SDKs, with a total time limit per call.

httpx (and so both SDKs) only knows per-operation timeouts: a server that sends one byte every
few seconds never trips a read timeout. Here every socket read, write and connect is bounded by
what is left of the current call's deadline, so a call (plain or streamed) ends at its deadline
whatever the server does.

One long-lived ``httpx2.Client`` (connection pool, SSL context) is kept per base URL and
process: building a client per call cost ~27 ms, most of it loading the CA bundle. The
deadline of the call being made lives in a context variable (``bounded_by``), read by the
pooled connections on every socket operation in the calling thread, so one pool serves any
number of concurrent calls, each with its own deadline. The client carries no credentials and
keeps no cookies: the SDK client built per call adds that call's API key to that request only.
"""

from __future__ import annotations

import contextlib
import contextvars
import http.cookiejar
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import httpcore2
import httpx2


class CallDeadline:
    """A monotonic deadline for one provider call."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(float(seconds), 0.001)
        self.at = time.monotonic() + self.seconds

    def left(self) -> float:
        return self.at - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.left() <= 0


_CURRENT: contextvars.ContextVar[CallDeadline | None] = contextvars.ContextVar("provider_call_deadline", default=None)


@contextlib.contextmanager
def bounded_by(deadline: CallDeadline) -> Iterator[None]:
    """Network operations in this block (this thread/context) end by ``deadline``.

    Never hold it across a ``yield`` of a generator: set it around each step instead
    (``bounded_iter``), so the deadline never leaks into the consumer's context.
    """
    token = _CURRENT.set(deadline)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def bounded_iter(iterable: Any, deadline: CallDeadline) -> Iterator[Any]:
    """Iterate ``iterable`` with each step bounded by ``deadline``."""
    iterator = iter(iterable)
    while True:
        with bounded_by(deadline):
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item


def _bound(timeout: float | None, exc: type[Exception]) -> float | None:
    deadline = _CURRENT.get()
    if deadline is None:
        return timeout
    left = deadline.left()
    if left <= 0:
        raise exc("the call's total time limit was reached")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore2.NetworkStream):
    def __init__(self, inner: httpcore2.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bound(timeout, httpcore2.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bound(timeout, httpcore2.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore2.NetworkStream:
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, _bound(timeout, httpcore2.ConnectTimeout))
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore2.SyncBackend):
    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        timeout = _bound(timeout, httpcore2.ConnectTimeout)
        return _DeadlineStream(super().connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        timeout = _bound(timeout, httpcore2.ConnectTimeout)
        return _DeadlineStream(super().connect_unix_socket(path, timeout, socket_options))


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """A shared client must never carry one user's cookie into another user's request."""

    def set_ok(self, cookie, request) -> bool:  # noqa: ARG002
        return False

    def return_ok(self, cookie, request) -> bool:  # noqa: ARG002
        return False


def deadline_http_client(*, max_connections: int = 32, max_keepalive: int = 8) -> httpx2.Client:
    """An httpx client whose network operations end by the deadline set with ``bounded_by``."""
    limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_keepalive)
    transport = httpx2.HTTPTransport(retries=0, limits=limits)
    pool = transport._pool
    # HTTPTransport takes no network backend argument; its pool does (httpcore's public parameter).
    assert hasattr(pool, "_network_backend"), "httpcore2 changed: the deadline backend cannot be installed"
    pool._network_backend = _DeadlineBackend()
    return httpx2.Client(
        transport=transport,
        timeout=httpx2.Timeout(60.0),  # every SDK request passes its own (the call's) timeout
        follow_redirects=True,
        cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
    )


class HttpClientPool:
    """Process-wide shared clients, one per base URL; bounded in number, safe across threads.

    A base URL changed in the admin is a new key (the next call uses a new client); the least
    recently used client beyond ``max_clients`` is forgotten, not closed (closing would cut a
    call still using it); its sockets close when the last call using it lets go.
    """

    def __init__(self, max_clients: int = 16) -> None:
        self.max_clients = max_clients
        self._clients: OrderedDict[str, httpx2.Client] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, base_url: str) -> httpx2.Client:
        with self._lock:
            client = self._clients.get(base_url)
            if client is not None and not client.is_closed:
                self._clients.move_to_end(base_url)
                return client
            from django.conf import settings

            client = deadline_http_client(
                max_connections=settings.PROVIDER_HTTP_MAX_CONNECTIONS,
                max_keepalive=settings.PROVIDER_HTTP_MAX_KEEPALIVE,
            )
            self._clients[base_url] = client
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
            return client

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), OrderedDict()
        for client in clients:
            client.close()

    def __len__(self) -> int:
        return len(self._clients)


SHARED_CLIENTS = HttpClientPool()


def close_shared_clients() -> None:
    """Close every shared provider client (server shutdown; tests)."""
    SHARED_CLIENTS.close()
