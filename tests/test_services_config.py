"""The suite really uses the services it was given (so a green CI means PostgreSQL and Redis were exercised)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection

from tests.services import require_postgres, require_redis


@pytest.mark.django_db
def test_database_is_postgresql_when_configured():
    require_postgres()
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert "PostgreSQL" in cursor.fetchone()[0]


def test_django_cache_is_redis_when_configured():
    client = require_redis()
    cache.set("probe", "value", timeout=30)
    keys = [k.decode() for k in client.scan_iter(match="*probe*")]
    assert any(k.endswith(":probe") for k in keys), keys
    cache.delete("probe")
