"""Cache reads on the event loop (apps.core.loop_cache) and the request's read-ahead (apps.core.localcache).

Against the real Redis of REDIS_URL, a black hole (a listener that never answers) and local memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
import uuid

import pytest
from django.core.cache import cache
from django.test import override_settings

from apps.core import localcache, loop_cache
from apps.core.outage import cache_outage
from config.settings.base import redis_cache
from tests.core.test_outbound_timeouts import black_hole
from tests.services import require_redis

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "loop-cache-tests"}}


@pytest.fixture(autouse=True)
def _fresh_outage():
    cache_outage.reset()
    yield
    cache_outage.reset()


@pytest.fixture
def redis_caches():
    """The project's Redis cache configuration on REDIS_URL, under a key prefix of this test's own."""
    import os

    require_redis()
    configured = redis_cache(os.environ["REDIS_URL"])
    configured["KEY_PREFIX"] = f"loop-{uuid.uuid4().hex[:8]}"
    with override_settings(CACHES={"default": configured}):
        yield


async def _read(keys):
    try:
        return await loop_cache.get_many(keys)
    finally:
        await loop_cache.close_loop_clients()


def test_it_reads_what_the_projects_cache_wrote_with_its_keys_and_encoding(redis_caches):
    cache.set("word", "hello", 30)
    cache.set("number", 7, 30)  # django-redis stores small ints as plain integers
    cache.set("row", {"a": [1, 2]}, 30)  # and the rest pickled
    assert asyncio.run(_read(["word", "number", "row", "missing"])) == {"word": "hello", "number": 7, "row": {"a": [1, 2]}}


def test_a_settings_change_builds_a_new_client_and_the_old_one_is_closed(redis_caches):
    import os

    async def two_reads():
        cache.set("k", "first", 30)
        first = await loop_cache.get_many(["k"])
        old = loop_cache._clients[asyncio.get_running_loop()][1]
        other = redis_cache(os.environ["REDIS_URL"])
        other["KEY_PREFIX"] = f"loop-other-{uuid.uuid4().hex[:8]}"
        other["OPTIONS"]["SOCKET_TIMEOUT"] = 0.75  # another client: other timeouts
        with override_settings(CACHES={"default": other}):
            second = await loop_cache.get_many(["k"])
            new = loop_cache._clients[asyncio.get_running_loop()][1]
        await loop_cache.close_loop_clients()
        return first, second, old, new

    first, second, old, new = asyncio.run(two_reads())
    assert first == {"k": "first"} and second == {}  # the other prefix has no such key
    pool = old.connection_pool
    assert new is not old
    assert not any(c.is_connected for c in [*pool._available_connections, *pool._in_use_connections])  # closed


def test_local_memory_and_the_setting_off_leave_it_to_the_ordinary_path(settings):
    settings.CACHES = LOCMEM
    assert asyncio.run(_read(["k"])) is None  # local memory: no I/O to save
    settings.CACHE_LOOP_READS = False
    settings.CACHES = {"default": redis_cache("redis://127.0.0.1:1/0")}
    assert asyncio.run(_read(["k"])) is None


def test_a_black_holed_redis_costs_one_bounded_wait_then_nothing(settings):
    with black_hole() as port:
        settings.CACHES = {"default": redis_cache(f"redis://127.0.0.1:{port}/0")}
        settings.CACHES["default"]["OPTIONS"].update({"SOCKET_CONNECT_TIMEOUT": 0.3, "SOCKET_TIMEOUT": 0.3})
        started = time.monotonic()
        assert asyncio.run(_read(["k"])) is None
        first = time.monotonic() - started
        assert cache_outage.is_down()  # as a sync connection's failure would mark it
        started = time.monotonic()
        for _ in range(20):
            assert asyncio.run(_read(["k"])) is None
        rest = time.monotonic() - started
    assert 0.25 < first < 1.5, first
    assert rest < 0.5, rest  # failing fast: no connection tried while the outage lasts


def test_other_requests_go_on_while_one_waits_for_a_black_holed_redis(settings):
    with black_hole() as port:
        settings.CACHES = {"default": redis_cache(f"redis://127.0.0.1:{port}/0")}
        settings.CACHES["default"]["OPTIONS"].update({"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5})

        async def both():
            ticks = 0

            async def ticker():
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            tick = asyncio.create_task(ticker())
            found = await _read(["k"])
            tick.cancel()
            return found, ticks

        found, ticks = asyncio.run(both())
    assert found is None
    assert ticks >= 20  # the loop kept serving while the read waited (a blocking read: 0)


def test_a_request_reads_ahead_once_and_a_bump_in_its_worker_thread_applies_to_what_follows(redis_caches):
    one, two, three = (f"localcache:test-{n}:generation" for n in ("one", "two", "three"))
    for key in (one, two, three):
        cache.set(key, f"{key}-v1", None)
    reads = []
    real = localcache._read_many

    def counted(keys):
        reads.append(list(keys))
        return real(keys)

    localcache._read_many = counted
    try:
        with localcache.request_read_ahead() as found:
            found.update(asyncio.run(_read([one, two])))  # the checks, on the loop
            assert localcache.generation_at_hand(one) and not localcache.generation_at_hand(three)

            def worker():  # a worker-thread hop: a copy of the request's context
                with localcache.generations_prefetched([one, two, three]):
                    assert localcache.read_generation(three) == f"{three}-v1"
                    localcache.bump_generation(two)  # a write in the tool

            context = contextvars.copy_context()
            thread = threading.Thread(target=context.run, args=(worker,))
            thread.start()
            thread.join()
            assert reads == [[three]]  # only what the loop had not read
            assert two not in found  # dropped for the rest of the request: read again from Redis
            assert localcache.read_generation(two) not in (None, f"{two}-v1")
        assert localcache.prefetched_for_request() is None
    finally:
        localcache._read_many = real


def test_outside_an_mcp_request_a_nested_read_ahead_reads_its_keys_again(redis_caches):
    # A chat turn reads ahead for itself; its tool calls come seconds later (after the model
    # answers) and must see a change another process made in between.
    key = "localcache:test-turn:generation"
    cache.set(key, "v1", None)
    with localcache.generations_prefetched([key]):
        assert localcache.read_generation(key) == "v1"
        cache.set(key, "v2", None)  # another process's bump
        with localcache.generations_prefetched([key]):  # the tool call's hop
            assert localcache.read_generation(key) == "v2"


@override_settings(CACHES=LOCMEM)
def test_with_local_memory_a_request_has_no_read_ahead():
    with localcache.request_read_ahead() as found:
        assert found is None and localcache.prefetched_for_request() is None
        assert localcache.generation_at_hand("anything")  # every read is local


class _HangableProxy:
    """A TCP relay to Redis that can stop relaying (a hung Redis: connections stay open, nothing answers)."""

    def __init__(self, target: tuple[str, int]) -> None:
        import socket

        self.target, self.hung, self.dropped = target, False, False
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.sockets: list = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                inbound = self.listener.accept()[0]
            except OSError:
                return
            outbound = socket.create_connection(self.target)
            self.sockets += [inbound, outbound]
            for a, b in ((inbound, outbound), (outbound, inbound)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source, sink) -> None:
        import socket

        while True:
            try:
                data = source.recv(65536)
                while self.hung:
                    time.sleep(0.01)
                if not data:
                    return
                sink.sendall(data)
            except OSError:
                if self.dropped:  # the client's next command finds its connection reset
                    with contextlib.suppress(OSError):
                        source.shutdown(socket.SHUT_RDWR)
                return

    def drop_connections(self) -> None:
        """Drop every relayed connection at Redis's end and go on listening.

        The client is not told: its next command finds the connection gone (reset), as after a
        Redis restart or failover behind a proxy or a load balancer, or an idle timeout in between.
        """
        import socket

        self.dropped = True
        for sock in self.sockets[1::2]:  # the connections to Redis
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            sock.close()


def _cache_behind_a_proxy(prefix: str) -> tuple[_HangableProxy, dict]:
    """A proxy in front of REDIS_URL's server and a cache configuration through it (a key prefix of its own)."""
    import os
    from urllib.parse import urlsplit

    require_redis()
    real = urlsplit(os.environ["REDIS_URL"])
    proxy = _HangableProxy((real.hostname, real.port or 6379))
    configured = redis_cache(f"redis://127.0.0.1:{proxy.port}{real.path or '/0'}")
    configured["KEY_PREFIX"] = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return proxy, configured


