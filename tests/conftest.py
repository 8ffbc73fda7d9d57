"""Shared fixtures: two users with their own API clients, and the service checks."""

from __future__ import annotations

import os

import pytest
from rest_framework.test import APIClient

from tests.factories import make_token, make_user
from tests.fakes.fixtures import *  # noqa: F401,F403  (fake_provider)
from tests.services import REQUIRE_SERVICES


def pytest_report_header(config):
    db = "PostgreSQL (DATABASE_URL)" if os.environ.get("DATABASE_URL") else "SQLite (embedded)"
    cache = "Redis (REDIS_URL)" if os.environ.get("REDIS_URL") else "local memory (embedded)"
    return [f"database: {db}; cache: {cache}; REQUIRE_SERVICES={int(REQUIRE_SERVICES)}"]


def pytest_sessionstart(session):
    if REQUIRE_SERVICES:
        missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
        if missing:
            pytest.exit(f"REQUIRE_SERVICES=1 but {', '.join(missing)} not set", returncode=3)


@pytest.fixture
def user_a(db):
    return make_user("alice")


@pytest.fixture
def user_b(db):
    return make_user("bob")


def _bearer_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user)}")
    return client


@pytest.fixture
def client_a(user_a) -> APIClient:
    return _bearer_client(user_a)


@pytest.fixture
def client_b(user_b) -> APIClient:
    return _bearer_client(user_b)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture(scope="session", autouse=True)
def _close_asgiref_shared_thread_connections(django_db_setup):
    """asgiref runs thread-sensitive sync code called outside any request context (async tests,
    in-process MCP sessions) on one shared thread. With persistent connections (CONN_MAX_AGE) that
    thread's connection outlived the session and kept PostgreSQL from dropping the test database
    ("is being accessed by other users"). Torn down before django_db_setup, which it depends on."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


@pytest.fixture(autouse=True)
def _fresh_local_caches():
    """Process-local copies (verified tokens, the tool registry) never outlive a test's database."""
    import uuid

    from apps.core.cache import two_level_cache
    from apps.core.localcache import clear_all_local

    clear_all_local()
    two_level_cache.clear_local()
    two_level_cache.salt = uuid.uuid4().hex  # ids are reused after a rollback: no cached answer or result carries over
    yield
    clear_all_local()
    two_level_cache.clear_local()


@pytest.fixture(autouse=True)
def _fresh_cache_outage():
    """A test that met a broken or black-holed Redis leaves no fail-fast window for the next
    (while it lasts, new Redis connections are refused and /mcp skips its loop reads)."""
    from apps.core.outage import broker_outage, cache_outage

    cache_outage.reset()
    broker_outage.reset()
    yield
    cache_outage.reset()
    broker_outage.reset()


@pytest.fixture(autouse=True)
def _fresh_spool(settings, tmp_path):
    """Usage and audit spooled by one test (its database failed) are never replayed into the next."""
    from apps.audit import spool

    settings.AUDIT_SPOOL_DIR = tmp_path / "spool"
    spool._pending = None
    yield
    if spool._pending:  # only then can Redis hold this test's entries
        spool.spool_clear()
    spool._pending = None


@pytest.fixture(autouse=True)
def _fresh_provider_state():
    """Breakers and cool-downs opened by one test never skip a provider in the next."""
    from apps.providers import state

    state.clear_all()
    yield
    state.clear_all()


@pytest.fixture(autouse=True)
def _default_rows_after_flush(request):
    """Transactional tests flush every table, data migrations' rows included; put those back."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        return
    request.getfixturevalue("transactional_db")
    from importlib import import_module

    from django.apps import apps

    import_module("apps.providers.migrations.0002_default_providers").create_defaults(apps, None)
    from apps.limits.models import UserPolicy

    UserPolicy.objects.get_or_create(user=None)


@pytest.fixture(autouse=True)
def _fresh_limits():
    """Limit counters and django-ratelimit's counts (in the cache) never carry over to the next test."""
    from django.core.cache import cache

    from apps.limits import limiter

    def clear():
        limiter.clear_all()
        try:
            if hasattr(cache, "_cache"):  # local memory
                for k in [k for k in cache._cache if ":rl:" in str(k)]:
                    cache._cache.pop(k, None)
                    cache._expire_info.pop(k, None)
            else:
                client = cache.client.get_client()
                keys = list(client.scan_iter(match="*:rl:*", count=1000))
                if keys:
                    client.delete(*keys)
        except Exception:  # noqa: BLE001 - a test with Redis down has nothing to clear
            pass

    clear()
    yield
    clear()


@pytest.fixture
def providers_at_fake(db, fake_provider):
    """Point the openai and anthropic provider configs at the fake provider server."""
    from apps.providers.models import ProviderConfig

    ProviderConfig.objects.filter(name="openai").update(base_url=fake_provider.openai_base_url)
    ProviderConfig.objects.filter(name="anthropic").update(base_url=fake_provider.anthropic_base_url)
    return fake_provider
