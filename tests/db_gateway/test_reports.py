"""Reports, budget status and the dashboard against the real Postgres of the test stack."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
import zoneinfo
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db_gateway import accounts, reports, schemas, transactions
from servicekit.errors import Unprocessable
from tests.db_gateway.conftest import new_account
from tests.waiting import EVENT_WITHIN

Sessions = async_sessionmaker[AsyncSession]
D = Decimal


async def _account(
    sessions: Sessions, user_id: uuid.UUID, currency: str, opening: str = "0"
) -> uuid.UUID:
    async with sessions() as session:
        written = await accounts.create_account(
            session=session,
            user_id=user_id,
            draft=schemas.AccountCreate(
                name=f"{currency} account",
                type="checking",
                currency=currency,
                opening_balance=D(opening),
            ),
        )
    return written.account.id


async def _post(sessions: Sessions, user_id: uuid.UUID, **draft: Any) -> schemas.TransactionRead:
    async with sessions() as session:
        written = await transactions.post_transaction(
            session=session, user_id=user_id, draft=schemas.TransactionPost.model_validate(draft)
        )
    assert written.transaction is not None
    return written.transaction


async def _categories(sessions: Sessions, user_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """The default categories every user starts with, by name."""
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT name, id FROM categories WHERE user_id = :u"), {"u": user_id}
        )
        return {r.name: r.id for r in rows}


async def _budget(
    sessions: Sessions, user_id: uuid.UUID, category_id: uuid.UUID, amount: str, currency: str
) -> uuid.UUID:
    budget_id = uuid.uuid4()
    async with sessions() as session:
        await session.execute(
            text(
                "INSERT INTO budgets (id, user_id, category_id, amount, currency)"
                " VALUES (:id, :u, :c, :a, :cur)"
            ),
            {"id": budget_id, "u": user_id, "c": category_id, "a": D(amount), "cur": currency},
        )
        await session.commit()
    return budget_id


def _day(text_: str) -> dt.date:
    return dt.date.fromisoformat(text_)


async def _summary(
    sessions: Sessions, user_id: uuid.UUID, start: str | None, end: str | None
) -> schemas.SummaryReport:
    async with sessions() as session:
        return await reports.summary(
            session=session,
            user_id=user_id,
            date_from=_day(start) if start else None,
            date_to=_day(end) if end else None,
        )


def _totals(report: schemas.SummaryReport) -> dict[str, tuple[Decimal, Decimal, Decimal, int]]:
    return {i.currency: (i.income, i.expense, i.net, i.transactions) for i in report.items}


# ---------------------------------------------------------------- summary


async def test_summary_sums_each_currency_apart_without_transfers_or_opening_balances(
    sessions: Sessions, user_id: uuid.UUID, other_user_id: uuid.UUID
) -> None:
    usd = await _account(sessions, user_id, "USD", opening="1000.00")
    usd2 = await _account(sessions, user_id, "USD", opening="-50.00")
    jpy = await _account(sessions, user_id, "JPY", opening="50000")
    bhd = await _account(sessions, user_id, "BHD", opening="10.000")
    feb = "2026-02-10"
    for account, kind, amount in (
        (usd, "income", "2500.10"),
        (usd, "expense", "0.10"),
        (usd, "expense", "0.20"),
        (usd2, "expense", "99.99"),
        (jpy, "expense", "1234"),
        (jpy, "income", "100000"),
        (bhd, "expense", "0.001"),
        (bhd, "expense", "1.999"),
        (bhd, "income", "3.333"),
    ):
        await _post(sessions, user_id, type=kind, account_id=account, amount=D(amount), date=feb)
    # money moving between the user's own accounts is no income or expense
    await _post(
        sessions,
        user_id,
        type="transfer",
        account_id=usd,
        to_account_id=usd2,
        amount=D("300"),
        date=feb,
    )
    await _post(
        sessions,
        user_id,
        type="transfer",
        account_id=usd,
        to_account_id=jpy,
        amount=D("100.00"),
        to_amount=D("15000"),
        date=feb,
    )
    # another user's ledger never shows up
    theirs = await new_account(sessions, other_user_id)
    await _post(
        sessions, other_user_id, type="income", account_id=theirs, amount=D("7.00"), date=feb
    )

    report = await _summary(sessions, user_id, "2026-02-01", "2026-02-28")
    assert (report.date_from, report.date_to) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert [i.currency for i in report.items] == ["BHD", "JPY", "USD"]
    assert _totals(report) == {
        "BHD": (D("3.333"), D("2.000"), D("1.333"), 3),
        "JPY": (D("100000"), D("1234"), D("98766"), 2),
        "USD": (D("2500.10"), D("100.29"), D("2399.81"), 4),
    }


async def test_both_ends_of_a_period_are_included(sessions: Sessions, user_id: uuid.UUID) -> None:
    usd = await new_account(sessions, user_id)
    for day, amount in (
        ("2026-01-31", "1.00"),
        ("2026-02-01", "2.00"),
        ("2026-02-28", "4.00"),
        ("2026-03-01", "8.00"),
    ):
        await _post(sessions, user_id, type="expense", account_id=usd, amount=D(amount), date=day)
    february = await _summary(sessions, user_id, "2026-02-01", "2026-02-28")
    assert _totals(february) == {"USD": (D(0), D("6.00"), D("-6.00"), 2)}
    one_day = await _summary(sessions, user_id, "2026-03-01", "2026-03-01")
    assert _totals(one_day) == {"USD": (D(0), D("8.00"), D("-8.00"), 1)}
    assert (await _summary(sessions, user_id, "2026-04-01", "2026-04-30")).items == []


async def test_from_after_to_is_refused_naming_from(sessions: Sessions, user_id: uuid.UUID) -> None:
    with pytest.raises(Unprocessable) as refused:
        await _summary(sessions, user_id, "2026-03-02", "2026-03-01")
    assert refused.value.errors == [{"field": "from", "message": "must not be after `to`"}]
    # a `from` after the default `to` (the end of the current month) too
    with pytest.raises(Unprocessable):
        await _summary(sessions, user_id, "2999-01-01", None)


async def test_the_default_period_is_this_month_in_the_users_time_zone(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"):
        async with sessions() as session:
            await session.execute(
                text("UPDATE users SET timezone = :z WHERE id = :u"), {"z": zone, "u": user_id}
            )
            await session.commit()
            clock = await reports.read_clock(session, user_id)
        report = await _summary(sessions, user_id, None, None)
        today = dt.datetime.now(dt.UTC).astimezone(zoneinfo.ZoneInfo(zone)).date()
        assert clock.today in {today, today - dt.timedelta(days=1)}  # a test run may span midnight
        assert report.date_from == clock.today.replace(day=1)
        assert report.date_to == reports.last_day(clock.today.replace(day=1))
        assert report.date_to.month == report.date_from.month
        assert (report.date_to + dt.timedelta(days=1)).day == 1


def test_local_today_moves_into_the_next_month_east_of_utc_and_stays_west_of_it() -> None:
    instant = dt.datetime(2026, 1, 31, 20, 30, tzinfo=dt.UTC)
    assert reports.local_today(instant, "UTC") == dt.date(2026, 1, 31)
    assert reports.local_today(instant, "Asia/Tokyo") == dt.date(2026, 2, 1)
    assert reports.local_today(instant, "Pacific/Kiritimati") == dt.date(2026, 2, 1)
    early = dt.datetime(2026, 3, 1, 4, 30, tzinfo=dt.UTC)  # 23:30 in New York
    assert reports.local_today(early, "America/New_York") == dt.date(2026, 2, 28)
    assert reports.local_today(early, "No/Such_Zone") == dt.date(2026, 3, 1)
    assert reports.last_day(dt.date(2028, 2, 1)) == dt.date(2028, 2, 29)
    assert reports.add_months(dt.date(2026, 1, 1), -11) == dt.date(2025, 2, 1)
    assert reports.months_between(dt.date(2017, 1, 1), dt.date(2026, 12, 1)) == 120


# ---------------------------------------------------------------- categories


async def test_categories_count_each_split_toward_its_own_category(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    cats = await _categories(sessions, user_id)
    usd = await new_account(sessions, user_id)
    jpy = await _account(sessions, user_id, "JPY")
    day = "2026-05-05"
    await _post(
        sessions,
        user_id,
        type="expense",
        account_id=usd,
        amount=D("80.00"),
        date=day,
        splits=[
            {"category_id": cats["Groceries"], "amount": D("60.00")},
            {"category_id": cats["Electronics"], "amount": D("20.00")},
        ],
    )
    await _post(
        sessions,
        user_id,
        type="expense",
        account_id=usd,
        amount=D("5.55"),
        date=day,
        category_id=cats["Groceries"],
    )
    await _post(sessions, user_id, type="expense", account_id=usd, amount=D("1.01"), date=day)
    await _post(
        sessions,
        user_id,
        type="expense",
        account_id=jpy,
        amount=D("700"),
        date=day,
        category_id=cats["Groceries"],
    )
    await _post(
        sessions,
        user_id,
        type="income",
        account_id=usd,
        amount=D("9.00"),
        date=day,
        category_id=cats["Salary"],
    )
    async with sessions() as session:
        report = await reports.categories(
            session=session,
            user_id=user_id,
            date_from=_day("2026-05-01"),
            date_to=_day("2026-05-31"),
            kind="expense",
        )
        income = await reports.categories(
            session=session,
            user_id=user_id,
            date_from=_day("2026-05-01"),
            date_to=_day("2026-05-31"),
            kind="income",
        )
    items = [(i.currency, i.name, i.parent_id, i.amount, i.transactions) for i in report.items]
    assert items == [
        ("JPY", "Groceries", cats["Food"], D("700"), 1),
        ("USD", "Groceries", cats["Food"], D("65.55"), 2),
        ("USD", "Electronics", cats["Shopping"], D("20.00"), 1),
        ("USD", None, None, D("1.01"), 1),
    ]
    assert report.items[-1].category_id is None
    assert [(i.name, i.amount, i.parent_id) for i in income.items] == [("Salary", D("9.00"), None)]


# ---------------------------------------------------------------- monthly


async def test_monthly_lists_months_with_activity_per_currency(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    usd = await new_account(sessions, user_id)
    bhd = await _account(sessions, user_id, "BHD")
    for account, kind, amount, day in (
        (usd, "income", "10.00", "2025-12-31"),
        (usd, "expense", "2.50", "2026-01-01"),
        (usd, "expense", "2.50", "2026-01-31"),
        (bhd, "income", "0.125", "2026-01-15"),
        (usd, "income", "1.00", "2026-03-01"),
        (usd, "income", "99.00", "2026-04-01"),
    ):
        await _post(sessions, user_id, type=kind, account_id=account, amount=D(amount), date=day)
    async with sessions() as session:
        report = await reports.monthly(
            session=session, user_id=user_id, month_from="2025-12", month_to="2026-03"
        )
    assert (report.month_from, report.month_to) == ("2025-12", "2026-03")
    assert [(i.month, i.currency, i.income, i.expense, i.net) for i in report.items] == [
        ("2025-12", "USD", D("10.00"), D(0), D("10.00")),
        ("2026-01", "BHD", D("0.125"), D(0), D("0.125")),
        ("2026-01", "USD", D(0), D("5.00"), D("-5.00")),
        ("2026-03", "USD", D("1.00"), D(0), D("1.00")),
    ]


async def test_monthly_defaults_to_twelve_months_and_allows_at_most_120(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    async with sessions() as session:
        clock = await reports.read_clock(session, user_id)
        default = await reports.monthly(
            session=session, user_id=user_id, month_from=None, month_to=None
        )
        ending = await reports.monthly(
            session=session, user_id=user_id, month_from=None, month_to="2026-03"
        )
        widest = await reports.monthly(
            session=session, user_id=user_id, month_from="2017-01", month_to="2026-12"
        )
        with pytest.raises(Unprocessable) as too_long:
            await reports.monthly(
                session=session, user_id=user_id, month_from="2016-12", month_to="2026-12"
            )
        with pytest.raises(Unprocessable) as backwards:
            await reports.monthly(
                session=session, user_id=user_id, month_from="2026-04", month_to="2026-03"
            )
    this_month = reports.month_of(clock.today)
    assert default.month_to == this_month
    assert default.month_from == reports.month_of(
        reports.add_months(clock.today.replace(day=1), -11)
    )
    assert (ending.month_from, ending.month_to) == ("2025-04", "2026-03")
    assert (widest.month_from, widest.month_to) == ("2017-01", "2026-12")
    assert [e["field"] for e in too_long.value.errors or []] == ["from"]
    assert [e["field"] for e in backwards.value.errors or []] == ["from"]


# ---------------------------------------------------------------- net worth


async def test_net_worth_per_currency_includes_archived_accounts(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    await _account(sessions, user_id, "USD", opening="1500.25")
    await _account(sessions, user_id, "USD", opening="-300.10")  # a card
    archived = await _account(sessions, user_id, "USD", opening="0.05")
    await _account(sessions, user_id, "JPY", opening="-5000")
    await _account(sessions, user_id, "BHD", opening="0")
    async with sessions() as session:
        await accounts.update_account(
            session=session,
            user_id=user_id,
            account_id=archived,
            change=schemas.AccountUpdate(archived=True),
        )
    async with sessions() as session:
        report = await reports.net_worth(session=session, user_id=user_id)
    assert [(i.currency, i.assets, i.liabilities, i.net_worth) for i in report.items] == [
        ("BHD", D(0), D(0), D(0)),
        ("JPY", D(0), D(5000), D(-5000)),
        ("USD", D("1500.30"), D("300.10"), D("1200.20")),
    ]


# ---------------------------------------------------------------- budget status


async def test_budget_status_counts_subcategories_splits_and_only_its_currency(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    cats = await _categories(sessions, user_id)
    usd = await new_account(sessions, user_id)
    jpy = await _account(sessions, user_id, "JPY")
    food = await _budget(sessions, user_id, cats["Food"], "100.00", "USD")
    transport = await _budget(sessions, user_id, cats["Transport"], "10.00", "USD")
    food_jpy = await _budget(sessions, user_id, cats["Food"], "3000", "JPY")
    idle = await _budget(sessions, user_id, cats["Health"], "7.00", "USD")
    day = "2026-06-15"

    async def expense(account: uuid.UUID, amount: str, when: str = day, **more: Any) -> None:
        await _post(
            sessions,
            user_id,
            type="expense",
            account_id=account,
            amount=D(amount),
            date=when,
            **more,
        )

    await expense(usd, "30.00", category_id=cats["Groceries"])  # a subcategory
    await expense(usd, "15.00", category_id=cats["Food"])
    await expense(
        usd,
        "25.00",
        splits=[
            {"category_id": cats["Restaurants"], "amount": D("20.00")},
            {"category_id": cats["Taxi"], "amount": D("5.00")},
        ],
    )
    await expense(usd, "7.34", category_id=cats["Fuel"])
    await expense(usd, "1000.00", "2026-05-31", category_id=cats["Food"])  # another month
    await expense(usd, "1000.00", "2026-07-01", category_id=cats["Food"])
    await expense(usd, "3.00")  # uncategorised
    await expense(jpy, "1000", category_id=cats["Restaurants"])
    await _post(
        sessions,
        user_id,
        type="income",
        account_id=usd,
        amount=D("500.00"),
        date=day,
        category_id=cats["Refunds"],
    )

    async with sessions() as session:
        report = await reports.budget_status_report(
            session=session, user_id=user_id, month="2026-06"
        )
    assert report.month == "2026-06"
    got = [
        (i.budget_id, i.name, i.currency, i.amount, i.spent, i.remaining, i.percent)
        for i in report.items
    ]
    assert got == [
        (food, "Food", "USD", D("100.00"), D("65.00"), D("35.00"), D("65.0")),
        (transport, "Transport", "USD", D("10.00"), D("12.34"), D("-2.34"), D("123.4")),
        (food_jpy, "Food", "JPY", D("3000"), D("1000"), D("2000"), D("33.3")),
        (idle, "Health", "USD", D("7.00"), D(0), D("7.00"), D("0.0")),
    ]


async def test_budget_percent_rounds_half_up_to_one_decimal(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    cats = await _categories(sessions, user_id)
    usd = await new_account(sessions, user_id)
    await _budget(sessions, user_id, cats["Travel"], "3.00", "USD")
    await _budget(sessions, user_id, cats["Education"], "800.00", "USD")
    for category, amount in (("Travel", "2.00"), ("Education", "0.20")):
        await _post(
            sessions,
            user_id,
            type="expense",
            account_id=usd,
            amount=D(amount),
            date="2026-06-01",
            category_id=cats[category],
        )
    async with sessions() as session:
        report = await reports.budget_status_report(
            session=session, user_id=user_id, month="2026-06"
        )
    # 2/3 = 66.666..% and 0.20/800 = 0.025%
    assert [i.percent for i in report.items] == [D("66.7"), D("0.0")]


# ---------------------------------------------------------------- dashboard


async def _dashboard(sessions: Sessions, user_id: uuid.UUID) -> schemas.DashboardRead:
    async with sessions() as session:
        return await reports.dashboard(session=session, user_id=user_id)


async def _this_month(sessions: Sessions, user_id: uuid.UUID) -> dt.date:
    async with sessions() as session:
        return (await reports.read_clock(session, user_id)).today


async def test_dashboard_rolls_subcategories_into_the_top_five_per_currency(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    cats = await _categories(sessions, user_id)
    today = await _this_month(sessions, user_id)
    usd = await new_account(sessions, user_id)
    jpy = await _account(sessions, user_id, "JPY")
    last_month = today.replace(day=1) - dt.timedelta(days=1)
    for account, category, amount, day in (
        (usd, "Groceries", "40.00", today),  # Food: 40 + 35 = 75
        (usd, "Restaurants", "35.00", today),
        (usd, "Rent", "70.00", today),  # Housing: 70
        (usd, "Fuel", "20.00", today),  # Transport: 20 + 15 = 35
        (usd, "Taxi", "15.00", today),
        (usd, "Health", "30.00", today),
        (usd, "Travel", "25.00", today),
        (usd, "Education", "24.99", today),  # sixth: left out
        (usd, "Education", "500.00", last_month),  # not this month
        (jpy, "Subscriptions", "1200", today),  # Entertainment
        (jpy, "Health", "800", today),
    ):
        await _post(
            sessions,
            user_id,
            type="expense",
            account_id=account,
            amount=D(amount),
            date=day,
            category_id=cats[category],
        )
    await _post(sessions, user_id, type="expense", account_id=usd, amount=D("60.00"), date=today)
    dashboard = await _dashboard(sessions, user_id)
    assert [(c.currency, c.name, c.amount) for c in dashboard.top_categories] == [
        ("JPY", "Entertainment", D("1200")),
        ("JPY", "Health", D("800")),
        ("USD", "Food", D("75.00")),
        ("USD", "Housing", D("70.00")),
        ("USD", None, D("60.00")),  # uncategorised
        ("USD", "Transport", D("35.00")),
        ("USD", "Health", D("30.00")),
    ]
    assert dashboard.top_categories[2].category_id == cats["Food"]
    assert dashboard.month == reports.month_of(today)


async def test_dashboard_shows_open_accounts_and_this_months_figures(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    cats = await _categories(sessions, user_id)
    today = await _this_month(sessions, user_id)
    usd = await _account(sessions, user_id, "USD", opening="100.00")
    bhd = await _account(sessions, user_id, "BHD", opening="-1.500")
    old = await _account(sessions, user_id, "USD", opening="5.00")
    async with sessions() as session:
        await accounts.update_account(
            session=session,
            user_id=user_id,
            account_id=old,
            change=schemas.AccountUpdate(archived=True),
        )
    await _budget(sessions, user_id, cats["Food"], "50.00", "USD")
    posted = [
        await _post(
            sessions,
            user_id,
            type="expense",
            account_id=usd,
            amount=D("1.10"),
            date=today,
            category_id=cats["Groceries"],
            description=f"#{n}",
        )
        for n in range(11)
    ]
    await _post(sessions, user_id, type="income", account_id=bhd, amount=D("0.250"), date=today)
    dashboard = await _dashboard(sessions, user_id)
    assert [(a.id, a.balance, a.archived) for a in dashboard.accounts] == [
        (usd, D("87.90"), False),
        (bhd, D("-1.250"), False),
    ]
    assert [(n.currency, n.assets, n.liabilities, n.net_worth) for n in dashboard.net_worth] == [
        ("BHD", D(0), D("1.250"), D("-1.250")),
        ("USD", D("92.90"), D(0), D("92.90")),
    ]
    assert [(t.currency, t.income, t.expense, t.net) for t in dashboard.this_month] == [
        ("BHD", D("0.250"), D(0), D("0.250")),
        ("USD", D(0), D("12.10"), D("-12.10")),
    ]
    assert [(b.name, b.spent, b.remaining, b.percent) for b in dashboard.budgets] == [
        ("Food", D("12.10"), D("37.90"), D("24.2"))
    ]
    recent = dashboard.recent_transactions
    assert len(recent) == 10
    assert recent[0].type == "income"
    assert [t.id for t in recent[1:]] == [t.id for t in reversed(posted)][:9]


async def test_dashboard_is_read_in_one_snapshot_with_its_version(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    """While expenses of 1.00 keep arriving, every dashboard agrees with
    itself: the balance, this month's expense, the budget, the newest
    transactions and the ledger version all count the same writes."""
    cats = await _categories(sessions, user_id)
    today = await _this_month(sessions, user_id)
    usd = await new_account(sessions, user_id)
    await _budget(sessions, user_id, cats["Food"], "1000.00", "USD")
    base = (await _dashboard(sessions, user_id)).ledger_version
    writes = 40

    async def writer() -> None:
        for _ in range(writes // 4):
            await _post(
                sessions,
                user_id,
                type="expense",
                account_id=usd,
                amount=D("1.00"),
                date=today,
                category_id=cats["Groceries"],
            )

    seen: list[schemas.DashboardRead] = []

    async def reader() -> None:
        # until a read shows every write: an event, however reads and writes
        # interleave on a busy machine (a number of reads is no such bound)
        while not seen or seen[-1].ledger_version < base + writes:
            seen.append(await _dashboard(sessions, user_id))

    # a task group: a writer that fails stops the readers too
    async with asyncio.timeout(EVENT_WITHIN), asyncio.TaskGroup() as tasks:
        for task in [*(writer() for _ in range(4)), reader(), reader()]:
            tasks.create_task(task)
    assert {d.ledger_version - base for d in seen} - {0} != set()  # saw writes land
    for d in seen:
        count = d.ledger_version - base
        spent = D(count)
        assert d.accounts[0].balance == -spent
        assert [t.expense for t in d.this_month] == ([spent] if count else [])
        assert d.budgets[0].spent == spent
        assert len(d.recent_transactions) == min(count, 10)
    final = await _dashboard(sessions, user_id)
    assert final.ledger_version == base + writes
    assert final.accounts[0].balance == D(-writes)


# ---------------------------------------------------------------- at volume


async def test_reports_sum_2000_transactions_in_the_database(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    """Rows inserted straight in SQL (a generate_series per table, checked by
    the database's double-entry triggers at commit); the reports must agree
    with the same figures computed here."""
    cats = await _categories(sessions, user_id)
    grocery, taxi, rent = cats["Groceries"], cats["Taxi"], cats["Rent"]
    usd = await new_account(sessions, user_id)
    # the hidden counter-accounts come with the first expense and income
    await _post(sessions, user_id, type="expense", account_id=usd, amount=D(1), date="2024-01-01")
    await _post(sessions, user_id, type="income", account_id=usd, amount=D(1), date="2024-01-01")
    n = 2000
    seed = uuid.uuid4().hex
    gen = """
        SELECT i, md5(:seed || i)::uuid AS id,
               CASE WHEN i % 5 = 0 THEN 'income' ELSE 'expense' END AS type,
               (i % 1000 + 100) / 100.0 AS amount,
               date '2025-01-01' + (i % 730) AS day,
               i % 5 <> 0 AND i % 7 = 0 AS split,
               CASE WHEN i % 5 = 0 OR i % 11 = 0 THEN NULL
                    WHEN i % 3 = 0 THEN CAST(:grocery AS uuid)
                    WHEN i % 3 = 1 THEN CAST(:taxi AS uuid)
                    ELSE CAST(:rent AS uuid) END AS category
        FROM generate_series(1, :n) AS i
    """
    params = {"seed": seed, "n": n, "u": user_id, "a": usd}
    params |= {"grocery": grocery, "taxi": taxi, "rent": rent}
    async with sessions() as session:
        await session.execute(
            text(f"""
            INSERT INTO transactions (id, user_id, type, account_id, amount, currency, date,
                                      category_id, has_splits)
            SELECT id, :u, type, :a, amount, 'USD', day,
                   CASE WHEN split THEN NULL ELSE category END, split
            FROM ({gen}) g"""),  # noqa: S608
            params,
        )
        await session.execute(
            text(f"""
            INSERT INTO postings (transaction_id, user_id, account_id, currency, amount)
            SELECT g.id, :u, leg.account, 'USD', leg.amount
            FROM ({gen}) g
            CROSS JOIN LATERAL (VALUES
                (CAST(:a AS uuid), CASE WHEN g.type = 'income' THEN g.amount ELSE -g.amount END),
                ((SELECT id FROM accounts WHERE user_id = :u AND system_role = g.type
                    AND currency = 'USD'),
                 CASE WHEN g.type = 'income' THEN -g.amount ELSE g.amount END)
            ) AS leg (account, amount)"""),  # noqa: S608
            params,
        )
        await session.execute(
            text(f"""
            INSERT INTO allocations
                (transaction_id, user_id, kind, category_id, amount, position, date, seq)
            SELECT g.id, :u, g.type, part.category, part.amount, part.position, t.date, t.seq
            FROM ({gen}) g
            JOIN transactions t ON t.id = g.id
            CROSS JOIN LATERAL (
                SELECT g.category, g.amount, 0 WHERE NOT g.split
                UNION ALL SELECT CAST(:grocery AS uuid), 0.50, 0 WHERE g.split
                UNION ALL SELECT CAST(:rent AS uuid), g.amount - 0.50, 1 WHERE g.split
            ) AS part (category, amount, position)"""),  # noqa: S608
            params,
        )
        await session.execute(
            text("""
            UPDATE accounts a SET balance = (
                SELECT COALESCE(sum(p.amount), 0) FROM postings p WHERE p.account_id = a.id)
            WHERE a.user_id = :u"""),
            {"u": user_id},
        )
        await session.commit()

    # the same rows, in Python
    income: dict[str, Decimal] = defaultdict(Decimal)
    expense: dict[str, Decimal] = defaultdict(Decimal)
    by_category: dict[uuid.UUID | None, Decimal] = defaultdict(Decimal)
    counts: dict[uuid.UUID | None, set[int]] = defaultdict(set)
    start, end = dt.date(2025, 3, 15), dt.date(2026, 6, 30)
    in_period = {"income": D(0), "expense": D(0), "count": D(0)}
    for i in range(1, n + 1):
        kind = "income" if i % 5 == 0 else "expense"
        amount = D(i % 1000 + 100) / 100
        day = dt.date(2025, 1, 1) + dt.timedelta(days=i % 730)
        month = f"{day:%Y-%m}"
        (income if kind == "income" else expense)[month] += amount
        if start <= day <= end:
            in_period[kind] += amount
            in_period["count"] += 1
        if kind == "expense":
            if i % 7 == 0:
                parts: list[tuple[uuid.UUID | None, Decimal]] = [
                    (grocery, D("0.50")),
                    (rent, amount - D("0.50")),
                ]
            elif i % 11 == 0:
                parts = [(None, amount)]
            else:
                parts = [((grocery, taxi, rent)[i % 3], amount)]
            for category, part in parts:
                by_category[category] += part
                counts[category].add(i)

    async with sessions() as session:
        summary = await reports.summary(
            session=session, user_id=user_id, date_from=start, date_to=end
        )
        monthly = await reports.monthly(
            session=session, user_id=user_id, month_from="2025-01", month_to="2026-12"
        )
        report = await reports.categories(
            session=session,
            user_id=user_id,
            date_from=dt.date(2025, 1, 1),
            date_to=dt.date(2026, 12, 31),
            kind="expense",
        )
        worth = await reports.net_worth(session=session, user_id=user_id)
    assert _totals(summary) == {
        "USD": (
            in_period["income"],
            in_period["expense"],
            in_period["income"] - in_period["expense"],
            int(in_period["count"]),
        )
    }
    assert len(monthly.items) == 24
    assert {i.month: (i.income, i.expense) for i in monthly.items} == {
        m: (income[m], expense[m]) for m in income.keys() | expense.keys()
    }
    assert {i.category_id: (i.amount, i.transactions) for i in report.items} == {
        c: (by_category[c], len(counts[c])) for c in by_category
    }
    assert [i.amount for i in report.items] == sorted(by_category.values(), reverse=True)
    total = sum(income.values(), D(0)) - sum(expense.values(), D(0))
    assert [(i.currency, i.net_worth) for i in worth.items] == [("USD", total)]
