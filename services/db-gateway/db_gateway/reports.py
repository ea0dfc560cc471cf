"""Reports and the dashboard, summed by Postgres and never across currencies.

Income and expense come from expense and income transactions only: a transfer
moves money between the user's own accounts and an opening balance is what an
account already held, so neither is income or spending. Category figures come
from allocations, so a split transaction counts toward each of its categories.

Periods are calendar dates, both ends included. Left out, they default to the
current month in the user's time zone (`users.timezone`), read from the
database clock.
"""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
import zoneinfo
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db_gateway import schemas, transactions
from db_gateway.budget_status import CATEGORY_TREE, budget_status
from servicekit.errors import NotFound, field_error

MAX_MONTHS = 120
DEFAULT_MONTHS = 12
TOP_CATEGORIES = 5
RECENT_TRANSACTIONS = 10


# ---------------------------------------------------------------- time


@dataclass(frozen=True, slots=True)
class Clock:
    """The user's view of now, as of the database transaction that read it."""

    ledger_version: int
    timezone: str
    now: dt.datetime
    today: dt.date


def local_today(now: dt.datetime, timezone: str) -> dt.date:
    """The calendar date at `now` in an IANA time zone (UTC if Python does not
    know the zone: the ledger only stores zones it knows)."""
    try:
        zone: dt.tzinfo = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return now.astimezone(zone).date()


async def read_clock(session: AsyncSession, user_id: uuid.UUID) -> Clock:
    row = (
        await session.execute(
            text("SELECT ledger_version, timezone, now() AS now FROM users WHERE id = :user_id"),
            {"user_id": user_id},
        )
    ).one_or_none()
    if row is None:
        raise NotFound("user not found")
    return Clock(
        ledger_version=row.ledger_version,
        timezone=row.timezone,
        now=row.now,
        today=local_today(row.now, row.timezone),
    )


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def parse_month(month: str) -> dt.date:
    """'2026-11' -> its first day."""
    year, number = month.split("-")
    return dt.date(int(year), int(number), 1)


def last_day(first: dt.date) -> dt.date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def add_months(first: dt.date, count: int) -> dt.date:
    index = first.year * 12 + first.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def months_between(start: dt.date, end: dt.date) -> int:
    """How many months start..end spans, both included."""
    return (end.year - start.year) * 12 + end.month - start.month + 1


def _check_order(start: dt.date, end: dt.date) -> None:
    if start > end:
        raise field_error("from", "must not be after `to`")


# ---------------------------------------------------------------- queries

_TOTALS = """
    COALESCE(sum(amount) FILTER (WHERE type = 'income'), 0) AS income,
    COALESCE(sum(amount) FILTER (WHERE type = 'expense'), 0) AS expense,
    COALESCE(sum(amount) FILTER (WHERE type = 'income'), 0)
        - COALESCE(sum(amount) FILTER (WHERE type = 'expense'), 0) AS net
"""

_SUMMARY = text(f"""
    SELECT currency, {_TOTALS}, count(*) AS transactions
    FROM transactions
    WHERE user_id = :user_id AND type IN ('expense', 'income')
      AND date BETWEEN :first AND :last
    GROUP BY currency
    ORDER BY currency
""")  # noqa: S608 (constant fragments, no user input)

_MONTHLY = text(f"""
    SELECT to_char(date, 'YYYY-MM') AS month, currency, {_TOTALS}
    FROM transactions
    WHERE user_id = :user_id AND type IN ('expense', 'income')
      AND date BETWEEN :first AND :last
    GROUP BY 1, currency
    ORDER BY 1, currency
""")  # noqa: S608 (constant fragments, no user input)

