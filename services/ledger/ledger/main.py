"""ledger: create_app(settings) and the lifespan that owns its clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware import Middleware

from ledger.cache import LedgerCache, run_repair_loop
from ledger.config import Settings
from ledger.gateway import Gateway
from ledger.hot import HotReads
from ledger.routes import ROUTERS
from ledger.routes.common import NotModified, not_modified
from servicekit.app import build_app
from servicekit.background import running
from servicekit.health import ReadinessCheck
from servicekit.http import create_internal_client
from servicekit.jwt import LEEWAY_SECONDS, TokenVerifier
from servicekit.passwords import PasswordHasher
from servicekit.redis_client import create_redis, create_redis_pipe
from servicekit.revocation import RevocationList, gateway_session_check


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    redis = create_redis(settings)
    gateway = create_internal_client(settings.db_gateway_url, settings.internal_token)
    # every request's revocation check and cache read, and every write's cache
    # updates, each in one round trip on this one connection
    pipe = create_redis_pipe(settings)
    cache = LedgerCache(redis, ttl_seconds=settings.balance_cache_ttl_seconds, pipe=pipe)
    app.state.cache = cache
    app.state.gateway = Gateway(gateway, cache)
    app.state.password_hasher = PasswordHasher()  # verifies only; hashes carry their cost
    revocations = RevocationList(
        redis,
        fallback=gateway_session_check(gateway),
        marker_ttl_seconds=3600 + LEEWAY_SECONDS,
        reads=pipe,
    )  # auth writes them; this only reads
    app.state.revocations = revocations
    try:
        # the loop ends before the clients it uses are closed
        async with gateway, running(run_repair_loop(cache), name="cache-repair"):
            yield
    finally:
        await revocations.aclose()
        await redis.aclose()


def readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    # Nothing external, on purpose: without Redis the ledger is slower, not
    # wrong; without db-gateway or Postgres it still serves cached balances and
    # answers a fast 503 for the rest, and recovers the moment they return.
    # Going unready would remove every replica at once and delay the recovery.
    return {}


def create_app(settings: Settings) -> FastAPI:
    app = build_app(
        settings,
        title="finledger ledger",
        description="Accounts, double-entry transactions and balances. Money amounts are "
        'exact decimal strings ("12.30"); errors are RFC 9457 problem+json.',
        lifespan=lifespan,
        readiness=readiness,
        docs_prefix="/services",
        middleware=[Middleware(HotReads)],
    )
    app.state.token_verifier = TokenVerifier(
        settings.verification_keys(), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(NotModified, not_modified)
    return app


def app_from_env() -> FastAPI:
    return create_app(Settings())
