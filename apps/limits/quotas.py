"""The quotas and rate limits that apply to one model call, as limiter keys with labels and resets.

Per provider (all traffic to it, set on the provider in the admin): requests and tokens per
minute (sliding windows), tokens per UTC day and cost per calendar month (period counters).
Per user and provider (the user's limit policy, or the default one): tokens and cost per month.
Period counters rebuild from the usage rows when missing (a new period, or a Redis flush).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from apps.limits import limiter
from apps.limits.selectors import MICRO, day_bounds, month_bounds, usage_sum, user_policy_get_cached


@dataclass
class Quota:
    """A period counter: tokens or cost (millionths) in a calendar day or month."""

    key: str
    limit: int
    unit: str  # tokens | cost
    label: str  # "your monthly token quota for OpenAI"
    period_start: datetime
    resets_at: datetime
    rebuild: Callable[[], int]
    scope: str  # user | provider

    @property
    def ttl(self) -> float:
        return (self.resets_at - self.period_start).total_seconds() + 86400  # outlives its period a little

    def used(self) -> int:
        return limiter.counter_peek(self.key, ttl=self.ttl, rebuild=self.rebuild)

    def shown(self, value: int):
        return value if self.unit == "tokens" else float(Decimal(value) / MICRO)

    def describe(self) -> str:
        amount = f"{self.limit:,} tokens" if self.unit == "tokens" else f"{Decimal(self.limit) / MICRO:.2f} in cost"
        return f"{self.label} ({amount}) is used up; it resets on {self.resets_at:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Window:
    """A sliding window for all traffic to a provider: requests or tokens per minute."""

    key: str
    limit: int
    unit: str  # requests | tokens
    label: str
    seconds: float = 60.0


def _cost_micro(tokens_in: int, tokens_out: int, provider) -> int:
    price = (Decimal(tokens_in) * provider.price_input_per_million + Decimal(tokens_out) * provider.price_output_per_million)
    return int(math.ceil(price))  # price per million tokens x tokens = millionths of the price unit


def quotas_for(*, user, provider, policy=None) -> list[Quota]:
    if not provider.needs_key:
        return []
    policy = policy or user_policy_get_cached(user=user)
    month_start, month_end = month_bounds()
    day_start, day_end = day_bounds()
    month, day = f"{month_start:%Y-%m}", f"{day_start:%Y-%m-%d}"
    name = provider.name
    out: list[Quota] = []
    if policy.tokens_per_month is not None:
        out.append(Quota(
            f"u:{user.pk}:{name}:tok:{month}", int(policy.tokens_per_month), "tokens",
            f"your monthly token quota for {provider}", month_start, month_end,
            lambda: usage_sum(since=month_start, provider=name, user=user)[0], "user",
        ))
    if policy.cost_per_month is not None:
        out.append(Quota(
            f"u:{user.pk}:{name}:cost:{month}", int(policy.cost_per_month * MICRO), "cost",
            f"your monthly spending quota for {provider}", month_start, month_end,
            lambda: int(usage_sum(since=month_start, provider=name, user=user)[1] * MICRO), "user",
        ))
    if provider.tokens_per_day is not None:
        out.append(Quota(
            f"p:{name}:tok:{day}", int(provider.tokens_per_day), "tokens",
            f"{provider}'s daily token quota", day_start, day_end,
            lambda: usage_sum(since=day_start, provider=name)[0], "provider",
        ))
    if provider.cost_per_month is not None:
        out.append(Quota(
            f"p:{name}:cost:{month}", int(provider.cost_per_month * MICRO), "cost",
            f"{provider}'s monthly spending quota", month_start, month_end,
            lambda: int(usage_sum(since=month_start, provider=name)[1] * MICRO), "provider",
        ))
    return out


def windows_for(provider) -> list[Window]:
    if not provider.needs_key:
        return []
    out = []
    if provider.requests_per_minute is not None:
        out.append(Window(f"p:{provider.name}:rpm", int(provider.requests_per_minute), "requests",
                          f"{provider}'s limit of {provider.requests_per_minute} calls per minute"))
    if provider.tokens_per_minute is not None:
        out.append(Window(f"p:{provider.name}:tpm", int(provider.tokens_per_minute), "tokens",
                          f"{provider}'s limit of {provider.tokens_per_minute:,} tokens per minute"))
    return out


def amounts(quota_unit: str, tokens_in: int, tokens_out: int, provider) -> int:
    return tokens_in + tokens_out if quota_unit == "tokens" else _cost_micro(tokens_in, tokens_out, provider)
