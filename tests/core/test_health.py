"""Liveness and readiness probes."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core import views


def test_healthz_answers_without_touching_anything():
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_everything_is_reachable():
    body = Client().get("/readyz").json()
    assert body["status"] == "ok" and body["failed"] == []
    assert body["checks"] == {"database": "ok", "cache": "ok", "broker": "eager"}


@pytest.mark.django_db
def test_readyz_reaches_a_real_broker(settings):
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        pytest.skip("no RabbitMQ on 127.0.0.1:5672")
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
    body = Client().get("/readyz").json()
    assert body["checks"]["broker"] == "ok", body


@pytest.mark.django_db
def test_readyz_names_an_unreachable_broker(settings):
    # Nothing listens on port 1: the broker check must fail fast and say so.
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]


@pytest.mark.django_db
def test_readyz_names_a_failing_database(monkeypatch):
    def broken():
        raise ConnectionError("db down")

    monkeypatch.setitem(views._CHECKS, "database", broken)
    response = Client().get("/readyz")
    assert response.status_code == 503 and response.json()["failed"] == ["database"]
    assert "db down" not in response.content.decode()  # no internals leak


@pytest.mark.django_db
def test_readyz_names_a_failing_cache(monkeypatch):
    from django.core.cache.backends.dummy import DummyCache

    # A dummy cache never returns what it was given, like a cache that lost its connection.
    monkeypatch.setattr(views, "cache", DummyCache("dummy", {}))
    response = Client().get("/readyz")
    assert response.status_code == 503 and response.json()["failed"] == ["cache"]
