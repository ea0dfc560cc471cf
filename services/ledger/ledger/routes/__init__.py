"""The public routes, one module per area."""

from fastapi import APIRouter

from ledger.routes import accounts, budgets, categories, profile, reports, transactions

ROUTERS: list[APIRouter] = [
    accounts.router,
    transactions.router,
    categories.router,
    budgets.router,
    reports.router,
    profile.router,
]
