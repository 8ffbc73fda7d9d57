"""Request threads ("lanes") that outlive a request, and SQLite writers queued on a lock.

Django's own ASGI handler gives every request a new thread and so a new database connection;
the lane handler reuses both (apps.core.asgi_lanes). The SQLite backend (apps.core.sqlite)
queues a process's writers on a lock instead of SQLite's sleeping busy handler.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import threading
import time

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.core.cache import caches
from django.db import OperationalError, connections
from django.db.utils import ConnectionHandler
from django.http import JsonResponse
from django.test import override_settings
from django.urls import path

from apps.core.asgi_lanes import LaneASGIHandler

SEEN: list[dict] = []
_THREAD = threading.local()
_THREADS = itertools.count(1)


def thread_number() -> int:
    """A number per thread ever started (OS thread ids are reused once a thread ends)."""
    if not hasattr(_THREAD, "number"):
        _THREAD.number = next(_THREADS)
    return _THREAD.number
BARRIER: dict[str, threading.Barrier] = {}


def where_view(request):
    conn = connections["default"]
    conn.ensure_connection()
    SEEN.append({"thread": thread_number(), "connection": conn.connection, "cache": caches["default"]})
    if "barrier" in request.GET:
        BARRIER["b"].wait(timeout=5)  # both requests must be inside their views at once
    if "sleep" in request.GET:
        time.sleep(float(request.GET["sleep"]))
    return JsonResponse({"ok": True})


urlpatterns = [path("where/", where_view)]


def _scope(path_: str = "/where/") -> dict:
    path_, _, query = path_.partition("?")
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path_, "raw_path": path_.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
    }  # fmt: skip


async def _get(handler, path_: str = "/where/") -> int:
    scope = _scope(path_)
    messages = [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[dict] = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # no disconnect while the request runs

    async def send(message):
        sent.append(message)

    await handler(scope, receive, send)
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


CLOSED: list[int] = []


def _two_at_once(handler) -> list[int]:
    """Two requests that must both be inside their views at the same moment."""
    BARRIER["b"] = threading.Barrier(2)

    async def two():
        return await asyncio.gather(_get(handler, "/where/?barrier=1"), _get(handler, "/where/?barrier=1"))

    return asyncio.run(asyncio.wait_for(two(), 10))


@pytest.fixture
def where(settings, monkeypatch):
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["testserver"]
    SEEN.clear()
    CLOSED.clear()
    wrapper_class = type(connections["default"])
    close = wrapper_class.close

    def recording_close(self):
        CLOSED.append(thread_number())  # (an in-memory test database ignores a real close)
        return close(self)

    monkeypatch.setattr(wrapper_class, "close", recording_close)
    yield SEEN
    SEEN.clear()


@pytest.mark.django_db(transaction=True)
def test_requests_reuse_a_lane_thread_and_its_database_connection(where):
    handler = LaneASGIHandler(lanes=4)

    async def five():
        for _ in range(5):
            assert await _get(handler) == 200

    asyncio.run(five())
    assert len({s["thread"] for s in where}) == 1, "each request got a new thread"
    assert len({id(s["connection"]) for s in where}) == 1, "each request opened a new connection"
    assert where[0]["thread"] not in CLOSED, "a lane closed its connection between requests"
    handler.close_lanes()
    assert where[0]["thread"] in CLOSED, "shutdown left the lane's connection open"


@pytest.mark.django_db(transaction=True)
def test_a_lane_keeps_its_cache_backend_between_requests(where):
    """Not a new backend (for Redis: a client, its event dispatcher and listeners) per request."""
    handler = LaneASGIHandler(lanes=4)

    async def three():
        for _ in range(3):
            assert await _get(handler) == 200

    # A context where the caches were never used, as a server's requests begin (here the test's
    # own context may hold backends already, which every request would then inherit).
    contextvars.Context().run(asyncio.run, three())
    handler.close_lanes()
    assert len({s["thread"] for s in where}) == 1
    assert len({id(s["cache"]) for s in where}) == 1, "each request built its own cache backend"


@pytest.mark.django_db(transaction=True)
def test_a_request_leaves_no_reference_cycle_of_the_handlers_frame(where):
    """uvicorn says http.disconnect once the response is out; Django's listener raised RequestAborted
    then, and ``handle`` kept that exception (its traceback: handle's frame, the request and all it
    touched) in a cycle for the garbage collector, after every request."""
    import gc

    handler = LaneASGIHandler(lanes=1)

    async def answered_then_disconnected():
        scope = _scope()
        done = asyncio.Event()
        sent = []

        async def receive():
            if not sent:
                sent.append("body")
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()  # as uvicorn: the disconnect comes once the response is complete
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        await handler(scope, receive, send)

    asyncio.run(answered_then_disconnected())  # warm (first-request imports and caches)
    gc.collect()
    gc.disable()
    try:
        gc.set_debug(gc.DEBUG_SAVEALL)
        asyncio.run(answered_then_disconnected())
        gc.collect()
        frames = [o for o in gc.garbage if type(o).__name__ == "frame" and o.f_code.co_name == "handle"]
        aborted = [o for o in gc.garbage if type(o).__name__ == "RequestAborted"]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
        handler.close_lanes()
    assert not frames and not aborted


def test_a_client_that_leaves_mid_request_still_cancels_the_view(monkeypatch):
    """The listener returns on a disconnect instead of raising: the view's task is cancelled all the same."""
    handler = LaneASGIHandler(lanes=1)
    cancelled = []

    async def slow_response(self, request):
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def leaves():
        scope = _scope()
        messages = [{"type": "http.request", "body": b"", "more_body": False}, {"type": "http.disconnect"}]

        async def receive():
            return messages.pop(0)

        async def send(message):
            raise AssertionError("nothing is sent to a client that left")

        await asyncio.wait_for(handler(scope, receive, send), 3)

    monkeypatch.setattr(LaneASGIHandler, "run_get_response", slow_response)
    try:
        asyncio.run(leaves())
    finally:
        handler.close_lanes()
    assert cancelled == [True]


