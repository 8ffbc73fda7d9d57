"""Gateway policies: small classes run around every provider attempt, in the order of one setting.

Modelled on DRF's throttle and permission classes. The gateway asks each policy, in order,
``before_attempt`` (``None`` = go on, ``skip(...)`` = not this provider, fail over;
``short_circuit(...)`` = here is the answer, e.g. a cache hit); after the attempt it tells every
policy ``after_success`` or ``after_failure`` (or, if it was never sent, the policies that had
already let it through ``after_skip``); a number returned from ``after_failure`` asks for
another try of the same provider after that many seconds. Rate limits, quotas and the answer
cache join by adding a class to ``PROVIDER_GATEWAY_POLICIES``; the loop does not change.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils.module_loading import import_string

from apps.providers import state
from apps.providers.errors import ProviderError
from apps.providers.models import ProviderConfig, ProviderKind
from apps.providers.types import CompletionReply, CompletionRequest, Usage

if TYPE_CHECKING:
    from apps.providers.gateway import CallContext

# Kinds another try will not fix: the request or the key is the problem.
NOT_RETRYABLE = frozenset({"auth", "bad_request", "context_too_long"})
# Kinds that say the provider itself is unwell (a 429 or a refused key says nothing about its health).
BREAKER_KINDS = frozenset({"unavailable", "timeout", "bad_response"})


@dataclass(frozen=True)
class RouteStep:
    """One provider on the route: which model, and which of the user's keys (id only; opened later)."""

    provider: ProviderConfig
    model: str
    key_id: int | None = None
    operator_key: bool = False  # key_id is the operator's key (the user has none of their own)

    @property
    def is_offline(self) -> bool:
        return self.provider.kind == ProviderKind.OFFLINE


@dataclass
class Attempt:
    """One try of one provider, as the policies see it."""

    step: RouteStep
    number: int  # 1 for the first try of this provider, 2 for its first retry, ...
    request: CompletionRequest
    stream: bool
    context: CallContext
    waited_seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)  # policies may leave facts for their own later hooks

    @property
    def provider(self) -> ProviderConfig:
        return self.step.provider


@dataclass(frozen=True)
class Verdict:
    """What a policy decided before an attempt, when it is not simply "go on"."""

    action: str  # "skip" or "reply"
    reason: str = ""
    outcome: str = "skipped"  # the attempt record's outcome: skipped (breaker, cool-down) or refused (a limit)
    reply: CompletionReply | None = None
    cost: Decimal | None = None
    cached: bool = False


def skip(reason: str, *, outcome: str = "skipped") -> Verdict:
    """Do not send this attempt; fail over to the next provider on the route."""
    return Verdict("skip", reason=reason, outcome=outcome)


def short_circuit(reply: CompletionReply, *, cached: bool = True, cost: Decimal | None = None) -> Verdict:
    """Answer this attempt without calling the provider (an answer cache hit)."""
    return Verdict("reply", reply=reply, cached=cached, cost=cost)


class GatewayPolicy:
    """Base class. One instance per provider session (one chat turn), so it may keep per-turn state."""

    def before_attempt(self, attempt: Attempt) -> Verdict | None:
        return None

    def after_success(self, attempt: Attempt, reply: CompletionReply) -> None:
        return None

    def after_failure(self, attempt: Attempt, error: ProviderError) -> float | None:
        """Seconds to wait before trying this provider again, or None for no opinion."""
        return None

    def after_skip(self, attempt: Attempt, reason: str) -> None:
        """The attempt was not sent after this policy's ``before_attempt`` let it through (a later
        policy, the key or the deadline stopped it): give back what was taken (a probe slot, a reservation)."""
        return None


