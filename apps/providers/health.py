"""Provider health: breaker state and cool-down (shared state), success rate and p50 latency (attempt rows), probes."""

from __future__ import annotations

import logging
import statistics
import time
from typing import Any

from django.conf import settings

from apps.providers import state
from apps.providers.models import ProviderConfig, ProviderKind

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 10


def provider_health(provider: ProviderConfig) -> dict[str, Any]:
    """What is known about one provider's health right now (no user data: counts across all users)."""
    from apps.audit.models import UsageRecord

    if provider.kind == ProviderKind.OFFLINE:
        breaker = state.BreakerResult(state.CLOSED, state.CLOSED, 0.0, 0)
        cooldown = 0.0
    else:
        breaker = state.breaker_op(provider.name, "peek")
        cooldown = state.cooldown_left(provider=provider.name, any_key=True)
    # Attempts that were sent (skipped ones say nothing about the provider), newest first.
    recent = list(
        UsageRecord.objects.filter(provider=provider.name, outcome__in=["success", "failure"], cached=False)
        .order_by("-created_at", "-id")
        .values_list("outcome", "latency_ms")[: settings.PROVIDER_HEALTH_WINDOW]
    )
    successes = [latency for outcome, latency in recent if outcome == "success"]
    if breaker.decision == state.OPEN:
        status = "open"
    elif breaker.decision == state.HALF_OPEN:
        status = "probing"
    elif cooldown > 0:
        status = "cooling_down"
    else:
        status = "ok"
    return {
        "status": status,
        "breaker": breaker.decision,
        "consecutive_failures": breaker.failures,
        "breaker_retry_in_seconds": round(breaker.seconds_left, 1) if breaker.decision != state.CLOSED else 0.0,
        "cooldown_seconds": round(cooldown, 1),
        "success_rate": round(len(successes) / len(recent), 3) if recent else None,
        "p50_latency_ms": int(statistics.median(successes)) if successes else None,
        "sample_size": len(recent),
        "last_probe": state.probe_result_get(provider=provider.name),
    }


def health_label(health: dict[str, Any]) -> str:
    """A short human phrase for pickers and lists: "ok · 98% · p50 420 ms"."""
    words = {
        "ok": "ok",
        "open": f"paused after failures, retry in {health['breaker_retry_in_seconds']:.0f} s",
        "probing": "recovering",
        "cooling_down": f"rate limited for {health['cooldown_seconds']:.0f} s",
    }
    parts = [words.get(health["status"], health["status"])]
    if health["success_rate"] is not None:
        parts.append(f"{health['success_rate']:.0%} ok")
    if health["p50_latency_ms"] is not None:
        parts.append(f"p50 {health['p50_latency_ms']} ms")
    return " · ".join(parts)


def _operator_key(provider: ProviderConfig) -> str | None:
    """The operator's own key for probes (``PROVIDER_PROBE_KEYS``); users' keys are never used."""
    return (settings.PROVIDER_PROBE_KEYS or {}).get(provider.name) or None


def provider_probe(provider: ProviderConfig) -> dict[str, Any] | None:
    """Probe one provider with the operator's key through its breaker; None when there is nothing to probe."""
    from apps.audit.services import audit_record
    from apps.providers.adapters import get_adapter
    from apps.providers.errors import ProviderError
    from apps.providers.policies import BREAKER_KINDS

    key = _operator_key(provider)
    if provider.kind == ProviderKind.OFFLINE or key is None:
        return None
    allowed = state.breaker_op(provider.name, "allow")
    if allowed.decision == "deny":
        return {"ok": None, "skipped": "breaker open", "at": time.time()}
    started = time.monotonic()
    outcome: dict[str, Any] = {"ok": True, "error_kind": "", "at": time.time()}
    try:
        get_adapter(provider.kind).validate_key(
            api_key=key, base_url=provider.base_url, timeout=min(provider.timeout_seconds, PROBE_TIMEOUT_SECONDS)
        )
    except ProviderError as exc:
        outcome.update(ok=False, error_kind=exc.kind)
    outcome["latency_ms"] = int((time.monotonic() - started) * 1000)
    if outcome["ok"]:
        result = state.breaker_op(provider.name, "success")
        if result.previous != state.CLOSED:
            audit_record(actor=None, action="provider.breaker_closed", target=provider,
                         metadata={"provider": provider.name, "reason": "a scheduled probe succeeded"})
    elif outcome["error_kind"] in BREAKER_KINDS:
        result = state.breaker_op(provider.name, "failure")
        if result.decision == state.OPEN and result.previous != state.OPEN:
            audit_record(actor=None, action="provider.breaker_opened", target=provider, outcome="failure",
                         metadata={"provider": provider.name, "reason": "a scheduled probe failed",
                                   "error_kind": outcome["error_kind"]})
    state.probe_result_set(provider=provider.name, result=outcome)
    return outcome


def providers_probe() -> dict[str, Any]:
    """Probe every enabled provider that has an operator key; the rest get health from traffic only."""
    results: dict[str, Any] = {}
    for provider in ProviderConfig.objects.filter(enabled=True).exclude(kind=ProviderKind.OFFLINE):
        outcome = provider_probe(provider)
        results[provider.name] = outcome if outcome is not None else "no operator key: health from traffic only"
    return results
