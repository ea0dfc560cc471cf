"""The SQL functions Postgres builds API JSON with (migration 0005) write
amounts and times exactly as the Python they mirror: servicekit.money for
amounts, servicekit.jsonutil (orjson, UTC as "Z") for timestamps."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from iso4217 import Currency
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.jsonutil import dumps
from servicekit.money import format_amount, minor_units

BOOKABLE = sorted(c.code for c in Currency if minor_units(c.code) is not None)


async def test_every_bookable_currency_gets_its_decimal_places(engine: AsyncEngine) -> None:
    amounts = [Decimal("0"), Decimal("12.3"), Decimal("1234567890123.4567"), Decimal("0.0001")]
    async with engine.connect() as conn:
        for code in BOOKABLE:
            for amount in amounts:
                units = minor_units(code)
                assert units is not None
                stored = amount.quantize(Decimal(1).scaleb(-min(units, 4)))
                got = await conn.scalar(
                    text("SELECT api_money(CAST(:a AS numeric(28, 4)), :c)"),
                    {"a": stored, "c": code},
                )
                assert got == format_amount(stored, code), (code, stored)


@settings(max_examples=200, deadline=None)
@given(
    cents=st.integers(min_value=0, max_value=10**19 - 1),
    code=st.sampled_from(["USD", "JPY", "KWD", "CLF", "EUR"]),
)
async def test_any_stored_amount_is_written_as_python_writes_it(
    engine: AsyncEngine, cents: int, code: str
) -> None:
    units = minor_units(code)
    assert units is not None
    amount = Decimal(cents).scaleb(-units)
    async with engine.connect() as conn:
        got = await conn.scalar(
            text("SELECT api_money(CAST(:a AS numeric(28, 4)), :c)"), {"a": amount, "c": code}
        )
    assert got == format_amount(amount, code)


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(
        min_value=dt.datetime(1970, 1, 1),
        max_value=dt.datetime(2999, 12, 31),
        timezones=st.just(dt.UTC),
    )
)
async def test_timestamps_are_written_as_the_json_encoder_writes_them(
    engine: AsyncEngine, moment: dt.datetime
) -> None:
    async with engine.connect() as conn:
        # whatever the session's time zone: the text is UTC
        await conn.execute(text("SET TIME ZONE 'Pacific/Kiritimati'"))
        got = await conn.scalar(text("SELECT api_time(:m)"), {"m": moment})
    assert f'"{got}"' == dumps(moment).decode()
