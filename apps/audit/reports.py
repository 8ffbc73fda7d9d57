"""Usage and audit reports per day or week: built once per period, stored as CSV + HTML, mailed."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from html import escape

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from apps.audit.models import AuditEvent, AuditReport, UsageRecord
from apps.core.csv_safety import csv_safe

TOOL_CALL_ACTION = "mcp.tool_call"
_CENT_MICRO = Decimal("1e-8")  # the cost column's precision
LIMIT_HIT_ACTION = "limit.hit"


def report_period(*, period: str, day: date | None = None) -> tuple[datetime, datetime]:
    """[start, end) in UTC. Default: yesterday (daily) or last complete ISO week (weekly)."""
    today = timezone.now().astimezone(timezone.get_default_timezone()).date()
    if period == AuditReport.Period.DAILY:
        day = day or today - timedelta(days=1)
        start_day, end_day = day, day + timedelta(days=1)
    elif period == AuditReport.Period.WEEKLY:
        day = day or today - timedelta(days=7)
        start_day = day - timedelta(days=day.weekday())
        end_day = start_day + timedelta(days=7)
    else:
        raise ValueError(f"unknown period {period!r}")
    tz = timezone.get_default_timezone()
    return (timezone.make_aware(datetime.combine(start_day, time.min), tz),
            timezone.make_aware(datetime.combine(end_day, time.min), tz))  # fmt: skip


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def report_summary(*, start: datetime, end: datetime) -> dict:
    usage = UsageRecord.objects.filter(created_at__gte=start, created_at__lt=end)
    events = AuditEvent.objects.filter(created_at__gte=start, created_at__lt=end)

    def totals(*group):
        rows = (
            usage.values(*group)
            .annotate(calls=Count("id"), input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"), cost=Sum("cost"))
            .order_by(*group)
        )
        return [
            {**{g.replace("user__", ""): r[g] for g in group}, "calls": r["calls"], "input_tokens": r["input_tokens"] or 0,
             "output_tokens": r["output_tokens"] or 0, "cost": format((r["cost"] or Decimal("0")).quantize(_CENT_MICRO), "f")}
            for r in rows
        ]  # fmt: skip

    attempts = usage.count()
    answered = usage.filter(outcome=UsageRecord.Outcome.SUCCESS)
    answered_count = answered.count()
    top_tools = list(
        events.filter(action=TOOL_CALL_ACTION).values("target_id").annotate(calls=Count("id"),
        failures=Count("id", filter=~Q(outcome=AuditEvent.Outcome.SUCCESS))).order_by("-calls", "target_id")[:10]
    )  # fmt: skip
    limit_hits = list(
        events.filter(action=LIMIT_HIT_ACTION).values("target_id").annotate(hits=Count("id")).order_by("-hits", "target_id")
    )
    return {
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "events": events.count(),
        "attempts": attempts,
        "by_provider": totals("provider"),
        "by_model": totals("provider", "model"),
        "by_user": totals("user__username"),
        "top_tools": [{"tool": t["target_id"], "calls": t["calls"], "failures": t["failures"]} for t in top_tools],
        "error_rate": _rate(usage.filter(outcome=UsageRecord.Outcome.FAILURE).count(), attempts),
        "fallback_rate": _rate(answered.filter(fallback=True).count(), answered_count),
        "cache_hit_rate": _rate(answered.filter(cached=True).count(), answered_count),
        "limit_hits": [{"limit": h["target_id"], "hits": h["hits"]} for h in limit_hits],
        "limit_hit_total": sum(h["hits"] for h in limit_hits),
    }


def _csv(summary: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)

    def write(*cells) -> None:
        writer.writerow([csv_safe(cell) for cell in cells])  # user names, provider, model, tool names: not ours

    write("section", "key", "calls", "input_tokens", "output_tokens", "cost")
    for section, key in (("provider", ("provider",)), ("model", ("provider", "model")), ("user", ("username",))):
        for row in summary[f"by_{section}"]:
            write(section, "/".join(str(row[k]) for k in key), row["calls"], row["input_tokens"], row["output_tokens"],
                  Decimal(row["cost"]))  # fmt: skip
    for tool in summary["top_tools"]:
        write("tool", tool["tool"], tool["calls"], "", "", "")
    for hit in summary["limit_hits"]:
        write("limit_hit", hit["limit"], hit["hits"], "", "", "")
    for rate in ("error_rate", "fallback_rate", "cache_hit_rate"):
        write("rate", rate, summary[rate], "", "", "")
    if not summary["attempts"] and not summary["events"]:
        write("note", "no activity in this period", 0, "", "", "")
    return out.getvalue()


def _table(title: str, headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<h2>{escape(title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(period: str, summary: dict) -> str:
    parts = [f"<h1>TodoAssist {escape(period)} report</h1>",
             f"<p>{escape(summary['period_start'])} to {escape(summary['period_end'])}</p>"]  # fmt: skip
    if not summary["attempts"] and not summary["events"]:
        parts.append("<p><strong>No activity in this period.</strong></p>")
    cols = ["calls", "input_tokens", "output_tokens", "cost"]
    parts.append(_table("Per provider", ["provider", *cols], [[r["provider"], *(r[c] for c in cols)] for r in summary["by_provider"]]))
    parts.append(_table("Per model", ["provider", "model", *cols],
                        [[r["provider"], r["model"], *(r[c] for c in cols)] for r in summary["by_model"]]))  # fmt: skip
    parts.append(_table("Per user", ["user", *cols], [[r["username"], *(r[c] for c in cols)] for r in summary["by_user"]]))
    parts.append(_table("Top tools", ["tool", "calls", "failures"], [[t["tool"], t["calls"], t["failures"]] for t in summary["top_tools"]]))
    parts.append(_table("Rates", ["error rate", "fallback rate", "cache-hit rate"],
                        [[summary["error_rate"], summary["fallback_rate"], summary["cache_hit_rate"]]]))  # fmt: skip
    parts.append(_table("Limit hits", ["limit", "hits"], [[h["limit"], h["hits"]] for h in summary["limit_hits"]]))
    return "<!doctype html><html><head><meta charset='utf-8'><title>TodoAssist report</title></head><body>" + "".join(parts) + "</body></html>"


def audit_report_generate(*, period: str, day: date | None = None) -> AuditReport:
    """The report for one period, made once: a second call for the same period returns the first.

    Two concurrent calls race on the unique (period, period_start) constraint; the loser reads
    the winner's row. Mailing happens after the row exists and is marked, so it is sent once.
    """
    start, end = report_period(period=period, day=day)
    existing = AuditReport.objects.filter(period=period, period_start=start).first()
    if existing is None:
        summary = report_summary(start=start, end=end)
        try:
            with transaction.atomic():
                existing = AuditReport.objects.create(
                    period=period, period_start=start, period_end=end, summary=summary,
                    empty=not summary["attempts"] and not summary["events"],
                    csv=_csv(summary), html=_html(period, summary),
                )  # fmt: skip
                from apps.audit.services import audit_record

                audit_record(actor=None, action="audit.report", target=existing,
                             metadata={"period": period, "period_start": start.isoformat(), "empty": existing.empty})  # fmt: skip
        except IntegrityError:
            existing = AuditReport.objects.get(period=period, period_start=start)
    audit_report_mail(report=existing)
    return existing


def audit_report_mail(*, report: AuditReport) -> bool:
    """Mail the report to AUDIT_REPORT_RECIPIENTS once; an error propagates (the task retries)."""
    recipients = settings.AUDIT_REPORT_RECIPIENTS
    if not recipients or report.emailed_at is not None:
        return False
    message = EmailMultiAlternatives(
        subject=f"TodoAssist {report.period} report {report.period_start:%Y-%m-%d}",
        body=report.csv,
        to=recipients,
    )
    message.attach_alternative(report.html, "text/html")
    message.attach(f"report-{report.period}-{report.period_start:%Y-%m-%d}.csv", report.csv, "text/csv")
    message.send()
    AuditReport.objects.filter(pk=report.pk, emailed_at__isnull=True).update(emailed_at=timezone.now())
    report.emailed_at = timezone.now()
    return True
