"""The embedded SQLite under concurrent writers: plain writes queue with transactions, a lock held too long is a 503.

Before, a write outside a transaction (Django's autocommit ``save()``/``update()``) met SQLite's
polling busy handler alone while the queued transactions handed the lock to each other, and
failed with "database is locked", which the API answered 500. Real file databases, real threads,
and for the 503 the app in its own process (tests/chat/live.py).
"""

from __future__ import annotations

import sqlite3
import threading
import time

import httpx2
import pytest
from django.db import connection
from django.db.utils import ConnectionHandler, OperationalError

from tests.chat.conftest import app_server  # noqa: F401  (the fixture: the app in its own process)
from tests.factories import make_token, make_user


def _handler(name: str, *, timeout: float) -> ConnectionHandler:
    return ConnectionHandler({
        "default": {
            "ENGINE": "apps.core.sqlite", "NAME": name,
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE", "timeout": timeout},
        }
    })  # fmt: skip


def test_plain_writes_queue_with_the_transactions_instead_of_failing_locked(tmp_path, django_db_blocker):
    name = str(tmp_path / "mixed.sqlite3")
    handler = _handler(name, timeout=0.3)
    with django_db_blocker.unblock():
        setup = handler["default"]
        with setup.cursor() as cursor:
            cursor.execute("CREATE TABLE t (n INTEGER)")
            cursor.execute("INSERT INTO t VALUES (0)")
        setup.close()
        stop_at = time.monotonic() + 2
        errors: list[BaseException] = []
        plain_writes = []

        def in_transactions() -> None:
            conn = handler["default"]  # a connection per thread, as Django's are
            conn.ensure_connection()
            while time.monotonic() < stop_at:
                conn._start_transaction_under_autocommit()
                with conn.cursor() as cursor:
                    cursor.execute("INSERT INTO t VALUES (1)")
                    time.sleep(0.003)  # the transaction holds SQLite's lock for a while
                conn.commit()
            conn.close()

        def plain() -> None:
            conn = handler["default"]
            try:
                while time.monotonic() < stop_at:
                    with conn.cursor() as cursor:
                        cursor.execute("UPDATE t SET n = n + 1 WHERE rowid = 1")
                    plain_writes.append(1)
                    time.sleep(0.005)
            except OperationalError as exc:
                errors.append(exc)
            finally:
                conn.close()

        threads = [threading.Thread(target=in_transactions) for _ in range(8)]
        threads += [threading.Thread(target=plain) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == []
    assert len(plain_writes) > 50, len(plain_writes)  # they were served, not starved


@pytest.mark.django_db(transaction=True)
def test_a_write_that_another_process_keeps_locked_is_a_503_with_retry_after_then_succeeds(app_server):
    if connection.vendor != "sqlite":
        pytest.skip("the embedded SQLite's own lock (this run's database is another)")
    user = make_user("blocked")
    headers = {"Authorization": f"Bearer {make_token(user)}"}
    server = app_server(DATABASE_BUSY_TIMEOUT_SECONDS="0.3")
    httpx2.get(f"{server.url}/api/v1/tasks/", headers=headers, timeout=10)  # token verified and touched
    other = sqlite3.connect(server.sqlite_file, isolation_level=None)  # another process's writer
    other.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        blocked = httpx2.post(f"{server.url}/api/v1/tasks/", json={"title": "later"}, headers=headers, timeout=10)
        waited = time.monotonic() - started
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert blocked.status_code == 503, blocked.text
    assert blocked.json()["error"]["code"] == "service_unavailable"
    assert int(blocked.headers["Retry-After"]) >= 1
    assert waited < 3, waited  # the busy timeout, not a hang
    again = httpx2.post(f"{server.url}/api/v1/tasks/", json={"title": "later"}, headers=headers, timeout=10)
    assert again.status_code == 201, again.text
    assert "Traceback" not in server.log(), server.log()
