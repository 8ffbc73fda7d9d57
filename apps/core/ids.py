"""Parsing of object ids taken from URLs and tool arguments."""

from apps.core.errors import ValidationFailed

MAX_ID = 2**63 - 1  # the largest value a BigAutoField holds on PostgreSQL


def parse_object_id(raw: object, *, field: str = "id") -> int:
    """Return a positive integer id, or raise ValidationFailed naming the field."""
    if isinstance(raw, bool):
        raise ValidationFailed(f"{field} must be a positive integer.", extra={"field": field})
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip()
        if not text.isdigit() or not text.isascii():
            raise ValidationFailed(f"{field} must be a positive integer.", extra={"field": field})
        value = int(text)
    if not 1 <= value <= MAX_ID:
        raise ValidationFailed(f"{field} is out of range.", extra={"field": field})
    return value