_CATEGORIES = text("""
    SELECT t.currency, a.category_id, c.name, c.parent_id,
           sum(a.amount) AS amount, count(DISTINCT a.transaction_id) AS transactions
    FROM transactions t
    JOIN allocations a ON a.transaction_id = t.id
    LEFT JOIN categories c ON c.id = a.category_id
    WHERE t.user_id = :user_id AND t.type = :kind AND t.date BETWEEN :first AND :last
    GROUP BY t.currency, a.category_id, c.name, c.parent_id
    ORDER BY t.currency, amount DESC, c.name NULLS LAST, a.category_id NULLS LAST
""")

# Balances are positive for money held and negative for money owed;
# liabilities are reported as a positive amount owed.
_NET_WORTH = text("""
    SELECT currency,
           COALESCE(sum(balance) FILTER (WHERE balance > 0), 0) AS assets,
           COALESCE(-sum(balance) FILTER (WHERE balance < 0), 0) AS liabilities,
           sum(balance) AS net_worth
    FROM accounts
    WHERE user_id = :user_id AND system_role IS NULL
    GROUP BY currency
    ORDER BY currency
""")

# The month's expense allocations rolled up into top-level categories, the
# largest five per currency. An allocation without a category stays its own
# bucket (category_id null).
_TOP_CATEGORIES = text(f"""
    WITH RECURSIVE {CATEGORY_TREE},
    roots AS (
        SELECT tree.descendant AS id, tree.ancestor AS root
        FROM tree JOIN categories r ON r.id = tree.ancestor
        WHERE r.parent_id IS NULL
    ),
    totals AS (
        SELECT t.currency, COALESCE(roots.root, a.category_id) AS category_id,
               sum(a.amount) AS amount
        FROM transactions t
        JOIN allocations a ON a.transaction_id = t.id
        LEFT JOIN roots ON roots.id = a.category_id
        WHERE t.user_id = :user_id AND t.type = 'expense' AND t.date BETWEEN :first AND :last
        GROUP BY t.currency, 2
    ),
    ranked AS (
        SELECT totals.*, c.name,
               row_number() OVER (
                   PARTITION BY totals.currency
                   ORDER BY totals.amount DESC, c.name NULLS LAST, totals.category_id NULLS LAST
               ) AS rank
        FROM totals LEFT JOIN categories c ON c.id = totals.category_id
    )
    SELECT category_id, name, currency, amount
    FROM ranked
    WHERE rank <= :top
    ORDER BY currency, rank
""")  # noqa: S608 (a constant CTE, no user input)

_OPEN_ACCOUNTS = text("""
    SELECT id, name, type, currency, balance, archived
    FROM accounts
    WHERE user_id = :user_id AND system_role IS NULL AND NOT archived
    ORDER BY seq
""")


async def _totals(
    session: AsyncSession, user_id: uuid.UUID, first: dt.date, last: dt.date
) -> list[schemas.CurrencyTotals]:
    rows = await session.execute(_SUMMARY, {"user_id": user_id, "first": first, "last": last})
    return [schemas.CurrencyTotals.model_validate(r._mapping) for r in rows]


async def _net_worth(session: AsyncSession, user_id: uuid.UUID) -> list[schemas.NetWorthItem]:
    rows = await session.execute(_NET_WORTH, {"user_id": user_id})
    return [schemas.NetWorthItem.model_validate(r._mapping) for r in rows]


# ---------------------------------------------------------------- reports


async def summary(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    date_from: dt.date | None,
    date_to: dt.date | None,
) -> schemas.SummaryReport:
    """Income, expense, net and the number of transactions per currency,
    dated date_from..date_to (each defaults to its end of the current month)."""
    if date_from is None or date_to is None:
        first = (await read_clock(session, user_id)).today.replace(day=1)
        date_from = date_from or first
        date_to = date_to or last_day(first)
    _check_order(date_from, date_to)
    return schemas.SummaryReport(
        date_from=date_from,
        date_to=date_to,
        items=await _totals(session, user_id, date_from, date_to),
    )


