"""The one path to a model: a route computed up front, one attempt function, policies around each attempt.

Route: the user's provider and model, then the other providers they can use, offline last.
Around every attempt run the policies named in ``PROVIDER_GATEWAY_POLICIES`` (cool-down,
circuit breaker, retry; later rate limits, quotas, the cache). Every attempt, sent or not,
leaves an ``AttemptRecord`` that the chat turn stores. Control flow is plain return values;
the only exceptions leaving here are the final failures the caller must show.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.conf import settings

from apps.providers.adapters import get_adapter
from apps.providers.errors import ProviderError
from apps.providers.models import ProviderConfig, ProviderKind
from apps.providers.policies import Attempt, GatewayPolicy, RouteStep, Verdict, load_policies
from apps.providers.pricing import cost
from apps.providers.types import CompletionReply, CompletionRequest, StreamDone, TextDelta

logger = logging.getLogger(__name__)

# Errors another provider will not fix: the request itself is the problem.
_NO_FAILOVER = {"bad_request", "context_too_long"}


class MidStreamFailure(Exception):
    """A provider failed after part of its answer was already sent on; it cannot be taken back."""

    def __init__(self, error: ProviderError, partial_text: str) -> None:
        self.error = error
        self.partial_text = partial_text
        super().__init__(error.message)


@dataclass(frozen=True)
class KeepAlive:
    """Nothing to send yet (the gateway is waiting to retry); a stream should send a comment."""


@dataclass
class AttemptRecord:
    """One attempt, sent or not: what the turn stores as a usage row and shows in audit."""

    provider: str
    model: str
    attempt: int
    outcome: str  # success | failure | skipped | refused
    error_kind: str = ""
    reason: str = ""
    latency_ms: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal("0")
    waited_seconds: float = 0.0
    cached: bool = False
    fallback: bool = False
    cache_status: str = ""  # the answer cache's part: hit | miss | "" (see AnswerCachePolicy)
    cost_saved: Decimal = Decimal("0")
    operator_key: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "attempt": self.attempt,
            "outcome": self.outcome,
            "error_kind": self.error_kind,
            "reason": self.reason,
            "latency_ms": self.latency_ms,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": str(self.cost),
            "waited_seconds": round(self.waited_seconds, 3),
            "cached": self.cached,
            "fallback": self.fallback,
            "cache_status": self.cache_status,
            "operator_key": self.operator_key,
        }


@dataclass
class CallRecord:
    """One model call that produced a reply, for usage and cost."""

    provider: ProviderConfig
    model: str
    reply: CompletionReply
    cost: Decimal
    cached: bool = False


@dataclass
class GatewayEvent:
    """Something to audit: a failover, a breaker opening or closing, a cool-down."""

    action: str
    provider: str
    metadata: dict[str, Any]


class KeyUnavailable(Exception):
    """The key for a route step cannot be used (none, expired, revoked); ``reason`` is safe to show."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


KeyOpener = Callable[[RouteStep], str]  # the plaintext key for a step, or raises KeyUnavailable


@dataclass
class CallContext:
    """The state of one turn's model calls: the route, where on it we are, the deadline, what happened."""

    route: list[RouteStep]
    deadline: float  # time.monotonic() by which the turn must end
    open_key: KeyOpener
    on_key_refused: Callable[[RouteStep], None] = lambda step: None
    user: Any = None  # whose turn (policies scope limits, quotas and cache entries to it)
    options: dict[str, Any] = field(default_factory=dict)  # per-turn flags for policies, e.g. {"no_cache": True}
    position: int = 0
    fallback_used: bool = False
    records: list[AttemptRecord] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    events: list[GatewayEvent] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def step(self) -> RouteStep:
        return self.route[min(self.position, len(self.route) - 1)]

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()

    def remote_seconds_left(self) -> float:
        """Time a remote provider may still use: the offline answer must fit after it."""
        return self.seconds_left() - float(settings.PROVIDER_OFFLINE_RESERVE_SECONDS)

    def event(self, action: str, provider: ProviderConfig, **metadata: Any) -> None:
        self.events.append(GatewayEvent(action=action, provider=provider.name, metadata=metadata))


