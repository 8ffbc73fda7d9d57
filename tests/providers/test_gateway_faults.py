"""The gateway against the fake provider's faults, with the requests it received counted."""

from __future__ import annotations

import logging
import random
import time

import pytest
from django.test import override_settings

from apps.providers import state
from apps.providers.policies import RetryPolicy
from tests.providers.gateway_helpers import context, keepalives, route, run, text


@pytest.fixture
def upper_jitter(monkeypatch):
    """Full jitter drawing its ceiling every time, so the backoff's growth is visible."""

    class Ceiling(random.Random):
        def uniform(self, a, b):
            return b

    monkeypatch.setattr(RetryPolicy, "rng", Ceiling())


@override_settings(PROVIDER_MAX_RETRY_WAIT_SECONDS=5)
def test_a_429_with_retry_after_2_is_waited_out_and_not_retried_earlier(fake_provider):
    fake_provider.fault("openai", "rate_limited", retry_after="2")
    fake_provider.reply_text("openai", "after the pause")
    ctx = context(route(fake_provider, "openai", "offline"))

    reply, _ = run(ctx)

    first, second = fake_provider.requests_to("openai")
    assert reply.text == "after the pause"
    assert second.at - first.at >= 2.0
    assert fake_provider.count() == 2
    assert ctx.records[1].waited_seconds == 2.0


@override_settings(PROVIDER_MAX_RETRY_WAIT_SECONDS=5, PROVIDER_STREAM_KEEPALIVE_SECONDS=0.1)
def test_a_streamed_turn_sends_keep_alives_while_it_waits_to_retry(fake_provider):
    fake_provider.fault("openai", "rate_limited", retry_after="0.5")
    fake_provider.reply_text("openai", "streamed after the pause")
    ctx = context(route(fake_provider, "openai", "offline"))

    reply, events = run(ctx, stream=True)

    assert reply.text == "streamed after the pause" == text(events)
    assert keepalives(events) >= 4
    assert fake_provider.count() == 2


