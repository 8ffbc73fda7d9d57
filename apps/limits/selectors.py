"""Reads for limits: the policy that applies to a user, periods, and quota status for the pages."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

from django.db.models import F, Q, Sum
from django.utils import timezone

from apps.core.localcache import MISS, GenerationCache
from apps.core.request_context import request_memo
from apps.limits.models import UserPolicy

MICRO = Decimal("1000000")  # cost counters count millionths of the price unit

# The policy per user id, as user_policy_get answers it, for the request limits and quotas: read on
# every call, two queries each time otherwise. Bumped whenever any policy row changes
# (apps.limits.signals): a user's own row replaces the default as a whole.
user_policies = GenerationCache("limit_policies", ttl_setting="LIMIT_POLICY_CACHE_SECONDS")


def user_policy_get(*, user) -> UserPolicy:
    """The user's own policy row if there is one (it wins as a whole), else the default row."""
    user_id = getattr(user, "pk", None) if user is not None else None
    rows = UserPolicy.objects.filter(user__isnull=True)
    if user_id:
        # One query: the user's row sorts before the default rows.
        rows = UserPolicy.objects.filter(Q(user_id=user_id) | Q(user__isnull=True))
    return rows.order_by(F("user_id").asc(nulls_last=True), "pk").first() or UserPolicy()


def user_policy_local(*, user, generation: str | None) -> UserPolicy | object:
    """This process's copy of the user's policy under ``generation``, else MISS. No database access."""
    return user_policies.get(str(user.pk), generation)


def user_policy_get_cached(*, user) -> UserPolicy:
    """user_policy_get, answered from this process's copy while no policy row has changed.

    Within one request it is read once (the request limit, then the turn's quotas reuse it).
    The copy is shared between threads: read it, never change it.
    """
    memo = request_memo()
    memo_key = f"limits.user_policy:{getattr(user, 'pk', None)}"
    if memo is not None and memo_key in memo:
        return memo[memo_key]
    generation = user_policies.generation()  # before the database read: a change after it bumps it
    policy = user_policy_local(user=user, generation=generation)
    if policy is MISS:
        policy = user_policy_get(user=user)
        user_policies.put(str(user.pk), policy, generation)
    if memo is not None:
        memo[memo_key] = policy
    return policy


def month_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    now = (now or timezone.now()).astimezone(dt_timezone.utc)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(start.year, start.month)[1]
    return start, start + timedelta(days=days)


def day_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    now = (now or timezone.now()).astimezone(dt_timezone.utc)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def usage_sum(*, since: datetime, provider: str, user=None) -> tuple[int, Decimal]:
    """Tokens (input + output) and cost recorded since ``since`` for a provider (and user)."""
    from apps.audit.models import UsageRecord

    rows = UsageRecord.objects.filter(provider=provider, created_at__gte=since)
    if user is not None:
        rows = rows.filter(user_id=user.pk)
    totals = rows.aggregate(i=Sum("input_tokens"), o=Sum("output_tokens"), c=Sum("cost"))
    return (totals["i"] or 0) + (totals["o"] or 0), totals["c"] or Decimal("0")


def quota_status(*, user) -> list[dict]:
    """Every quota that applies to this user, per provider, with its use from the usage rows (the record):
    the bars on /usage/ and the chat page. A provider without a quota gets one row with no limit."""
    from apps.limits import quotas
    from apps.providers.selectors import provider_enabled_list

    policy = user_policy_get(user=user)
    month_start, _ = month_bounds()
    out = []
    names = []
    for provider in provider_enabled_list():
        if not provider.needs_key:
            continue
        names.append(provider.name)
        applicable = quotas.quotas_for(user=user, provider=provider, policy=policy)
        for q in applicable:
            used = int(q.rebuild())
            out.append(
                {
                    "provider": provider.name,
                    "quota": q.label,
                    "unit": q.unit,
                    "used": q.shown(used),
                    "limit": q.shown(q.limit),
                    "percent": min(100, round(100 * used / q.limit)) if q.limit else 100,
                    "fraction": used / q.limit if q.limit else 1.0,
                    "resets_at": q.resets_at.isoformat(),
                    "used_tokens": used if q.unit == "tokens" else None,
                    "limit_tokens": q.limit if q.unit == "tokens" else None,
                }
            )
        if not applicable:
            tokens, _ = usage_sum(since=month_start, provider=provider.name, user=user)
            out.append(
                {
                    "provider": provider.name, "quota": f"tokens this month on {provider}", "unit": "tokens",
                    "used": tokens, "limit": None, "percent": None, "fraction": None, "resets_at": None,
                    "used_tokens": tokens, "limit_tokens": None,
                }
            )
    return out
