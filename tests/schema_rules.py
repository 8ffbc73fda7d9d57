"""The API's data-dependent refusals, shared by the in-process and the live schemathesis runs.

A request can match the schema and still be refused with 400 for what the database holds: the
schema says "a provider name", the server needs one an operator configured. Only these, each
recognised by the server's own message, are excused from schemathesis' positive_data_acceptance
check; any other 400 for schema-valid data is a schema mismatch and fails.
"""

from __future__ import annotations

import json
from typing import Any

_UNKNOWN_PROVIDER = (
    "Unknown or disabled provider",
    "the provider must be one an operator configured and enabled; the schema can only say it is a name",
)

_INBOX = ("The Inbox cannot be", "the Inbox (the seeded user's list 1) keeps its name and cannot be deleted")
_TASK_FIELDS = (
    ("Recurrence", "an RRULE's meaning (parts, days no month has) is checked by dateutil, not the schema"),
    ("INTERVAL must", "an RRULE's INTERVAL range is inside the rule's text"),
    ("BYMONTHDAY", "an RRULE's day numbers are inside the rule's text"),
    ("needs a due date", "a due time or a relative reminder needs a due date, a rule across fields"),
    ("Each reminder needs", "a reminder takes exactly one of minutes_before and remind_at"),
    ("Constraint", "a due time needs a due date (the model's check constraint)"),
)

DATA_DEPENDENT_400: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("POST", "/api/v1/keys/"): (
        _UNKNOWN_PROVIDER,
        ("does not use keys", "which providers take a key (not the offline one) is configuration"),
        ("expiry date is in the past", "an expiry must lie in the future, which depends on the clock, not the schema"),
    ),
    ("PUT", "/api/v1/preferences/"): (
        _UNKNOWN_PROVIDER,
        ("does not offer the model", "a model must be one of the models operators listed for that provider"),
    ),
    ("PATCH", "/api/v1/lists/{list_id}/"): (_INBOX,),
    ("DELETE", "/api/v1/lists/{list_id}/"): (_INBOX,),
    ("POST", "/api/v1/tasks/"): _TASK_FIELDS,
    ("PUT", "/api/v1/tasks/{task_id}/"): _TASK_FIELDS,
    ("PATCH", "/api/v1/tasks/{task_id}/"): _TASK_FIELDS,
    ("PATCH", "/api/v1/todo-settings/"): (
        ("Unknown time zone", "a time zone must be one the zone database knows; the schema can only say it is text"),
    ),
}


def data_dependent_reason(method: str, path: str, status_code: int, body: bytes | str | None) -> str | None:
    """Why a 400 for schema-valid data is right here, or None when it is not a documented case."""
    rules = DATA_DEPENDENT_400.get((method.upper(), path))
    if not rules or status_code != 400 or not body:
        return None
    try:
        error: Any = json.loads(body)["error"]
        message = error["message"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(message, str):
        return None
    for marker, reason in rules:
        if marker in message:
            return reason
    return None
