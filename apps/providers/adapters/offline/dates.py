"""Date phrases of the offline assistant: "friday", "in 3 days", "the 1st of march"."""

from __future__ import annotations

import re
from datetime import date, timedelta

from apps.providers.adapters.offline.text import _I, _tidy

_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
_WD = "|".join(_WEEKDAYS)
_MON = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_BODY = (
    r"(?P<iso>\d{4}-\d{1,2}-\d{1,2})"
    r"|(?P<today>today|tonight|this (?:morning|afternoon|evening))"
    r"|(?P<dat>(?:the )?day after tomorrow)"
    r"|(?P<tomorrow>tomorrow|tmrw)"
    r"|(?P<in>in (?P<n>\d{1,3}|a|an|one|two|three|four|five|six|seven) (?P<unit>days?|weeks?))"
    r"|(?P<nextweek>next week)"
    rf"|(?:(?P<mod>next|this|this coming|coming) )?(?P<wd>{_WD})"
    rf"|(?P<mon1>{_MON})\.? (?P<d1>\d{{1,2}})(?:st|nd|rd|th)?(?:,? (?P<y1>\d{{4}}))?"
    rf"|(?:the )?(?P<d2>\d{{1,2}})(?:st|nd|rd|th)? (?:of )?(?P<mon2>{_MON})(?:,? (?P<y2>\d{{4}}))?"
)
_DATE_PREFIX = r"(?:(?:due )?(?:on|by|for|before|until|till) |due )?"
_DATE_ANYWHERE = re.compile(rf"(?<![\w-]){_DATE_PREFIX}(?:{_DATE_BODY})(?![\w-])", _I)
_DATE_WHOLE = re.compile(rf"{_DATE_PREFIX}(?:{_DATE_BODY})", _I)


def _resolve_date(m: re.Match[str], today: date) -> date | None:
    g = m.groupdict()
    if g["iso"]:
        try:
            year, month, day = (int(part) for part in g["iso"].split("-"))
            return date(year, month, day)
        except ValueError:
            return None
    if g["today"]:
        return today
    if g["dat"]:
        return today + timedelta(days=2)
    if g["tomorrow"]:
        return today + timedelta(days=1)
    if g["in"]:
        count = int(g["n"]) if g["n"].isdigit() else _NUMBER_WORDS[g["n"].lower()]
        return today + timedelta(days=count * (7 if g["unit"].lower().startswith("week") else 1))
    if g["nextweek"]:
        return today + timedelta(days=7 - today.weekday())  # next Monday
    if g["wd"]:
        ahead = (_WEEKDAYS.index(g["wd"].lower()) - today.weekday()) % 7
        # "friday" said on a Friday means next week's; "this friday" means today.
        if ahead == 0 and (g["mod"] or "").lower() != "this":
            ahead = 7
        return today + timedelta(days=ahead)
    month_name, day_text, year_text = (g["mon1"], g["d1"], g["y1"]) if g["mon1"] else (g["mon2"], g["d2"], g["y2"])
    if month_name:
        month = _MONTHS[month_name.lower()]
        try:
            if year_text:
                return date(int(year_text), month, int(day_text))
            candidate = date(today.year, month, int(day_text))
            # A month-day without a year means the next one to come.
            return candidate if candidate >= today else date(today.year + 1, month, int(day_text))
        except ValueError:
            return None
    return None


def parse_date(text: str, today: date) -> date | None:
    """A whole phrase as a date ("friday", "on 2026-12-01", "in 3 days"), else None."""
    m = _DATE_WHOLE.fullmatch(text.strip())
    return _resolve_date(m, today) if m else None


def extract_date(text: str, today: date) -> tuple[date | None, str]:
    """Find the last date phrase in ``text``; return it and the text without it."""
    for m in reversed(list(_DATE_ANYWHERE.finditer(text))):
        when = _resolve_date(m, today)
        if when is not None:
            return when, _tidy(text[: m.start()] + " " + text[m.end() :])
    return None, text