@dataclass
class _Tried:
    reply: CompletionReply | None = None
    error: ProviderError | None = None
    emitted: str = ""


class Pipeline:
    """Runs one model call along a context's route with the given policies."""

    def __init__(self, policies: list[GatewayPolicy] | None = None) -> None:
        self.policies = load_policies() if policies is None else policies

    def run(
        self, ctx: CallContext, request: CompletionRequest, *, stream: bool
    ) -> Generator[TextDelta | KeepAlive, None, CompletionReply]:
        """Yield text (and keep-alives while waiting); return the reply, or raise the final failure."""
        last_error: ProviderError | None = None
        while ctx.position < len(ctx.route):
            step = ctx.step
            number, waited = 1, 0.0
            while True:
                attempt = Attempt(step=step, number=number, request=replace(request, model=step.model), stream=stream,
                                  context=ctx, waited_seconds=waited)
                verdict, asked = self._before(attempt)
                if verdict is not None and verdict.action == "reply":
                    self._skipped(attempt, asked[:-1], "answered without a call")
                    if stream and verdict.reply.text:
                        yield TextDelta(verdict.reply.text)  # a short-circuited answer streams like a fresh one
                    # Only the policies asked hear of it: nothing was sent, so a breaker or a limit learns nothing.
                    return self._succeeded(attempt, verdict.reply, latency=0.0, cached=verdict.cached, price=verdict.cost,
                                           notify=asked)
                if verdict is not None:
                    self._skipped(attempt, asked[:-1], verdict.reason)
                    self._record(attempt, verdict.outcome, reason=verdict.reason)
                    break
                if not step.is_offline and ctx.remote_seconds_left() < float(settings.PROVIDER_RETRY_MIN_ATTEMPT_SECONDS):
                    self._skipped(attempt, asked, "the turn ran out of time")
                    self._record(attempt, "skipped", reason="the turn ran out of time")
                    break
                try:
                    api_key = ctx.open_key(step)
                except KeyUnavailable as exc:
                    self._skipped(attempt, asked, exc.reason)
                    self._record(attempt, "refused", error_kind="auth", reason=exc.reason)
                    break
                started = time.monotonic()
                tried = yield from self._attempt(attempt, api_key)
                latency = time.monotonic() - started
                if tried.reply is not None:
                    return self._succeeded(attempt, tried.reply, latency=latency)
                error = tried.error
                last_error = error
                self._record(attempt, "failure", error_kind=error.kind, reason=error.message, latency=latency)
                waits = [w for w in (p.after_failure(attempt, error) for p in self.policies) if w is not None]
                if error.kind == "auth":
                    ctx.on_key_refused(step)
                if tried.emitted:
                    raise MidStreamFailure(error, tried.emitted)
                if error.kind in _NO_FAILOVER:
                    raise error
                if not waits:
                    logger.warning("provider %s failed (%s); failing over", step.provider.name, error.kind)
                    break
                waited = max(waits)
                yield from self._wait(waited, stream)
                number += 1
            self._fail_over(ctx, reason=ctx.records[-1].reason)
        raise last_error or ProviderError("unavailable", detail="no provider could answer")

    # --- one attempt ------------------------------------------------------------------------

    def _attempt(self, attempt: Attempt, api_key: str) -> Generator[TextDelta, None, _Tried]:
        """The one attempt function, plain or streamed; a failure comes back as a value."""
        provider = attempt.provider
        adapter = get_adapter(provider.kind)
        timeout = float(provider.timeout_seconds)
        if not attempt.step.is_offline and attempt.context.remote_seconds_left() < timeout:
            timeout = max(attempt.context.remote_seconds_left(), 0.001)
            # A timeout then is the turn's deadline, not the provider's fault (the breaker ignores it).
            attempt.notes["cut_by_turn_deadline"] = True
        kwargs = {"api_key": api_key, "base_url": provider.base_url, "timeout": timeout}
        emitted: list[str] = []
        try:
            if not attempt.stream:
                return _Tried(reply=adapter.complete(attempt.request, **kwargs))
            done = None
            for event in adapter.stream(attempt.request, **kwargs):
                if isinstance(event, TextDelta):
                    emitted.append(event.text)
                    yield event
                elif isinstance(event, StreamDone):
                    done = event.reply
            if done is None:
                raise ProviderError("bad_response", provider=provider.name, detail="stream ended early")
            return _Tried(reply=done)
        except ProviderError as exc:
            return _Tried(error=exc, emitted="".join(emitted))

    def _before(self, attempt: Attempt) -> tuple[Verdict | None, list[GatewayPolicy]]:
        """The first verdict, and the policies asked (the last one gave the verdict, if any)."""
        asked: list[GatewayPolicy] = []
        for policy in self.policies:
            asked.append(policy)
            verdict = policy.before_attempt(attempt)
            if verdict is not None:
                return verdict, asked
        return None, asked

    @staticmethod
    def _skipped(attempt: Attempt, policies: list[GatewayPolicy], reason: str) -> None:
        for policy in policies:
            policy.after_skip(attempt, reason)

    def _succeeded(
        self, attempt: Attempt, reply: CompletionReply, *, latency: float, cached: bool = False, price: Decimal | None = None,
        notify: list[GatewayPolicy] | None = None,
    ) -> CompletionReply:
        ctx, provider = attempt.context, attempt.provider
        if price is None:
            price = cost(reply.usage, provider.price_input_per_million, provider.price_output_per_million)
        self._record(attempt, "success", latency=latency, reply=reply, price=price, cached=cached)
        ctx.calls.append(CallRecord(provider=provider, model=attempt.step.model, reply=reply, cost=price, cached=cached))
        for policy in self.policies if notify is None else notify:
            policy.after_success(attempt, reply)
        return reply

    def _record(
        self,
        attempt: Attempt,
        outcome: str,
        *,
        error_kind: str = "",
        reason: str = "",
        latency: float = 0.0,
        reply: CompletionReply | None = None,
        price: Decimal = Decimal("0"),
        cached: bool = False,
    ) -> None:
        ctx = attempt.context
        ctx.records.append(
            AttemptRecord(
                provider=attempt.provider.name,
                model=attempt.step.model,
                attempt=attempt.number,
                outcome=outcome,
                error_kind=error_kind,
                reason=reason,
                latency_ms=int(latency * 1000),
                input_tokens=reply.usage.input_tokens if reply else 0,
                output_tokens=reply.usage.output_tokens if reply else 0,
                cost=price,
                waited_seconds=attempt.waited_seconds,
                cached=cached,
                fallback=ctx.position > 0,
                cache_status=attempt.notes.get("cache_status", "") if outcome == "success" else "",
                cost_saved=attempt.notes.get("cost_saved", Decimal("0")),
                operator_key=attempt.step.operator_key,
            )
        )

    def _wait(self, seconds: float, stream: bool) -> Iterator[KeepAlive]:
        """Sleep before a retry; a stream gets a keep-alive at least every few seconds meanwhile."""
        if not stream:
            time.sleep(seconds)
            return
        until = time.monotonic() + seconds
        interval = float(settings.PROVIDER_STREAM_KEEPALIVE_SECONDS)
        while (left := until - time.monotonic()) > 0:
            yield KeepAlive()
            time.sleep(min(interval, left))

    def _fail_over(self, ctx: CallContext, *, reason: str) -> None:
        failed = ctx.step.provider
        ctx.position += 1
        if ctx.position >= len(ctx.route):
            return
        ctx.fallback_used = True
        following = ctx.step.provider
        ctx.warnings.append(f"{failed} could not answer ({reason.rstrip('.')}); answered by {following}.")
        ctx.events.append(
            GatewayEvent(action="provider.failover", provider=failed.name, metadata={"to": following.name, "reason": reason[:200]})
        )


