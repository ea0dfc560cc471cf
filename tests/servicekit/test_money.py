"""Exact money: amounts are decimal strings, currencies are ISO 4217 with their scale."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from servicekit.money import (
    PositiveAmount,
    fits_currency,
    format_amount,
    is_bookable_currency,
    minor_units,
)


class Payment(BaseModel):
    amount: PositiveAmount


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.30", Decimal("12.30")),
        ("0.01", Decimal("0.01")),
        ("1", Decimal(1)),
        ("0.0001", Decimal("0.0001")),
        ("999999999999999.9999", Decimal("999999999999999.9999")),
    ],
)
def test_positive_amount_accepts_decimal_strings(raw: str, expected: Decimal) -> None:
    amount = Payment.model_validate_json(f'{{"amount": "{raw}"}}').amount

    assert amount == expected
    assert isinstance(amount, Decimal)


def test_positive_amount_keeps_the_exact_digits() -> None:
    payment = Payment.model_validate_json('{"amount": "0.10"}')

    assert str(payment.amount) == "0.10"
    assert payment.model_dump_json() == '{"amount":"0.10"}'


@pytest.mark.parametrize("number", ["12.3", "0.1", "12", "1e3"])
def test_positive_amount_refuses_json_numbers(number: str) -> None:
    with pytest.raises(ValidationError, match="not a JSON number"):
        Payment.model_validate_json(f'{{"amount": {number}}}')


@pytest.mark.parametrize("value", [12, 12.5, None, True])
def test_positive_amount_refuses_non_strings_in_python(value: object) -> None:
    with pytest.raises(ValidationError):
        Payment.model_validate({"amount": value})


@pytest.mark.parametrize("raw", ["0", "0.0", "0.0000", "00.00"])
def test_positive_amount_refuses_zero(raw: str) -> None:
    with pytest.raises(ValidationError, match="greater than 0"):
        Payment.model_validate({"amount": raw})


@pytest.mark.parametrize(
    "raw",
    [
        "-1",
        "1e3",
        "12,30",
        " 1.00",
        "1.00 ",
        "1.00000",
        "+1",
        "",
        ".5",
        "5.",
        "1_000",
        "NaN",
        "Infinity",
        "0x10",
        "\u0661\u0662",  # Arabic-Indic "12": Decimal() would accept it
        "\uff11\uff12",  # fullwidth "12"
        "1234567890123456",  # 16 integer digits
        "1234567890123456.00",
    ],
)
def test_positive_amount_refuses_malformed_strings(raw: str) -> None:
    with pytest.raises(ValidationError, match="decimal string"):
        Payment.model_validate({"amount": raw})


def test_positive_amount_json_schema_is_a_string_pattern() -> None:
    schema = Payment.model_json_schema()["properties"]["amount"]

    assert schema["type"] == "string"
    assert schema["pattern"] == r"^\d{1,15}(\.\d{1,4})?$"


@pytest.mark.parametrize(
    ("amount", "currency", "fits"),
    [
        ("12.34", "USD", True),
        ("12.340", "USD", True),
        ("12.3400", "USD", True),
        ("12.345", "USD", False),
        ("12.3401", "USD", False),
        ("100", "JPY", True),
        ("100.0", "JPY", True),
        ("100.5", "JPY", False),
        ("1.234", "BHD", True),
        ("1.2345", "BHD", False),
        ("1", "XAU", False),
        ("1", "ZZZ", False),
    ],
)
def test_fits_currency_checks_the_minor_units(amount: str, currency: str, fits: bool) -> None:
    assert fits_currency(Decimal(amount), currency) is fits


@pytest.mark.parametrize(
    ("amount", "currency", "formatted"),
    [
        ("12.3000", "USD", "12.30"),
        ("12", "USD", "12.00"),
        ("12.0000", "JPY", "12"),
        ("1.2000", "BHD", "1.200"),
    ],
)
def test_format_amount_uses_the_currency_scale(amount: str, currency: str, formatted: str) -> None:
    assert format_amount(Decimal(amount), currency) == formatted


@pytest.mark.parametrize(("code", "units"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("BHD", 3)])
def test_minor_units_of_real_currencies(code: str, units: int) -> None:
    assert minor_units(code) == units


@pytest.mark.parametrize("code", ["XAU", "XXX", "XTS", "ZZZ", "", "840"])
def test_minor_units_of_non_money_is_none(code: str) -> None:
    assert minor_units(code) is None


@pytest.mark.parametrize("code", ["USD", "EUR", "JPY", "BHD"])
def test_real_currencies_are_bookable(code: str) -> None:
    assert is_bookable_currency(code) is True


@pytest.mark.parametrize("code", ["usd", "Usd", "eur", "XAU", "ZZZ", "US", "USDD", " USD"])
def test_lowercase_and_non_money_codes_are_not_bookable(code: str) -> None:
    assert is_bookable_currency(code) is False
