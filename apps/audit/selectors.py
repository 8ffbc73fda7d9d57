"""Reads of usage and audit events, scoped to the user."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.audit.models import AuditEvent, UsageRecord

_COST_PLACES = Decimal("1e-8")  # UsageRecord.cost's decimal places


def _cost(total: Decimal | None) -> Decimal:
    """A summed cost at the column's precision: SQLite sums decimals as floats (0.00000585000000000000)."""
    return (total or Decimal("0")).quantize(_COST_PLACES)


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
            "cost": _cost(row["cost"]),
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


def usage_cache_summary(*, user=None, days: int = 30) -> dict:
    """The answer cache over the last ``days`` days: hits (calls saved), misses, hit rate, cost saved.

    ``user`` None: every user's (the admin's view).
    """
    since = timezone.now() - timedelta(days=days)
    rows = UsageRecord.objects.filter(created_at__gte=since, outcome=UsageRecord.Outcome.SUCCESS)
    if user is not None:
        rows = rows.filter(user=user)
    totals = rows.aggregate(
        hits=Count("id", filter=Q(cache_status="hit")),
        misses=Count("id", filter=Q(cache_status="miss")),
        cost_saved=Sum("cost_saved", filter=Q(cache_status="hit")),
    )
    hits, misses = totals["hits"] or 0, totals["misses"] or 0
    return {
        "hits": hits,
        "misses": misses,
        "calls_saved": hits,
        "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None,
        "cost_saved": _cost(totals["cost_saved"]),
    }


def audit_event_filtered(*, user, since=None, until=None, action="", provider="", outcome="", username=""):
    """The events a user may read (their own; staff: everyone's), with the API's filters, newest first."""
    events = AuditEvent.objects.all() if user.is_staff else AuditEvent.objects.filter(actor=user)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    if action:
        # "provider." matches every provider.* action; a full name matches exactly.
        events = events.filter(action__startswith=action) if action.endswith(".") else events.filter(action=action)
    if provider:
        events = events.filter(metadata__provider=provider)
    if outcome:
        events = events.filter(outcome=outcome)
    if username:
        events = events.filter(actor_username=username)
    return events.order_by("-id")


def usage_totals_by_model(*, user, days: int = 30) -> list[dict]:
    since = timezone.now() - timedelta(days=days)
    return _totals(UsageRecord.objects.filter(user=user, created_at__gte=since), "provider", "model")


def usage_totals_by_conversation(*, user, days: int = 30) -> list[dict]:
    """Tokens and cost per conversation (every attempt: failed ones carry no tokens)."""
    since = timezone.now() - timedelta(days=days)
    rows = _totals(
        UsageRecord.objects.filter(user=user, created_at__gte=since, conversation_id__isnull=False), "conversation_id"
    )
    return sorted(rows, key=lambda r: -r["conversation_id"])


def _totals(queryset, *group: str) -> list[dict]:
    rows = (
        queryset.values(*group)
        .annotate(
            calls=Count("id", filter=Q(outcome=UsageRecord.Outcome.SUCCESS)),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost=Sum("cost"),
        )
        .order_by(*group)
    )
    return [
        {**{g: row[g] for g in group}, "calls": row["calls"], "input_tokens": row["input_tokens"] or 0,
         "output_tokens": row["output_tokens"] or 0, "cost": _cost(row["cost"])}
        for row in rows
    ]  # fmt: skip


def audit_report_list():
    from apps.audit.models import AuditReport

    return AuditReport.objects.order_by("-period_start", "period")
