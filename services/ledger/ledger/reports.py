"""Reports, budget status and the cached dashboard, on top of db-gateway.

db-gateway sums in SQL; this module formats each amount with its currency's
decimal places and serves the dashboard from the cache (see `ledger.cache`).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal

from ledger import views
from ledger.cache import CachedDashboard, LedgerCache
from ledger.gateway import (
    BudgetStatusRow,
    DashboardRow,
    Gateway,
    MonthTotalsRow,
    NetWorthRow,
    TotalsRow,
)
from ledger.schemas.reports import (
    BudgetStatus,
    BudgetStatusItem,
    CategoryItem,
    CategoryReport,
    Dashboard,
    DashboardAccount,
    MonthlyItem,
    MonthlyReport,
    NetWorthItem,
    NetWorthReport,
    ReportType,
    SummaryItem,
    SummaryReport,
    TopCategory,
    Totals,
)
from servicekit.jsonutil import loads

log = logging.getLogger("ledger.reports")
money = views.money


def _params(**params: object) -> dict[str, str | int | bool]:
    return {k: str(v) for k, v in params.items() if v is not None}


def _totals(row: TotalsRow | MonthTotalsRow) -> Totals:
    c = row["currency"]
    return Totals(
        currency=c,
        income=money(row["income"], c),
        expense=money(row["expense"], c),
        net=money(row["net"], c),
    )


def _net_worth(row: NetWorthRow) -> NetWorthItem:
    c = row["currency"]
    return NetWorthItem(
        currency=c,
        assets=money(row["assets"], c),
        liabilities=money(row["liabilities"], c),
        net_worth=money(row["net_worth"], c),
    )


def _budget(row: BudgetStatusRow) -> BudgetStatusItem:
    c = row["currency"]
    return BudgetStatusItem(
        budget_id=row["budget_id"],
        category_id=row["category_id"],
        name=row["name"],
        currency=c,
        amount=money(row["amount"], c),
        spent=money(row["spent"], c),
        remaining=money(row["remaining"], c),
        percent=f"{Decimal(row['percent']):.1f}",
    )


async def summary(
    *,
    gateway: Gateway,
    user_id: uuid.UUID,
    date_from: dt.date | None,
    date_to: dt.date | None,
) -> SummaryReport:
    body = await gateway.summary(user_id, _params(date_from=date_from, date_to=date_to))
    return SummaryReport.model_validate(
        {
            "from": body["date_from"],
            "to": body["date_to"],
            "items": [
                SummaryItem(**_totals(r).model_dump(), transactions=r["transactions"])
                for r in body["items"]
            ],
        }
    )


async def categories(
    *,
    gateway: Gateway,
    user_id: uuid.UUID,
    date_from: dt.date | None,
    date_to: dt.date | None,
    kind: ReportType,
) -> CategoryReport:
    body = await gateway.category_report(
        user_id, _params(date_from=date_from, date_to=date_to, type=kind)
    )
    return CategoryReport.model_validate(
        {
            "from": body["date_from"],
            "to": body["date_to"],
            "type": body["type"],
            "items": [
                CategoryItem(
                    currency=r["currency"],
                    category_id=r["category_id"],
                    name=r["name"],
                    parent_id=r["parent_id"],
                    amount=money(r["amount"], r["currency"]),
                    transactions=r["transactions"],
                )
                for r in body["items"]
            ],
        }
    )


async def monthly(
    *,
    gateway: Gateway,
    user_id: uuid.UUID,
    month_from: str | None,
    month_to: str | None,
) -> MonthlyReport:
    body = await gateway.monthly(user_id, _params(month_from=month_from, month_to=month_to))
    return MonthlyReport.model_validate(
        {
            "from": body["month_from"],
            "to": body["month_to"],
            "items": [
                MonthlyItem(month=r["month"], **_totals(r).model_dump()) for r in body["items"]
            ],
        }
    )


async def net_worth(*, gateway: Gateway, user_id: uuid.UUID) -> NetWorthReport:
    return NetWorthReport(items=[_net_worth(r) for r in await gateway.net_worth(user_id)])


async def budget_status(*, gateway: Gateway, user_id: uuid.UUID, month: str | None) -> BudgetStatus:
    body = await gateway.budget_status(user_id, _params(month=month))
    return BudgetStatus(month=body["month"], items=[_budget(r) for r in body["items"]])


# ---------------------------------------------------------------- dashboard


@dataclass(frozen=True, slots=True)
class DashboardBody:
    """The dashboard as sent: its JSON, the ledger version it reflects and its month."""

    version: int
    month: str
    body: bytes


def render_dashboard(row: DashboardRow) -> bytes:
    """db-gateway's dashboard as the public JSON body (what the cache keeps)."""
    dashboard = Dashboard(
        month=row["month"],
        timezone=row["timezone"],
        as_of=row["as_of"],
        accounts=[
            DashboardAccount(
                id=a["id"],
                name=a["name"],
                type=a["type"],
                currency=a["currency"],
                balance=money(a["balance"], a["currency"]),
                archived=a["archived"],
            )
            for a in row["accounts"]
        ],
        net_worth=[_net_worth(r) for r in row["net_worth"]],
        this_month=[_totals(r) for r in row["this_month"]],
        top_categories=[
            TopCategory(
                category_id=r["category_id"],
                name=r["name"],
                currency=r["currency"],
                amount=money(r["amount"], r["currency"]),
            )
            for r in row["top_categories"]
        ],
        budgets=[_budget(r) for r in row["budgets"]],
        recent_transactions=[views.transaction_read(t) for t in row["recent_transactions"]],
    )
    return dashboard.model_dump_json(by_alias=True).encode()


def current_month(timezone: str, now: dt.datetime | None = None) -> str:
    try:
        zone: dt.tzinfo = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return (now or dt.datetime.now(dt.UTC)).astimezone(zone).strftime("%Y-%m")


def _still_current(cached: CachedDashboard) -> str | None:
    """The month of a cached body if it is still this month in its time zone:
    a new month changes the dashboard without any write. (The body is parsed,
    not trusted: an entry that is not a dashboard this code wrote is a miss.)"""
    try:
        head = loads(cached.body)
        month, timezone = head["month"], head["timezone"]
    except (ValueError, KeyError, TypeError):
        log.warning("unreadable dashboard in the cache; recomputing")
        return None
    return month if isinstance(month, str) and month == current_month(str(timezone)) else None


async def dashboard(
    *,
    gateway: Gateway,
    cache: LedgerCache,
    user_id: uuid.UUID,
    cached: CachedDashboard | None,
) -> DashboardBody:
    """From the cache when it holds a body at least as new as the last write
    (the floor every write raises); otherwise computed by db-gateway in one
    snapshot with its ledger version, and offered to the cache, which keeps it
    only if no newer write has happened since. Without Redis, computed every
    time."""
    if cached is not None and (month := _still_current(cached)) is not None:
        return DashboardBody(version=cached.version, month=month, body=cached.body)
    row = await gateway.dashboard(user_id)
    fresh = DashboardBody(
        version=int(row["ledger_version"]), month=row["month"], body=render_dashboard(row)
    )
    await cache.fill_dashboard(user_id, CachedDashboard(version=fresh.version, body=fresh.body))
    return fresh
