"""Redis down (a closed port): endpoints that spend nothing fail open; paid calls are not sent; never a 500."""

from __future__ import annotations

import logging

import pytest

from apps.core.outage import cache_outage
from apps.keys.vault import provider_key_create
from apps.limits.models import UserPolicy
from apps.providers.models import ProviderConfig
from apps.providers.services import provider_preference_set

pytestmark = pytest.mark.django_db

CLOSED = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_down(settings):
    from config.settings.base import redis_cache

    cache_outage.reset()
    settings.CACHES = {"default": redis_cache(CLOSED)}
    yield
    cache_outage.reset()


def test_the_tasks_api_serves_with_its_limit_failing_open(redis_down, client_a, caplog):
    UserPolicy.objects.update_or_create(user=None, defaults={"api_writes_per_minute": 1})
    with caplog.at_level(logging.WARNING, logger="apps.limits.services"):
        codes = [client_a.post("/api/v1/tasks/", {"title": f"t{i}"}, format="json").status_code for i in range(3)]
    assert codes == [201, 201, 201]
    assert client_a.get("/api/v1/tasks/").status_code == 200
    assert any("fail open" in r.getMessage() for r in caplog.records)


def test_a_chat_turn_under_a_quota_answers_offline_with_the_warning_and_sends_nothing(redis_down, client_a, user_a,
                                                                                       fake_provider):
    ProviderConfig.objects.filter(name="openai").update(base_url=fake_provider.openai_base_url)
    provider_key_create(user=user_a, provider_name="openai", key="sk-openai-redis-down-01")
    provider_preference_set(user=user_a, provider_name="openai")
    UserPolicy.objects.update_or_create(user=None, defaults={"tokens_per_month": 100_000})

    response = client_a.post("/api/v1/chat/", {"message": "add buy milk"}, format="json")

    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["provider"] == "offline" and answer["fallback_used"]
    assert "usage limits cannot be checked" in " ".join(answer["warnings"])
    assert fake_provider.count("openai") == 0
    assert answer["tool_calls"][0]["name"] == "add_task"  # the offline assistant still did the work


def test_the_usage_page_and_api_still_answer(redis_down, client_a, page_a):
    UserPolicy.objects.update_or_create(user=None, defaults={"tokens_per_month": 1000})
    assert client_a.get("/api/v1/usage/").status_code == 200
    assert page_a.get("/usage/").status_code == 200


def test_login_is_served_when_the_rate_limit_cache_is_down(redis_down):
    from django.test import Client

    response = Client().post("/accounts/login/", {"username": "nobody", "password": "x"})
    assert response.status_code in (200, 302)
