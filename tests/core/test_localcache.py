"""Process-local copies with a shared generation (apps.core.localcache): validity, bounds, failure."""

from __future__ import annotations

import os
import time
from unittest.mock import patch

from django.core.cache import caches
from django.test import override_settings

from apps.core.localcache import MISS, GenerationCache, generations_prefetched, prefetched_generations, reads_are_local
from tests.services import require_redis

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "localcache-tests"}}
# Nothing listens on port 1: every cache call fails fast.
BROKEN_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


def _copies(name: str = "t") -> GenerationCache:
    return GenerationCache(f"test-{name}-{time.monotonic_ns()}", ttl_setting="ACCESS_TOKEN_CACHE_SECONDS")


@override_settings(CACHES=LOCMEM, ACCESS_TOKEN_CACHE_SECONDS=30)
def test_an_entry_is_valid_for_its_generation_only():
    copies = _copies()
    generation = copies.generation()
    assert generation and copies.generation() == generation  # stable until bumped
    copies.put("k", "v", generation)
    assert copies.get("k", generation) == "v"
    copies.bump()
    assert copies.generation() != generation
    assert copies.get("k", copies.generation()) is MISS
    assert reads_are_local()


@override_settings(CACHES=LOCMEM, ACCESS_TOKEN_CACHE_SECONDS=0.05)
def test_an_entry_expires_after_the_ttl_even_without_a_bump():
    copies = _copies()
    generation = copies.generation()
    copies.put("k", "v", generation)
    assert copies.get("k", generation) == "v"
    time.sleep(0.06)
    assert copies.get("k", generation) is MISS


@override_settings(CACHES=LOCMEM, ACCESS_TOKEN_CACHE_SECONDS=0)
def test_a_zero_ttl_turns_the_copies_off():
    copies = _copies()
    assert copies.generation() is None
    copies.put("k", "v", "anything")
    assert copies.get("k", "anything") is MISS


@override_settings(CACHES=LOCMEM, ACCESS_TOKEN_CACHE_SECONDS=30)
def test_the_copies_are_bounded():
    copies = GenerationCache(f"bounded-{time.monotonic_ns()}", ttl_setting="ACCESS_TOKEN_CACHE_SECONDS", max_entries=3)
    generation = copies.generation()
    for n in range(10):
        copies.put(str(n), n, generation)
    assert len(copies._entries) <= 3
    assert copies.get("9", generation) == 9


@override_settings(CACHES=LOCMEM, ACCESS_TOKEN_CACHE_SECONDS=30)
def test_a_change_in_a_transaction_drops_the_copies_now_and_again_at_commit(transactional_db):
    from django.db import transaction

    copies = _copies()
    with transaction.atomic():
        copies.bump_now_and_on_commit()
        during = copies.generation()
        # Another connection may still read the old row now and store it under the new generation...
        copies.put("k", "old row", during)
    # ...so the commit bumps again.
    assert copies.get("k", copies.generation()) is MISS


@override_settings(CACHES=BROKEN_REDIS, ACCESS_TOKEN_CACHE_SECONDS=30)
def test_a_failing_cache_means_no_copies_not_errors(caplog):
    caches.close_all()
    copies = _copies()
    assert copies.generation() is None
    copies.put("k", "v", None)
    assert copies.get("k", None) is MISS
    copies.bump()  # logged, not raised
    assert "cache unavailable" in caplog.text
    assert not reads_are_local()


def test_two_processes_sharing_redis_see_each_others_bumps():
    require_redis()
    redis_cache = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": f"localcache-test-{time.monotonic_ns()}",
        }
    }
    with override_settings(CACHES=redis_cache, ACCESS_TOKEN_CACHE_SECONDS=30):
        caches.close_all()
        name = f"shared-{time.monotonic_ns()}"
        # Two instances with the same name stand for the same cache in two server processes.
        process_a = GenerationCache(name, ttl_setting="ACCESS_TOKEN_CACHE_SECONDS")
        process_b = GenerationCache(name, ttl_setting="ACCESS_TOKEN_CACHE_SECONDS")
        generation = process_a.generation()
        assert process_b.generation() == generation
        process_a.put("token", "verified", generation)
        process_b.bump()  # e.g. the admin, in another process, revoked a token
        assert process_a.get("token", process_a.generation()) is MISS
        assert not reads_are_local()
    caches.close_all()


def test_generations_read_ahead_answer_in_one_round_trip_and_a_bump_inside_is_seen():
    require_redis()
    redis_cache = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": f"localcache-test-{time.monotonic_ns()}",
        }
    }
    with override_settings(CACHES=redis_cache, ACCESS_TOKEN_CACHE_SECONDS=30):
        caches.close_all()
        tokens, policies, elsewhere = _copies("tokens"), _copies("policies"), _copies("elsewhere")
        before = tokens.generation(), policies.generation()
        reads = []
        real_get = caches["default"].get
        with patch.object(caches["default"], "get", side_effect=lambda *a, **k: reads.append(a[0]) or real_get(*a, **k)):
            with generations_prefetched([tokens.key, policies.key]):
                assert (tokens.generation(), policies.generation()) == before
                assert reads == []  # both from the one get_many on entry
                tokens.bump()  # e.g. a write inside the same hop
                assert tokens.generation() not in (None, before[0])  # read again, not the stale copy
                assert elsewhere.generation()  # a key not read ahead: an ordinary read
                assert elsewhere.key in reads and policies.key not in reads
        assert tokens.generation() != before[0] and prefetched_generations() == {}
    caches.close_all()


@override_settings(CACHES=BROKEN_REDIS, ACCESS_TOKEN_CACHE_SECONDS=30)
def test_generations_read_ahead_from_a_failing_cache_fall_back_to_no_copies(caplog):
    caches.close_all()
    copies = _copies()
    with generations_prefetched([copies.key]):
        assert copies.generation() is None  # as without the read-ahead: no copies, no error
    caches.close_all()


def test_with_the_cache_down_failed_bumps_are_one_warning_per_interval_not_one_per_write(monkeypatch, caplog):
    from types import SimpleNamespace

    from apps.core import localcache
    from apps.core.outage import cache_outage

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(localcache, "cache", SimpleNamespace(set=down))
    monkeypatch.setattr(localcache, "_bump_warnings", {"next": 0.0, "suppressed": 0})
    cache_outage.reset()
    try:
        with caplog.at_level("WARNING", logger="apps.core.localcache"):
            for n in range(20):
                assert localcache.bump_generation(f"test:bump:{n}") is False
    finally:
        cache_outage.reset()
    warned = [r.getMessage() for r in caplog.records if r.name == "apps.core.localcache"]
    assert len(warned) == 1 and "test:bump:0" in warned[0], warned
