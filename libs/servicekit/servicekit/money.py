"""Exact money: Decimal in, decimal strings on the wire, ISO 4217 scales.

JSON numbers are refused for amounts: a float like 0.1 has already lost
precision before the server sees it, so only strings such as "12.30" are exact.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from iso4217 import Currency
from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

# Up to 15 integer digits and 4 decimals (the largest ISO 4217 scale).
_AMOUNT_RE = re.compile(r"[0-9]{1,15}(\.[0-9]{1,4})?")
_SIGNED_AMOUNT_RE = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,4})?")
_AMOUNT_DOC = 'Exact decimal amount as a JSON string, e.g. "12.30"; never a number.'


def minor_units(code: str) -> int | None:
    """Decimal places of an ISO 4217 currency; None if the code is not money we book."""
    try:
        exponent = Currency(code).exponent
    except ValueError:
        return None
    return exponent if isinstance(exponent, int) else None


def is_bookable_currency(code: str) -> bool:
    return minor_units(code) is not None


def fits_currency(amount: Decimal, currency: str) -> bool:
    units = minor_units(currency)
    return units is not None and amount == amount.quantize(Decimal(1).scaleb(-units))


def format_amount(amount: Decimal, currency: str) -> str:
    if amount == 0:
        amount = abs(amount)  # never "-0.00"
    units = minor_units(currency)
    return str(amount.quantize(Decimal(1).scaleb(-units))) if units is not None else str(amount)


def _parse_amount(value: Any, pattern: re.Pattern[str]) -> Decimal:
    if not isinstance(value, str):
        raise ValueError('must be a decimal string such as "12.30", not a JSON number')
    if not pattern.fullmatch(value):
        raise ValueError(
            'must be a decimal string such as "12.30", '
            "with at most 15 digits before the point and 4 after"
        )
    return Decimal(value)


def parse_positive_amount(value: Any) -> Decimal:
    amount = _parse_amount(value, _AMOUNT_RE)
    if amount <= 0:
        raise ValueError("must be greater than 0")
    return amount


def _parse_signed_amount(value: Any) -> Decimal:
    return _parse_amount(value, _SIGNED_AMOUNT_RE) + 0  # + 0 turns -0 into 0


PositiveAmount = Annotated[
    Decimal,
    BeforeValidator(parse_positive_amount),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d{1,15}(\.\d{1,4})?$",
            "description": _AMOUNT_DOC,
            "examples": ["12.30"],
        }
    ),
]

SignedAmount = Annotated[
    Decimal,
    BeforeValidator(_parse_signed_amount),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^-?\d{1,15}(\.\d{1,4})?$",
            "description": "Exact decimal amount as a JSON string, negative for money owed, "
            'e.g. "-250.00"; never a number.',
            "examples": ["-250.00"],
        }
    ),
]
