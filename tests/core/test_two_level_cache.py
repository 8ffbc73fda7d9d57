"""The two-level cache service: L1 mirrors L2 under the current versions, bounded, short-lived, bypassed when L2 fails."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from django.core.cache import caches
from django.test import override_settings

from apps.core.cache import TwoLevelCache, digest, user_data_changed, user_data_version_key
from apps.core.localcache import MISS
from config.settings.base import redis_cache
from tests.services import require_redis


def _version() -> str:
    return f"test:version:{uuid.uuid4().hex}"


def test_a_value_is_found_in_l1_then_l2_and_only_under_the_current_version():
    service, other_process, version = TwoLevelCache(), TwoLevelCache(), _version()
    found = service.lookup("t", {"a": 1}, version_keys=[version])
    assert not found.hit and not found.bypassed
    service.store(found, "value", ttl=60)
    assert service.lookup("t", {"a": 1}, version_keys=[version]).level == "l1"
    assert other_process.lookup("t", {"a": 1}, version_keys=[version]).level == "l2"  # the shared copy

    other_process.bump(version)  # a write in the other process
    assert service.lookup("t", {"a": 1}, version_keys=[version]).value is MISS  # this process's L1 copy too


def test_keys_ignore_dict_order_but_not_values():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}) != digest({"a": "1"}) != digest({"a": 2})


@override_settings(CACHE_L1_MAX_ENTRIES=3)
def test_l1_is_a_bounded_lru():
    service, version = TwoLevelCache(), _version()
    for i in range(5):
        service.store(service.lookup("t", i, version_keys=[version]), i, ttl=60)
    assert len(service) == 3
    service.lookup("t", 2, version_keys=[version])  # used: kept
    service.store(service.lookup("t", 9, version_keys=[version]), 9, ttl=60)
    assert service.lookup("t", 2, version_keys=[version]).level == "l1"
    assert service.lookup("t", 3, version_keys=[version]).level == "l2"  # evicted from L1, still in L2


@override_settings(CACHE_L1_TTL_SECONDS=0.05)
def test_l1_copies_are_short_lived():
    service, version = TwoLevelCache(), _version()
    service.store(service.lookup("t", "k", version_keys=[version]), "v", ttl=60)
    assert service.lookup("t", "k", version_keys=[version]).level == "l1"
    time.sleep(0.08)
    assert service.lookup("t", "k", version_keys=[version]).level == "l2"


@pytest.mark.django_db
def test_a_failing_l2_bypasses_everything_even_a_fresh_l1_copy():
    service, version = TwoLevelCache(), _version()
    service.store(service.lookup("t", "k", version_keys=[version]), "v", ttl=60)
    down = {"default": redis_cache("redis://127.0.0.1:1/0")}
    try:
        with override_settings(CACHES=down, REDIS_RETRY_AFTER_SECONDS=0):
            caches.close_all()
            found = service.lookup("t", "k", version_keys=[version])
            assert found.bypassed and not found.hit  # the copy cannot be checked against its version
            service.store(found, "other", ttl=60)  # a bypass stores nothing
            calls = []
            value, cached = service.get_or_compute("t", "k", lambda: calls.append(1) or "fresh", version_keys=[version], ttl=60)
            assert (value, cached, calls) == ("fresh", False, [1])
            user_data_changed(user=12345)  # a write while Redis is down: logged, never raised
    finally:
        caches.close_all()
    assert service.lookup("t", "k", version_keys=[version]).value == "v"


@pytest.mark.django_db(transaction=True)
def test_a_write_bumps_the_users_version_now_and_again_on_commit():
    from django.core.cache import cache
    from django.db import transaction

    key = user_data_version_key(424242)
    seen = []
    with transaction.atomic():
        user_data_changed(user=424242)
        seen.append(cache.get(key))
    seen.append(cache.get(key))
    assert seen[0] and seen[1] and seen[0] != seen[1]


def test_two_processes_on_real_redis_see_each_others_bumps():
    require_redis()
    shared = {"default": {**redis_cache(os.environ["REDIS_URL"]), "KEY_PREFIX": f"c2-test-{uuid.uuid4().hex[:8]}"}}
    try:
        with override_settings(CACHES=shared):
            caches.close_all()
            process_a, process_b, version = TwoLevelCache(), TwoLevelCache(), _version()
            process_a.store(process_a.lookup("t", "k", version_keys=[version]), "old", ttl=60)
            assert process_b.lookup("t", "k", version_keys=[version]).value == "old"
            process_b.bump(version)
            assert process_a.lookup("t", "k", version_keys=[version]).value is MISS
    finally:
        caches.close_all()


def test_forgetting_all_answers_drops_every_cached_answer():
    from apps.core.cache import ANSWERS_VERSION_KEY, answers_forget_all

    service = TwoLevelCache()
    service.store(service.lookup("answer", "k", version_keys=[ANSWERS_VERSION_KEY]), "v", ttl=60)
    assert service.lookup("answer", "k", version_keys=[ANSWERS_VERSION_KEY]).hit
    answers_forget_all()
    assert not service.lookup("answer", "k", version_keys=[ANSWERS_VERSION_KEY]).hit