@pytest.mark.django_db(transaction=True)
def test_djangos_own_handler_pays_a_thread_and_a_connection_per_request(where):
    """What the lanes save: the same five requests through Django's handler (the baseline)."""
    handler = ASGIHandler()

    async def five():
        for _ in range(5):
            assert await _get(handler) == 200

    asyncio.run(five())
    assert len({s["thread"] for s in where}) == 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_run_on_separate_lanes_at_once(where):
    handler = LaneASGIHandler(lanes=2)
    assert _two_at_once(handler) == [200, 200]  # a shared thread would break the barrier
    assert len({s["thread"] for s in where}) == 2
    handler.close_lanes()


@pytest.mark.django_db(transaction=True)
def test_a_request_beyond_the_lanes_gets_its_own_thread_and_its_connections_close_with_it(where):
    handler = LaneASGIHandler(lanes=1, wait_seconds=0.05)  # the barrier holds the lane: the wait runs out
    assert _two_at_once(handler) == [200, 200]
    assert len({s["thread"] for s in where}) == 2
    closed = [s for s in where if s["thread"] in CLOSED]
    assert len(closed) == 1, "the overflow thread's connection must close with its request, the lane's stay open"
    handler.close_lanes()


@pytest.mark.django_db(transaction=True)
def test_a_request_that_finds_the_lanes_busy_waits_for_one_instead_of_a_thread_of_its_own(where):
    """A keep-alive client's next request often comes while its lane still closes the last
    response: it takes that lane when it is free (no new thread, no new connection)."""
    handler = LaneASGIHandler(lanes=1, wait_seconds=5)

    async def overlapping():
        first = asyncio.ensure_future(_get(handler, "/where/?sleep=0.2"))
        await asyncio.sleep(0.05)  # the first is inside its view: the only lane is busy
        second = asyncio.ensure_future(_get(handler, "/where/"))
        return [await first, await second]

    assert asyncio.run(asyncio.wait_for(overlapping(), 10)) == [200, 200]
    assert len({s["thread"] for s in where}) == 1
    assert len({id(s["connection"]) for s in where}) == 1
    assert not CLOSED
    handler.close_lanes()


@pytest.mark.django_db(transaction=True)
def test_waiters_get_lanes_in_arrival_order(where):
    handler = LaneASGIHandler(lanes=1, wait_seconds=5)
    order: list[str] = []

    async def named(name: str, path_: str):
        await _get(handler, path_)
        order.append(name)

    async def queue():
        first = asyncio.ensure_future(named("first", "/where/?sleep=0.2"))
        await asyncio.sleep(0.05)
        waiting = []
        for name in ("second", "third", "fourth"):
            waiting.append(asyncio.ensure_future(named(name, "/where/")))
            await asyncio.sleep(0.01)
        await asyncio.gather(first, *waiting)

    asyncio.run(asyncio.wait_for(queue(), 10))
    assert order == ["first", "second", "third", "fourth"]
    assert len({s["thread"] for s in where}) == 1 and not CLOSED
    handler.close_lanes()