def test_after_a_failed_loop_read_the_worker_threads_connection_does_not_wait_again(settings):
    # A hung Redis (CLIENT PAUSE, a stalled host): the loop's read waits out one timeout; the
    # worker thread that then answers must not wait out another on its pooled connection.
    proxy, configured = _cache_behind_a_proxy("hang")
    try:
        configured["OPTIONS"].update({"SOCKET_CONNECT_TIMEOUT": 0.3, "SOCKET_TIMEOUT": 0.3})
        settings.CACHES = {"default": configured}
        cache.set("k", 1, 30)  # the sync pool now holds an open connection
        proxy.hung = True
        started = time.monotonic()
        assert asyncio.run(_read(["k"])) is None
        assert cache_outage.is_down() and time.monotonic() - started < 1.0
        started = time.monotonic()
        with pytest.raises(Exception):
            cache.get("k")  # what the worker thread's read-ahead does next
        assert time.monotonic() - started < 0.15  # refused at once, not a second timeout
    finally:
        proxy.hung = False
        proxy.close()


def test_a_connection_redis_closed_is_replaced_not_taken_for_an_outage():
    # After a Redis restart (or an idle timeout, a failover) the loop client's pooled connection is
    # closed at the other end. Its next read failed with "Connection closed by server" and marked
    # the cache down: for REDIS_RETRY_AFTER_SECONDS the process failed open on limits, skipped
    # cache bumps and /readyz reported the cache unavailable, with Redis up all along.
    proxy, configured = _cache_behind_a_proxy("closed")
    try:
        with override_settings(CACHES={"default": configured}):
            cache.set("k", "v", 30)

            async def read_twice():
                first = await loop_cache.get_many(["k"])
                proxy.drop_connections()
                await asyncio.sleep(0.05)
                second = await loop_cache.get_many(["k"])
                await loop_cache.close_loop_clients()
                return first, second

            assert asyncio.run(read_twice()) == ({"k": "v"}, {"k": "v"})
            assert not cache_outage.is_down()
            assert cache.get("k") == "v"  # the worker threads' pool too
            assert not cache_outage.is_down()
    finally:
        proxy.close()


def test_more_reads_at_once_than_the_pool_has_connections_all_answer(redis_caches):
    cache.set("k", "v", 30)

    async def many():
        try:
            return await asyncio.gather(*(loop_cache.get_many(["k"]) for _ in range(loop_cache._MAX_CONNECTIONS * 3)))
        finally:
            await loop_cache.close_loop_clients()

    assert all(found == {"k": "v"} for found in asyncio.run(many()))
    assert not cache_outage.is_down()  # waiting for a connection is not an outage


def test_a_value_it_cannot_decode_is_left_to_the_ordinary_read(redis_caches):
    require_redis().set(cache.make_key("garbled"), b"\x80\x04not a pickle")
    cache.set("fine", "v", 30)
    assert asyncio.run(_read(["garbled", "fine"])) == {"fine": "v"}
