"""A page built as JSON by Postgres (transactions.page_json) is byte for byte
what the rows of the same page become through the ledger's Python formatting
(ledger.views.transaction_public, servicekit.jsonutil.dumps), for every
filter, page size and cursor, and for awkward text, currencies and splits."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, cast

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db_gateway import categories, schemas, transactions
from ledger.gateway import TransactionRow
from ledger.views import transaction_public
from servicekit.jsonutil import dumps, loads
from tests.db_gateway.conftest import new_account

Sessions = async_sessionmaker[AsyncSession]
AWKWARD = [
    "plain",
    'quote " backslash \\ slash /',
    "control \x01\x08\x0c\t\n\r\x1f end",
    "unicode é ß 日本 \u2028 \U0001f600",
    "",
]


async def _category(sessions: Sessions, user_id: uuid.UUID, name: str) -> uuid.UUID:
    async with sessions() as session:
        written = await categories.create_category(
            session=session,
            user_id=user_id,
            draft=schemas.CategoryCreate(name=name, kind="expense"),
        )
    return written.category.id


async def _post(sessions: Sessions, user_id: uuid.UUID, **draft: Any) -> None:
    async with sessions() as session:
        await transactions.post_transaction(
            session=session, user_id=user_id, draft=schemas.TransactionPost(**draft)
        )


@pytest.fixture
async def ledger(sessions: Sessions, user_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """A user with transactions in 0-, 2- and 3-decimal currencies, splits,
    cross-currency transfers, tags and awkward text, on repeating dates."""
    ids = {
        "usd": await new_account(sessions, user_id, "USD"),
        "usd2": await new_account(sessions, user_id, "USD"),
        "jpy": await new_account(sessions, user_id, "JPY"),
        "kwd": await new_account(sessions, user_id, "KWD"),
        "food": await _category(sessions, user_id, f"Food {uuid.uuid4().hex[:6]}"),
        "fun": await _category(sessions, user_id, f"Fun {uuid.uuid4().hex[:6]}"),
    }
    start = dt.date(2025, 1, 1)
    for i in range(40):
        day = start + dt.timedelta(days=i // 3)  # three a day: pages split days
        text = AWKWARD[i % len(AWKWARD)]
        kind = i % 5
        if kind == 0:
            await _post(
                sessions,
                user_id,
                type="expense",
                account_id=ids["usd"],
                amount=Decimal("12.30") + i,
                date=day,
                description=text,
                notes=AWKWARD[(i + 1) % len(AWKWARD)],
                category_id=ids["food"],
                tags=["food", f"t{i % 3}"],
            )
        elif kind == 1:
            await _post(
                sessions,
                user_id,
                type="expense",
                account_id=ids["jpy"],
                amount=Decimal(1500 + i),
                date=day,
                description=text,
                splits=[
                    {"category_id": ids["food"], "amount": Decimal(1000), "description": text},
                    {"category_id": ids["fun"], "amount": Decimal(500 + i)},
                ],
            )
        elif kind == 2:
            await _post(
                sessions,
                user_id,
                type="transfer",
                account_id=ids["usd"],
                to_account_id=ids["kwd"],
                amount=Decimal("100.00"),
                to_amount=Decimal("30.125"),
                date=day,
                description=text,
            )
        elif kind == 3:
            await _post(
                sessions,
                user_id,
                type="income",
                account_id=ids["kwd"],
                amount=Decimal("0.001") * (i + 1),
                date=day,
            )
        else:
            await _post(
                sessions,
                user_id,
                type="transfer",
                account_id=ids["usd"],
                to_account_id=ids["usd2"],
                amount=Decimal("7"),
                date=day,
                tags=["move"],
            )
    return ids


FILTERS = [
    {},
    {"type": "expense"},
    {"category": "food"},
    {"category": "fun", "date_from": dt.date(2025, 1, 4)},
    {"account": "kwd"},
    {"q": "quote"},
    {"tag": "food"},
    {"min_amount": Decimal("20"), "max_amount": Decimal("1600")},
    {"date_from": dt.date(2025, 1, 3), "date_to": dt.date(2025, 1, 9)},
]


@pytest.mark.parametrize("limit", [1, 7, 50])
@pytest.mark.parametrize("chosen", FILTERS)
async def test_a_page_built_by_postgres_is_the_page_python_would_write(
    sessions: Sessions,
    user_id: uuid.UUID,
    ledger: dict[str, uuid.UUID],
    chosen: dict[str, Any],
    limit: int,
) -> None:
    filters = transactions.Filters(
        account_id=ledger[chosen["account"]] if "account" in chosen else None,
        category_id=ledger[chosen["category"]] if "category" in chosen else None,
        **{k: v for k, v in chosen.items() if k not in ("account", "category")},
    )
    before: tuple[Any, int] | None = None
    while True:
        async with sessions() as session:
            rows = await transactions.list_transaction_rows(
                session=session, user_id=user_id, limit=limit + 1, before=before, filters=filters
            )
        async with sessions() as session:
            page = await transactions.page_json(
                session=session, user_id=user_id, limit=limit, before=before, filters=filters
            )
        expected = [transaction_public(cast(TransactionRow, loads(dumps(r)))) for r in rows]
        assert page.items == dumps(expected[:limit])
        if len(rows) <= limit:
            assert page.next is None
            break
        assert page.next == (rows[limit - 1]["date"], rows[limit - 1]["seq"])
        before = page.next


async def test_the_page_does_not_depend_on_the_sessions_date_style_or_time_zone(
    sessions: Sessions, user_id: uuid.UUID, ledger: dict[str, uuid.UUID]
) -> None:
    async with sessions() as session:
        usual = await transactions.page_json(
            session=session, user_id=user_id, limit=50, before=None, filters=transactions.Filters()
        )
    async with sessions() as session:
        await session.execute(text("SET LOCAL DateStyle = 'SQL, DMY'"))
        await session.execute(text("SET LOCAL TimeZone = 'Pacific/Kiritimati'"))
        odd = await transactions.page_json(
            session=session, user_id=user_id, limit=50, before=None, filters=transactions.Filters()
        )
    assert odd == usual
