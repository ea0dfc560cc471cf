"""The public routes, one module per area."""

from fastapi import APIRouter

from ledger.routes import accounts, profile, transactions

ROUTERS: list[APIRouter] = [accounts.router, transactions.router, profile.router]
