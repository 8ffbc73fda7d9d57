"""Turn token usage into money, exactly (Decimal), from per-million-token prices."""

from __future__ import annotations

from decimal import Decimal

from apps.providers.types import Usage

_MILLION = Decimal(1_000_000)


def cost(usage: Usage, price_in_per_million: Decimal | str | int, price_out_per_million: Decimal | str | int) -> Decimal:
    """Cost of one call. Prices are taken as Decimal (pass strings, not floats, to stay exact)."""
    price_in = Decimal(str(price_in_per_million))
    price_out = Decimal(str(price_out_per_million))
    return (Decimal(usage.input_tokens) * price_in + Decimal(usage.output_tokens) * price_out) / _MILLION
