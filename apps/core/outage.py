"""A dependency's outage, seen per process: fail fast for a moment after a failure, log it once per interval."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db.utils import OperationalError

logger = logging.getLogger(__name__)


class Outage:
    """What this process knows about one dependency being down.

    ``failed()`` records a failure: the first one of an outage is logged with its traceback,
    later ones are counted and summed up in one line per ``log_interval`` - with Redis down
    every request fails the same way, and a traceback per request buries everything else.
    For ``retry_after`` seconds after a failure, ``is_down()`` says so, and callers that can
    skip the dependency (a cache) answer at once instead of waiting for another timeout.
    """

    def __init__(self, name: str, *, retry_after_setting: str, log_interval_setting: str) -> None:
        self.name = name
        # Setting names, read at each use (this module is imported while settings load).
        self.retry_after_setting = retry_after_setting
        self.log_interval_setting = log_interval_setting
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._since: float | None = None  # monotonic time the outage began, None while up
        self._next_log = 0.0
        self._suppressed = 0

    @property
    def retry_after(self) -> float:
        from django.conf import settings

        return getattr(settings, self.retry_after_setting)

    @property
    def log_interval(self) -> float:
        from django.conf import settings

        return getattr(settings, self.log_interval_setting)

    def is_down(self) -> bool:
        return time.monotonic() < self._down_until

    def failed(self, exc: BaseException | None = None, *, fail_fast: bool = True) -> None:
        """Record a failure; ``fail_fast=False`` for one seen by a caller (it must not extend the window)."""
        now = time.monotonic()
        with self._lock:
            if fail_fast:
                self._down_until = now + self.retry_after
            first = self._since is None
            if first:
                self._since = now
            if not first and now < self._next_log:
                self._suppressed += 1
                return
            suppressed, self._suppressed = self._suppressed, 0
            self._next_log = now + self.log_interval
        if first:
            # Only a failure that opened the window makes callers fail fast; say which it was.
            fast = f"failing fast for {self.retry_after:.0f} s at a time" if fail_fast else "not failing fast"
            logger.warning(
                "%s unavailable (%s); %s, logged again at most every %.0f s",
                self.name, type(exc).__name__ if exc else "error", fast, self.log_interval,
                exc_info=exc,
            )
        else:
            logger.warning(
                "%s still unavailable (%s); %d more failures since the last report",
                self.name, type(exc).__name__ if exc else "error", suppressed,
            )

    def recovered(self) -> None:
        if self._since is None:
            return
        with self._lock:
            if self._since is None:
                return
            lasted, self._since = time.monotonic() - self._since, None
            self._down_until = 0.0
            self._suppressed = 0
        logger.warning("%s reachable again after %.1f s", self.name, lasted)

    def reset(self) -> None:
        """Forget the state (tests)."""
        with self._lock:
            self._down_until, self._since, self._next_log, self._suppressed = 0.0, None, 0.0, 0


# The shared cache (Redis in production): its connections fail fast (apps.core.redis_failfast)
# and every caller that falls back on a cache error reports here, so an outage is one log line
# per interval per process.
cache_outage = Outage(
    "cache", retry_after_setting="REDIS_RETRY_AFTER_SECONDS", log_interval_setting="OUTAGE_LOG_INTERVAL_SECONDS"
)


# The database (PostgreSQL): a connection that timed out fails the next ones at once for
# DATABASE_RETRY_AFTER_SECONDS (apps.core.postgresql); one log line per interval per process.
database_outage = Outage(
    "database",
    retry_after_setting="DATABASE_RETRY_AFTER_SECONDS",
    log_interval_setting="OUTAGE_LOG_INTERVAL_SECONDS",
)


# The Celery broker, seen from the processes that enqueue (web, chat turns): an enqueue that
# failed makes the next ones fail at once for BROKER_RETRY_AFTER_SECONDS (callers check
# is_down() before publishing), instead of each waiting out the broker's timeouts.
broker_outage = Outage(
    "task broker",
    retry_after_setting="BROKER_RETRY_AFTER_SECONDS",
    log_interval_setting="OUTAGE_LOG_INTERVAL_SECONDS",
)


class DatabaseUnavailable(OperationalError):
    """The database could not be reached; answered as a 503 with Retry-After, never a 500.

    Its message never carries the driver's (which names the host, port and user); clients get
    ``PUBLIC_MESSAGE``.
    """

    PUBLIC_MESSAGE = "The database is unavailable; try again in a few seconds."

    def __init__(self, reason: str = "") -> None:
        super().__init__(f"The database is unavailable ({reason})." if reason else "The database is unavailable.")

    @staticmethod
    def retry_after() -> int:
        return max(1, round(database_outage.retry_after))


def outage_skips_run(fn: Callable[..., Any]) -> Callable[..., Any]:
    """For a Celery task that a later run redoes (a beat sweep): a database outage skips this run.

    The run ends as ``IGNORED`` with one warning line instead of a failure with a traceback per
    run (the outage itself is logged once per interval); the next run does the work, since these
    tasks are idempotent and read what is due from the database.
    """
    from celery.exceptions import Ignore

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DatabaseUnavailable:
            logger.warning("%s skipped: the database is unavailable; the next run does its work", fn.__name__)
            raise Ignore() from None

    return run
