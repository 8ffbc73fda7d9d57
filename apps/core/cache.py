"""The two-level cache: L1 a bounded in-process LRU with a short TTL, L2 Django's cache (Redis, or local memory).

The one caching service: provider answers (apps.providers.policies.AnswerCachePolicy), tool
results and the tool listing (apps.mcp_tools.server) go through it; nothing else talks to the
backend for cached values. Every entry's key carries *versions* read from L2 at each lookup -
generations as in ``apps.core.localcache``, one per user's todo data, one for the tool
registry, one for all answers - so bumping a version (a task written, a tool switched off)
makes every process miss on its very next read, L1 copies included: an L1 entry is only ever
found under the versions L2 holds now.

When L2 fails (Redis down) nothing is served or stored: an L1 copy whose versions cannot be
checked could be stale. The lookup then returns a bypass and the caller does the real work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache as l2
from django.db import transaction

from apps.core.localcache import MISS, bump_generation, prefetched_generations, read_generation
from apps.core.outage import cache_outage

logger = logging.getLogger(__name__)

ANSWERS_VERSION_KEY = "cache:answers:version"


def user_data_version_key(user_id: int) -> str:
    return f"cache:userdata:{user_id}:version"


@dataclass
class Lookup:
    """The result of a lookup: ``value`` (MISS when not found), and where to store a fresh value.

    ``key`` is None for a bypass (cache off, or L2 failing): then nothing may be stored.
    """

    value: Any
    key: str | None
    scope: str = ""
    level: str = ""  # "l1" | "l2" for a hit

    @property
    def hit(self) -> bool:
        return self.value is not MISS

    @property
    def bypassed(self) -> bool:
        return self.key is None


def _stable(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def digest(value: Any) -> str:
    """A stable hash of a JSON-able value (dict key order does not matter)."""
    return hashlib.sha256(_stable(value).encode()).hexdigest()


class TwoLevelCache:
    """L1 (this process, LRU, short TTL) in front of L2 (shared); entries found only under the current versions."""

    def __init__(self) -> None:
        self._l1: OrderedDict[str, tuple[float, str, Any]] = OrderedDict()  # key -> (expires, scope, value)
        self._lock = threading.Lock()
        self.stats = {"l1_hits": 0, "l2_hits": 0, "misses": 0, "bypassed": 0}
        self.by_namespace: Counter[str] = Counter()  # "tool.l1_hits", "answer.misses", ... (this process; bench and tests)
        self.salt = ""  # part of every key; tests set a fresh one so no entry outlives its test's database

    # --- reading -----------------------------------------------------------------------------

    def lookup(self, namespace: str, parts: Any, *, version_keys: Iterable[str], scope: str = "") -> Lookup:
        """Find the value for ``parts`` under the current versions; a bypass when L2 cannot answer."""
        versions = self._versions(list(version_keys))
        if versions is None:
            self._count(namespace, "bypassed")
            return Lookup(MISS, None, scope)
        key = f"c2:{namespace}:{digest([parts, versions, self.salt])}"
        now = time.monotonic()
        with self._lock:
            entry = self._l1.get(key)
            if entry is not None and entry[0] > now:
                self._l1.move_to_end(key)
                self._count(namespace, "l1_hits")
                return Lookup(entry[2], key, scope, "l1")
        try:
            value = l2.get(key, MISS)
        except Exception as exc:  # L2 failing: bypass, never serve L1 unchecked
            cache_outage.failed(exc, fail_fast=False)
            self._count(namespace, "bypassed")
            return Lookup(MISS, None, scope)
        if value is not MISS:
            self._l1_put(key, value, scope, settings.CACHE_L1_TTL_SECONDS)
            self._count(namespace, "l2_hits")
            return Lookup(value, key, scope, "l2")
        self._count(namespace, "misses")
        return Lookup(MISS, key, scope)

    def _count(self, namespace: str, what: str) -> None:
        self.stats[what] += 1
        self.by_namespace[f"{namespace}.{what}"] += 1

    def store(self, lookup: Lookup, value: Any, *, ttl: float) -> None:
        """Keep ``value`` for a missed lookup for ``ttl`` seconds (L1: at most CACHE_L1_TTL_SECONDS)."""
        if lookup.key is None or ttl <= 0:
            return
        try:
            l2.set(lookup.key, value, timeout=ttl)
        except Exception as exc:
            cache_outage.failed(exc, fail_fast=False)
            return  # not in L2, so not in L1 either: L1 only mirrors what L2 holds
        self._l1_put(lookup.key, value, lookup.scope, min(ttl, settings.CACHE_L1_TTL_SECONDS))

    def get_or_compute(
        self, namespace: str, parts: Any, compute: Callable[[], Any], *, version_keys: Iterable[str], ttl: float,
        scope: str = "",
    ) -> tuple[Any, bool]:
        """(value, was it cached). ``compute`` runs on a miss or a bypass; its value is stored unless bypassed."""
        found = self.lookup(namespace, parts, version_keys=version_keys, scope=scope)
        if found.hit:
            return found.value, True
        value = compute()
        self.store(found, value, ttl=ttl)
        return value, False

    # --- versions ----------------------------------------------------------------------------

    @staticmethod
    def _versions(keys: list[str]) -> list[str] | None:
        if not keys:
            return []
        prefetched = prefetched_generations()
        found = {key: prefetched[key] for key in keys if key in prefetched}
        if len(found) < len(keys):
            try:
                found.update(l2.get_many([key for key in keys if key not in found]))
            except Exception as exc:
                cache_outage.failed(exc, fail_fast=False)
                return None
        versions = []
        for key in keys:
            value = found.get(key)
            if value is None:
                value = read_generation(key)  # first use: created once, shared by every process
                if value is None:
                    return None
            versions.append(value)
        return versions

    def bump(self, version_key: str, *, scope: str = "") -> None:
        """A new version: every process misses from its next read. This process's L1 copies in ``scope`` go now."""
        if scope:
            self.drop_scope(scope)
        bump_generation(version_key)

    # --- L1 ----------------------------------------------------------------------------------

    def _l1_put(self, key: str, value: Any, scope: str, ttl: float) -> None:
        limit = settings.CACHE_L1_MAX_ENTRIES
        if ttl <= 0 or limit <= 0:
            return
        with self._lock:
            self._l1[key] = (time.monotonic() + ttl, scope, value)
            self._l1.move_to_end(key)
            while len(self._l1) > limit:
                self._l1.popitem(last=False)

    def drop_scope(self, scope: str) -> None:
        with self._lock:
            for key in [k for k, entry in self._l1.items() if entry[1] == scope]:
                del self._l1[key]

    def clear_local(self) -> None:
        with self._lock:
            self._l1.clear()
        self.stats = dict.fromkeys(self.stats, 0)
        self.by_namespace.clear()

    def __len__(self) -> int:
        return len(self._l1)


two_level_cache = TwoLevelCache()


def user_scope(user_id: int) -> str:
    return f"user:{user_id}"


def user_data_changed(*, user) -> None:
    """Call from every service that writes a user's todo data: their cached tool results go, in every process.

    Bumped at once (this transaction's own later reads miss) and again on commit (a read by
    another connection between the two saw the old rows and may have stored them under the
    first bump's version).
    """
    user_id = getattr(user, "pk", user)
    key = user_data_version_key(user_id)

    def bump() -> None:
        two_level_cache.bump(key, scope=user_scope(user_id))

    bump()
    transaction.on_commit(bump)


def answers_forget_all() -> None:
    """Drop every cached provider answer (all users, all processes)."""
    two_level_cache.bump(ANSWERS_VERSION_KEY, scope="answers")
