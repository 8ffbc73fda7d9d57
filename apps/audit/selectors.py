"""Reads of usage and audit events, scoped to the user."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.audit.models import AuditEvent, UsageRecord


def usage_by_day(*, user, days: int = 30) -> list[dict]:
    """Tokens and cost per day and provider over the last ``days`` days, oldest first."""
    since = timezone.now() - timedelta(days=days)
    rows = (
        UsageRecord.objects.filter(user=user, created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day", "provider")
        .annotate(input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"), cost=Sum("cost"))
        .order_by("day", "provider")
    )
    return [
        {
            "day": row["day"],
            "provider": row["provider"],
            "input_tokens": row["input_tokens"] or 0,
            "output_tokens": row["output_tokens"] or 0,
            "cost": row["cost"] or Decimal("0"),
        }
        for row in rows
    ]


def turns_by_day(*, user, days: int = 30) -> list[dict]:
    """Chat turns per day and the provider that answered them, oldest first.

    Counted from each turn's ``chat.turn`` audit event (one per turn, written with the turn):
    usage records count model calls, and a turn the offline assistant answers costs no tokens,
    so tokens alone cannot show it.
    """
    since = timezone.now() - timedelta(days=days)
    rows = (
        AuditEvent.objects.filter(actor=user, action="chat.turn", created_at__gte=since)
        .annotate(day=TruncDate("created_at"), answered_by=KT("metadata__provider"))
        .values("day", "answered_by")
        .annotate(turns=Count("id"), fallback_turns=Count("id", filter=Q(metadata__fallback_used=True)))
        .order_by("day", "answered_by")
    )
    return [
        {
            "day": row["day"],
            "provider": row["answered_by"] or "",
            "turns": row["turns"],
            "fallback_turns": row["fallback_turns"],
        }
        for row in rows
    ]


def usage_quota_status(*, user) -> list[dict]:
    """Each quota that applies to the user (apps.limits), with this period's use."""
    from apps.limits.selectors import quota_status

    return quota_status(user=user)


def audit_event_list(*, user):
    return AuditEvent.objects.filter(actor=user)