@override_settings(PROVIDER_RETRY_BASE_SECONDS=0.05, PROVIDER_MAX_RETRY_WAIT_SECONDS=1, PROVIDER_MAX_RETRIES=2)
def test_three_500s_are_retried_with_growing_waits_then_failed_over(fake_provider, upper_jitter):
    for _ in range(3):
        fake_provider.fault("openai", "server_error")
    fake_provider.reply_text("anthropic", "anthropic answers")
    ctx = context(route(fake_provider, "openai", "anthropic", "offline"))

    reply, _ = run(ctx)

    assert reply.text == "anthropic answers" and ctx.fallback_used
    openai_requests = fake_provider.requests_to("openai")
    assert len(openai_requests) == 3 and fake_provider.count("anthropic") == 1  # no stacked retries
    gaps = [b.at - a.at for a, b in zip(openai_requests, openai_requests[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[1] > gaps[0]
    assert [r.waited_seconds for r in ctx.records if r.provider == "openai"] == [0.0, 0.05, 0.1]
    assert any(e.action == "provider.failover" and e.metadata["to"] == "anthropic" for e in ctx.events)


def test_full_jitter_waits_stay_under_the_growing_ceiling(fake_provider):
    for _ in range(3):
        fake_provider.fault("openai", "unavailable")
    ctx = context(route(fake_provider, "openai", "offline"))
    with override_settings(PROVIDER_RETRY_BASE_SECONDS=0.02, PROVIDER_MAX_RETRY_WAIT_SECONDS=1):
        run(ctx)
    waits = [r.waited_seconds for r in ctx.records if r.provider == "openai"]
    assert len(waits) == 3 and 0 <= waits[1] <= 0.02 and 0 <= waits[2] <= 0.04


def test_a_401_is_tried_once_marks_the_key_and_fails_over(fake_provider):
    refused: list = []
    fake_provider.fault("openai", "unauthorized")
    fake_provider.reply_text("anthropic", "anthropic answers")
    ctx = context(route(fake_provider, "openai", "anthropic", "offline"), refused=refused)

    reply, _ = run(ctx)

    assert reply.text == "anthropic answers"
    assert fake_provider.count("openai") == 1
    assert [s.provider.name for s in refused] == ["openai"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_hung_provider_is_cut_off_at_its_timeout(fake_provider, stream):
    fake_provider.fault("openai", "slow", delay=30)
    ctx = context(route(fake_provider, "openai", "offline", timeout=1))

    started = time.monotonic()
    with override_settings(PROVIDER_MAX_RETRIES=0):
        reply, _ = run(ctx, stream=stream)
    elapsed = time.monotonic() - started

    assert 1.0 <= elapsed < 1.8
    assert ctx.records[0].error_kind == "timeout" and ctx.records[-1].provider == "offline" and reply.text
    assert fake_provider.count("openai") == 1


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_provider_dripping_bytes_is_cut_at_its_total_timeout_not_per_read(fake_provider, stream):
    fake_provider.fault("openai", "drip", delay=0.1)
    ctx = context(route(fake_provider, "openai", "offline", timeout=1), deadline=30)

    started = time.monotonic()
    with override_settings(PROVIDER_MAX_RETRIES=0):
        reply, _ = run(ctx, stream=stream)
    elapsed = time.monotonic() - started

    assert 1.0 <= elapsed < 1.8, elapsed
    assert ctx.records[0].error_kind == "timeout" and reply.text


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_dripping_stream_is_cut_at_the_turns_deadline(fake_provider, stream):
    fake_provider.fault("openai", "drip", delay=0.1)
    fake_provider.fault("openai", "drip", delay=0.1)
    deadline = 1.5
    ctx = context(route(fake_provider, "openai", "offline", timeout=30), deadline=deadline)

    started = time.monotonic()
    reply, _ = run(ctx, stream=stream)
    elapsed = time.monotonic() - started

    assert elapsed < deadline, elapsed
    assert ctx.records[-1].provider == "offline" and reply.text
    assert fake_provider.count("openai") == 1  # no retry was started that could not finish in time


@override_settings(PROVIDER_MAX_RETRY_WAIT_SECONDS=1)
def test_a_retry_after_past_the_deadline_is_not_waited_for(fake_provider):
    fake_provider.fault("openai", "rate_limited", retry_after="0.8")
    ctx = context(route(fake_provider, "openai", "offline"), deadline=0.9)

    started = time.monotonic()
    reply, _ = run(ctx)

    assert time.monotonic() - started < 0.5
    assert fake_provider.count("openai") == 1 and ctx.records[-1].provider == "offline"


# --- cool-downs ------------------------------------------------------------------------------


@override_settings(PROVIDER_MAX_RETRY_WAIT_SECONDS=1)
def test_a_429_puts_the_provider_and_key_in_a_cool_down_that_other_turns_skip(fake_provider):
    fake_provider.fault("openai", "rate_limited", retry_after="30")  # longer than this turn may wait
    first = context(route(fake_provider, "openai", "offline"))
    run(first)
    assert fake_provider.count("openai") == 1
    assert [e.action for e in first.events][:1] == ["provider.cooldown"]

    second = context(route(fake_provider, "openai", "offline"))
    reply, _ = run(second)

    assert fake_provider.count("openai") == 1  # skipped, not asked again
    assert second.records[0].outcome == "skipped" and "takes requests again" in second.records[0].reason
    assert "takes requests again" in second.warnings[0] and reply.text
    assert 25 < state.cooldown_left(provider="openai", any_key=True) <= 30


def test_another_key_for_the_same_provider_is_not_cooled_down(fake_provider):
    state.cooldown_set(provider="openai", key_id=999, seconds=30)
    ctx = context(route(fake_provider, "openai", "offline"))
    run(ctx)
    assert fake_provider.count("openai") == 1


@pytest.mark.parametrize(
    "kind, headers",
    [
        ("openai", {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20s"}),
        ("openai", {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1m0s"}),
        ("anthropic", {"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": "2099-01-01T00:00:00Z"}),
    ],
)
def test_rate_limit_headers_saying_nothing_is_left_start_a_cool_down(fake_provider, kind, headers):
    fake_provider.reply_text(kind, "last one for now", headers=headers)
    first = context(route(fake_provider, kind, "offline"))
    reply, _ = run(first)
    assert reply.text == "last one for now"

    second = context(route(fake_provider, kind, "offline"))
    run(second)

    assert fake_provider.count(kind) == 1 and second.records[0].outcome == "skipped"
    assert state.cooldown_left(provider=kind, any_key=True) >= 15


def test_rate_limit_headers_with_requests_left_start_nothing(fake_provider):
    fake_provider.reply_text("openai", "plenty", headers={"x-ratelimit-remaining-requests": "42"})
    run(context(route(fake_provider, "openai", "offline")))
    assert state.cooldown_left(provider="openai", any_key=True) == 0


# --- circuit breaker (per-process state here; across processes in test_breaker_redis) ---------


@override_settings(PROVIDER_BREAKER_FAILURE_THRESHOLD=3, PROVIDER_BREAKER_COOLDOWN_SECONDS=0.5, PROVIDER_MAX_RETRIES=0)
def test_the_breaker_opens_after_n_failures_skips_then_one_probe_closes_it(fake_provider):
    fake_provider.auto = False  # every request fails
    opened = []
    for _ in range(3):
        ctx = context(route(fake_provider, "openai", "offline"))
        run(ctx)
        opened += [e for e in ctx.events if e.action == "provider.breaker_opened"]
    assert fake_provider.count("openai") == 3 and len(opened) == 1

    skipped = context(route(fake_provider, "openai", "offline"))
    reply, _ = run(skipped)
    assert fake_provider.count("openai") == 3  # skipped at once, no request
    assert skipped.records[0].outcome == "skipped" and "failed 3 times in a row" in skipped.warnings[0]
    assert reply.text

    time.sleep(0.6)
    fake_provider.auto = True
    probe = context(route(fake_provider, "openai", "offline"))
    reply, _ = run(probe)
    assert fake_provider.count("openai") == 4 and reply.text.startswith("echo:")
    assert [e.action for e in probe.events] == ["provider.breaker_closed"]
    assert state.breaker_op("openai", "peek").decision == state.CLOSED


@override_settings(PROVIDER_BREAKER_FAILURE_THRESHOLD=1, PROVIDER_BREAKER_COOLDOWN_SECONDS=0.2, PROVIDER_MAX_RETRIES=0)
def test_a_failed_probe_opens_the_breaker_again(fake_provider):
    fake_provider.auto = False
    run(context(route(fake_provider, "openai", "offline")))
    time.sleep(0.25)
    probe = context(route(fake_provider, "openai", "offline"))
    run(probe)
    assert fake_provider.count("openai") == 2
    assert [e.metadata["reason"] for e in probe.events if e.action == "provider.breaker_opened"] == ["the probe failed"]
    run(context(route(fake_provider, "openai", "offline")))
    assert fake_provider.count("openai") == 2


def test_rate_limits_and_refused_keys_do_not_trip_the_breaker(fake_provider):
    with override_settings(PROVIDER_BREAKER_FAILURE_THRESHOLD=1, PROVIDER_MAX_RETRY_WAIT_SECONDS=0):
        fake_provider.fault("openai", "rate_limited", retry_after="0")
        fake_provider.fault("openai", "unauthorized")
        run(context(route(fake_provider, "openai", "offline")))
        run(context(route(fake_provider, "openai", "offline")))
    assert state.breaker_op("openai", "peek").decision == state.CLOSED


@override_settings(
    CACHES={
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens on the discard port
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    },
    PROVIDER_BREAKER_FAILURE_THRESHOLD=2,
    PROVIDER_MAX_RETRIES=0,
)
def test_with_redis_down_breakers_fall_back_to_this_process_with_a_warning(fake_provider, caplog, monkeypatch):
    monkeypatch.setattr(state, "_script", None)
    monkeypatch.setattr(state, "_warned_at", 0.0)
    monkeypatch.setattr(state, "_redis_down_until", 0.0)
    fake_provider.auto = False
    with caplog.at_level(logging.WARNING, logger="apps.providers.state"):
        for _ in range(3):
            reply, _ = run(context(route(fake_provider, "openai", "offline")))
            assert reply.text  # offline answered; nothing raised
    assert fake_provider.count("openai") == 2  # the per-process breaker opened after 2
    warnings = [r for r in caplog.records if "Redis is unreachable" in r.getMessage()]
    assert len(warnings) == 1  # once per interval, not per call
    started = time.monotonic()
    state.breaker_op("openai", "allow")
    assert time.monotonic() - started < 0.05  # Redis is not asked again for a while
    monkeypatch.setattr(state, "_script", None)


@pytest.mark.parametrize("retry_after", ["inf", "nan", "-5", "99999999", "soon"])
def test_absurd_retry_after_values_neither_crash_nor_cool_down_for_ever(fake_provider, retry_after):
    fake_provider.fault("openai", "rate_limited", retry_after=retry_after)
    ctx = context(route(fake_provider, "openai", "offline"))
    started = time.monotonic()
    reply, _ = run(ctx)
    assert reply.text and time.monotonic() - started < 2
    assert state.cooldown_left(provider="openai", any_key=True) <= 3600
