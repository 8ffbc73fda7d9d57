"""Reads of the shared cache (Redis) made on an event loop, without a worker-thread hop.

With Redis, an MCP call's checks (the token's, the policies' and the registry's generations)
were a worker-thread hop of their own before the tool's: about 0.5 ms of a 3 ms call, most of it
the hop. Here one MGET is awaited on the loop instead, through an asyncio Redis client per event
loop (the same server, key names and value encoding as the project's django-redis cache), and
what it reads serves the rest of the request (apps.core.localcache.request_read_ahead).

It fails fast as the sync connections do (apps.core.redis_failfast): while ``cache_outage`` is
down it does not touch the network, and a read that fails or outlasts the cache's socket
timeouts marks the outage, drops the sync pool's idle connections and answers None, so the
caller takes the ordinary path (a worker thread, falling back to the database) without a second
wait. Any other cache than django-redis's DefaultClient on one
server, or CACHE_LOOP_READS off, also answers None.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

from django.conf import settings
from django.core.cache import caches

from apps.core.outage import cache_outage

# event loop -> (the server URL and timeouts it was built for, its asyncio Redis client, the
# semaphore that keeps its reads within the pool's connections)
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_MAX_CONNECTIONS = 32  # per loop; more concurrent reads wait their turn, each read bounded by the timeouts


def _sync_client() -> Any | None:
    """The django-redis client whose keys and values this reads, when it can be read from here."""
    if not settings.CACHE_LOOP_READS:
        return None
    try:
        from django_redis.cache import RedisCache
        from django_redis.client import DefaultClient
    except ImportError:  # pragma: no cover - django-redis is a requirement
        return None
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    client = backend.client
    # Sharded or replicated set-ups map keys to servers their own way: left to the ordinary path.
    if type(client) is not DefaultClient or len(client._server) != 1:
        return None
    return client


def _timeouts(client: Any) -> tuple[float, float]:
    options = client._options
    connect = float(options.get("SOCKET_CONNECT_TIMEOUT") or settings.REDIS_SOCKET_CONNECT_TIMEOUT_SECONDS)
    read = float(options.get("SOCKET_TIMEOUT") or settings.REDIS_SOCKET_TIMEOUT_SECONDS)
    return connect, read


async def _client_for_loop(client: Any) -> tuple[Any, asyncio.Semaphore]:
    from redis.asyncio import ConnectionPool, Redis

    loop = asyncio.get_running_loop()
    connect, read = _timeouts(client)
    wanted = (client._server[0], connect, read)
    kept = _clients.get(loop)
    if kept is not None and kept[0] == wanted:
        return kept[1], kept[2]
    pool = ConnectionPool.from_url(
        wanted[0], max_connections=_MAX_CONNECTIONS, socket_connect_timeout=connect, socket_timeout=read
    )
    redis, turns = Redis(connection_pool=pool), asyncio.Semaphore(_MAX_CONNECTIONS)
    _clients[loop] = (wanted, redis, turns)
    if kept is not None:  # the cache's settings changed (tests): the old client goes
        await kept[1].aclose(close_connection_pool=True)
    return redis, turns


async def get_many(keys: list[str]) -> dict[str, Any] | None:
    """The values under ``keys`` (missing ones left out), read on this event loop; None when this
    cache cannot be read from here or the read failed (the outage is recorded)."""
    client = _sync_client()
    if client is None or not keys:
        return None
    if cache_outage.is_down():
        return None  # fail fast, as the sync connections do; the ordinary path answers
    from redis.exceptions import ConnectionError as ClosedOrRefused
    from redis.exceptions import RedisError

    redis, turns = await _client_for_loop(client)
    connect, read = _timeouts(client)
    names = [client.make_key(key) for key in keys]
    async with turns:  # never more reads at once than the pool has connections (it would refuse)
        if cache_outage.is_down():
            return None  # it failed while this read waited its turn
        try:
            async with asyncio.timeout(connect + read):  # a backstop over the socket timeouts
                try:
                    values = await redis.mget(names)
                except ClosedOrRefused:
                    # A pooled connection Redis closed (a restart, an idle timeout) fails its next
                    # command at once, and the asyncio pool does not check one before handing it
                    # out: one more try, on a new connection. A Redis that is down refuses that one
                    # at once too (a hung one times out instead, and is not tried twice).
                    values = await redis.mget(names)
        except (RedisError, OSError, TimeoutError) as exc:
            cache_outage.failed(exc)
            _drop_idle_sync_connections(client)
            return None
    cache_outage.recovered()
    found = {}
    for key, value in zip(keys, values, strict=True):
        if value is None:
            continue
        try:
            found[key] = client.decode(value)
        except Exception:  # written by something else: left to the ordinary read, which copes
            continue
    return found


def _drop_idle_sync_connections(client: Any) -> None:
    """After a failure seen here, the sync pool's idle connections go too, as a sync connection
    that failed would have: new ones are refused while the outage lasts (apps.core.redis_failfast),
    so the worker thread that answers instead does not wait out a timeout of its own on a hung
    Redis (a tools/call took 2 s, not 1, under ``CLIENT PAUSE``)."""
    with contextlib.suppress(Exception):
        client.get_client(write=False).connection_pool.disconnect(inuse_connections=False)


async def close_loop_clients() -> None:
    """Close this event loop's client (a server's lifespan ending)."""
    kept = _clients.pop(asyncio.get_running_loop(), None)
    if kept is not None:
        await kept[1].aclose(close_connection_pool=True)
