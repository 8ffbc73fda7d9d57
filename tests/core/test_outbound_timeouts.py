"""Dependencies that hang: a broker or Redis that accepts connections and never answers.

Every outbound connection made from a request is bounded; /readyz answers within 5 s whatever
its dependencies do and leaves no thread behind; a cache outage costs one timeout per window
and one log line per interval, not one of each per request.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest
from celery import Celery
from kombu.exceptions import OperationalError

from apps.core.outage import cache_outage
from config.settings.base import redis_cache
from tests.mcp_tools.conftest import live_server_url  # noqa: F401  (the project app under uvicorn)


@contextlib.contextmanager
def black_hole():
    """A listener on 127.0.0.1 that accepts every connection and never sends a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    accepted: list[socket.socket] = []

    def accept():
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        for conn in accepted:
            conn.close()


@pytest.fixture
def hole():
    with black_hole() as port:
        yield port


@pytest.fixture(autouse=True)
def _fresh_outage():
    cache_outage.reset()
    yield
    cache_outage.reset()


BROKERS = {"redis": "redis://127.0.0.1:{port}/0", "amqp": "amqp://guest:guest@127.0.0.1:{port}//"}


def _black_hole_cache(settings, port: int) -> None:
    settings.CACHES = {"default": redis_cache(f"redis://127.0.0.1:{port}/0")}


def _get(url: str, timeout: float = 10.0) -> tuple[httpx2.Response, float]:
    started = time.monotonic()
    response = httpx2.get(url, timeout=timeout)
    return response, time.monotonic() - started


# -- /readyz -----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scheme", sorted(BROKERS))
def test_readyz_answers_within_5_s_against_a_black_holed_broker(live_server_url, settings, hole, scheme):  # noqa: F811
    settings.CELERY_BROKER_URL = BROKERS[scheme].format(port=hole)
    response, elapsed = _get(f"{live_server_url}/readyz")
    assert elapsed < 5, elapsed
    assert response.status_code == 503 and response.json()["failed"] == ["broker"]


@pytest.mark.django_db(transaction=True)
def test_readyz_answers_within_5_s_against_a_black_holed_redis(live_server_url, settings, hole):  # noqa: F811
    _black_hole_cache(settings, hole)
    for _ in range(2):  # the second probe fails fast: Redis is known to be down
        response, elapsed = _get(f"{live_server_url}/readyz")
        assert elapsed < 5, elapsed
        assert response.status_code == 503 and response.json()["failed"] == ["cache"]


def _settled_thread_count(limit: int, seconds: float = 8.0) -> int:
    deadline = time.monotonic() + seconds
    while threading.active_count() > limit and time.monotonic() < deadline:
        time.sleep(0.1)
    return threading.active_count()


@pytest.mark.django_db(transaction=True)
def test_twenty_readyz_probes_against_black_holes_leave_no_thread_behind(live_server_url, settings):  # noqa: F811
    with black_hole() as broker_port, black_hole() as redis_port:
        settings.CELERY_BROKER_URL = BROKERS["redis"].format(port=broker_port)
        _black_hole_cache(settings, redis_port)

        def probe(i: int):
            try:  # half the clients give up early, as the abandoned probes did
                return _get(f"{live_server_url}/readyz", timeout=0.3 if i % 2 else 10.0)
            except httpx2.TimeoutException:
                return None, 0.0

        with ThreadPoolExecutor(max_workers=5) as clients:
            # Warm up at the same concurrency: the server's pools (the probe's threads, the
            # event loop's executor) grow to their working size once, and only once.
            list(clients.map(probe, range(0, 10, 2)))
            baseline = _settled_thread_count(0, seconds=0.5)
            answers = list(clients.map(probe, range(20)))
        answered = [(r, elapsed) for r, elapsed in answers if r is not None]
        assert len(answered) == 10
        assert all(r.status_code == 503 and elapsed < 5 for r, elapsed in answered)
        # Pooled threads may still be started up to their pools' caps, never one per probe.
        settled = _settled_thread_count(baseline)
        assert settled <= baseline + 2, ",".join(t.name for t in threading.enumerate())


# -- the broker, for an enqueue from a request ------------------------------------------------------------


@pytest.mark.parametrize("scheme", sorted(BROKERS))
def test_an_enqueue_to_a_black_holed_broker_fails_within_seconds(hole, scheme):
    """kombu's OperationalError (which key validation turns into a 503) in seconds, not a hang."""
    app = Celery("enqueue-probe")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    url = BROKERS[scheme].format(port=hole)
    from django.conf import settings as django_settings

    from apps.core.views import broker_transport_options

    app.conf.update(
        broker_url=url,
        task_always_eager=False,
        # What the base settings give a process whose CELERY_BROKER_URL has this scheme.
        broker_transport_options=broker_transport_options(url),
        broker_connection_timeout=django_settings.BROKER_CONNECT_TIMEOUT_SECONDS,
    )
    outcome: list[BaseException | None] = []

    def enqueue():
        try:
            app.send_task("apps.keys.tasks.provider_key_validate_task", args=[1])
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=enqueue, daemon=True)
    thread.start()
    thread.join(15)
    elapsed = time.monotonic() - started
    assert not thread.is_alive(), "the enqueue hangs"
    assert isinstance(outcome[0], OperationalError), outcome
    assert elapsed < 6, elapsed


