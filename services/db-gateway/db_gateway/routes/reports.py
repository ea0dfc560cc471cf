"""/internal routes for the ledger's reports, budget status and dashboard.

Amounts are exact decimals in the database's scale; the ledger formats them
for each currency. Periods left out default to the current month in the
user's time zone.
"""

from __future__ import annotations

import datetime as dt
import uuid

from db_gateway import reports, schemas
from db_gateway.db import DbSession
from db_gateway.routes.security import internal_router

router = internal_router()


@router.get("/users/{user_id}/reports/summary")
async def summary(
    user_id: uuid.UUID,
    session: DbSession,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> schemas.SummaryReport:
    return await reports.summary(
        session=session, user_id=user_id, date_from=date_from, date_to=date_to
    )


@router.get("/users/{user_id}/reports/categories")
async def categories(
    user_id: uuid.UUID,
    session: DbSession,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    type: schemas.CategoryKind = "expense",
) -> schemas.CategoryReport:
    return await reports.categories(
        session=session, user_id=user_id, date_from=date_from, date_to=date_to, kind=type
    )


@router.get("/users/{user_id}/reports/monthly")
async def monthly(
    user_id: uuid.UUID,
    session: DbSession,
    month_from: schemas.ReportMonth | None = None,
    month_to: schemas.ReportMonth | None = None,
) -> schemas.MonthlyReport:
    return await reports.monthly(
        session=session, user_id=user_id, month_from=month_from, month_to=month_to
    )


@router.get("/users/{user_id}/reports/net-worth")
async def net_worth(user_id: uuid.UUID, session: DbSession) -> schemas.NetWorthReport:
    return await reports.net_worth(session=session, user_id=user_id)


@router.get("/users/{user_id}/reports/budget-status")
async def budget_status(
    user_id: uuid.UUID, session: DbSession, month: schemas.ReportMonth | None = None
) -> schemas.BudgetStatusReport:
    return await reports.budget_status_report(session=session, user_id=user_id, month=month)


@router.get("/users/{user_id}/dashboard")
async def dashboard(user_id: uuid.UUID, session: DbSession) -> schemas.DashboardRead:
    """Read in one REPEATABLE READ snapshot, with the ledger version it reflects."""
    return await reports.dashboard(session=session, user_id=user_id)
