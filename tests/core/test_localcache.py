"""Process-local copies with a shared generation (apps.core.localcache): validity, bounds, failure."""

from __future__ import annotations

import os
import time

from django.core.cache import caches
from django.test import override_settings

from apps.core.localcache import MISS, GenerationCache, reads_are_local
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
