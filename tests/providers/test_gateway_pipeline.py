"""The pipeline itself: policy order, hooks, verdicts and the attempt records it produces."""

from __future__ import annotations

import pytest
from django.test import override_settings

from apps.providers.errors import ProviderError
from apps.providers.gateway import Pipeline
from apps.providers.policies import (
    CircuitBreakerPolicy,
    CooldownPolicy,
    GatewayPolicy,
    RetryPolicy,
    load_policies,
    short_circuit,
    skip,
)
from apps.providers.types import CompletionReply, Usage
from tests.providers.gateway_helpers import context, route, run


class Spy(GatewayPolicy):
    def __init__(self, name: str, log: list, *, verdict=None, wait=None) -> None:
        self.name, self.log, self.verdict, self.wait = name, log, verdict, wait

    def before_attempt(self, attempt):
        self.log.append(("before", self.name, attempt.provider.name, attempt.number))
        return self.verdict(attempt) if callable(self.verdict) else self.verdict

    def after_success(self, attempt, reply):
        self.log.append(("success", self.name, attempt.provider.name))

    def after_failure(self, attempt, error):
        self.log.append(("failure", self.name, attempt.provider.name, error.kind))
        return self.wait(attempt) if callable(self.wait) else self.wait


def test_the_default_policies_come_from_the_setting_in_its_order():
    assert [type(p) for p in load_policies()] == [CooldownPolicy, CircuitBreakerPolicy, RetryPolicy]
    with override_settings(PROVIDER_GATEWAY_POLICIES=["apps.providers.policies.RetryPolicy"]):
        assert [type(p) for p in load_policies()] == [RetryPolicy]


def test_a_setting_naming_something_that_is_not_a_policy_fails_loudly():
    with pytest.raises(TypeError):
        load_policies(["apps.providers.gateway.Pipeline"])


def test_hooks_run_in_order_around_a_successful_attempt(fake_provider):
    log: list = []
    fake_provider.reply_text("openai", "hi there")
    reply, _ = run(context(route(fake_provider, "openai", "offline")), policies=[Spy("a", log), Spy("b", log)])

    assert reply.text == "hi there"
    assert log == [
        ("before", "a", "openai", 1),
        ("before", "b", "openai", 1),
        ("success", "a", "openai"),
        ("success", "b", "openai"),
    ]


def test_every_policy_hears_of_a_failure_and_a_returned_wait_means_one_more_try(fake_provider):
    log: list = []
    fake_provider.fault("openai", "server_error")
    fake_provider.reply_text("openai", "second time lucky")
    once = Spy("retry", log, wait=lambda attempt: 0.0 if attempt.number == 1 else None)
    ctx = context(route(fake_provider, "openai", "offline"))

    reply, _ = run(ctx, policies=[Spy("first", log), once])

    assert reply.text == "second time lucky"
    assert ("failure", "first", "openai", "unavailable") in log and ("failure", "retry", "openai", "unavailable") in log
    assert [(r.provider, r.attempt, r.outcome, r.error_kind) for r in ctx.records] == [
        ("openai", 1, "failure", "unavailable"),
        ("openai", 2, "success", ""),
    ]
    assert fake_provider.count("openai") == 2


def test_a_skip_verdict_stops_later_policies_sends_nothing_and_fails_over(fake_provider):
    log: list = []
    blocker = Spy("limit", log, verdict=lambda a: skip("over its limit", outcome="refused") if a.provider.name == "openai" else None)
    ctx = context(route(fake_provider, "openai", "offline"))

    reply, _ = run(ctx, policies=[blocker, Spy("later", log)])

    assert fake_provider.count() == 0
    assert ("before", "later", "openai", 1) not in log  # the first verdict wins
    assert ctx.records[0].outcome == "refused" and ctx.records[0].reason == "over its limit"
    assert ctx.records[-1].provider == "offline" and ctx.records[-1].outcome == "success"
    assert ctx.fallback_used and "over its limit" in ctx.warnings[0]
    assert [e.action for e in ctx.events] == ["provider.failover"]
    assert reply.text