async def categories(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    date_from: dt.date | None,
    date_to: dt.date | None,
    kind: schemas.CategoryKind,
) -> schemas.CategoryReport:
    """Per currency and category (null: uncategorised), largest first."""
    if date_from is None or date_to is None:
        first = (await read_clock(session, user_id)).today.replace(day=1)
        date_from = date_from or first
        date_to = date_to or last_day(first)
    _check_order(date_from, date_to)
    rows = await session.execute(
        _CATEGORIES, {"user_id": user_id, "kind": kind, "first": date_from, "last": date_to}
    )
    return schemas.CategoryReport(
        date_from=date_from,
        date_to=date_to,
        type=kind,
        items=[schemas.CategoryTotal.model_validate(r._mapping) for r in rows],
    )


async def monthly(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    month_from: str | None,
    month_to: str | None,
) -> schemas.MonthlyReport:
    """One row per month and currency with any income or expense; months
    without activity are left out. `month_to` defaults to the current month
    and `month_from` to 11 months before `month_to`; at most 120 months."""
    end = (
        parse_month(month_to)
        if month_to
        else (await read_clock(session, user_id)).today.replace(day=1)
    )
    start = parse_month(month_from) if month_from else add_months(end, 1 - DEFAULT_MONTHS)
    _check_order(start, end)
    if months_between(start, end) > MAX_MONTHS:
        raise field_error("from", f"the period spans more than {MAX_MONTHS} months")
    rows = await session.execute(
        _MONTHLY, {"user_id": user_id, "first": start, "last": last_day(end)}
    )
    return schemas.MonthlyReport(
        month_from=month_of(start),
        month_to=month_of(end),
        items=[schemas.MonthTotals.model_validate(r._mapping) for r in rows],
    )


async def net_worth(*, session: AsyncSession, user_id: uuid.UUID) -> schemas.NetWorthReport:
    """Per currency, over every account of the user (archived ones included)."""
    return schemas.NetWorthReport(items=await _net_worth(session, user_id))


async def budget_status_report(
    *, session: AsyncSession, user_id: uuid.UUID, month: str | None
) -> schemas.BudgetStatusReport:
    if month is None:
        first = (await read_clock(session, user_id)).today.replace(day=1)
    else:
        first = parse_month(month)
    return schemas.BudgetStatusReport(
        month=month_of(first),
        items=await budget_status(
            session=session, user_id=user_id, first=first, last=last_day(first)
        ),
    )


# ---------------------------------------------------------------- dashboard


async def dashboard(*, session: AsyncSession, user_id: uuid.UUID) -> schemas.DashboardRead:
    """Everything the dashboard shows, with the ledger version it reflects.

    One REPEATABLE READ, READ ONLY database transaction: every query sees the
    same snapshot, taken at its first statement, which also reads the
    version. A write that commits meanwhile is in none of it, and bumps the
    version past the one returned, so a cache never files this body under a
    version that includes that write.
    """
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
    clock = await read_clock(session, user_id)
    first = clock.today.replace(day=1)
    last = last_day(first)
    period = {"user_id": user_id, "first": first, "last": last}
    accounts = await session.execute(_OPEN_ACCOUNTS, {"user_id": user_id})
    top = await session.execute(_TOP_CATEGORIES, {**period, "top": TOP_CATEGORIES})
    result = schemas.DashboardRead(
        ledger_version=clock.ledger_version,
        month=month_of(first),
        timezone=clock.timezone,
        as_of=clock.now,
        accounts=[schemas.DashboardAccount.model_validate(r._mapping) for r in accounts],
        net_worth=await _net_worth(session, user_id),
        this_month=await _totals(session, user_id, first, last),
        top_categories=[schemas.TopCategory.model_validate(r._mapping) for r in top],
        budgets=await budget_status(session=session, user_id=user_id, first=first, last=last),
        recent_transactions=await transactions.list_transactions(
            session=session,
            user_id=user_id,
            limit=RECENT_TRANSACTIONS,
            before=None,
            filters=transactions.Filters(),
        ),
    )
    await session.rollback()  # read only: nothing to keep
    return result
