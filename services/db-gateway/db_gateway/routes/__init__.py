"""db-gateway's /internal API, one module per area."""

from fastapi import APIRouter

from db_gateway.routes import accounts, identity, transactions

ROUTERS: list[APIRouter] = [identity.router, accounts.router, transactions.router]
