"""HTTP clients for provider SDKs whose timeout is a total limit for one call, not per read.

httpx (and so both SDKs) only knows per-operation timeouts: a server that sends one byte every
few seconds never trips a read timeout. Here every socket read, write and connect is bounded by
what is left of the call's deadline, so a call (plain or streamed) ends at its deadline whatever
the server does. The deadline lives on the client, so today's clients are one per call; to share
one long-lived client per base URL later, keep ``CallDeadline`` in a contextvar instead (reads
happen in the calling thread) and pass the API key per request.
"""

from __future__ import annotations

import time
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


class _DeadlineStream(httpcore2.NetworkStream):
    def __init__(self, inner: httpcore2.NetworkStream, deadline: CallDeadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def _bound(self, timeout: float | None, exc: type[Exception]) -> float:
        left = self._deadline.left()
        if left <= 0:
            raise exc("the call's total time limit was reached")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._bound(timeout, httpcore2.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._bound(timeout, httpcore2.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore2.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, self._bound(timeout, httpcore2.ConnectTimeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore2.SyncBackend):
    def __init__(self, deadline: CallDeadline) -> None:
        self._deadline = deadline

    def _bound(self, timeout: float | None) -> float:
        left = self._deadline.left()
        if left <= 0:
            raise httpcore2.ConnectTimeout("the call's total time limit was reached")
        return left if timeout is None else min(timeout, left)

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        stream = super().connect_tcp(host, port, self._bound(timeout), local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _DeadlineStream(super().connect_unix_socket(path, self._bound(timeout), socket_options), self._deadline)


def deadline_http_client(deadline: CallDeadline) -> httpx2.Client:
    """An httpx client whose every network operation ends by ``deadline``."""
    transport = httpx2.HTTPTransport(retries=0)
    pool = transport._pool
    # HTTPTransport takes no network backend argument; its pool does (httpcore's public parameter).
    assert hasattr(pool, "_network_backend"), "httpcore2 changed: the deadline backend cannot be installed"
    pool._network_backend = _DeadlineBackend(deadline)
    return httpx2.Client(transport=transport, timeout=httpx2.Timeout(deadline.seconds), follow_redirects=True)
