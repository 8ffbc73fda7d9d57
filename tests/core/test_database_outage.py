"""A PostgreSQL that accepts connections and never answers: one timeout per window, then 503s at once.

Before apps.core.postgresql, a REST call against a black-holed database tried to connect six
times (token, view, session ...), took 30 s and answered 500; /mcp answered a plain-text 500.
The unit tests need no database server (the black hole is a socket here); the last one starts
the app in its own process, pointed at the black hole, as an operator would meet the outage.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import sys
import time
from pathlib import Path

import httpx2
import pytest
from django.db import OperationalError, connection

from apps.core.outage import DatabaseUnavailable, database_outage
from apps.core.postgresql.base import DatabaseWrapper
from tests.core.test_outbound_timeouts import black_hole

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_outage():
    database_outage.reset()
    yield
    database_outage.reset()


@pytest.fixture
def hole():
    with black_hole() as port:
        yield port


def _wrapper(settings, port: int) -> DatabaseWrapper:
    config = {
        **settings.DATABASES["default"],
        "ENGINE": "apps.core.postgresql",
        "NAME": "todoassist",
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "OPTIONS": {"connect_timeout": 1},
    }
    config.pop("TEST", None)
    return DatabaseWrapper(config, alias="outage")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _connect_failure(wrapper: DatabaseWrapper, django_db_blocker) -> tuple[DatabaseUnavailable, float]:
    started = time.monotonic()
    with django_db_blocker.unblock(), pytest.raises(DatabaseUnavailable) as raised:
        wrapper.ensure_connection()
    return raised.value, time.monotonic() - started


def test_after_one_connect_timeout_new_connections_fail_at_once_until_the_window_ends(settings, hole, django_db_blocker):
    settings.DATABASE_RETRY_AFTER_SECONDS = 1.5
    wrapper = _wrapper(settings, hole)

    first, waited = _connect_failure(wrapper, django_db_blocker)
    assert 0.8 < waited < 4  # the connect timeout, once
    assert isinstance(first, OperationalError)  # what Django code already expects from a database
    assert database_outage.is_down()

    for _ in range(5):
        error, waited = _connect_failure(wrapper, django_db_blocker)
        assert waited < 0.2, waited  # no network: failing fast
        assert "failing fast" in str(error)

    time.sleep(1.6)  # the window is over: the next connection probes the database again
    _, waited = _connect_failure(wrapper, django_db_blocker)
    assert waited > 0.8


def test_the_error_never_carries_the_driver_message_host_or_user(settings, hole, django_db_blocker):
    error, _ = _connect_failure(_wrapper(settings, hole), django_db_blocker)
    text = f"{error} {error!r}"
    assert str(hole) not in text and "127.0.0.1" not in text and "postgres" not in text


def test_a_refused_connection_is_unavailable_but_does_not_fail_the_next_ones_fast(settings, django_db_blocker):
    wrapper = _wrapper(settings, _free_port())  # nothing listens there: refused at once
    _connect_failure(wrapper, django_db_blocker)
    assert not database_outage.is_down()  # a refusal costs nothing to retry


def test_the_first_report_says_whether_callers_now_fail_fast(settings, django_db_blocker, caplog):
    caplog.set_level("WARNING", logger="apps.core.outage")
    _connect_failure(_wrapper(settings, _free_port()), django_db_blocker)  # refused: no window
    assert "database unavailable (OperationalError); not failing fast" in caplog.text
    database_outage.reset()
    database_outage.failed(TimeoutError())
    assert "database unavailable (TimeoutError); failing fast for 5 s at a time" in caplog.text


def test_recovery_is_noticed_and_logged(settings, hole, django_db_blocker, caplog):
    caplog.set_level("WARNING", logger="apps.core.outage")
    settings.DATABASE_RETRY_AFTER_SECONDS = 0.1
    _connect_failure(_wrapper(settings, hole), django_db_blocker)
    assert any("database unavailable" in r.getMessage() for r in caplog.records)
    database_outage.recovered()
    assert any("database reachable again" in r.getMessage() for r in caplog.records)


# -- the running app ------------------------------------------------------------------------------------


def _rpc_call() -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_tasks", "arguments": {}}}


def test_the_app_answers_503_with_retry_after_and_within_one_connect_timeout(hole, tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.development",
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{hole}/todoassist",
        "DATABASE_CONNECT_TIMEOUT_SECONDS": "1",
        "DATABASE_RETRY_AFTER_SECONDS": "30",
        "MCP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)  # the embedded cache: only the database is out
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port), "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx2.get(f"{base}/healthz", timeout=1)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, log.read_text()[-3000:]
                time.sleep(0.2)

        bearer = {"Authorization": "Bearer tda_abcdefghijkl_" + "x" * 43}
        mcp_headers = {
            **bearer,
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        }
        started = time.monotonic()
        for _ in range(3):
            api = httpx2.get(f"{base}/api/v1/tasks/", headers=bearer, timeout=30)
            mcp = httpx2.post(f"{base}/mcp", json=_rpc_call(), headers=mcp_headers, timeout=30)
            page = httpx2.get(f"{base}/", cookies={"sessionid": "x" * 32}, timeout=30)
        elapsed = time.monotonic() - started

        assert api.status_code == 503, api.text
        assert api.json()["error"]["code"] == "service_unavailable"
        assert api.headers["Retry-After"] == "30"
        assert mcp.status_code == 503, mcp.text
        assert mcp.json()["error"]["code"] == -32603 and "unavailable" in mcp.json()["error"]["message"]
        assert mcp.headers["Retry-After"] == "30"
        assert page.status_code == 503, page.text[:300]
        assert page.headers["Retry-After"] == "30"
        assert page.headers["content-type"].startswith("text/html") and "in about 30 seconds" in page.text
        assert elapsed < 8, elapsed  # one 1 s connect timeout (plus start-up's), not one per attempt
        for response in (api, mcp, page):
            assert str(hole) not in response.text and "postgres" not in response.text
        output = log.read_text()
        assert output.count("Traceback") <= 1, output[-3000:]  # the outage's first report only
    finally:
        server.terminate()
        server.wait(10)


# -- a connection that stops answering mid-use ---------------------------------------------------------


@contextlib.contextmanager
def stallable_proxy(target_port: int):
    """A TCP proxy to 127.0.0.1:target_port; ``stall.set()`` makes it hold every byte from then on.

    What a PostgreSQL that hangs (or a network that stops delivering) looks like to a connection
    that is already open: the socket stays up, nothing comes back. Its connect timeout is no help.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stall = threading.Event()
    sockets: list[socket.socket] = [listener]

    def pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if stall.is_set():
                    return  # swallow it: the peer waits for an answer that never comes
                dst.sendall(data)
        except OSError:
            return

    def accept() -> None:
        while True:
            try:
                client = listener.accept()[0]
                upstream = socket.create_connection(("127.0.0.1", target_port))
            except OSError:
                return
            sockets.extend((client, upstream))
            threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1], stall
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.postgres
def test_a_query_on_a_connection_that_stops_answering_fails_within_the_query_timeout(settings, django_db_blocker):
    # Before the bound, a request whose kept connection stopped answering hung until the database
    # came back (with the server gone for good: until the kernel gave up, some 15 minutes), and so
    # did the next request on that thread; a client saw nothing but its own timeout.
    from tests.services import require_postgres

    require_postgres()
    settings.DATABASE_QUERY_TIMEOUT_SECONDS = 1
    real = settings.DATABASES["default"]
    with stallable_proxy(int(real.get("PORT") or 5432)) as (port, stall):
        wrapper = _wrapper(settings, port)
        wrapper.settings_dict.update({"NAME": "postgres", "USER": real["USER"], "PASSWORD": real["PASSWORD"]})
        wrapper.inc_thread_sharing()  # used in the thread below (which may hang), checked here
        outcome: list[BaseException | None] = []

        def query() -> None:
            try:
                with wrapper.cursor() as cursor:
                    cursor.execute("SELECT 1")
                    stall.set()
                    cursor.execute("SELECT 2")
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - recorded for the assertions
                outcome.append(exc)

        with django_db_blocker.unblock():
            started = time.monotonic()
            thread = threading.Thread(target=query, daemon=True)
            thread.start()
            thread.join(10)
            elapsed = time.monotonic() - started
            assert not thread.is_alive(), "the query hangs"
            assert isinstance(outcome[0], DatabaseUnavailable), outcome  # a 503 with Retry-After
            assert elapsed < 4, elapsed
            assert database_outage.is_down()  # the next connections fail fast, not one timeout each
            assert not wrapper.is_usable()  # the connection is dropped: its state is unknown
            wrapper.close()
            wrapper.dec_thread_sharing()


