"""auth: create_app(settings) and the lifespan that owns its clients."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI

from auth import service
from auth.config import Settings
from auth.passwords import hasher_for
from auth.router import router
from servicekit.app import build_app
from servicekit.background import running
from servicekit.health import ReadinessCheck
from servicekit.http import PeerClient, create_internal_client, send
from servicekit.jwt import LEEWAY_SECONDS, TokenVerifier
from servicekit.redis_client import create_redis, create_redis_pipe
from servicekit.revocation import RevocationList, gateway_session_check, run_sync_loop

RevokedFetch = Callable[[dt.datetime], Awaitable[tuple[list[uuid.UUID], dt.datetime]]]


def _revoked_since(gateway: PeerClient) -> RevokedFetch:
    async def fetch(since: dt.datetime) -> tuple[list[uuid.UUID], dt.datetime]:
        body = (
            await send(
                gateway, "GET", "/internal/sessions/revoked", params={"since": since.isoformat()}
            )
        ).json()
        return (
            [uuid.UUID(s) for s in body["session_ids"]],
            dt.datetime.fromisoformat(body["as_of"]),
        )

    return fetch


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    token_lifetime = settings.access_token_ttl_seconds + LEEWAY_SECONDS
    redis = create_redis(settings)
    gateway = create_internal_client(settings.db_gateway_url, settings.internal_token)
    revocations = RevocationList(
        redis,
        fallback=gateway_session_check(gateway),
        marker_ttl_seconds=token_lifetime,
        sentinel_ttl_seconds=max(5 * settings.revocation_sync_seconds, 3),
        reads=create_redis_pipe(settings),
    )
    app.state.revocations = revocations
    app.state.gateway = gateway
    app.state.deps = service.Deps(
        settings=settings, gateway=gateway, passwords=hasher_for(settings), revocations=revocations
    )
    sync = run_sync_loop(
        revocations,
        _revoked_since(gateway),
        interval=settings.revocation_sync_seconds,
        lookback=dt.timedelta(seconds=token_lifetime),
    )
    try:
        # the loop ends before the clients it uses are closed
        async with gateway, running(sync, name="revocation-sync"):
            yield
    finally:
        await revocations.aclose()
        await redis.aclose()


def readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    # Nothing external, on purpose: with db-gateway or Postgres down, auth still
    # answers (a fast 503 for what needs them) and recovers the moment they do.
    # Going unready would only swap its 503 for the ingress's, remove every
    # replica at once, and delay the recovery by a probe period.
    return {}


def create_app(settings: Settings) -> FastAPI:
    app = build_app(
        settings,
        title="finledger auth",
        description="Registration, login, token refresh, sessions and password changes "
        "for the finledger API. Errors are RFC 9457 problem+json.",
        lifespan=lifespan,
        readiness=readiness,
        docs_prefix="/auth",
    )
    app.state.token_verifier = TokenVerifier(
        settings.verification_keys(), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    app.include_router(router)
    return app


def app_from_env() -> FastAPI:
    return create_app(Settings())
