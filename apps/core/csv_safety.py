"""CSV cells a spreadsheet reads as text: a cell starting like a formula gets a leading quote (OWASP)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

# Excel, LibreOffice and Google Sheets start a formula at any of these (a tab or CR before one too),
# and a formula can open links or, through DDE, run programs on the reader's machine.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """``value`` for one CSV cell: text starting with a formula character gets a ``'`` in front.

    Numbers we write as numbers (int, float, Decimal; bool and None too) pass unchanged, so a
    negative count stays a number; anything else is text, whoever wrote it.
    """
    if value is None or isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