def test_a_short_circuit_answers_without_a_request_and_is_recorded_as_cached(fake_provider):
    cached = CompletionReply(text="from the cache", tool_calls=(), usage=Usage(3, 4), finish_reason="stop", model="m")
    ctx = context(route(fake_provider, "openai", "offline"))

    reply, _ = run(ctx, policies=[Spy("cache", [], verdict=short_circuit(cached))])

    assert reply.text == "from the cache" and fake_provider.count() == 0
    record = ctx.records[0]
    assert (record.outcome, record.cached, record.input_tokens, record.output_tokens) == ("success", True, 3, 4)
    assert ctx.calls[0].cached


def test_a_short_circuit_answer_streams_like_a_fresh_one(fake_provider):
    from tests.providers.gateway_helpers import text

    cached = CompletionReply(text="from the cache", tool_calls=(), usage=Usage(3, 4), finish_reason="stop", model="m")
    reply, events = run(context(route(fake_provider, "openai", "offline")), stream=True,
                        policies=[Spy("cache", [], verdict=short_circuit(cached))])
    assert text(events) == "from the cache" == reply.text


def test_records_hold_latency_tokens_cost_and_waits(fake_provider):
    fake_provider.fault("openai", "rate_limited", retry_after="0.05")
    fake_provider.reply_text("openai", "ok", usage=(1000, 500))
    ctx = context(route(fake_provider, "openai", "offline"))

    with override_settings(PROVIDER_MAX_RETRY_WAIT_SECONDS=1):
        run(ctx)

    failed, succeeded = ctx.records
    assert failed.outcome == "failure" and failed.error_kind == "rate_limited" and failed.waited_seconds == 0
    assert succeeded.attempt == 2 and succeeded.waited_seconds == pytest.approx(0.05)
    assert (succeeded.input_tokens, succeeded.output_tokens) == (1000, 500)
    assert succeeded.cost > 0 and succeeded.latency_ms >= 0


def test_a_key_that_cannot_be_opened_is_a_refused_record_and_a_failover(fake_provider):
    from apps.providers.gateway import KeyUnavailable

    ctx = context(route(fake_provider, "openai", "offline"))

    def no_key(step):
        if step.provider.name == "openai":
            raise KeyUnavailable("You have no usable key for openai.")
        return ""

    ctx.open_key = no_key
    reply, _ = run(ctx)

    assert fake_provider.count() == 0
    assert (ctx.records[0].outcome, ctx.records[0].reason) == ("refused", "You have no usable key for openai.")
    assert ctx.records[-1].provider == "offline" and reply.text


def test_a_bad_request_is_raised_not_failed_over(fake_provider):
    fake_provider.fault("openai", "context_too_long")
    ctx = context(route(fake_provider, "openai", "offline"))

    result, _ = run(ctx)

    assert isinstance(result, ProviderError) and result.kind == "context_too_long"
    assert [r.provider for r in ctx.records] == ["openai"] and not ctx.fallback_used


def test_the_offline_provider_is_never_behind_a_breaker_or_cool_down(fake_provider):
    from apps.providers import state

    for _ in range(10):
        state.breaker_op("offline", "failure")
    state.cooldown_set(provider="offline", key_id=None, seconds=60)
    ctx = context(route(fake_provider, "offline"))

    reply, _ = run(ctx, policies=Pipeline().policies)

    assert reply.text and ctx.records[0].outcome == "success"


def test_policies_that_let_an_unsent_attempt_through_hear_of_the_skip(fake_provider):
    heard: list = []

    class Holder(GatewayPolicy):
        def after_skip(self, attempt, reason):
            heard.append((attempt.provider.name, reason))

    refuse = Spy("limit", [], verdict=lambda a: skip("over budget") if a.provider.name == "openai" else None)
    run(context(route(fake_provider, "openai", "offline")), policies=[Holder(), refuse])
    assert heard == [("openai", "over budget")]


@override_settings(PROVIDER_BREAKER_FAILURE_THRESHOLD=1, PROVIDER_BREAKER_COOLDOWN_SECONDS=0.05)
def test_a_probe_slot_taken_by_an_attempt_that_was_never_sent_goes_to_the_next_caller(fake_provider):
    import time

    from apps.providers import state

    state.breaker_op("openai", "failure")
    time.sleep(0.06)
    refuse = Spy("limit", [], verdict=lambda a: skip("over budget") if a.provider.name == "openai" else None)
    run(context(route(fake_provider, "openai", "offline")), policies=[CircuitBreakerPolicy(), refuse])
    assert fake_provider.count() == 0
    assert state.breaker_op("openai", "allow").decision == "probe"  # not held for the probe timeout
