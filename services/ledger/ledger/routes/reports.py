"""/services/reports, /services/budgets/status and /services/dashboard"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from ledger import reports as service
from ledger.cache import LedgerCache
from ledger.deps import Cache, Gateway, matches
from ledger.gateway import Gateway as GatewayClient
from ledger.routes.common import INVALID, NOT_MODIFIED, PRIVATE, UNAUTHORIZED, NotModified
from ledger.schemas.reports import (
    BudgetStatus,
    CategoryReport,
    Dashboard,
    MonthlyReport,
    NetWorthReport,
    ReportType,
    SummaryReport,
)
from servicekit.jwt import CurrentUser, PendingPrincipal, UserPendingRevocation

router = APIRouter(prefix="/services", tags=["reports"], responses=UNAUTHORIZED)

MONTH_PATTERN = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$"
DateFrom = Annotated[
    dt.date | None,
    Query(alias="from", description="first day, included (YYYY-MM-DD); default: 1st of this month"),
]
DateTo = Annotated[
    dt.date | None,
    Query(alias="to", description="last day, included (YYYY-MM-DD); default: end of this month"),
]


def _month(name: str, default: str) -> object:
    return Query(
        alias=name,
        pattern=MONTH_PATTERN,
        description=f"YYYY-MM; default: {default}",
        examples=["2026-11"],
    )


@router.get("/reports/summary", responses=INVALID)
async def summary(
    user: CurrentUser, gateway: Gateway, date_from: DateFrom = None, date_to: DateTo = None
) -> SummaryReport:
    """Income, expense and net per currency over expenses and incomes dated
    `from`..`to`, both days included. Transfers (money moving between your own
    accounts) and opening balances are not income or expense and are left out.
    Currencies are never added together. The default period is the current
    month in your time zone (`PATCH /profile {timezone}`)."""
    return await service.summary(
        gateway=gateway, user_id=user.user_id, date_from=date_from, date_to=date_to
    )


@router.get("/reports/categories", responses=INVALID)
async def categories(
    user: CurrentUser,
    gateway: Gateway,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    type: ReportType = "expense",
) -> CategoryReport:
    """How much went to (or came from) each category per currency, `from`..`to`
    inclusive, by currency and then largest first. A split transaction counts
    toward each of its categories; `category_id: null` is what was left
    uncategorised. Subcategories are listed on their own: add them to their
    `parent_id` to roll them up."""
    return await service.categories(
        gateway=gateway, user_id=user.user_id, date_from=date_from, date_to=date_to, kind=type
    )


@router.get("/reports/monthly", responses=INVALID)
async def monthly(
    user: CurrentUser,
    gateway: Gateway,
    month_from: Annotated[str | None, _month("from", "11 months before `to`")] = None,
    month_to: Annotated[str | None, _month("to", "this month")] = None,
) -> MonthlyReport:
    """Income, expense and net per month and currency. There is one item per
    month *that has income or expense in that currency*: months without
    activity are left out rather than listed as zeros. The default is the
    last 12 months, ending with the current month in your time zone; at most
    120 months at once."""
    return await service.monthly(
        gateway=gateway, user_id=user.user_id, month_from=month_from, month_to=month_to
    )


@router.get("/reports/net-worth")
async def net_worth(user: CurrentUser, gateway: Gateway) -> NetWorthReport:
    """Per currency, over all your accounts (archived ones included): `assets`
    is the sum of positive balances, `liabilities` the sum of negative balances
    as a positive amount owed, and `net_worth` = assets - liabilities."""
    return await service.net_worth(gateway=gateway, user_id=user.user_id)


@router.get("/budgets/status", responses=INVALID)
async def budget_status(
    user: CurrentUser,
    gateway: Gateway,
    month: Annotated[str | None, _month("month", "this month in your time zone")] = None,
) -> BudgetStatus:
    """How much of each monthly budget the month's expenses used. `spent` counts
    expenses in the budget's currency filed under its category or any of its
    subcategories (a split counts per category); `remaining` is negative when
    over budget; `percent` is spent / amount * 100 with one decimal place."""
    return await service.budget_status(gateway=gateway, user_id=user.user_id, month=month)


@router.get("/dashboard", response_model=Dashboard, responses=NOT_MODIFIED)
async def dashboard(
    pending: UserPendingRevocation,
    gateway: Gateway,
    cache: Cache,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Balances of your open accounts, net worth, this month's income and
    expense, top 5 expense categories per currency (subcategories rolled into
    their top-level category), budget status and your 10 newest transactions,
    all as of one moment. Served from cache, yet never older than your last
    acknowledged write. Send the `ETag` back as `If-None-Match` to get a 304
    while nothing changed (the tag changes with every write and with the
    month)."""
    return await dashboard_response(pending, gateway, cache, if_none_match)


async def dashboard_response(
    pending: PendingPrincipal,
    gateway: GatewayClient,
    cache: LedgerCache,
    if_none_match: str | None,
) -> Response:
    """GET /services/dashboard, for this route and for ledger.hot."""
    user_id = pending.principal.user_id
    # the session check and the cache read: one round trip to Redis
    results = await pending.confirm(cache.dashboard_read(user_id))
    view = await service.dashboard(
        gateway=gateway,
        cache=cache,
        user_id=user_id,
        cached=cache.parse_dashboard(results[0] if results else None),
    )
    tag = f'"{view.version}-{view.month}"'
    if matches(if_none_match, tag):
        raise NotModified(tag)
    return Response(
        view.body,
        media_type="application/json",
        headers={"ETag": tag, "Cache-Control": PRIVATE},
    )
