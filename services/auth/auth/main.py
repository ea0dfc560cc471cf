"""auth: create_app(settings) and the lifespan that owns its clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI

from auth.config import Settings
from auth.passwords import Passwords
from auth.router import router
from servicekit.app import build_app
from servicekit.health import ReadinessCheck
from servicekit.http import create_internal_client, peer_readiness


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    app.state.passwords = Passwords(settings)
    async with create_internal_client(settings.db_gateway_url, settings.internal_token) as gateway:
        app.state.gateway = gateway
        yield


def readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    return {"db-gateway": peer_readiness(app.state.gateway)}


def create_app(settings: Settings) -> FastAPI:
    app = build_app(
        settings,
        title="finledger auth",
        description="Registration, login and token refresh for the finledger API.",
        lifespan=lifespan,
        readiness=readiness,
        docs_prefix="/auth",
    )
    app.include_router(router)
    return app


def app_from_env() -> FastAPI:
    return create_app(Settings())
