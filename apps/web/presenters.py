"""Shaping service results for templates: tool cards, banners, the transcript and SVG charts. No rules here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.web.tool_summaries import tool_summary

QUOTA_WARNING_SHARES = (0.8, 0.95)  # warnings from 80 % and 95 % of a quota


def pretty(value: Any) -> str:
    """JSON, indented, for a tool card; text that is itself JSON is parsed first."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def tool_card(*, name: str, arguments: Any, result: Any, is_error: bool, today: date | None = None) -> dict[str, Any]:
    """A tool call as a card: a one-line summary, the arguments and result (JSON) folded behind it."""
    summary = tool_summary(
        name=name, arguments=arguments, result=result, is_error=is_error, today=today or timezone.localdate()
    )
    return {
        "name": name,
        "summary": summary,
        "arguments": pretty(arguments),
        "result": pretty(result),
        "is_error": is_error,
    }


def transcript(messages, *, today: date | None = None) -> list[dict[str, Any]]:
    """Stored messages as the page shows them: user and assistant bubbles, tool calls as cards."""
    today = today or timezone.localdate()
    items: list[dict[str, Any]] = []
    arguments_by_call: dict[str, Any] = {}
    for message in messages:
        if message.role == "user":
            items.append({"kind": "user", "text": message.content})
        elif message.role == "assistant":
            for call in message.tool_calls or []:
                arguments = call.get("arguments")
                arguments_by_call[call.get("id")] = arguments if arguments is not None else call.get("raw_arguments")
            if message.content.strip():
                items.append(
                    {"kind": "assistant", "text": message.content, "provider": message.provider, "model": message.model}
                )
        elif message.role == "tool":
            card = tool_card(
                name=message.tool_name,
                arguments=arguments_by_call.get(message.tool_call_id, {}),
                result=message.content,
                is_error=message.is_error,
                today=today,
            )
            items.append({"kind": "tool", **card})
    return items


@dataclass(frozen=True)
class Banner:
    level: str  # info | warning | error
    title: str
    text: str = ""


def quota_banners(quotas: list[dict]) -> list[Banner]:
    """A banner per quota at or past 80 % (warning), 95 % (warning) and 100 % (reached)."""
    banners = []
    for quota in quotas:
        if quota.get("limit") is None:
            continue
        fraction = quota["fraction"]
        unit = "tokens" if quota["unit"] == "tokens" else "in cost"
        used, limit = quota["used"], quota["limit"]
        numbers = f"{used:,} of {limit:,} {unit}" if quota["unit"] == "tokens" else f"{used:.2f} of {limit:.2f} {unit}"
        text = f"{quota['quota'][0].upper()}{quota['quota'][1:]}: {numbers} (resets {quota['resets_at'][:16].replace('T', ' ')} UTC)."
        if fraction >= 1:
            banners.append(Banner("error", "Quota reached", text))
        elif fraction >= QUOTA_WARNING_SHARES[1]:
            banners.append(Banner("warning", "Quota almost used (95 %)", text))
        elif fraction >= QUOTA_WARNING_SHARES[0]:
            banners.append(Banner("warning", "Quota warning (80 %)", text))
    return banners


def answer_banners(answer: dict[str, Any], *, offline_name: str) -> list[Banner]:
    """Banners for one answer: offline mode, fallback, cache, and the turn's own warnings."""
    banners = []
    if answer.get("provider") == offline_name:
        banners.append(Banner("info", "Offline mode", "Answered by the rule-based assistant; no AI model was called."))
    if answer.get("fallback_used"):
        banners.append(Banner("warning", "Fallback used", f"Your provider could not answer; {answer.get('provider')} did."))
    if answer.get("cached"):
        banners.append(Banner("info", "Cached answer", "This answer came from the cache; no model was called."))
    banners += [Banner("warning", "Note", str(text)) for text in answer.get("warnings") or []]
    return banners


# --- usage ------------------------------------------------------------------------------------