def test_the_settings_bound_a_redis_broker_and_retry_a_publish_once_at_most():
    from django.conf import settings

    from apps.core.views import broker_transport_options

    options = broker_transport_options("redis://broker:6379/0")
    assert options["socket_timeout"] > 1  # longer than the worker's BRPOP timeout (1 s)
    assert options["socket_connect_timeout"] <= 5
    assert settings.CELERY_BROKER_CONNECTION_TIMEOUT <= 5
    assert settings.CELERY_TASK_PUBLISH_RETRY_POLICY["max_retries"] <= 1


# -- the database ----------------------------------------------------------------------------------------


# The first connect to a black-holed PostgreSQL, and the ones after it: tests/core/test_database_outage.py.


def test_postgresql_connections_get_a_connect_timeout(monkeypatch):
    import importlib

    import config.settings.base as base

    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x")
    try:
        reloaded = importlib.reload(base)
        assert reloaded.DATABASES["default"]["OPTIONS"]["connect_timeout"] == 5
    finally:
        monkeypatch.delenv("DATABASE_URL")
        importlib.reload(base)


# -- the cache -------------------------------------------------------------------------------------------


def test_a_black_holed_redis_costs_one_timeout_per_window_not_one_per_call(settings, hole):
    from apps.keys.selectors import verified_tokens

    _black_hole_cache(settings, hole)
    started = time.monotonic()
    for _ in range(10):  # each is the cache read an MCP call or a chat turn makes before the database
        assert verified_tokens.generation() is None  # a failed cache read: go to the database
    elapsed = time.monotonic() - started
    assert elapsed < settings.REDIS_SOCKET_TIMEOUT_SECONDS * 2, elapsed


def test_redis_is_tried_again_after_the_window_and_recovery_is_noticed(settings, hole, caplog):
    from django.core.cache import cache

    _black_hole_cache(settings, hole)
    settings.REDIS_RETRY_AFTER_SECONDS = 0.2
    with pytest.raises(Exception):
        cache.get("k")
    assert cache_outage.is_down()
    time.sleep(0.3)
    assert not cache_outage.is_down()  # the next call probes Redis again


@pytest.mark.django_db
def test_with_redis_down_the_outage_is_logged_once_per_interval_not_per_request(settings, client_a, caplog):
    # Nothing listens on port 1: every connection is refused at once.
    settings.CACHES = {"default": redis_cache("redis://127.0.0.1:1/0")}
    settings.REDIS_RETRY_AFTER_SECONDS = 0  # no fail-fast window: every request really tries Redis
    from apps.keys.selectors import verified_tokens

    with caplog.at_level(logging.WARNING):
        for _ in range(20):
            assert verified_tokens.generation() is None
            assert client_a.get("/readyz").status_code == 503
    outage_lines = [r for r in caplog.records if r.name == "apps.core.outage"]
    assert len(outage_lines) == 1, [r.getMessage() for r in outage_lines]
    assert outage_lines[0].exc_info is not None  # the first failure keeps its traceback
    tracebacks = [r for r in caplog.records if r.exc_info and r.name != "apps.core.outage"]
    assert tracebacks == []


def test_a_still_running_outage_is_summed_up_after_the_interval(settings, caplog):
    settings.OUTAGE_LOG_INTERVAL_SECONDS = 0.1
    with caplog.at_level(logging.WARNING, logger="apps.core.outage"):
        for _ in range(5):
            cache_outage.failed(ConnectionError("down"))
        time.sleep(0.15)
        cache_outage.failed(ConnectionError("down"))
        cache_outage.recovered()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3, messages
    assert "4 more failures" in messages[1] and "reachable again" in messages[2]


@pytest.mark.django_db
def test_with_redis_black_holed_an_offline_chat_turn_is_not_held_up_by_the_cache(settings, hole, client_a):
    _black_hole_cache(settings, hole)
    timings = []
    for text in ("add buy milk", "add buy bread", "list my tasks"):
        started = time.monotonic()
        response = client_a.post("/api/v1/chat/", {"message": text}, format="json")
        timings.append(time.monotonic() - started)
        assert response.status_code == 200, response.content[:300]
    # The first turn may wait out one socket timeout; then the cache is skipped at once.
    assert timings[0] < settings.REDIS_SOCKET_TIMEOUT_SECONDS * 3 + 1, timings
    assert max(timings[1:]) < 1.0, timings


@pytest.mark.django_db(transaction=True)
def test_with_redis_black_holed_mcp_calls_are_not_held_up_by_the_cache(live_server_url, settings, hole):  # noqa: F811
    from tests.factories import make_token, make_user

    token = make_token(make_user("mcp-outage"))
    _black_hole_cache(settings, hole)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Mcp-Protocol-Version": "2025-11-25",
    }
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_tasks", "arguments": {}}}
    timings = []
    for _ in range(4):
        started = time.monotonic()
        response = httpx2.post(f"{live_server_url}/mcp", json=call, headers=headers, timeout=15)
        timings.append(time.monotonic() - started)
        assert response.status_code == 200 and not response.json()["result"]["isError"], response.text[:300]
    assert timings[0] < settings.REDIS_SOCKET_TIMEOUT_SECONDS * 3 + 1, timings
    assert max(timings[1:]) < 1.0, timings
