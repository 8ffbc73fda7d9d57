"""Per-process copies of hot, rarely changing rows, dropped everywhere at once when they change.

Every MCP call used to re-read rows that almost never change (the caller's access token, the
tool registry), and on this stack each read costs most of a millisecond of ORM work, several
times what the SDK spends on the whole call. A ``GenerationCache`` keeps such rows in process
memory, tagged with a *generation*: a random value kept in Django's cache. Any change to the
rows bumps the generation (at once and again when the transaction commits), so every process
sharing that cache - Redis in production - drops its copies on its next read. With the
local-memory cache of the embedded default only this process sees a bump, which covers its
single server process; a short TTL bounds what a change made elsewhere, or behind the ORM's
back (``QuerySet.update``), can leave stale.

A cache that fails (Redis down) only costs the speed-up: every read goes to the database.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction

from apps.core import metrics
from apps.core.outage import cache_outage

logger = logging.getLogger(__name__)

MISS = object()

_all: list[GenerationCache] = []


class GenerationCache:
    """A bounded dict in process memory whose entries are valid for one shared generation and a TTL."""

    def __init__(self, name: str, *, ttl_setting: str, max_entries: int = 1024) -> None:
        self.name = name
        self.key = f"localcache:{name}:generation"
        self.ttl_setting = ttl_setting  # read on every use, so it can change in tests and at run time
        self.max_entries = max_entries
        self._entries: dict[str, tuple[str, float, Any]] = {}
        self._lock = threading.Lock()
        _all.append(self)

    @property
    def ttl_seconds(self) -> float:
        return getattr(settings, self.ttl_setting)

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0

    def generation(self) -> str | None:
        """The current generation (read it *before* reading the rows); None when the cache fails."""
        if not self.enabled:
            return None
        return read_generation(self.key)

    def get(self, key: str, generation: str | None) -> Any:
        """The entry stored under this generation and not expired, else MISS."""
        if generation is None:
            return MISS
        entry = self._entries.get(key)
        if entry is None or entry[0] != generation or entry[1] < time.monotonic():
            metrics.count_safely(metrics.cache_lookups, self.name, "miss")
            return MISS
        metrics.count_safely(metrics.cache_lookups, self.name, "hit")
        return entry[2]

    def peek(self, key: str) -> Any:
        """The entry under ``key`` whatever its generation or age, else MISS: only to decide what
        to read ahead (apps.mcp_tools.http), never as an answer."""
        entry = self._entries.get(key)
        return MISS if entry is None else entry[2]

    def put(self, key: str, value: Any, generation: str | None) -> None:
        if generation is None or not self.enabled:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # simple and bounded; refilled by the next reads
            self._entries[key] = (generation, time.monotonic() + self.ttl_seconds, value)

    def bump(self) -> None:
        """Invalidate every process's copies (and this one's, even if the shared cache fails)."""
        with self._lock:
            self._entries.clear()
        if self.enabled:
            bump_generation(self.key)

    def bump_now_and_on_commit(self, using: str | None = None) -> None:
        """For a change being written: drop copies now, and again once other connections can see it."""
        self.bump()
        transaction.on_commit(self.bump, using=using)

    def clear_local(self) -> None:
        with self._lock:
            self._entries.clear()


# Generations read ahead in one round trip for a short stretch of code (apps.mcp_tools: one MCP
# call's worker-thread hop reads two or three of them, each a Redis round trip otherwise), or
# for one whole MCP request (request_read_ahead), whose checks read them on the event loop.
_prefetched: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("generations_prefetched", default=None)
_request_read_ahead: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "request_read_ahead", default=None
)


@contextlib.contextmanager
def generations_prefetched(keys: Iterable[str]) -> Iterator[None]:
    """Inside: read_generation answers these keys from one ``get_many`` made on entry.

    Reading a generation earlier than needed is safe (a change after the read bumps it, and
    whatever was read under the old one is dropped); a bump inside drops the key from here, so
    code after it reads the new one. Keys not found (first use) or a failing cache fall back to
    the ordinary reads. Inside request_read_ahead (one /mcp request), only the keys it lacks
    are read, into it.
    """
    if reads_are_local():
        yield  # nothing to save: every read stays in process memory
        return
    current = _request_read_ahead.get()
    if current is not None:
        # One dict for the whole MCP request, so a bump anywhere in it (a worker thread runs in
        # a copy of the request's context, holding the same dict) drops the key for what follows.
        # Elsewhere (a chat turn reads ahead for itself, and its tool calls may come seconds
        # later) a nested read-ahead reads its keys again.
        missing = [key for key in keys if key not in current]
        if missing:
            current.update(_read_many(missing))
        yield
        return
    reset = _prefetched.set(_read_many(list(keys)))
    try:
        yield
    finally:
        _prefetched.reset(reset)


def _read_many(keys: list[str]) -> dict[str, str]:
    try:
        return {key: value for key, value in cache.get_many(keys).items() if value is not None}
    except Exception as exc:
        cache_outage.failed(exc, fail_fast=False)
        return {}


@contextlib.contextmanager
def request_read_ahead() -> Iterator[dict[str, str] | None]:
    """For one request: generations read ahead (by generations_prefetched, or on the event loop
    with apps.core.loop_cache) serve the rest of it. Yields the dict to fill, None when every
    read is local anyway."""
    if reads_are_local():
        yield None
        return
    found: dict[str, str] = {}
    reset, reset_request = _prefetched.set(found), _request_read_ahead.set(found)
    try:
        yield found
    finally:
        _request_read_ahead.reset(reset_request)
        _prefetched.reset(reset)


def prefetched_for_request() -> dict[str, str] | None:
    """The dict request_read_ahead opened for the request running now, None outside one."""
    return _request_read_ahead.get()


def generation_at_hand(key: str) -> bool:
    """Whether reading this generation now needs no I/O (local memory, or read ahead): then code
    that only reads it and process-local copies may run on an event loop."""
    if reads_are_local():
        return True
    prefetched = _prefetched.get()
    return bool(prefetched) and key in prefetched


def prefetched_generations() -> dict[str, str]:
    """The generations read ahead for the code running now (empty outside generations_prefetched)."""
    return _prefetched.get() or {}


def read_generation(key: str) -> str | None:
    """The generation stored under ``key`` (created on first use); None when the cache fails.

    Shared by every per-process copy here and by the two-level cache (apps.core.cache), whose
    per-user data versions are generations too.
    """
    prefetched = _prefetched.get()
    if prefetched and key in prefetched:
        return prefetched[key]
    try:
        value = cache.get(key)
        if value is None:
            cache.add(key, uuid.uuid4().hex, timeout=None)
            value = cache.get(key)
    except Exception as exc:  # any cache backend error: fall back to the database
        cache_outage.failed(exc, fail_fast=False)  # logged once per interval, not per request
        return None
    return value


_bump_warnings = {"next": 0.0, "suppressed": 0}
_bump_warnings_lock = threading.Lock()


def _warn_bump_failed(key: str) -> None:
    """One line per OUTAGE_LOG_INTERVAL_SECONDS: with the cache down, every write fails to bump."""
    now = time.monotonic()
    with _bump_warnings_lock:
        if now < _bump_warnings["next"]:
            _bump_warnings["suppressed"] += 1
            return
        suppressed = _bump_warnings["suppressed"]
        _bump_warnings.update(next=now + settings.OUTAGE_LOG_INTERVAL_SECONDS, suppressed=0)
    more = f" ({suppressed} more keys since the last report)" if suppressed else ""
    logger.warning("could not bump %s; other processes keep their copies up to the TTL%s", key, more)


def bump_generation(key: str) -> bool:
    """A new generation under ``key``: every copy tagged with the old one is dropped. False if the cache failed."""
    prefetched = _prefetched.get()
    if prefetched:
        prefetched.pop(key, None)  # read it again from here on
    try:
        cache.set(key, uuid.uuid4().hex, timeout=None)
    except Exception as exc:
        _warn_bump_failed(key)
        cache_outage.failed(exc, fail_fast=False)
        return False
    return True


def reads_are_local() -> bool:
    """Whether a generation read stays in process memory (then it is safe on an event loop)."""
    return isinstance(caches["default"], LocMemCache)


def clear_all_local() -> None:
    """Forget every process-local copy (tests, after the database was flushed behind the ORM)."""
    for instance in _all:
        instance.clear_local()
