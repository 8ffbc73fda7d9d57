"""The answer cache as a chat user sees it: fewer provider requests, never another user's answer, never a skipped write."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import caches
from django.test import override_settings

from apps.audit.models import UsageRecord
from apps.keys.vault import provider_key_create
from apps.providers.models import AnswerCacheMode, ProviderConfig
from apps.providers.services import provider_preference_set
from apps.todos.models import Task
from config.settings.base import redis_cache
from tests.chat.conftest import OPENAI_KEY, post_chat

pytestmark = pytest.mark.django_db


def _chat(client, message, **headers):
    response = client.post("/api/v1/chat/", {"message": message}, format="json", **headers)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_repeated_read_only_workload_sends_at_least_65_percent_fewer_requests(client_a, keyed_user, providers_at_fake):
    prompts = [f"what is on my list, question {i}?" for i in range(30)]
    turns = [prompts[i % 30] for i in range(100)]  # 30 distinct read-only prompts, 100 turns, no task written

    with override_settings(ANSWER_CACHE_ENABLED=False):
        for text in turns:
            _chat(client_a, text)
    without_cache = providers_at_fake.count("openai")
    providers_at_fake.reset()

    answers = [_chat(client_a, text) for text in turns]
    with_cache = providers_at_fake.count("openai")

    assert without_cache == 100
    saving = 1 - with_cache / without_cache
    assert saving >= 0.65, f"saved {saving:.0%} ({with_cache} requests with the cache, {without_cache} without)"
    assert sum(a["cached"] for a in answers) == 70
    assert all(a["reply"] for a in answers)
    hit = answers[30]
    assert hit["cached"] is True and hit["usage"] == {"input_tokens": 0, "output_tokens": 0, "cost": 0.0}


def test_two_users_sending_identical_messages_never_share_an_answer(client_a, client_b, keyed_user, user_b, providers_at_fake):
    provider_key_create(user=user_b, provider_name="openai", key=OPENAI_KEY)
    provider_preference_set(user=user_b, provider_name="openai")

    first = _chat(client_a, "what do I have to do today?")
    second = _chat(client_b, "what do I have to do today?")

    assert providers_at_fake.count("openai") == 2
    assert first["cached"] is False and second["cached"] is False
    assert {r.api_key() for r in providers_at_fake.requests_to("openai")} == {OPENAI_KEY}
    assert _chat(client_b, "what do I have to do today?")["cached"] is True  # each user's own entry works
    assert providers_at_fake.count("openai") == 2
    assert list(UsageRecord.objects.filter(user=user_b).order_by("id").values_list("cache_status", flat=True)) == [
        "miss",
        "hit",
    ]


def test_add_buy_milk_twice_with_the_answer_cached_creates_two_tasks(client_a, keyed_user, providers_at_fake):
    providers_at_fake.reply_tool_calls("openai", [("add_task", {"title": "buy milk"})])
    providers_at_fake.reply_text("openai", "Added buy milk.")

    first = _chat(client_a, "add buy milk")
    second = _chat(client_a, "add buy milk")  # a fresh conversation: the first model call is a cache hit

    assert Task.objects.filter(owner=keyed_user, title="buy milk").count() == 2
    assert [c["name"] for c in first["tool_calls"]] == ["add_task"]
    assert [c["name"] for c in second["tool_calls"]] == ["add_task"]
    assert second["tool_calls"][0]["result"]["id"] != first["tool_calls"][0]["result"]["id"]
    # 2 requests for the first turn; the second sent only its last call (the tool result differs: a new id).
    assert providers_at_fake.count("openai") == 3
    statuses = list(
        UsageRecord.objects.filter(conversation_id=second["conversation_id"]).order_by("id").values_list("cache_status", flat=True)
    )
    assert statuses == ["hit", "miss"]
    assert second["cached"] is False  # not every call of the turn came from the cache


def test_cache_control_no_cache_bypasses_the_answer_cache_for_that_turn(client_a, keyed_user, providers_at_fake):
    _chat(client_a, "hello there")
    fresh = _chat(client_a, "hello there", HTTP_CACHE_CONTROL="no-cache")
    assert fresh["cached"] is False and providers_at_fake.count("openai") == 2
    assert _chat(client_a, "hello there")["cached"] is True
    assert providers_at_fake.count("openai") == 2


def test_a_user_who_turns_the_cache_off_gets_fresh_answers(client_a, keyed_user, providers_at_fake):
    response = client_a.patch("/api/v1/preferences/", {"answer_cache": False}, format="json")
    assert response.status_code == 200 and response.json()["answer_cache"] is False
    assert response.json()["provider"] == "openai"  # the provider choice stays as it was
    _chat(client_a, "hello there")
    assert _chat(client_a, "hello there")["cached"] is False
    assert providers_at_fake.count("openai") == 2


def test_the_setting_turns_the_answer_cache_off(client_a, keyed_user, providers_at_fake):
    with override_settings(ANSWER_CACHE_ENABLED=False):
        _chat(client_a, "hello there")
        assert _chat(client_a, "hello there")["cached"] is False
    assert providers_at_fake.count("openai") == 2


def _operator_sets(**fields) -> None:
    """As the admin does: a save, which every process's copy of the provider rows sees at once."""
    provider = ProviderConfig.objects.get(name="openai")
    for name, value in fields.items():
        setattr(provider, name, value)
    provider.save()