class CooldownPolicy(GatewayPolicy):
    """Skip a provider-and-key that told us (429 Retry-After, rate-limit headers at 0) to come back later."""

    def before_attempt(self, attempt: Attempt) -> Verdict | None:
        if attempt.step.is_offline:
            return None
        left = state.cooldown_left(provider=attempt.provider.name, key_id=attempt.step.key_id)
        if left > 0:
            return skip(f"it asked for a pause; it takes requests again in {_seconds(left)}")
        return None

    def after_success(self, attempt: Attempt, reply: CompletionReply) -> None:
        if reply.rate_limit_wait:
            self._cool_down(attempt, reply.rate_limit_wait, "rate-limit headers say nothing is left")

    def after_failure(self, attempt: Attempt, error: ProviderError) -> float | None:
        if error.kind == "rate_limited" and error.cooldown_seconds:
            self._cool_down(attempt, error.cooldown_seconds, "429 from the provider")
        return None

    def _cool_down(self, attempt: Attempt, seconds: float, reason: str) -> None:
        state.cooldown_set(provider=attempt.provider.name, key_id=attempt.step.key_id, seconds=seconds)
        attempt.context.event(
            "provider.cooldown", attempt.provider, reason=reason, seconds=round(seconds, 3), key_id=attempt.step.key_id
        )


class CircuitBreakerPolicy(GatewayPolicy):
    """Per provider, shared by every process: open after N failures in a row, one probe after a cool-down."""

    def before_attempt(self, attempt: Attempt) -> Verdict | None:
        if attempt.step.is_offline:
            return None
        result = state.breaker_op(attempt.provider.name, "allow")
        if result.decision == "deny":
            return skip(
                f"it failed {result.failures} times in a row, so it is paused for {_seconds(result.seconds_left)}"
            )
        attempt.notes["breaker_probe"] = result.decision == "probe"
        return None

    def after_skip(self, attempt: Attempt, reason: str) -> None:
        if attempt.notes.get("breaker_probe"):
            state.breaker_op(attempt.provider.name, "release")

    def after_success(self, attempt: Attempt, reply: CompletionReply) -> None:
        if attempt.step.is_offline:
            return
        result = state.breaker_op(attempt.provider.name, "success")
        if result.previous != state.CLOSED:
            attempt.context.event("provider.breaker_closed", attempt.provider, reason="a probe succeeded")

    def after_failure(self, attempt: Attempt, error: ProviderError) -> float | None:
        if attempt.step.is_offline or error.kind not in BREAKER_KINDS:
            return None
        if error.kind == "timeout" and attempt.notes.get("cut_by_turn_deadline"):
            return None
        result = state.breaker_op(attempt.provider.name, "failure")
        if result.decision == state.OPEN and result.previous != state.OPEN:
            attempt.context.event(
                "provider.breaker_opened",
                attempt.provider,
                reason="the probe failed" if result.previous == state.HALF_OPEN else f"{result.failures} failures in a row",
                error_kind=error.kind,
                seconds=round(result.seconds_left, 3),
            )
        return None


class RetryPolicy(GatewayPolicy):
    """Exponential backoff with full jitter, honouring Retry-After, within the retry cap and the deadline."""

    rng: random.Random = random.Random()

    def after_failure(self, attempt: Attempt, error: ProviderError) -> float | None:
        if attempt.step.is_offline or not error.retryable or error.kind in NOT_RETRYABLE:
            return None
        if attempt.number > settings.PROVIDER_MAX_RETRIES:
            return None
        cap = float(settings.PROVIDER_MAX_RETRY_WAIT_SECONDS)
        if error.retry_after is not None:
            wait = float(error.retry_after)  # the provider said when; earlier is wasted
            if wait > cap:
                return None
        else:
            ceiling = min(cap, float(settings.PROVIDER_RETRY_BASE_SECONDS) * 2 ** (attempt.number - 1))
            wait = self.rng.uniform(0, ceiling)
        # The retry itself needs time too; never start a wait that would end past the deadline.
        if wait + float(settings.PROVIDER_RETRY_MIN_ATTEMPT_SECONDS) > attempt.context.remote_seconds_left():
            return None
        return wait


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 1 else f"{value:.1f} s"


@cache
def _policy_class(path: str) -> type[GatewayPolicy]:
    cls = import_string(path)
    if not (isinstance(cls, type) and issubclass(cls, GatewayPolicy)):
        raise TypeError(f"{path} is not a GatewayPolicy")
    return cls


