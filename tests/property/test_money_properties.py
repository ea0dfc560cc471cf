"""Properties of exact money, for every ISO 4217 scale the project books
(0, 2, 3 and 4 minor units): amounts round-trip between the wire and Decimal,
never pass through a float, and anything finer than the currency (or beyond the
largest amount the API takes) is refused by the layer that owns that rule."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iso4217 import Currency
from pydantic import BaseModel, ValidationError

from db_gateway import schemas as gateway
from db_gateway.accounts import check_scale
from ledger.schemas.accounts import AccountCreate, AccountUpdate
from ledger.schemas.budgets import BudgetCreate
from ledger.schemas.transactions import TransactionCreate, TransactionUpdate
from ledger.views import money
from servicekit.money import (
    PositiveAmount,
    SignedAmount,
    fits_currency,
    format_amount,
    minor_units,
    parse_positive_amount,
)

# deterministic and bounded: the same examples on every run, well under a second each
money_settings = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

MAX_INTEGER_DIGITS = 15  # the API takes up to 15 digits before the point
MAX_SCALE = 4  # and up to 4 after it: the largest ISO 4217 scale
BY_SCALE: dict[int, list[str]] = {}
for _currency in Currency:
    if isinstance(_currency.exponent, int):
        BY_SCALE.setdefault(_currency.exponent, []).append(_currency.code)
SCALES = sorted(BY_SCALE)

ACCOUNT = uuid.UUID("7f1c0e1a-3d0b-4a53-9a57-0c2d0d1e9b11")
CATEGORY = uuid.UUID("5d2a8c3e-1f4b-4c6d-8e9f-a0b1c2d3e4f5")


def test_every_iso_4217_scale_the_project_books_is_covered() -> None:
    assert SCALES == [0, 2, 3, 4]
    assert {"JPY", "USD", "KWD", "CLF"} <= {c for codes in BY_SCALE.values() for c in codes}
    for scale, codes in BY_SCALE.items():
        assert all(minor_units(code) == scale for code in codes)


class Positive(BaseModel):
    amount: PositiveAmount


class Signed(BaseModel):
    amount: SignedAmount


@st.composite
def currency_amounts(draw: st.DrawFn, *, positive: bool = False) -> tuple[str, int, int]:
    """(currency, scale, amount in minor units) for any amount the API takes in
    that currency."""
    scale = draw(st.sampled_from(SCALES))
    currency = draw(st.sampled_from(BY_SCALE[scale]))
    largest = 10 ** (MAX_INTEGER_DIGITS + scale) - 1
    smallest = 1 if positive else -largest
    minor = draw(
        st.one_of(
            st.integers(smallest, largest),
            st.sampled_from([smallest, largest, max(smallest, 0), max(smallest, 1)]),
        )
    )
    return currency, scale, minor


def as_decimal(minor: int, scale: int) -> Decimal:
    """Exact: integer arithmetic only."""
    return Decimal(minor).scaleb(-scale)


def canonical(minor: int, scale: int) -> str:
    """The one way the API writes an amount: every decimal of the currency, no
    more, no leading zeros, no "-0"; built from integers, not from Decimal."""
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor)).rjust(scale + 1, "0")
    if scale == 0:
        return sign + digits
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


@money_settings
@given(currency_amounts())
def test_format_then_parse_gives_the_same_decimal(case: tuple[str, int, int]) -> None:
    currency, scale, minor = case
    amount = as_decimal(minor, scale)

    text = format_amount(amount, currency)

    assert text == canonical(minor, scale)
    assert Signed.model_validate({"amount": text}).amount == amount
    assert fits_currency(amount, currency)
    assert check_scale("amount", amount, currency) is None
    if minor > 0:
        assert Positive.model_validate({"amount": text}).amount == amount


@money_settings
@given(currency_amounts(), st.integers(0, MAX_SCALE), st.integers(0, 3))
def test_parse_then_format_gives_the_canonical_text(
    case: tuple[str, int, int], trailing_zeros: int, leading_zeros: int
) -> None:
    """Any way of writing an amount that fits the currency (fewer decimals,
    trailing or leading zeros) parses to that amount and formats canonically."""
    currency, scale, minor = case
    text = canonical(minor, scale)
    if scale == 0 and trailing_zeros:
        text += "." + "0" * trailing_zeros
    elif scale:
        text += "0" * min(trailing_zeros, MAX_SCALE - scale)
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    if len(digits.split(".")[0]) + leading_zeros <= MAX_INTEGER_DIGITS:
        text = sign + "0" * leading_zeros + digits

    parsed = Signed.model_validate({"amount": text}).amount

    assert isinstance(parsed, Decimal)
    assert parsed == as_decimal(minor, scale)
    assert format_amount(parsed, currency) == canonical(minor, scale)
    # and the ledger's read path shows what db-gateway stores (numeric, 4 places) the same way
    assert money(f"{parsed:.4f}", currency) == canonical(minor, scale)


@money_settings
@given(currency_amounts(positive=True))
def test_the_wire_keeps_the_exact_digits(case: tuple[str, int, int]) -> None:
    """A decimal string goes in and comes out digit for digit: nothing on the
    way turns it into a float."""
    _, scale, minor = case
    text = canonical(minor, scale)

    model = Positive.model_validate_json(json.dumps({"amount": text}))

    assert str(model.amount) == text
    assert json.loads(model.model_dump_json()) == {"amount": text}


@money_settings
@given(
    st.sampled_from(SCALES).flatmap(
        lambda scale: st.tuples(
            st.just(scale), st.lists(st.integers(1, 10 ** (scale + 2)), min_size=1, max_size=30)
        )
    )
)
def test_sums_are_exact(case: tuple[int, list[int]]) -> None:
    """Adding parsed amounts is integer arithmetic on minor units: 0.10 + 0.20
    is 0.30, never 0.30000000000000004."""
    scale, minors = case
    currency = BY_SCALE[scale][0]
    parsed = [parse_positive_amount(canonical(m, scale)) for m in minors]

    assert format_amount(sum(parsed, Decimal(0)), currency) == canonical(sum(minors), scale)


@money_settings
@given(
    st.sampled_from([s for s in SCALES if s < MAX_SCALE]),
    st.integers(0, 10**MAX_INTEGER_DIGITS - 1),
    st.data(),
)
def test_more_decimals_than_the_currency_has_are_refused(
    scale: int, whole: int, data: st.DataObject
) -> None:
    """Up to 4 decimals get past the parser (the largest scale), and then the
    currency check refuses what is finer than the currency."""
    currency = data.draw(st.sampled_from(BY_SCALE[scale]))
    extra = data.draw(st.integers(scale + 1, MAX_SCALE))
    fraction = data.draw(st.integers(1, 10**extra - 1).filter(lambda f: f % 10 != 0))
    text = f"{whole}.{fraction:0{extra}d}"
    amount = parse_positive_amount(text)

    assert not fits_currency(amount, currency)
    problem = check_scale("amount", amount, currency)
    assert problem is not None
    assert problem["field"] == "amount"
    assert f"at most {scale} decimal places" in problem["message"]


@money_settings
@given(
    st.integers(0, 10**MAX_INTEGER_DIGITS - 1),
    st.integers(MAX_SCALE + 1, 12),
    st.booleans(),
)
def test_more_than_four_decimals_never_parse(whole: int, decimals: int, negative: bool) -> None:
    text = f"{'-' if negative else ''}{whole}.{'0' * (decimals - 1)}1"

    with pytest.raises(ValidationError, match="at most 15 digits before the point and 4 after"):
        Signed.model_validate({"amount": text})
    with pytest.raises(ValidationError, match="at most 15 digits before the point and 4 after"):
        Positive.model_validate({"amount": text})
    with pytest.raises(ValidationError):  # and db-gateway's own schema agrees
        gateway.SplitDraft(category_id=CATEGORY, amount=Decimal(text))


@pytest.mark.parametrize("scale", [0, 2, 3, 4])
def test_the_largest_amount_is_taken_and_one_unit_more_is_refused(scale: int) -> None:
    currency = BY_SCALE[scale][0]
    largest = 10 ** (MAX_INTEGER_DIGITS + scale) - 1
    text = canonical(largest, scale)

    assert Positive.model_validate({"amount": text}).amount == as_decimal(largest, scale)
    assert Signed.model_validate({"amount": "-" + text}).amount == -as_decimal(largest, scale)
    assert format_amount(as_decimal(largest, scale), currency) == text
    assert gateway.SplitDraft(category_id=CATEGORY, amount=as_decimal(largest, scale))
    beyond = canonical(largest + 1, scale)  # 16 digits before the point
    for raw in (beyond, "-" + beyond):
        with pytest.raises(ValidationError, match="at most 15 digits"):
            Signed.model_validate({"amount": raw})
    with pytest.raises(ValidationError, match="at most 15 digits"):
        Positive.model_validate({"amount": beyond})


@money_settings
@given(currency_amounts(positive=True))
def test_positive_amounts_refuse_zero_and_negatives(case: tuple[str, int, int]) -> None:
    _, scale, minor = case
    for text in (canonical(-minor, scale), "-" + canonical(0, scale)):
        with pytest.raises(ValidationError):
            Positive.model_validate({"amount": text})
    with pytest.raises(ValidationError, match="greater than 0"):
        Positive.model_validate({"amount": canonical(0, scale)})


@money_settings
@given(st.sampled_from(SCALES), st.integers(0, MAX_SCALE))
def test_zero_is_never_negative(scale: int, decimals: int) -> None:
    currency = BY_SCALE[scale][0]
    text = "-0" + ("." + "0" * decimals if decimals else "")

    parsed = Signed.model_validate({"amount": text}).amount

    assert parsed == 0
    assert not parsed.is_signed()
    assert format_amount(parsed, currency) == canonical(0, scale)
    assert format_amount(Decimal("-0").scaleb(-decimals), currency) == canonical(0, scale)


@money_settings
@given(
    st.one_of(
        st.integers(-(10**20), 10**20),
        st.floats(allow_nan=False, allow_infinity=False),
        st.decimals(allow_nan=False, allow_infinity=False, places=4),
    )
)
def test_json_numbers_are_refused_whatever_their_value(number: int | float | Decimal) -> None:
    """A JSON number may already have lost precision in the client, so no
    value is taken as a number, even one a string of the same digits would be."""
    body = (
        '{"amount": ' + (str(number) if isinstance(number, Decimal) else json.dumps(number)) + "}"
    )

    for model in (Positive, Signed):
        with pytest.raises(ValidationError, match="not a JSON number"):
            model.model_validate_json(body)


# ---------------------------------------------------------------- the request bodies


def _body_errors(model: type[BaseModel], body: dict[str, object]) -> list[str]:
    try:
        model.model_validate_json(json.dumps(body))
    except ValidationError as exc:
        return [".".join(str(p) for p in e["loc"]) for e in exc.errors()]
    return []


@money_settings
@given(currency_amounts(positive=True), currency_amounts(positive=True))
def test_transaction_bodies_take_amount_strings_exactly(
    case: tuple[str, int, int], to_case: tuple[str, int, int]
) -> None:
    _, scale, minor = case
    _, to_scale, to_minor = to_case
    amount, to_amount = canonical(minor, scale), canonical(to_minor, to_scale)
    body = {
        "type": "transfer",
        "account_id": str(ACCOUNT),
        "to_account_id": str(uuid.uuid4()),
        "amount": amount,
        "to_amount": to_amount,
        "date": "2026-11-02",
    }

    created = TransactionCreate.model_validate_json(json.dumps(body))
    updated = TransactionUpdate.model_validate_json(
        json.dumps({"amount": amount, "to_amount": to_amount})
    )

    for model in (created, updated):
        assert model.amount == as_decimal(minor, scale)
        assert model.to_amount == as_decimal(to_minor, to_scale)
        dumped = json.loads(model.model_dump_json())
        assert (dumped["amount"], dumped["to_amount"]) == (amount, to_amount)
    assert created.date == dt.date(2026, 11, 2)


@money_settings
@given(currency_amounts(positive=True), st.sampled_from(["amount", "to_amount", "split"]))
def test_transaction_bodies_refuse_amounts_as_numbers(
    case: tuple[str, int, int], field: str
) -> None:
    _, scale, minor = case
    text = canonical(minor, scale)
    number = json.loads(text)  # the same digits, as a JSON number
    body: dict[str, object] = {
        "type": "expense",
        "account_id": str(ACCOUNT),
        "amount": text,
        "date": "2026-11-02",
    }

    def with_value(value: object) -> dict[str, object]:
        if field == "split":
            return {**body, "splits": [{"category_id": str(CATEGORY), "amount": value}]}
        return {**body, field: value}

    assert _body_errors(TransactionCreate, with_value(text)) == []
    where = "splits.0.amount" if field == "split" else field
    assert _body_errors(TransactionCreate, with_value(number)) == [where]


@money_settings
@given(currency_amounts())
def test_opening_balances_take_signed_strings_in_every_currency(
    case: tuple[str, int, int],
) -> None:
    currency, scale, minor = case
    text = canonical(minor, scale)

    created = AccountCreate.model_validate_json(
        json.dumps({"name": "a", "type": "loan", "currency": currency, "opening_balance": text})
    )
    updated = AccountUpdate.model_validate_json(json.dumps({"opening_balance": text}))

    assert created.opening_balance == updated.opening_balance == as_decimal(minor, scale)
    assert check_scale("opening_balance", created.opening_balance, currency) is None
    assert json.loads(created.model_dump_json())["opening_balance"] == text
    # db-gateway's own schema takes it as it comes from the ledger
    assert gateway.AccountCreate(
        name="a", type="loan", currency=currency, opening_balance=created.opening_balance
    ).opening_balance == as_decimal(minor, scale)
    assert _body_errors(AccountUpdate, {"opening_balance": json.loads(text)}) == ["opening_balance"]


@money_settings
@given(currency_amounts(positive=True))
def test_budget_bodies_take_positive_strings_only(case: tuple[str, int, int]) -> None:
    currency, scale, minor = case
    text = canonical(minor, scale)
    body = {"category_id": str(CATEGORY), "amount": text, "currency": currency}

    assert BudgetCreate.model_validate_json(json.dumps(body)).amount == as_decimal(minor, scale)
    assert _body_errors(BudgetCreate, {**body, "amount": json.loads(text)}) == ["amount"]
    assert _body_errors(BudgetCreate, {**body, "amount": "-" + text}) == ["amount"]


def test_canonical_matches_the_documented_pattern() -> None:
    """The helper the properties compare against writes what the schema documents."""
    pattern = re.compile(Positive.model_json_schema()["properties"]["amount"]["pattern"])
    for scale in SCALES:
        assert pattern.match(canonical(10 ** (MAX_INTEGER_DIGITS + scale) - 1, scale))
