"""db-gateway's /internal API, one module per area."""

from fastapi import APIRouter

from db_gateway.routes import (
    accounts,
    budgets,
    categories,
    export,
    identity,
    reports,
    transactions,
)

ROUTERS: list[APIRouter] = [
    identity.router,
    accounts.router,
    transactions.router,
    categories.router,
    budgets.router,
    reports.router,
    export.router,
]
