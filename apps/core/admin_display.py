"""Admin list helpers: a long unbroken value wraps or is cut, so every other column stays on screen."""

from __future__ import annotations

from django.utils.html import format_html

LIST_TEXT_MAX = 60


class WrappingListMixin:
    """ModelAdmin mixin: change-list cells break long words (static/css/admin-lists.css)."""

    class Media:
        css = {"all": ["css/admin-lists.css"]}


def shortened(value: str | None, limit: int = LIST_TEXT_MAX) -> str:
    """``value`` cut to ``limit`` characters for a list column; the whole text stays in a tooltip."""
    value = value or ""
    if len(value) <= limit:
        return value
    return format_html('<span title="{}">{}…</span>', value, value[: limit - 1])