def usage_table(usage_rows: list[dict], turn_rows: list[dict], *, offline_name: str) -> list[dict[str, Any]]:
    """One row per day and provider: turns answered beside tokens and cost (the offline assistant's turns cost none)."""
    rows: dict[tuple, dict[str, Any]] = {}

    def row(day, provider):
        return rows.setdefault(
            (day, provider),
            {
                "day": day,
                "provider": provider,
                "offline": provider == offline_name,
                "turns": 0,
                "fallback_turns": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cost": Decimal("0"),
            },
        )

    for usage in usage_rows:
        row(usage["day"], usage["provider"]).update(
            input_tokens=usage["input_tokens"], output_tokens=usage["output_tokens"], cost=usage["cost"]
        )
    for turns in turn_rows:
        row(turns["day"], turns["provider"]).update(turns=turns["turns"], fallback_turns=turns["fallback_turns"])
    return [rows[key] for key in sorted(rows, key=lambda k: (k[0], k[1]))]


def providers_of(*row_lists: list[dict]) -> list[str]:
    return sorted({row["provider"] for rows in row_lists for row in rows})


def offline_summary(turn_rows: list[dict], *, offline_name: str) -> dict[str, int]:
    offline = [r for r in turn_rows if r["provider"] == offline_name]
    return {
        "turns": sum(r["turns"] for r in turn_rows),
        "offline_turns": sum(r["turns"] for r in offline),
        "offline_fallback_turns": sum(r["fallback_turns"] for r in offline),
        "offline_days": len({r["day"] for r in offline}),
    }


# --- server-drawn SVG charts -----------------------------------------------------------------

PALETTE = ["#2251c7", "#c2410c", "#15803d", "#7e22ce", "#0e7490", "#a16207", "#be123c"]
CHART_W, CHART_H, PAD_L, PAD_B, PAD_T, PAD_R = 720, 220, 56, 28, 12, 8


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 1
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def stacked_bar_chart(
    rows: list[dict], *, value, days: int, today: date, fmt, all_providers: list[str] | None = None
) -> dict[str, Any]:
    """Geometry for a stacked bar chart: one bar a day, one colour a provider (drawn by a template).

    ``all_providers`` keeps a provider's colour the same across the charts of one page.
    """
    providers = sorted({row["provider"] for row in rows})
    order = all_providers if all_providers and set(providers) <= set(all_providers) else providers
    colours = {p: PALETTE[order.index(p) % len(PALETTE)] for p in providers}
    first = today - timedelta(days=days - 1)
    dates = [first + timedelta(days=i) for i in range(days)]
    totals: dict[date, dict[str, float]] = {d: {} for d in dates}
    for row in rows:
        if row["day"] in totals:
            totals[row["day"]][row["provider"]] = float(value(row))
    peak = _nice_max(max((sum(v.values()) for v in totals.values()), default=0))
    plot_w, plot_h = CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B
    slot = plot_w / days
    bars = []
    for i, day in enumerate(dates):
        y = PAD_T + plot_h
        for provider in providers:
            amount = totals[day].get(provider, 0.0)
            if amount <= 0:
                continue
            height = plot_h * amount / peak
            y -= height
            bars.append(
                {
                    "x": round(PAD_L + i * slot + slot * 0.15, 2),
                    "y": round(y, 2),
                    "w": round(slot * 0.7, 2),
                    "h": round(max(height, 0.5), 2),
                    "colour": colours[provider],
                    "label": f"{day.isoformat()} {provider}: {fmt(amount)}",
                }
            )
    fractions = (0, 0.5, 1) if fmt(peak * 0.5) not in (fmt(0), fmt(peak)) else (0, 1)
    ticks = [{"y": round(PAD_T + plot_h - plot_h * f, 2), "label": fmt(peak * f)} for f in fractions]
    x_labels = [
        {"x": round(PAD_L + i * slot + slot / 2, 2), "label": d.strftime("%b %-d")}
        for i, d in enumerate(dates)
        if (i % 7 == 0 and days - 1 - i >= 4) or i == days - 1
    ]
    return {
        "width": CHART_W,
        "height": CHART_H,
        "plot_left": PAD_L,
        "plot_right": CHART_W - PAD_R,
        "baseline": PAD_T + plot_h,
        "center_x": PAD_L + plot_w / 2,
        "center_y": PAD_T + plot_h / 2,
        "bars": bars,
        "ticks": ticks,
        "x_labels": x_labels,
        "legend": [{"provider": p, "colour": c} for p, c in colours.items()],
        "empty": not bars,
    }


def format_count(value: float) -> str:
    return f"{int(round(value)):,}"


def format_tokens(value: float) -> str:
    return f"{int(round(value)):,}"


def format_cost(value: float | Decimal) -> str:
    return f"${float(value):,.4f}"
