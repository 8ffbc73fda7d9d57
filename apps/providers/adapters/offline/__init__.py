"""Offline provider: a rule-based stand-in for a model (dates, intent grammar, phrasing, adapter)."""

from apps.providers.adapters.offline.adapter import MODEL_NAME, OfflineAdapter
from apps.providers.adapters.offline.dates import extract_date, parse_date
from apps.providers.adapters.offline.grammar import Intent, parse_request
from apps.providers.adapters.offline.phrasing import CLARIFY_MARKER, HELP_TEXT, summarise_tool_result

__all__ = [
    "CLARIFY_MARKER",
    "HELP_TEXT",
    "MODEL_NAME",
    "Intent",
    "OfflineAdapter",
    "extract_date",
    "parse_date",
    "parse_request",
    "summarise_tool_result",
]
