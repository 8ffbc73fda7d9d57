"""Django's SQLite backend, with writers in one process queued on a lock instead of SQLite's busy handler.

SQLite admits one writer at a time. A second ``BEGIN IMMEDIATE`` is refused, and SQLite's busy
handler then sleeps and retries (1, 2, 5, ... up to 100 ms per sleep) until the lock is free or
``busy_timeout`` has passed. With many request threads in one process, a writer could lose that
race many times: at 16 concurrent chat turns the p99 was ten times the p50. Here the threads of a
process wait for each other on a lock, in arrival order, and the next wakes as soon as the writer
before it commits.
Other processes (the worker, a second server) still meet SQLite's own lock and its busy handler.

A write outside a transaction (a plain ``save()``, ``update()`` or ``delete()``: Django runs them in
autocommit mode) queues on the same lock for that one statement. It used to go to SQLite's busy
handler alone, which polls: while the queued writers handed the lock straight to each other, it
found the lock free almost never and failed with "database is locked" after ``busy_timeout``
(measured: 16 queued writers, 4 plain writers: 67 plain writes in 15 s, 4 of them failed).

The wait on the lock is bounded by the same ``busy_timeout``; after that the transaction goes to
SQLite as before (which then waits its own timeout and fails with "database is locked"), so a
thread that holds a transaction while waiting for another writer can never deadlock here. What
is still "database is locked" after both waits (another process held the lock that long) is
``DatabaseUnavailable``: a 503 with Retry-After, not a 500.
"""

from __future__ import annotations

import collections
import logging
import re
import sqlite3
import threading

from django.db.backends.sqlite3 import base
from django.db.utils import DatabaseErrorWrapper
from django.utils.functional import cached_property

from apps.core.outage import DatabaseUnavailable

logger = logging.getLogger(__name__)

# Statements that take SQLite's write lock when run outside a transaction.
_WRITE = re.compile(r"\s*(?:INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


class FairLock:
    """A lock handed to its waiters in arrival order (``threading.Lock`` wakes an arbitrary one,
    so under load one writer could lose again and again: a long tail)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: collections.deque[threading.Event] = collections.deque()

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Event()
            self._waiters.append(turn)
        if turn.wait(timeout):
            return True
        with self._mutex:
            if turn.is_set():  # handed over just as the wait timed out
                return True
            self._waiters.remove(turn)
            return False

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()  # still held: now by the next in line
            else:
                self._held = False


_locks: dict[str, FairLock] = {}
_locks_guard = threading.Lock()


def _write_lock(name: str) -> FairLock:
    with _locks_guard:
        return _locks.setdefault(name, FairLock())


class BusyAwareErrorWrapper(DatabaseErrorWrapper):
    """Django's mapping of driver errors, except that "database is locked" is ``DatabaseUnavailable``.

    The request did nothing wrong: another writer (another process) held SQLite's lock past
    ``busy_timeout``. The same request a moment later succeeds, so: 503 with Retry-After.
    """

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is not None and issubclass(exc_type, sqlite3.OperationalError) and "locked" in str(exc_value):
            logger.warning("SQLite stayed locked past busy_timeout; the request is answered 503")
            raise DatabaseUnavailable("SQLite is locked by another writer") from exc_value
        return super().__exit__(exc_type, exc_value, traceback)


class WriteQueuedCursor(base.SQLiteCursorWrapper):
    """Django's SQLite cursor; a write outside a transaction first queues on the process's write lock."""

    wrapper: DatabaseWrapper

    def execute(self, query, params=None):
        if self.wrapper.write_needs_queue(query):
            with self.wrapper.queued_write():
                return super().execute(query, params)
        return super().execute(query, params)

    def executemany(self, query, param_list):
        if self.wrapper.write_needs_queue(query):
            with self.wrapper.queued_write():
                return super().executemany(query, param_list)
        return super().executemany(query, param_list)


class _QueuedWrite:
    __slots__ = ("wrapper", "acquired")

    def __init__(self, wrapper: DatabaseWrapper) -> None:
        self.wrapper = wrapper

    def __enter__(self) -> None:
        self.acquired = self.wrapper._write_lock.acquire(timeout=self.wrapper.write_lock_timeout)

    def __exit__(self, *exc) -> None:
        if self.acquired:
            self.wrapper._write_lock.release()


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._write_lock = _write_lock(str(self.settings_dict["NAME"]))
        self._holds_write_lock = False
        # How long a writer waits for the other threads of this process: SQLite's own busy
        # timeout (the ``timeout`` option, Python's default 5 s), which it then waits again.
        self.write_lock_timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5.0))

    @cached_property
    def wrap_database_errors(self):
        return BusyAwareErrorWrapper(self)

    def create_cursor(self, name=None):
        cursor = self.connection.cursor(factory=WriteQueuedCursor)
        cursor.wrapper = self
        return cursor

    def write_needs_queue(self, query: str) -> bool:
        return (
            not self.connection.in_transaction  # a transaction's writers queued when it began
            and _WRITE.match(query) is not None
            and not self.is_in_memory_db()
        )

    def queued_write(self) -> _QueuedWrite:
        return _QueuedWrite(self)

    def _start_transaction_under_autocommit(self):
        if getattr(self, "transaction_mode", None) in ("IMMEDIATE", "EXCLUSIVE") and not self.is_in_memory_db():
            self._holds_write_lock = self._write_lock.acquire(timeout=self.write_lock_timeout)
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_write_lock()
            raise

    def _release_write_lock(self):
        if self._holds_write_lock:
            self._holds_write_lock = False
            self._write_lock.release()

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_write_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_write_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_write_lock()
