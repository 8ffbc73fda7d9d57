"""The one path to a model: key -> adapter call -> one retry -> failover along the user's chain -> offline.

Rate limits, quotas, the cache and the circuit breaker will wrap this same path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from apps.keys.models import ProviderKey
from apps.keys.vault import ProviderKeyUnusable, provider_key_mark, provider_key_open
from apps.providers.adapters import get_adapter
from apps.providers.errors import ProviderError
from apps.providers.models import ProviderConfig, ProviderKind
from apps.providers.pricing import cost
from apps.providers.selectors import provider_fallback_chain
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


@dataclass
class CallRecord:
    """One model call that produced a reply, for usage and cost."""

    provider: ProviderConfig
    model: str
    reply: CompletionReply
    cost: Decimal


@dataclass
class ProviderSession:
    """Model calls for one chat turn. Once it fails over, it stays on the fallback for the rest of the turn."""

    user: object
    provider: ProviderConfig
    model: str
    fallback_used: bool = False
    warnings: list[str] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    _chain: list[ProviderConfig] | None = None
    _key_id: int | None = None

    # --- public -------------------------------------------------------------------------

    def complete(self, request: CompletionRequest) -> CompletionReply:
        while True:
            try:
                reply = self._with_retry(lambda key: self._adapter().complete(
                    self._request_for_model(request), api_key=key, base_url=self.provider.base_url,
                    timeout=self.provider.timeout_seconds,
                ))
            except _Failover:
                continue
            return self._record(reply)

    def stream(self, request: CompletionRequest) -> Iterator[TextDelta | StreamDone]:
        while True:
            emitted: list[str] = []
            try:
                done = yield from self._stream_once(request, emitted)
            except _Failover:
                continue
            yield StreamDone(reply=self._record(done))
            return

    @property
    def is_offline(self) -> bool:
        return self.provider.kind == ProviderKind.OFFLINE

    # --- internals ----------------------------------------------------------------------

    def _adapter(self):
        return get_adapter(self.provider.kind)

    def _request_for_model(self, request: CompletionRequest) -> CompletionRequest:
        from dataclasses import replace

        return replace(request, model=self.model)

    def _record(self, reply: CompletionReply) -> CompletionReply:
        price = cost(reply.usage, self.provider.price_input_per_million, self.provider.price_output_per_million)
        self.calls.append(CallRecord(provider=self.provider, model=self.model, reply=reply, cost=price))
        return reply

    def _open_key(self) -> str:
        if not self.provider.needs_key:
            return ""
        opened = provider_key_open(user=self.user, provider=self.provider)
        self._key_id = opened.key_id
        return opened.secret.reveal()

    def _with_retry(self, call):
        """Run ``call(api_key)``; retry once on a retryable error, then fail over (raises _Failover)."""
        try:
            api_key = self._open_key()
        except ProviderKeyUnusable as exc:
            self._fail_over(reason=exc.message)
        for attempt in (1, 2):
            try:
                return call(api_key)
            except ProviderError as exc:
                if exc.retryable and attempt == 1:
                    time.sleep(self._retry_wait(exc))
                    continue
                self._handle_failure(exc)

    def _stream_once(self, request: CompletionRequest, emitted: list[str]):
        try:
            api_key = self._open_key()
        except ProviderKeyUnusable as exc:
            self._fail_over(reason=exc.message)
        for attempt in (1, 2):
            try:
                done = None
                stream = self._adapter().stream(
                    self._request_for_model(request), api_key=api_key, base_url=self.provider.base_url,
                    timeout=self.provider.timeout_seconds,
                )
                for event in stream:
                    if isinstance(event, TextDelta):
                        emitted.append(event.text)
                        yield event
                    elif isinstance(event, StreamDone):
                        done = event.reply
                if done is None:
                    raise ProviderError("bad_response", provider=self.provider.name, detail="stream ended early")
                return done
            except ProviderError as exc:
                if emitted:
                    raise MidStreamFailure(exc, "".join(emitted)) from None
                if exc.retryable and attempt == 1:
                    time.sleep(self._retry_wait(exc))
                    continue
                self._handle_failure(exc)

    def _retry_wait(self, exc: ProviderError) -> float:
        return min(exc.retry_after if exc.retry_after is not None else 0.5, settings.PROVIDER_MAX_RETRY_WAIT_SECONDS)

    def _handle_failure(self, exc: ProviderError) -> None:
        if exc.kind == "auth" and getattr(self, "_key_id", None):
            provider_key_mark(
                key_id=self._key_id,
                status=ProviderKey.Status.INVALID,
                detail=f"{self.provider} refused this key during a chat. Check it, or add a new one.",
            )
            self.warnings.append(f"{self.provider} refused your key; it is now marked invalid.")
        if exc.kind in _NO_FAILOVER:
            raise exc
        logger.warning("provider %s failed (%s); failing over", self.provider.name, exc.kind)
        self._fail_over(reason=exc.message)

    def _fail_over(self, *, reason: str) -> None:
        if self._chain is None:
            self._chain = provider_fallback_chain(user=self.user, first=self.provider)
        if not self._chain:
            # Even the offline provider failed: nothing is left to try.
            raise ProviderError("unavailable", provider=self.provider.name, detail=reason)
        failed = self.provider
        self.provider = self._chain.pop(0)
        self.model = self.provider.default_model
        self._key_id = None
        self.fallback_used = True
        self.warnings.append(f"{failed} could not answer ({reason.rstrip('.')}); answered by {self.provider}.")
        raise _Failover


class _Failover(Exception):
    """Internal: the session moved to the next provider; run the call again."""
