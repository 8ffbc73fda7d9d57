"""Races made certain: one call's transaction held open on another thread while the test's call runs."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connections, transaction


@contextlib.contextmanager
def held_uncommitted(work: Callable[[], Any], *, hold_seconds: float = 0.5) -> Iterator[None]:
    """Run ``work`` in a transaction on a thread of its own, and the body while it is not yet committed.

    The transaction commits ``hold_seconds`` after ``work`` returned; the body starts as soon as
    it did. On PostgreSQL, a body that locks the same rows waits for that commit.
    """
    done = threading.Event()
    failure: list[BaseException] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                work()
                done.set()
                time.sleep(hold_seconds)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            failure.append(exc)
            done.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert done.wait(10), "the held call did not finish"
    if failure:
        raise failure[0]
    try:
        yield
    finally:
        thread.join(10)


def at_once(work: Callable[[], Any], times: int, *, timeout: float = 30) -> list[Any]:
    """Run ``work`` on ``times`` threads released together; their results (in finishing order).

    Each thread closes its database connections when done. A thread's exception is re-raised here.
    """
    start = threading.Barrier(times)
    results: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(5)
            results.append(work())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            failure.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if failure:
        raise failure[0]
    return results
