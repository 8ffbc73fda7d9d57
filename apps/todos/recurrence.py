"""Recurrence rules (RFC 5545 RRULE, evaluated with python-dateutil) and the user's clock.

Occurrences are computed on the owner's *wall-clock* time (naive local datetimes), so a task due
every day at 09:00 stays at 09:00 across a daylight-saving change; the moment it stands for is
worked out only when a reminder needs one (``local_moment``).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil.rrule import rrule, rrulestr
from django.conf import settings
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.todos.models import RECURRENCE_MAX_LENGTH

ALLOWED_FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
ALLOWED_PARTS = ("FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "UNTIL", "WKST")
INTERVAL_MAX = 366
# A rule with no occurrence in this window (e.g. "every 30 February") is refused, and no
# evaluation looks further: dateutil would otherwise scan to the year 9999.
HORIZON_YEARS = 10
_PART = re.compile(r"^[A-Z]+=[A-Z0-9,+\-]+$")


def _error(message: str) -> ValidationFailed:
    return ValidationFailed(message, code="invalid_recurrence", extra={"fields": {"recurrence": [message]}})


def recurrence_normalize(text: str) -> str:
    """A checked, canonical RRULE ("FREQ=WEEKLY;BYDAY=MO,WE"), or "" for none; bad rules are a 400."""
    if not isinstance(text, str):
        raise _error("Recurrence must be a string.")
    rule = text.strip().upper()
    if rule.startswith("RRULE:"):
        rule = rule[len("RRULE:") :]
    if not rule:
        return ""
    if len(rule) > RECURRENCE_MAX_LENGTH:
        raise _error(f"Recurrence must be at most {RECURRENCE_MAX_LENGTH} characters.")
    parts: dict[str, str] = {}
    for part in rule.split(";"):
        if not _PART.match(part):
            raise _error(f"Recurrence part {part[:40]!r} is not NAME=VALUE.")
        name, value = part.split("=", 1)
        if name not in ALLOWED_PARTS:
            raise _error(f"Recurrence part {name[:20]} is not supported (use {', '.join(ALLOWED_PARTS)}).")
        if name in parts:
            raise _error(f"Recurrence part {name} is given twice.")
        parts[name] = value
    if parts.get("FREQ") not in ALLOWED_FREQS:
        raise _error(f"Recurrence needs FREQ set to one of {', '.join(ALLOWED_FREQS)}.")
    if "INTERVAL" in parts and not (parts["INTERVAL"].isdigit() and 1 <= int(parts["INTERVAL"]) <= INTERVAL_MAX):
        raise _error(f"INTERVAL must be a whole number from 1 to {INTERVAL_MAX}.")
    if "UNTIL" in parts:
        _check_until(parts["UNTIL"])
    _refuse_impossible_days(parts)
    canonical = ";".join(f"{name}={parts[name]}" for name in ALLOWED_PARTS if name in parts)
    start = datetime(2000, 1, 1)
    try:
        parsed = _parse(canonical, start)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _error(f"Recurrence is not a valid RRULE: {str(exc)[:120]}") from None
    if parsed.after(start, inc=True) is None and "UNTIL" not in parts:
        raise _error(f"Recurrence has no occurrence within {HORIZON_YEARS} years.")
    return canonical


_UNTIL = re.compile(r"^\d{8}(T\d{6})?$")


def _check_until(value: str) -> None:
    # dateutil reads "2027" as some day of 2027, and refuses a UTC "...Z" with a message about a
    # time-zone-aware DTSTART that nobody gave: occurrences here are wall-clock times.
    if value.endswith("Z") and _UNTIL.match(value[:-1]):
        raise _error(
            f"UNTIL is read in your own time zone: write it without the trailing Z (UNTIL={value[:-1]})."
        )
    if not _UNTIL.match(value):
        raise _error("UNTIL must be a date (UNTIL=20271231) or a date and time (UNTIL=20271231T170000).")


_MONTH_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


def _refuse_impossible_days(parts: dict[str, str]) -> None:
    # Checked up front because dateutil finds "no occurrence" only by scanning every day in range.
    if "BYMONTHDAY" not in parts:
        return
    try:
        days = [int(d) for d in parts["BYMONTHDAY"].split(",")]
        months = [int(m) for m in parts.get("BYMONTH", "1,2,3,4,5,6,7,8,9,10,11,12").split(",")]
    except ValueError:
        raise _error("BYMONTHDAY and BYMONTH take whole numbers.") from None
    if any(not (1 <= abs(d) <= 31) for d in days) or any(not (1 <= m <= 12) for m in months):
        raise _error("BYMONTHDAY must be 1..31 or -31..-1 and BYMONTH 1..12.")
    if not any(abs(d) <= _MONTH_DAYS[m] for d in days for m in months):
        raise _error("Recurrence names a day that no chosen month has.")


def _parse(rule: str, dtstart: datetime) -> rrule:
    parsed = rrulestr(rule, dtstart=dtstart)
    assert isinstance(parsed, rrule)
    # Compared before adding: a start within the horizon of year 9999 would overflow the sum.
    horizon = datetime(9999, 1, 1)
    if dtstart < horizon - timedelta(days=366 * HORIZON_YEARS):
        horizon = dtstart + timedelta(days=366 * HORIZON_YEARS)
    until = parsed._until  # the rule's own end, if any
    return parsed.replace(until=min(until, horizon) if until else horizon)


def next_occurrence(rule: str, *, current: datetime, not_before: datetime | None = None) -> datetime | None:
    """The first occurrence after ``current`` (and on or after ``not_before``), in naive wall time."""
    parsed = _parse(rule, current)
    after = current if not_before is None or not_before <= current else not_before - timedelta(microseconds=1)
    return parsed.after(after)


def first_occurrence(rule: str, *, on_or_after: datetime) -> datetime | None:
    """The first occurrence on or after a wall-clock moment (for a recurring task given no due date)."""
    return _parse(rule, on_or_after).after(on_or_after, inc=True)


# -- the user's clock ------------------------------------------------------------------------


def time_zone_validate(name: str) -> str:
    """An IANA zone name ("Europe/Paris"), or "" for the server's; anything else is a 400."""
    name = (name or "").strip()
    if not name:
        return ""
    if len(name) > 64 or name not in _zone_names():
        message = "Unknown time zone; use an IANA name such as Europe/Paris."
        raise ValidationFailed(message, code="invalid_time_zone", extra={"fields": {"time_zone": [message]}})
    return name


_ZONES: frozenset[str] | None = None


def _zone_names() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


def user_zone(user) -> ZoneInfo:
    """The user's time zone (their todo setting, else the server's)."""
    from apps.todos.models import TodoSettings

    name = TodoSettings.objects.filter(user=user).values_list("time_zone", flat=True).first() or ""
    try:
        return ZoneInfo(name or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def user_today(user, *, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(user_zone(user)).date()


def local_moment(day: date, at: time | None, zone: ZoneInfo) -> datetime:
    """The aware moment of a wall-clock date/time in ``zone`` (start of day when no time is set)."""
    return datetime.combine(day, at or time(0, 0)).replace(tzinfo=zone)
