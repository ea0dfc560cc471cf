"""Pages filtered by text (`q`), against the real Postgres of the test stack.

A text search reads the user's newest transactions first and falls back to
the trigram indexes when they hold less than a page (transactions._text_page).
Followed by their cursor, the pages are exactly the transactions whose
description or notes hold the text, newest first, each once: for a word
common enough to fill a page from the window, for a rare one, for one that is
common only in old history, and with the window cut small enough that every
page crosses its edge."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db_gateway import schemas, transactions
from servicekit.jsonutil import loads
from tests.db_gateway.conftest import new_account

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def history(sessions: Sessions, user_id: uuid.UUID) -> list[schemas.TransactionRead]:
    """60 expenses over 12 days: "coffee" in most, "Refund" in a few (in the
    description or the notes), "archive" only in the oldest ones, a literal
    "50%" once; then every one of them, newest first."""
    account = await new_account(sessions, user_id)
    rng = random.Random(7)
    start = dt.date(2026, 5, 1)
    for i in range(60):
        words = ["coffee"] if rng.random() < 0.6 else ["lunch"]
        notes = ""
        if i % 13 == 5:
            notes = "asked for a REFUND"
        if i % 17 == 3:
            words.append("refund")
        if i < 10:
            words.append("archive")
        if i == 30:
            words.append("50% off")
        async with sessions() as session:
            await transactions.post_transaction(
                session=session,
                user_id=user_id,
                draft=schemas.TransactionPost(
                    type="expense",
                    account_id=account,
                    amount=Decimal(rng.randrange(100, 5000)) / 100,
                    date=start + dt.timedelta(days=i // 5),
                    description=" ".join(words),
                    notes=notes,
                ),
            )
    found: list[schemas.TransactionRead] = []
    before: tuple[Any, int] | None = None
    while True:
        async with sessions() as session:
            page = await transactions.list_transactions(
                session=session,
                user_id=user_id,
                limit=200,
                before=before,
                filters=transactions.Filters(),
            )
        found += page
        if len(page) < 200:
            return found
        before = (page[-1].date, page[-1].seq)


def _matches(history: list[schemas.TransactionRead], text: str) -> list[uuid.UUID]:
    needle = text.casefold()
    return [
        t.id for t in history if needle in t.description.casefold() or needle in t.notes.casefold()
    ]


async def _paged(sessions: Sessions, user_id: uuid.UUID, text: str, limit: int) -> list[Any]:
    """Every id the JSON pages of `q=text` give, following the cursor, after
    checking each page against the same page read as rows."""
    filters = transactions.Filters(q=text)
    ids: list[Any] = []
    before: tuple[Any, int] | None = None
    while True:
        async with sessions() as session:
            rows = await transactions.list_transactions(
                session=session, user_id=user_id, limit=limit, before=before, filters=filters
            )
        async with sessions() as session:
            page = await transactions.page_json(
                session=session, user_id=user_id, limit=limit, before=before, filters=filters
            )
        items = loads(page.items)
        assert [uuid.UUID(i["id"]) for i in items] == [r.id for r in rows]
        ids += [r.id for r in rows]
        if page.next is None:
            assert len(rows) <= limit
            return ids
        assert len(rows) == limit
        before = page.next


@pytest.mark.parametrize("window", [4, 25, transactions.TEXT_WINDOW])
@pytest.mark.parametrize("text", ["coffee", "refund", "archive", "50%", "nowhere"])
async def test_text_pages_give_every_match_once_newest_first(
    sessions: Sessions,
    user_id: uuid.UUID,
    history: list[schemas.TransactionRead],
    monkeypatch: pytest.MonkeyPatch,
    window: int,
    text: str,
) -> None:
    monkeypatch.setattr(transactions, "TEXT_WINDOW", window)
    monkeypatch.setattr(transactions, "_PAGE_JSON", {})  # statements built for this window
    expected = _matches(history, text)
    assert (text == "nowhere") == (not expected)
    for limit in (1, 3, 50):
        assert await _paged(sessions, user_id, text, limit) == expected, limit
