"""Repetition ("every month on the 1st") and time-of-day ("at 9", "at 5:30pm") phrases, as RRULEs and HH:MM."""

from __future__ import annotations

import re

from apps.providers.adapters.offline.text import _I, _tidy

_DAY_CODES = {
    "monday": "MO", "tuesday": "TU", "wednesday": "WE", "thursday": "TH", "friday": "FR", "saturday": "SA", "sunday": "SU",
    "mon": "MO", "tue": "TU", "tues": "TU", "wed": "WE", "thu": "TH", "thur": "TH", "thurs": "TH", "fri": "FR",
    "sat": "SA", "sun": "SU",
}
_NUMBERS = {"other": 2, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "ten": 10}
_DAY_NAME = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|wed|thu(?:rs?)?|fri|sat|sun)s?"
_ORDINAL = r"(?P<md>\d{1,2}|last)(?:st|nd|rd|th)?"

# (pattern, builder) in order: the more specific first.
_RULES: list[tuple[re.Pattern[str], object]] = []


def _rule(pattern: str):
    def register(build):
        _RULES.append((re.compile(rf"(?<![\w-])(?:{pattern})(?![\w-])", _I), build))
        return build

    return register


@_rule(r"(?:every|each) weekday|on weekdays|every working day|(?:every|each) work ?day")
def _weekdays(m):
    return "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"


@_rule(rf"(?:every|each) (?P<days>{_DAY_NAME}(?:(?:,\s*|\s+and\s+|\s*&\s*){_DAY_NAME})*)|on (?P<days2>{_DAY_NAME}s)")
def _weekly_on(m):
    names = re.findall(_DAY_NAME, m.group("days") or m.group("days2"), _I)
    codes = []
    for name in names:
        code = _DAY_CODES[name.lower().rstrip("s") if name.lower().rstrip("s") in _DAY_CODES else name.lower()]
        if code not in codes:
            codes.append(code)
    return f"FREQ=WEEKLY;BYDAY={','.join(codes)}"


@_rule(r"(?:on )?the last day of (?:every|each|the) month|(?:every|each) month on the last day")
def _month_end(m):
    return "FREQ=MONTHLY;BYMONTHDAY=-1"


@_rule(
    rf"(?:every|each) month on the {_ORDINAL}|monthly on the {_ORDINAL.replace('md', 'md2')}"
    rf"|on the {_ORDINAL.replace('md', 'md3')} of (?:every|each) month"
)
def _monthly_on(m):
    day = m.group("md") or m.group("md2") or m.group("md3")
    if day.lower() == "last":
        return "FREQ=MONTHLY;BYMONTHDAY=-1"
    return f"FREQ=MONTHLY;BYMONTHDAY={int(day)}" if 1 <= int(day) <= 31 else None


@_rule(r"(?:every|each) (?P<n>\d{1,3}|other|two|three|four|five|six|seven|ten) (?P<unit>days?|weeks?|months?|years?)")
def _interval(m):
    n = m.group("n").lower()
    count = int(n) if n.isdigit() else _NUMBERS[n]
    unit = m.group("unit").lower().rstrip("s")
    freq = {"day": "DAILY", "week": "WEEKLY", "month": "MONTHLY", "year": "YEARLY"}[unit]
    return f"FREQ={freq}" if count == 1 else f"FREQ={freq};INTERVAL={count}" if 1 < count <= 366 else None


@_rule(r"(?:every|each) day|daily|every morning|every evening|every night")
def _daily(m):
    return "FREQ=DAILY"


@_rule(r"(?:every|each) week|weekly")
def _weekly(m):
    return "FREQ=WEEKLY"


@_rule(r"(?:every|each) month|monthly")
def _monthly(m):
    return "FREQ=MONTHLY"


@_rule(r"(?:every|each) year|yearly|annually")
def _yearly(m):
    return "FREQ=YEARLY"


def extract_recurrence(text: str) -> tuple[str | None, str]:
    """Find a repetition phrase; return its RRULE and the text without it."""
    for pattern, build in _RULES:
        m = pattern.search(text)
        if m:
            rule = build(m)  # type: ignore[operator]
            if rule:
                return rule, _tidy(text[: m.start()] + " " + text[m.end() :])
    return None, text


_TIME = re.compile(
    r"(?<![\w-])(?:at|@|by) (?:(?P<noon>noon|midday|midnight)|(?P<h>\d{1,2})(?:[:.](?P<m>[0-5]\d))?\s*(?P<ampm>am|pm|a\.m\.|p\.m\.)?)"
    r"(?![\w-])",
    _I,
)


def extract_time(text: str) -> tuple[str | None, str]:
    """Find "at 9", "at 9:30", "at 5pm", "at noon"; return HH:MM and the text without it."""
    for m in _TIME.finditer(text):
        if m.group("noon"):
            value = "00:00" if m.group("noon").lower() == "midnight" else "12:00"
        else:
            hour, minute = int(m.group("h")), int(m.group("m") or 0)
            ampm = (m.group("ampm") or "").lower().replace(".", "")
            if ampm and not 1 <= hour <= 12:
                continue
            if ampm == "pm" and hour != 12:
                hour += 12
            elif ampm == "am" and hour == 12:
                hour = 0
            if not ampm and m.group("m") is None and m.group(0).lower().startswith("by"):
                continue  # "by 5" alone is too vague to be a time
            if hour > 23:
                continue
            value = f"{hour:02d}:{minute:02d}"
        return value, _tidy(text[: m.start()] + " " + text[m.end() :])
    return None, text
