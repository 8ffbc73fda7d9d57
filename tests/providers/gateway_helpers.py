"""Build pipeline routes and contexts against the fake provider server, without the database."""

from __future__ import annotations

import time
from decimal import Decimal

from apps.providers.gateway import CallContext, KeepAlive, Pipeline
from apps.providers.models import ProviderConfig
from apps.providers.policies import RouteStep
from apps.providers.types import CompletionRequest, TextDelta
from tests.providers.helpers import user_request

KEY = "sk-test-pipeline-0000"


def provider(name: str, kind: str, base_url: str = "", *, timeout: int = 5) -> ProviderConfig:
    return ProviderConfig(
        name=name,
        kind=kind,
        base_url=base_url,
        timeout_seconds=timeout,
        default_model=f"{name}-model",
        model_names=[f"{name}-model"],
        price_input_per_million=Decimal("1"),
        price_output_per_million=Decimal("2"),
    )


def route(fake, *names: str, timeout: int = 5) -> list[RouteStep]:
    """Steps for "openai" / "anthropic" at the fake and "offline", in the order given."""
    steps = []
    for index, name in enumerate(names):
        if name == "openai":
            config = provider("openai", "openai", fake.openai_base_url, timeout=timeout)
        elif name == "anthropic":
            config = provider("anthropic", "anthropic", fake.anthropic_base_url, timeout=timeout)
        else:
            config = provider("offline", "offline")
            config.default_model = "offline-rules"
        steps.append(RouteStep(provider=config, model=config.default_model, key_id=100 + index))
    return steps


def context(steps, *, deadline: float = 10.0, refused: list | None = None) -> CallContext:
    return CallContext(
        route=list(steps),
        deadline=time.monotonic() + deadline,
        open_key=lambda step: KEY,
        on_key_refused=(refused.append if refused is not None else (lambda step: None)),
    )


def run(ctx: CallContext, request: CompletionRequest | None = None, *, stream: bool = False, policies=None):
    """Drive one call to the end: (reply or the exception raised, the events yielded)."""
    events: list = []
    gen = Pipeline(policies).run(ctx, request or user_request("hello"), stream=stream)
    try:
        while True:
            events.append(next(gen))
    except StopIteration as done:
        return done.value, events
    except Exception as exc:  # noqa: BLE001 - the final failure is what some tests look at
        return exc, events


def keepalives(events) -> int:
    return sum(isinstance(e, KeepAlive) for e in events)


def text(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))