def load_policies(paths: list[str] | None = None) -> list[GatewayPolicy]:
    """Fresh instances of the policies named in ``PROVIDER_GATEWAY_POLICIES``, in order."""
    return [_policy_class(path)() for path in (settings.PROVIDER_GATEWAY_POLICIES if paths is None else paths)]


class AnswerCachePolicy(GatewayPolicy):
    """Answer from the two-level cache when this user sent exactly this input to this provider and model before.

    First in the list: a hit opens no key and spends no limit. The key hashes everything the
    model sees (system prompt, history with its tool results, tool specs, call parameters), the
    provider and model, and the user: one user's answer is never served to another. A cached
    answer that asks for tool calls is returned as it is, so the turn runs those calls again
    through MCP: a write the user asked for is never skipped.
    """

    def __init__(self) -> None:
        self._user_allows: bool | None = None  # the user's preference, read once per turn

    def before_attempt(self, attempt: Attempt) -> Verdict | None:
        from apps.core.cache import two_level_cache

        ttl = self._ttl(attempt)
        if not ttl:
            return None
        found = two_level_cache.lookup("answer", answer_key_parts(attempt), version_keys=[_answers_version_key()],
                                       scope="answers")
        if found.bypassed:
            return None
        if not found.hit:
            attempt.notes["answer_cache"] = (found, ttl)
            attempt.notes["cache_status"] = "miss"
            return None
        reply, fresh_cost = found.value
        attempt.notes["cache_status"] = "hit"
        attempt.notes["cost_saved"] = fresh_cost
        # Nothing was used or paid this time; no rate-limit headers were read.
        return short_circuit(replace(reply, usage=Usage(), rate_limit_wait=None), cost=Decimal("0"))

    def after_success(self, attempt: Attempt, reply: CompletionReply) -> None:
        from apps.core.cache import two_level_cache
        from apps.providers.pricing import cost

        pending = attempt.notes.pop("answer_cache", None)
        if pending is None or reply.finish_reason not in ("stop", "tool_calls"):
            return  # a cut-off ("length") or empty answer is not worth repeating
        if not reply.text.strip() and not reply.tool_calls:
            return
        found, ttl = pending
        provider = attempt.provider
        fresh_cost = cost(reply.usage, provider.price_input_per_million, provider.price_output_per_million)
        two_level_cache.store(found, (replace(reply, rate_limit_wait=None), fresh_cost), ttl=ttl)

    def _ttl(self, attempt: Attempt) -> int:
        """The provider's answer TTL when this call may be cached, else 0."""
        from apps.providers.models import AnswerCacheMode

        provider = attempt.provider
        if not settings.ANSWER_CACHE_ENABLED or attempt.step.is_offline or attempt.context.options.get("no_cache"):
            return 0
        mode = getattr(provider, "answer_cache", AnswerCacheMode.OFF)
        if mode == AnswerCacheMode.OFF:
            return 0
        if mode == AnswerCacheMode.TEMPERATURE_ZERO and attempt.request.temperature != 0:
            return 0
        user = attempt.context.user
        if user is None or not getattr(user, "pk", None):
            return 0
        if self._user_allows is None:
            from apps.providers.selectors import route_inputs

            self._user_allows = route_inputs(user=user).answer_cache
        return int(provider.answer_cache_ttl_seconds) if self._user_allows else 0


def _answers_version_key() -> str:
    from apps.core.cache import ANSWERS_VERSION_KEY

    return ANSWERS_VERSION_KEY


def answer_key_parts(attempt: Attempt) -> dict[str, Any]:
    """Everything the model sees, normalized (JSON-able; dict key order does not count), plus who asks."""
    request, provider = attempt.request, attempt.provider
    return {
        "user": attempt.context.user.pk,
        "provider": [provider.pk, provider.name, provider.kind, provider.base_url],
        "model": request.model,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "messages": [
            [m.role, m.content, m.tool_call_id, m.name, m.is_error,
             [[c.id, c.name, c.arguments if c.arguments is not None else c.raw_arguments] for c in m.tool_calls]]
            for m in request.messages
        ],
        "tools": [[t.name, t.description, t.input_schema] for t in request.tools],
    }
