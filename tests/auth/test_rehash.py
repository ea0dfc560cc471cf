"""Stored hashes are upgraded at login when the argon2 parameters were raised."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from auth.config import Settings
from auth.main import create_app
from tests.conftest import StackInfo

PASSWORD = "correct horse battery staple"


def _settings(stack: StackInfo, time_cost: int) -> Settings:
    return Settings(
        environment="test",
        jwt_secret=stack.secrets["JWT_SECRET"],
        internal_token=stack.secrets["INTERNAL_TOKEN"],
        db_gateway_url=stack.services["db-gateway"],
        redis_url=stack.redis_url,
        argon2_time_cost=time_cost,
    )


async def _login(settings: Settings, path: str, body: dict[str, str]) -> httpx.Response:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(f"127.0.2.{settings.argon2_time_cost}", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://auth") as client:
            return await client.post(path, json=body)


async def _stored_hash(stack: StackInfo, email: str) -> str:
    engine = create_async_engine(stack.database_url)
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT password_hash FROM users WHERE email = :e"), {"e": email}
            )
        ).scalar_one()
    await engine.dispose()
    return str(stored)


async def test_login_upgrades_a_hash_made_with_weaker_parameters(stack: StackInfo) -> None:
    email = f"rehash-{uuid.uuid4().hex[:8]}@example.com"
    credentials = {"email": email, "password": PASSWORD}
    created = await _login(_settings(stack, 2), "/auth/register", credentials)
    assert created.status_code == 201
    assert "$argon2id$" in await _stored_hash(stack, email)
    assert ",t=2," in await _stored_hash(stack, email)

    logged_in = await _login(_settings(stack, 3), "/auth/login", credentials)
    assert logged_in.status_code == 200
    assert ",t=3," in await _stored_hash(stack, email)
    # and the upgraded hash still verifies
    assert (await _login(_settings(stack, 3), "/auth/login", credentials)).status_code == 200
