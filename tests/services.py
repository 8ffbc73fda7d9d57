"""Which real services the tests may use: skip without them, fail without them when REQUIRE_SERVICES=1."""

from __future__ import annotations

import os

import pytest

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def require_service(name: str, env_var: str) -> str:
    """The service URL from env_var, or skip (fail under REQUIRE_SERVICES=1) with the reason."""
    url = os.environ.get(env_var, "")
    if url:
        return url
    reason = f"{name} not configured: set {env_var} to run this test"
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def require_postgres() -> None:
    from django.db import connection

    require_service("PostgreSQL", "DATABASE_URL")
    if connection.vendor != "postgresql":
        message = f"needs PostgreSQL but DATABASE_URL points at {connection.vendor}"
        if REQUIRE_SERVICES:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def require_redis():
    """A redis-py client on REDIS_URL, checked with PING."""
    import redis

    url = require_service("Redis", "REDIS_URL")
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis at REDIS_URL is not reachable: {type(exc).__name__}"
        if REQUIRE_SERVICES:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return client
