"""Redis connections for the cache that fail at once while this process knows Redis is down.

django-redis bounds each socket operation (SOCKET_CONNECT_TIMEOUT / SOCKET_TIMEOUT), but with
Redis black-holed (a host that accepts but never answers) every cache call of every request
still waits out its timeout, and a request makes several: an MCP call took 4 s, a chat turn 6 s.
After a connection fails, ``cache_outage`` is down for REDIS_RETRY_AFTER_SECONDS and new
connections are refused without touching the network; the first connection after that window
probes Redis again. Callers see the usual ``redis.ConnectionError`` and fall back as before.

A pooled connection that died without this process noticing (Redis restarted or failed over
behind a proxy or a load balancer, an idle timeout in between) fails its next command at once
with a ConnectionError. That says nothing about Redis: the command is sent once more on a new
connection (redis-py's retry), and only a new connection that fails counts as an outage. Taking
the first for one put the cache down for REDIS_RETRY_AFTER_SECONDS with Redis up (limits failed
open, cache bumps skipped, /readyz answered 503).
"""

from __future__ import annotations

from redis import exceptions
from redis.backoff import NoBackoff
from redis.connection import Connection, SSLConnection
from redis.retry import Retry

from apps.core.outage import cache_outage as redis_outage
_FAILURES = (exceptions.ConnectionError, exceptions.TimeoutError)


class _FailFast:
    def __init__(self, *args, **kwargs):
        # Not on a timeout: a hung Redis costs one wait per window, not two.
        kwargs.setdefault("retry", Retry(NoBackoff(), 1, supported_errors=(exceptions.ConnectionError,)))
        kwargs.setdefault("retry_on_error", [exceptions.ConnectionError])
        super().__init__(*args, **kwargs)

    def connect(self):
        if self._sock is None and redis_outage.is_down():
            raise exceptions.ConnectionError("Redis is unavailable (failing fast after a recent failure).")
        try:
            super().connect()
        except _FAILURES as exc:
            redis_outage.failed(exc)
            raise

    def send_packed_command(self, *args, **kwargs):
        try:
            return super().send_packed_command(*args, **kwargs)
        except exceptions.TimeoutError as exc:
            redis_outage.failed(exc)
            raise

    def read_response(self, *args, **kwargs):
        try:
            response = super().read_response(*args, **kwargs)
        except exceptions.TimeoutError as exc:  # a ConnectionError here: this connection died (above)
            redis_outage.failed(exc)
            raise
        redis_outage.recovered()
        return response


class FailFastConnection(_FailFast, Connection):
    pass


class FailFastSSLConnection(_FailFast, SSLConnection):
    pass
