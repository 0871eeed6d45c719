"""Money is Decimal, rounded half-up to the fen, and a two-decimal string in JSON."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer

FEN = Decimal("0.01")


def to_fen(amount: Decimal) -> Decimal:
    """Round half-up to the fen (0.01 元)."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def _as_string(amount: Decimal) -> str:
    return str(to_fen(amount))


def _refuse_float(value: Any) -> Any:
    # A binary float cannot carry an exact amount of fen; clients send strings.
    if isinstance(value, float):
        raise ValueError('send money as a string with at most two decimals, e.g. "12.50"')
    return value


# Amounts in JSON are strings like "12.50"; floats are refused on input (strict Decimal).
Money = Annotated[
    Decimal,
    BeforeValidator(_refuse_float),
    Field(max_digits=14, decimal_places=2, json_schema_extra={"type": "string", "pattern": r"^-?\d+\.\d{2}$"}),
    PlainSerializer(_as_string, return_type=str, when_used="json"),
]