def test_only_calls_the_operator_marks_cacheable_are_cached(client_a, keyed_user, providers_at_fake):
    with override_settings(CHAT_TEMPERATURE=0.7):  # default mode: temperature 0 only
        _chat(client_a, "hello there")
        assert _chat(client_a, "hello there")["cached"] is False
        assert providers_at_fake.count("openai") == 2
        _operator_sets(answer_cache=AnswerCacheMode.ALWAYS)
        _chat(client_a, "hello again")
        assert _chat(client_a, "hello again")["cached"] is True
    assert providers_at_fake.count("openai") == 3
    _operator_sets(answer_cache=AnswerCacheMode.OFF)
    _chat(client_a, "bye")
    assert _chat(client_a, "bye")["cached"] is False


def test_an_answer_expires_after_its_providers_ttl(client_a, keyed_user, providers_at_fake):
    import time as time_module

    ProviderConfig.objects.filter(name="openai").update(answer_cache_ttl_seconds=1)
    _chat(client_a, "hello there")
    assert _chat(client_a, "hello there")["cached"] is True
    time_module.sleep(1.2)
    assert _chat(client_a, "hello there")["cached"] is False


def _kinds(answer) -> list[str]:
    kinds: list[str] = []
    for event in answer["_events"]:
        if not kinds or kinds[-1] != event["type"]:
            kinds.append(event["type"])
    return kinds


def _streamed_text(answer) -> str:
    return "".join(e["delta"] for e in answer["_events"] if e["type"] == "text")


def test_a_cached_answer_streams_like_a_fresh_one_and_is_marked_cached(client_a, keyed_user, providers_at_fake):
    fresh = post_chat(client_a, "stream me something", stream=True)
    cached = post_chat(client_a, "stream me something", stream=True)

    assert providers_at_fake.count("openai") == 1
    # The same events in the same order (a cached text comes in one piece, a fresh one in several).
    assert _kinds(fresh) == _kinds(cached) == ["conversation", "text", "done"]
    assert _streamed_text(cached) == _streamed_text(fresh) and cached["reply"] == fresh["reply"]
    assert fresh["cached"] is False and cached["cached"] is True


def test_usage_rows_the_usage_api_and_page_show_hits_misses_and_cost_saved(client_a, keyed_user, providers_at_fake, client):
    ProviderConfig.objects.filter(name="openai").update(price_input_per_million=Decimal("1000"), price_output_per_million=Decimal("2000"))
    _chat(client_a, "hello there")
    _chat(client_a, "hello there")

    miss, hit = UsageRecord.objects.filter(user=keyed_user).order_by("id")
    assert (miss.cache_status, miss.cached, hit.cache_status, hit.cached) == ("miss", False, "hit", True)
    assert hit.cost == 0 and hit.input_tokens == 0 and hit.cost_saved == miss.cost > 0

    body = client_a.get("/api/v1/usage/").json()
    assert body["cache"]["hits"] == 1 and body["cache"]["misses"] == 1 and body["cache"]["calls_saved"] == 1
    assert Decimal(body["cache"]["cost_saved"]) == miss.cost and body["cache"]["hit_rate"] == 0.5

    client.force_login(keyed_user)
    page = client.get("/usage/").content.decode()
    assert 'id="cache-summary"' in page and "1 model call</strong> was answered from the cache" in page


def test_with_redis_down_the_cache_is_bypassed_and_answers_stay_correct(client_a, keyed_user, providers_at_fake):
    providers_at_fake.reply_tool_calls("openai", [("add_task", {"title": "buy milk"})])
    providers_at_fake.reply_text("openai", "Added buy milk.")
    down = {"default": redis_cache("redis://127.0.0.1:1/0")}  # nothing listens there
    try:
        with override_settings(CACHES=down, REDIS_RETRY_AFTER_SECONDS=0):
            caches.close_all()
            first = _chat(client_a, "add buy milk")
            second = _chat(client_a, "add buy milk")
            third = _chat(client_a, "what is on my list?")
            listing = client_a.get("/api/v1/tasks/")
    finally:
        caches.close_all()

    assert first["cached"] is second["cached"] is third["cached"] is False
    assert [c["name"] for c in first["tool_calls"]] == ["add_task"]
    assert providers_at_fake.count("openai") == 4  # nothing answered from a cache that cannot be checked
    assert listing.status_code == 200
    assert Task.objects.filter(owner=keyed_user, title="buy milk").count() == 1  # the second turn: an echo, no tool
    assert UsageRecord.objects.filter(user=keyed_user, cache_status__in=["hit", "miss"]).count() == 0


def test_a_hit_tells_the_breaker_nothing_and_is_served_while_the_provider_is_paused(client_a, keyed_user, providers_at_fake, settings):
    from apps.providers import state

    settings.PROVIDER_BREAKER_COOLDOWN_SECONDS = 60
    _chat(client_a, "hello there")
    for _ in range(settings.PROVIDER_BREAKER_FAILURE_THRESHOLD):
        state.breaker_op("openai", "failure")
    assert state.breaker_op("openai", "peek").decision == state.OPEN

    answer = _chat(client_a, "hello there")  # the cache comes first: no key opened, nothing sent

    assert answer["cached"] is True and answer["provider"] == "openai" and providers_at_fake.count("openai") == 1
    assert state.breaker_op("openai", "peek").decision == state.OPEN  # not closed by an answer nobody sent
