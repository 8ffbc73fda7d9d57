"""Adapter registry: provider kind -> dotted path, imported only when first used."""

from __future__ import annotations

import functools
import time
from functools import cache
from importlib import import_module

from apps.providers.adapters.base import ProviderAdapter

ADAPTERS: dict[str, str] = {
    "openai": "apps.providers.adapters.openai.OpenAIAdapter",
    "anthropic": "apps.providers.adapters.anthropic.AnthropicAdapter",
    "openai_compatible": "apps.providers.adapters.openai_compatible.OpenAICompatibleAdapter",
    "offline": "apps.providers.adapters.offline.OfflineAdapter",
}


@cache
def _adapter_class(kind: str) -> type[ProviderAdapter]:
    module_path, _, class_name = ADAPTERS[kind].rpartition(".")
    return getattr(import_module(module_path), class_name)


def get_adapter(kind: str) -> ProviderAdapter:
    """A fresh adapter for ``kind``; KeyError names the known kinds if it is not one."""
    if kind not in ADAPTERS:
        raise KeyError(f"unknown provider kind {kind!r}; known: {', '.join(sorted(ADAPTERS))}")
    return _metered(_adapter_class(kind)())


def _outcome(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    kind = getattr(exc, "kind", None)
    return str(getattr(kind, "value", kind) or type(exc).__name__)


def _observed_stream(events, done):
    try:
        yield from events
    except GeneratorExit:
        done(None)  # the consumer stopped reading: not a provider failure
        raise
    except BaseException as exc:
        done(exc)
        raise
    done(None)


def _metered(adapter: ProviderAdapter) -> ProviderAdapter:
    """Counts each call (complete, stream, validate_key) by provider kind and outcome (apps.core.metrics)."""
    from apps.core import metrics

    def observe(operation: str, started: float, exc: BaseException | None) -> None:
        metrics.count_safely(metrics.provider_attempts, adapter.kind, operation, _outcome(exc))
        try:
            metrics.provider_attempt_duration.labels(adapter.kind).observe(time.perf_counter() - started)
        except Exception:  # pragma: no cover
            pass

    def wrap(operation: str, fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                observe(operation, started, exc)
                raise
            observe(operation, started, None)
            return result

        return call

    def wrap_stream(fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                events = fn(*args, **kwargs)  # some adapters refuse before the first event: keep that eager
            except BaseException as exc:
                observe("stream", started, exc)
                raise
            return _observed_stream(events, lambda exc: observe("stream", started, exc))

        return call

    adapter.complete = wrap("complete", adapter.complete)  # type: ignore[method-assign]
    adapter.validate_key = wrap("validate_key", adapter.validate_key)  # type: ignore[method-assign]
    adapter.stream = wrap_stream(adapter.stream)  # type: ignore[method-assign]
    return adapter


def warm_adapters() -> None:
    """Import every adapter (and so its SDK) now: a server calls this at start-up, so the first
    chat turn in a process does not spend its deadline importing the anthropic SDK (~0.7 s)."""
    for kind in ADAPTERS:
        _adapter_class(kind)


__all__ = ["ADAPTERS", "ProviderAdapter", "get_adapter", "warm_adapters"]
