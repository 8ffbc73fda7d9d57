"""Django's SQLite backend, with writers in one process queued on a lock instead of SQLite's busy handler.

SQLite admits one writer at a time. A second ``BEGIN IMMEDIATE`` is refused, and SQLite's busy
handler then sleeps and retries (1, 2, 5, ... up to 100 ms per sleep) until the lock is free or
``busy_timeout`` has passed. With many request threads in one process, a writer could lose that
race many times: at 16 concurrent chat turns the p99 was ten times the p50. Here the threads of a
process wait for each other on a lock, in arrival order, and the next wakes as soon as the writer
before it commits.
Other processes (the worker, a second server) still meet SQLite's own lock and its busy handler.

The wait on the lock is bounded by the same ``busy_timeout``; after that the transaction goes to
SQLite as before (which then waits its own timeout and fails with "database is locked"), so a
thread that holds a transaction while waiting for another writer can never deadlock here.
"""

from __future__ import annotations

import collections
import threading

from django.db.backends.sqlite3 import base


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


class DatabaseWrapper(base.DatabaseWrapper):
    # How long a writer waits for the other threads of this process (busy_timeout's default here).
    write_lock_timeout = 5.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._write_lock = _write_lock(str(self.settings_dict["NAME"]))
        self._holds_write_lock = False

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