def test_a_waiter_whose_client_left_passes_a_lane_handed_to_it_on():
    handler = LaneASGIHandler(lanes=1, wait_seconds=5)

    async def scenario():
        lane = handler._take_lane()  # the only lane, busy
        waiter = asyncio.ensure_future(handler._wait_for_lane())
        await asyncio.sleep(0.01)  # waiting
        handler._give_back(lane)  # handed to the waiter ...
        waiter.cancel()  # ... whose client leaves before it runs
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return lane

    lane = asyncio.run(scenario())
    assert handler._idle == [lane], "the lane must not be lost with the cancelled waiter"
    assert not handler._waiters
    handler.close_lanes()


def test_a_lane_given_back_on_another_event_loop_wakes_the_waiter_on_its_own():
    """Tests serve one handler from several servers, each on its own loop and thread."""
    handler = LaneASGIHandler(lanes=1, wait_seconds=5)
    lane = handler._take_lane()
    got: list = []

    async def wait():
        got.append(await handler._wait_for_lane())

    waiting = threading.Thread(target=lambda: asyncio.run(wait()))
    waiting.start()
    deadline = time.monotonic() + 5
    while not handler._waiters and time.monotonic() < deadline:
        time.sleep(0.01)

    async def give_back():  # on this thread's loop
        handler._give_back(lane)

    given = time.monotonic()
    asyncio.run(give_back())
    waiting.join(5)
    assert not waiting.is_alive() and got == [lane]
    assert time.monotonic() - given < 2, "the waiter's loop must be woken, not left until its wait runs out"
    handler.close_lanes()


@pytest.mark.django_db(transaction=True)
def test_after_the_lanes_are_closed_a_request_gets_a_new_lane_at_once(where):
    """A server's shutdown closes the idle lanes; the next server on the same handler makes new ones
    instead of waiting for lanes that no longer exist."""
    handler = LaneASGIHandler(lanes=1, wait_seconds=5)
    assert asyncio.run(_get(handler)) == 200
    handler.close_lanes()
    started = time.monotonic()
    assert asyncio.run(_get(handler)) == 200
    assert time.monotonic() - started < 2
    assert not CLOSED[1:], "the request ran on a lane, not a thread of its own"
    handler.close_lanes()


def test_a_waiter_gets_no_lane_after_the_wait_and_the_lane_then_goes_idle():
    handler = LaneASGIHandler(lanes=1, wait_seconds=0.05)

    async def scenario():
        lane = handler._take_lane()
        started = time.monotonic()
        assert await handler._wait_for_lane() is None  # overflow: a thread of its own
        waited = time.monotonic() - started
        handler._give_back(lane)  # the timed-out waiter is skipped
        return lane, waited

    lane, waited = asyncio.run(scenario())
    assert waited >= 0.04
    assert handler._idle == [lane]
    handler.close_lanes()


def _sqlite(engine: str, name: str) -> ConnectionHandler:
    return ConnectionHandler({
        "default": {
            "ENGINE": engine, "NAME": name,
            # No busy handler at all: a second writer that reaches SQLite's lock fails at once.
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=0;", "transaction_mode": "IMMEDIATE"},
        }
    })  # fmt: skip