# --- the chat turn's view: a session over the user's route -----------------------------------


def build_route(*, user, provider: ProviderConfig, model: str) -> list[RouteStep]:
    """The user's provider and model, then the other providers they can use, offline last.

    From the route's rows (route_inputs: this process's copy while none changed); the key of each
    step is read again, checked and opened only when that step is tried.
    """
    from apps.providers.selectors import provider_fallback_chain, route_inputs

    inputs = route_inputs(user=user)
    usable_keys = inputs.key_ids()

    def step(p: ProviderConfig, model: str) -> RouteStep:
        if not p.needs_key:
            return RouteStep(provider=p, model=model)
        key_id = usable_keys.get(p.pk)
        if key_id is None and p.operator_key_for_users:  # the operator's key, under the per-user policy
            operator_key_id = inputs.operator_key_id(p)
            if operator_key_id is not None:
                return RouteStep(provider=p, model=model, key_id=operator_key_id, operator_key=True)
        return RouteStep(provider=p, model=model, key_id=key_id)

    steps = [step(provider, model)]
    for other in provider_fallback_chain(first=provider, inputs=inputs):
        steps.append(step(other, other.default_model))
    return steps


class ProviderSession:
    """Model calls for one chat turn. Once it fails over, it stays on the fallback for the rest of the turn."""

    def __init__(self, *, user, provider: ProviderConfig, model: str, deadline: float | None = None,
                 policies: list[GatewayPolicy] | None = None, options: dict[str, Any] | None = None) -> None:
        self.user = user
        if deadline is None:
            deadline = time.monotonic() + float(settings.CHAT_TURN_DEADLINE_SECONDS)
        self.context = CallContext(
            route=build_route(user=user, provider=provider, model=model),
            deadline=deadline,
            open_key=self._open_key,
            on_key_refused=self._key_refused,
            user=user,
            options=dict(options or {}),
        )
        self.pipeline = Pipeline(policies)

    # --- public -------------------------------------------------------------------------

    def complete(self, request: CompletionRequest) -> CompletionReply:
        run = self.pipeline.run(self.context, request, stream=False)
        while True:
            try:
                next(run)
            except StopIteration as done:
                return done.value

    def stream(self, request: CompletionRequest) -> Iterator[TextDelta | KeepAlive | StreamDone]:
        reply = yield from self.pipeline.run(self.context, request, stream=True)
        yield StreamDone(reply=reply)

    @property
    def provider(self) -> ProviderConfig:
        return self.context.step.provider

    @property
    def model(self) -> str:
        return self.context.step.model

    @property
    def is_offline(self) -> bool:
        return self.provider.kind == ProviderKind.OFFLINE

    @property
    def fallback_used(self) -> bool:
        return self.context.fallback_used

    @property
    def warnings(self) -> list[str]:
        return self.context.warnings

    @property
    def calls(self) -> list[CallRecord]:
        return self.context.calls

    @property
    def records(self) -> list[AttemptRecord]:
        return self.context.records

    @property
    def events(self) -> list[GatewayEvent]:
        return self.context.events

    # --- keys ---------------------------------------------------------------------------

    def _open_key(self, step: RouteStep) -> str:
        from apps.core.errors import NotFound
        from apps.keys.vault import ProviderKeyUnusable, operator_key_open, provider_key_open

        if not step.provider.needs_key:
            return ""
        try:
            if step.operator_key:
                opened = operator_key_open(key_id=step.key_id)
            else:
                opened = provider_key_open(user=self.user, provider=step.provider, key_id=step.key_id)
        except ProviderKeyUnusable as exc:
            raise KeyUnavailable(exc.message) from None
        except NotFound:  # the route's key was deleted since the turn began
            raise KeyUnavailable(f"Your key for {step.provider} is gone.") from None
        return opened.secret.reveal()

    def _key_refused(self, step: RouteStep) -> None:
        from apps.keys.models import ProviderKey
        from apps.keys.vault import provider_key_mark

        if step.key_id is None:
            return
        provider_key_mark(
            key_id=step.key_id,
            status=ProviderKey.Status.INVALID,
            detail=f"{step.provider} refused this key during a chat. Check it, or add a new one.",
        )
        whose = "the operator's key" if step.operator_key else "your key"
        self.warnings.append(f"{step.provider} refused {whose}; it is now marked invalid.")
