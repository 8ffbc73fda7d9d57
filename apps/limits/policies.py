"""Gateway policies for limits: provider rate limits and quotas, reserved before each call.

Before a provider call, each limit that applies takes an upper bound of what the call can use:
the input, bounded by its UTF-8 byte count (no byte-level BPE tokenizer makes more tokens than
bytes), plus the call's ``max_tokens``. After the call the reservation is reconciled with the
usage the provider reported; a failed or unsent call gives everything back. Concurrent turns
therefore never overshoot. A limit that is reached skips the provider (outcome *refused*), so
the turn fails over, offline last, and the answer says which limit and when it resets.

With Redis configured but unreachable, a call that any limit applies to is not sent (its
spending could not be counted): the turn fails over with a clear reason, usually to offline.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict

from django.conf import settings

from apps.limits import limiter, quotas
from apps.providers.policies import Attempt, GatewayPolicy, skip
from apps.providers.types import CompletionReply, CompletionRequest

logger = logging.getLogger(__name__)

REDIS_DOWN_REASON = "usage limits cannot be checked right now (the limit store is unreachable), so no paid call was sent"


def input_bound(request: CompletionRequest) -> int:
    """An upper bound on the input tokens of a request: the UTF-8 bytes of everything sent."""
    payload = {
        "messages": [asdict(m) for m in request.messages],
        "tools": [asdict(t) for t in request.tools],
    }
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8"))


def _bounds(attempt: Attempt) -> tuple[int, int]:
    bound = attempt.notes.get("limits_bound")
    if bound is None:
        bound = attempt.notes["limits_bound"] = (input_bound(attempt.request), int(attempt.request.max_tokens or 0))
    return bound


def _limit_event(attempt: Attempt, policy: str, label: str, **extra) -> None:
    extra.setdefault("key_source", "operator" if attempt.step.operator_key else "own")  # "…_key" would be redacted
    attempt.context.event(
        "limit.exceeded", attempt.provider, policy=policy, limit=label,
        user_id=getattr(attempt.context.user, "pk", None), **extra,
    )


class ProviderRateLimitPolicy(GatewayPolicy):
    """Requests and tokens per minute for all traffic to a provider (sliding windows, exact across processes)."""

    def before_attempt(self, attempt: Attempt):
        windows = quotas.windows_for(attempt.provider)
        if not windows:
            return None
        tokens_in, tokens_out = _bounds(attempt)
        taken = []
        try:
            for window in windows:
                cost = 1 if window.unit == "requests" else tokens_in + tokens_out
                decision = limiter.window_hit(window.key, limit=window.limit, window_seconds=window.seconds, cost=cost)
                if not decision.allowed:
                    self._give_back(taken)
                    _limit_event(attempt, "provider_rate", window.label, retry_after=round(decision.retry_after, 3))
                    return skip(f"{window.label} is reached; it takes calls again in {decision.retry_after:.0f} s",
                                outcome="refused")
                taken.append((window, decision.token, cost))
        except limiter.LimiterUnavailable:
            self._give_back(taken)
            logger.warning("limit store unreachable: %s not sent", attempt.provider.name)
            return skip(REDIS_DOWN_REASON, outcome="refused")
        attempt.notes["rate_taken"] = taken
        return None

    @staticmethod
    def _give_back(taken, actual: int | None = None) -> None:
        for window, token, cost in taken:
            if window.unit == "requests" and actual is not None:
                continue  # a sent request stays counted
            try:
                limiter.window_adjust(window.key, window_seconds=window.seconds, token=token, old_cost=cost,
                                      new_cost=actual or 0)
            except limiter.LimiterUnavailable:
                pass

    def after_success(self, attempt: Attempt, reply: CompletionReply) -> None:
        taken = attempt.notes.pop("rate_taken", None)
        if taken:
            self._give_back(taken, actual=reply.usage.input_tokens + reply.usage.output_tokens)

    def after_failure(self, attempt: Attempt, error):
        taken = attempt.notes.pop("rate_taken", None)
        if taken:  # a failed call still counts as a request, but used no tokens
            self._give_back([t for t in taken if t[0].unit != "requests"])
        return None

    def after_skip(self, attempt: Attempt, reason: str) -> None:
        self._give_back(attempt.notes.pop("rate_taken", None) or [])


class QuotaPolicy(GatewayPolicy):
    """Token and cost quotas per provider (per day / month) and per user and provider (per month)."""

    def before_attempt(self, attempt: Attempt):
        ctx = attempt.context
        if ctx.user is None or not attempt.provider.needs_key:
            return None
        applicable = quotas.quotas_for(user=ctx.user, provider=attempt.provider)
        if attempt.step.operator_key and not any(q.scope == "user" for q in applicable):
            # One user must not be able to drain the operator's budget: no per-user quota, no operator key.
            _limit_event(attempt, "operator_key", "no per-user quota for the operator key")
            return skip("the operator's key is only used under a per-user token or cost quota, and none is set",
                        outcome="refused")
        if not applicable:
            return None
        tokens_in, tokens_out = _bounds(attempt)
        taken = []
        try:
            for quota in applicable:
                amount = quotas.amounts(quota.unit, tokens_in, tokens_out, attempt.provider)
                decision = limiter.counter_reserve(quota.key, limit=quota.limit, amount=amount, ttl=quota.ttl,
                                                   rebuild=quota.rebuild)
                if not decision.allowed:
                    self._release(taken)
                    _limit_event(attempt, f"{quota.scope}_quota", quota.label, used=decision.used, limit_value=quota.limit,
                                 resets_at=quota.resets_at.isoformat())
                    return skip(quota.describe(), outcome="refused")
                taken.append((quota, amount))
        except limiter.LimiterUnavailable:
            self._release(taken)
            logger.warning("limit store unreachable: %s not sent", attempt.provider.name)
            return skip(REDIS_DOWN_REASON, outcome="refused")
        attempt.notes["quota_taken"] = taken
        return None

    @staticmethod
    def _release(taken, actual=None) -> list[tuple]:
        """Give back each reservation less what was really used; (quota, new total) of each."""
        totals = []
        for quota, amount in taken:
            used = 0 if actual is None else quotas.amounts(quota.unit, actual[0], actual[1], actual[2])
            try:
                totals.append((quota, limiter.counter_adjust(quota.key, delta=used - amount, ttl=quota.ttl,
                                                             rebuild=quota.rebuild)))
            except limiter.LimiterUnavailable:
                pass
        return totals

    def after_success(self, attempt: Attempt, reply: CompletionReply) -> None:
        taken = attempt.notes.pop("quota_taken", None)
        if not taken:
            return
        usage = reply.usage
        totals = self._release(taken, actual=(usage.input_tokens, usage.output_tokens, attempt.provider))
        thresholds = sorted(settings.LIMITS_WARNING_THRESHOLDS, reverse=True)
        warned = attempt.context.options.setdefault("_limit_warnings", set())
        for quota, total in totals:
            if not quota.limit:
                continue
            fraction = total / quota.limit
            for threshold in thresholds:
                if fraction >= threshold:
                    if quota.key not in warned:
                        warned.add(quota.key)
                        attempt.context.warnings.append(
                            f"{quota.label[0].upper()}{quota.label[1:]} is {fraction:.0%} used "
                            f"(over {threshold:.0%}); it resets on {quota.resets_at:%Y-%m-%d %H:%M} UTC."
                        )
                    break

    def after_failure(self, attempt: Attempt, error):
        self._release(attempt.notes.pop("quota_taken", None) or [])
        return None

    def after_skip(self, attempt: Attempt, reason: str) -> None:
        self._release(attempt.notes.pop("quota_taken", None) or [])