@pytest.mark.django_db
def test_migrate_is_not_bounded_by_the_query_timeout(settings):
    """A migration may rightly run past DATABASE_QUERY_TIMEOUT_SECONDS; a request's query may not."""
    from django.core.management import get_commands

    from apps.core.postgresql.base import unbounded_queries
    from tests.services import require_postgres

    require_postgres()
    assert get_commands()["migrate"] == "apps.core"  # the project's migrate, which runs unbounded
    settings.DATABASE_QUERY_TIMEOUT_SECONDS = 0.5
    with unbounded_queries(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(1)")  # past the bound: not cut
    with pytest.raises(DatabaseUnavailable), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(1)")


# -- a connection the database drops mid-request --------------------------------------------------------


@contextlib.contextmanager
def backend_killed_before(table: str):
    """Terminate this thread's PostgreSQL backend just before its first query on ``table``.

    What a request meets when PostgreSQL restarts (or fails over, or an admin kills the backend)
    while it holds an open connection: the connection passed its health check at the request's
    start, and the next query fails with the server's "terminating connection" or a closed socket.
    """
    from django.db import connections

    killed: list[int] = []

    def kill_then_run(execute, sql, params, many, context):
        if not killed and table in sql:
            pid = connection.connection.info.backend_pid
            other = connections.create_connection("default")
            try:
                with other.cursor() as cursor:
                    cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            finally:
                other.close()
            killed.append(pid)
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(kill_then_run):
            yield killed
    finally:
        connection.close()  # broken: the next test's queries reconnect


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_query_on_a_connection_the_database_dropped_is_unavailable_not_a_driver_error():
    from tests.services import require_postgres

    require_postgres()
    with backend_killed_before("todos_task") as killed, pytest.raises(DatabaseUnavailable) as raised:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM todos_task")
    assert killed
    assert "127.0.0.1" not in str(raised.value) and "administrator" not in str(raised.value)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_api_call_whose_connection_the_database_drops_mid_request_answers_503_with_retry_after(client_a):
    from tests.services import require_postgres

    require_postgres()
    with backend_killed_before("todos_task") as killed:
        response = client_a.get("/api/v1/tasks/")
    assert killed
    assert response.status_code == 503, response.content[:300]
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response["Retry-After"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_page_whose_connection_the_database_drops_mid_request_answers_503_with_retry_after(client, user_a):
    from tests.services import require_postgres

    require_postgres()
    client.force_login(user_a)
    with backend_killed_before("todos_task") as killed:
        response = client.get("/tasks/")
    assert killed
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"]


# -- what a browser gets -----------------------------------------------------------------------------


@contextlib.contextmanager
def database_fails_on(table: str):
    """Every query on ``table`` raises DatabaseUnavailable, as an outage mid-request does (any database)."""

    def fail(execute, sql, params, many, context):
        if table in sql:
            raise DatabaseUnavailable("test outage")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(fail):
        yield


def _style_hash_allowed(response) -> bool:
    import base64
    import hashlib
    import re

    style = re.search(r"<style>(.*?)</style>", response.content.decode(), re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    policy = response["Content-Security-Policy"]
    style_src = next(part for part in policy.split(";") if part.strip().startswith("style-src"))
    return f"'sha256-{digest}'" in style_src and "'unsafe-inline'" not in style_src


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/tasks/", "/admin/"])
def test_a_browser_gets_a_small_html_page_with_retry_after_during_an_outage(client, user_a, path):
    user_a.is_staff = user_a.is_superuser = True
    user_a.save()
    client.force_login(user_a)
    with database_fails_on("auth_user"):  # the session's user, read by every signed-in page
        response = client.get(path, HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert response.status_code == 503
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Retry-After"] == str(DatabaseUnavailable.retry_after())
    body = response.content.decode()
    assert body.startswith("<!doctype html>") and "<script" not in body and "<link" not in body
    assert "The database is unavailable; try again in a few seconds." in body
    assert f"in about {response['Retry-After']} seconds" in body
    assert _style_hash_allowed(response)  # the project's CSP holds: no 'unsafe-inline'
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_during_an_outage_the_api_and_json_clients_keep_the_json_shape(client, user_a):
    client.force_login(user_a)
    with database_fails_on("auth_user"):
        api = client.get("/api/v1/tasks/", HTTP_ACCEPT="text/html")
        fetch = client.get("/tasks/", HTTP_ACCEPT="application/json")
    for response in (api, fetch):
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "service_unavailable"
        assert response["Retry-After"]


@pytest.mark.django_db
def test_an_outage_met_while_saving_the_session_is_the_same_503_page(client, user_a, settings):
    settings.SESSION_SAVE_EVERY_REQUEST = True  # the session middleware saves it after the view
    client.force_login(user_a)
    client.raise_request_exception = False  # answered by handler500, as a real server does
    with database_fails_on("django_session"):
        response = client.get("/healthz")  # the view itself never touches the database
    assert response.status_code == 503, response.content[:200]
    assert response["Retry-After"] and response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_an_outage_503_adds_no_error_line_per_request(client, user_a, caplog):
    # The outage is logged once per interval (apps.core.outage); Django's own "Service
    # Unavailable: /path" ERROR line for every 503 buried the log during one.
    caplog.set_level("WARNING", logger="django.request")
    client.force_login(user_a)
    with database_fails_on("auth_user"):
        responses = [client.get(path, HTTP_ACCEPT=accept) for path, accept in
                     (("/tasks/", "text/html"), ("/api/v1/tasks/", "application/json"), ("/tasks/", "application/json"))]  # fmt: skip
    assert [r.status_code for r in responses] == [503, 503, 503]
    assert not [r for r in caplog.records if r.name == "django.request"], caplog.text
