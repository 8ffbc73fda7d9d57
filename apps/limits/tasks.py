"""Celery beat task: reconcile the live limit counters with the usage rows, and roll usage up per day."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.core.outage import outage_skips_run

logger = logging.getLogger(__name__)


def usage_rollup(*, days: int = 2) -> int:
    """Usage per user, provider and UTC day over the last ``days`` days into UsageRollup; rows written."""
    from apps.audit.models import UsageRecord
    from apps.limits.models import UsageRollup

    since = (timezone.now() - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = (
        UsageRecord.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("user_id", "provider", "day")
        .annotate(calls=Count("id"), i=Sum("input_tokens"), o=Sum("output_tokens"), c=Sum("cost"))
    )
    written = 0
    for row in rows:
        UsageRollup.objects.update_or_create(
            user_id=row["user_id"], provider=row["provider"], day=row["day"],
            defaults={"calls": row["calls"], "input_tokens": row["i"] or 0, "output_tokens": row["o"] or 0,
                      "cost": row["c"] or 0},
        )
        written += 1
    return written


def counters_reconcile() -> int:
    """Bring this period's quota counters up to the usage rows (the record); counters checked.

    A counter below the rows (increments lost with Redis) is raised to them; one above is left,
    since the difference is reservations of calls still running.
    """
    from apps.audit.models import UsageRecord
    from apps.limits import limiter, quotas
    from apps.limits.selectors import month_bounds
    from apps.providers.selectors import provider_enabled_list

    month_start, _ = month_bounds()
    users = get_user_model().objects.filter(
        pk__in=UsageRecord.objects.filter(created_at__gte=month_start).values("user_id").distinct()
    )
    providers = [p for p in provider_enabled_list() if p.needs_key]
    checked = 0
    for user in users:
        for provider in providers:
            for quota in quotas.quotas_for(user=user, provider=provider):
                truth = int(quota.rebuild())
                live = limiter.counter_peek(quota.key, ttl=quota.ttl, rebuild=lambda t=truth: t)
                if live < truth:
                    limiter.counter_set(quota.key, value=truth, ttl=quota.ttl)
                checked += 1
    return checked


@shared_task(acks_late=True, ignore_result=True)
@outage_skips_run
def limits_reconcile_task() -> dict:
    """Idempotent: safe to run twice or late."""
    from apps.limits.limiter import LimiterUnavailable

    result = {"rollup_rows": usage_rollup()}
    try:
        result["counters"] = counters_reconcile()
    except LimiterUnavailable:
        logger.warning("limits reconcile: the limit store is unreachable; counters not checked")
        result["counters"] = None
    return result