def _writers(engine: str, name: str, threads: int = 8, each: int = 5) -> list[BaseException]:
    handler = _sqlite(engine, name)
    setup = handler["default"]
    with setup.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
    setup.close()
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def write():
        conn = handler["default"]  # a connection per thread, as Django's are
        try:
            conn.ensure_connection()
            start.wait(5)
            for _ in range(each):
                conn._start_transaction_under_autocommit()
                try:
                    with conn.cursor() as cursor:
                        cursor.execute("INSERT INTO t VALUES (1)")
                    time.sleep(0.005)  # the writer holds SQLite's lock for a while
                    conn.commit()
                except BaseException:
                    conn.rollback()
                    raise
        except BaseException as exc:  # noqa: BLE001  (collected for the assertion)
            errors.append(exc)
        finally:
            conn.close()

    workers = [threading.Thread(target=write) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    return errors


def test_a_processs_sqlite_writers_queue_on_a_lock_not_on_sqlites_busy_handler(tmp_path, django_db_blocker):
    django_db_blocker.unblock()  # its own database files, not the test database
    assert _writers("apps.core.sqlite", str(tmp_path / "queued.sqlite3")) == []
    check = _sqlite("apps.core.sqlite", str(tmp_path / "queued.sqlite3"))["default"]
    with check.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM t")
        assert cursor.fetchone()[0] == 40
    check.close()
    django_db_blocker.restore()


def test_without_the_lock_the_same_writers_meet_sqlites_lock(tmp_path, django_db_blocker):
    """The baseline: Django's own backend, same writers, no busy handler: 'database is locked'."""
    django_db_blocker.unblock()
    errors = _writers("django.db.backends.sqlite3", str(tmp_path / "raw.sqlite3"))
    django_db_blocker.restore()
    assert errors and all(isinstance(e, OperationalError) and "locked" in str(e) for e in errors)


def test_the_write_lock_is_handed_over_in_arrival_order_and_its_wait_is_bounded():
    from apps.core.sqlite.base import FairLock

    lock = FairLock()
    assert lock.acquire(timeout=1)
    order: list[int] = []

    def writer(n: int) -> None:
        assert lock.acquire(timeout=10)
        order.append(n)
        lock.release()

    threads = []
    for n in range(6):
        thread = threading.Thread(target=writer, args=(n,))
        thread.start()
        deadline = time.monotonic() + 5
        while len(lock._waiters) < n + 1 and time.monotonic() < deadline:  # wait until it queued
            time.sleep(0.001)
        threads.append(thread)
    lock.release()
    for thread in threads:
        thread.join(10)
    assert order == list(range(6))
    assert lock.acquire(timeout=1)
    started = time.monotonic()
    assert lock.acquire(timeout=0.2) is False  # a waiter gives up after its timeout...
    assert 0.15 < time.monotonic() - started < 5 and not lock._waiters  # ...and leaves the queue
    lock.release()
    assert lock.acquire(timeout=0.1)


@pytest.mark.django_db(transaction=True)
def test_the_startup_registry_sync_closes_its_throwaway_threads_connection(where):
    """It runs once per server start on a worker thread that then ends: with connections kept for
    CONN_MAX_AGE, a kept one would outlive its thread (and block dropping the test database)."""
    from apps.mcp_tools.server import sync_registry_at_startup

    ran: list[int] = []

    def run():
        sync_registry_at_startup()
        ran.append(thread_number())

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(30)
    assert ran and ran[0] in CLOSED


@pytest.mark.django_db(transaction=True)
def test_a_client_that_sends_its_body_slowly_holds_no_lane(where):
    # A lane was taken before the body was read: 16 clients sending a byte a second (no sign-in
    # needed) held every lane, and every other request waited out the lane wait and then ran on a
    # thread and a database connection of its own.
    handler = LaneASGIHandler(lanes=1, wait_seconds=5)

    async def slow_body_then_a_request():
        scope = {**_scope(), "method": "POST"}
        first_chunk_read = asyncio.Event()
        finish = asyncio.Event()
        chunks = [b"{", b"}"]

        async def slow_receive():
            if len(chunks) == 2:
                first_chunk_read.set()
                return {"type": "http.request", "body": chunks.pop(0), "more_body": True}
            if chunks:
                await finish.wait()
                return {"type": "http.request", "body": chunks.pop(0), "more_body": False}
            await asyncio.sleep(3600)  # no disconnect while the request runs

        sent: list[dict] = []

        async def send(message):
            sent.append(message)

        slow = asyncio.ensure_future(handler(scope, slow_receive, send))
        await first_chunk_read.wait()
        started = time.monotonic()
        status = await _get(handler)  # while the slow body is still coming
        waited = time.monotonic() - started
        finish.set()
        await slow
        return status, waited, next(m["status"] for m in sent if m["type"] == "http.response.start")

    status, waited, slow_status = asyncio.run(asyncio.wait_for(slow_body_then_a_request(), 10))
    assert status == 200
    assert slow_status == 403  # answered once its body was in (CSRF refuses the bare POST)
    assert waited < 1, f"the request waited {waited:.1f} s for the lane a slow upload held"
    assert len({s["thread"] for s in where}) == 1 and not CLOSED  # both on the one lane, in turn
    handler.close_lanes()
