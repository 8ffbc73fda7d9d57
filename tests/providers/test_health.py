"""Provider health in /api/v1/providers/, the chat page's picker and the admin; the beat probe."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django_celery_beat.models import PeriodicTask

from apps.audit.models import AuditEvent
from apps.audit.services import usage_record
from apps.providers import state
from apps.providers.health_tasks import provider_health_probe_task
from apps.providers.models import ProviderConfig
from tests.chat.conftest import OPENAI_KEY, keyed_user, post_chat  # noqa: F401 (keyed_user is a fixture)

pytestmark = pytest.mark.django_db

OPERATOR_KEY = "sk-operator-probe-0077"


def health_of(client, name: str) -> dict:
    providers = client.get("/api/v1/providers/").json()
    return next(p["health"] for p in providers if p["name"] == name)


def test_the_providers_api_shows_breaker_state_cool_down_success_rate_and_p50(client_a, user_a):
    for latency, outcome in [(100, "success"), (300, "success"), (900, "success"), (50, "failure")]:
        usage_record(user=user_a, provider="openai", model="m", input_tokens=1, output_tokens=1, cost=0,
                     outcome=outcome, latency_ms=latency)
    usage_record(user=user_a, provider="openai", model="m", input_tokens=0, output_tokens=0, cost=0, outcome="skipped")

    healthy = health_of(client_a, "openai")
    assert healthy["status"] == "ok" and healthy["breaker"] == "closed"
    assert healthy["success_rate"] == 0.75 and healthy["p50_latency_ms"] == 300 and healthy["sample_size"] == 4

    state.cooldown_set(provider="openai", key_id=1, seconds=20)
    assert health_of(client_a, "openai")["status"] == "cooling_down"
    assert 15 < health_of(client_a, "openai")["cooldown_seconds"] <= 20

    with override_settings(PROVIDER_BREAKER_FAILURE_THRESHOLD=1):
        state.breaker_op("anthropic", "failure")
    opened = health_of(client_a, "anthropic")
    assert opened["status"] == "open" and opened["breaker"] == "open" and opened["breaker_retry_in_seconds"] > 0
    assert health_of(client_a, "offline")["status"] == "ok"


def test_the_chat_pages_provider_picker_shows_health(user_a):
    with override_settings(PROVIDER_BREAKER_FAILURE_THRESHOLD=1):
        state.breaker_op("anthropic", "failure")
    page = Client()
    page.force_login(user_a)
    html = page.get("/chat/").content.decode()
    assert "paused after failures" in html


@pytest.fixture
def operator_client():
    operator = get_user_model().objects.create_superuser("operator", "op@example.com", "pw-operator-1")
    client = Client()
    client.force_login(operator)
    return client, operator


def test_the_admin_lists_health_and_its_reset_action_closes_the_breaker_and_audits(operator_client):
    client, operator = operator_client
    with override_settings(PROVIDER_BREAKER_FAILURE_THRESHOLD=1):
        state.breaker_op("openai", "failure")
    state.cooldown_set(provider="openai", key_id=3, seconds=60)
    changelist = client.get("/admin/providers/providerconfig/").content.decode()
    assert "paused after failures" in changelist

    openai = ProviderConfig.objects.get(name="openai")
    response = client.post(
        "/admin/providers/providerconfig/",
        {"action": "reset_breaker", "_selected_action": [openai.pk]},
    )

    assert response.status_code == 302
    assert state.breaker_op("openai", "peek").decision == state.CLOSED
    assert state.cooldown_left(provider="openai", key_id=3) == 0
    event = AuditEvent.objects.get(action="provider.breaker_reset")
    assert event.actor == operator and event.metadata == {"provider": "openai"}


def test_a_data_migration_creates_the_probe_schedule_editable_in_the_admin(operator_client):
    task = PeriodicTask.objects.get(name="provider health probe")
    assert task.task == "apps.providers.health_tasks.provider_health_probe_task" and task.enabled
    assert task.interval.every == 60
    client, _ = operator_client
    assert client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/").status_code == 200


def test_without_operator_keys_the_probe_sends_nothing_and_never_uses_users_keys(keyed_user, providers_at_fake):
    results = provider_health_probe_task()
    assert providers_at_fake.count() == 0
    assert results["openai"].startswith("no operator key")


@override_settings(PROVIDER_PROBE_KEYS={"openai": OPERATOR_KEY}, PROVIDER_BREAKER_FAILURE_THRESHOLD=1,
                   PROVIDER_BREAKER_COOLDOWN_SECONDS=0.2)
def test_the_probe_uses_the_operator_key_and_drives_the_breaker(keyed_user, providers_at_fake):
    providers_at_fake.fault("models", "server_error")
    provider_health_probe_task()
    assert providers_at_fake.last("models").api_key() == OPERATOR_KEY  # never the user's OPENAI_KEY
    assert providers_at_fake.count("anthropic") == 0  # no operator key: not probed
    assert state.breaker_op("openai", "peek").decision == state.OPEN
    assert AuditEvent.objects.filter(action="provider.breaker_opened", metadata__provider="openai").exists()

    provider_health_probe_task()  # still cooling down: no probe
    assert providers_at_fake.count("models") == 1

    time.sleep(0.25)
    provider_health_probe_task()
    assert providers_at_fake.count("models") == 2 and state.breaker_op("openai", "peek").decision == state.CLOSED
    assert AuditEvent.objects.filter(action="provider.breaker_closed").exists()
    assert health_of_probe() is True
    assert OPENAI_KEY not in str(list(AuditEvent.objects.values()))


def health_of_probe():
    from apps.providers.health import provider_health

    return provider_health(ProviderConfig.objects.get(name="openai"))["last_probe"]["ok"]


def test_a_turn_skipped_by_an_open_breaker_says_why(client_a, keyed_user, providers_at_fake):
    with override_settings(PROVIDER_BREAKER_FAILURE_THRESHOLD=1):
        state.breaker_op("openai", "failure")
    answer = post_chat(client_a, "hi")
    assert answer["provider"] == "anthropic"
    assert any(w.startswith("OpenAI could not answer (it failed 1 times in a row") for w in answer["warnings"])


def test_the_scheduled_task_name_is_registered_with_celery():
    from config.celery import app

    app.loader.import_default_modules()
    assert PeriodicTask.objects.get(name="provider health probe").task in app.tasks


def test_a_shorter_cool_down_never_shortens_a_longer_one():
    state.cooldown_set(provider="openai", key_id=1, seconds=30)
    state.cooldown_set(provider="openai", key_id=1, seconds=1)
    assert state.cooldown_left(provider="openai", key_id=1) > 25


DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:9/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


def test_with_redis_down_health_falls_back_to_this_process(user_a, monkeypatch):
    from apps.providers.health import provider_health

    monkeypatch.setattr(state, "_redis_down_until", 0.0)
    with override_settings(CACHES=DEAD_REDIS):
        health = provider_health(ProviderConfig.objects.get(name="openai"))
    assert health["status"] == "ok" and health["breaker"] == "closed"
