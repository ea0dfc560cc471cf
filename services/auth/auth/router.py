"""Public /auth routes."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Header, Request, Response

from auth import schemas, service
from auth.config import Settings
from auth.passwords import Passwords
from servicekit.errors import problem_responses

router = APIRouter(prefix="/auth", tags=["auth"])


def _gateway(request: Request) -> httpx.AsyncClient:
    client: httpx.AsyncClient = request.app.state.gateway
    return client


def _passwords(request: Request) -> Passwords:
    passwords: Passwords = request.app.state.passwords
    return passwords


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Gateway = Annotated[httpx.AsyncClient, Depends(_gateway)]
PasswordsDep = Annotated[Passwords, Depends(_passwords)]
SettingsDep = Annotated[Settings, Depends(_settings)]


@router.post(
    "/register",
    status_code=201,
    responses=problem_responses(_409="Email already registered", _422="Invalid email or password"),
)
async def register(
    body: schemas.RegisterRequest, gateway: Gateway, passwords: PasswordsDep
) -> schemas.UserRead:
    """Create a user. Emails are unique regardless of letter case."""
    return await service.register(gateway=gateway, passwords=passwords, draft=body)


@router.post("/login", responses=problem_responses(_401="Wrong email or password"))
async def login(
    body: schemas.LoginRequest,
    gateway: Gateway,
    passwords: PasswordsDep,
    settings: SettingsDep,
    user_agent: Annotated[str | None, Header()] = None,
) -> schemas.TokenPair:
    """Exchange email and password for an access token and a refresh token.

    Send the access token as `Authorization: Bearer <token>`; when it expires
    (`expires_in` seconds), exchange the refresh token at `/auth/refresh`.
    """
    return await service.login(
        gateway=gateway,
        passwords=passwords,
        settings=settings,
        email=str(body.email),
        password=body.password,
        user_agent=user_agent,
    )


@router.post(
    "/refresh",
    responses=problem_responses(_401="Refresh token invalid, expired, revoked or already used"),
)
async def refresh(
    body: schemas.RefreshRequest, gateway: Gateway, settings: SettingsDep
) -> schemas.TokenPair:
    """Rotate: returns a new token pair and retires the refresh token sent.

    Each refresh token works once. Presenting one that was already used
    revokes its whole session (it may have been stolen), so log in again.
    """
    return await service.refresh(
        gateway=gateway, settings=settings, refresh_token=body.refresh_token
    )


@router.post("/logout", status_code=204, response_class=Response)
async def logout(body: schemas.RefreshRequest, gateway: Gateway) -> Response:
    """End the session this refresh token belongs to. Always 204, even for an
    unknown token, so the endpoint reveals nothing about tokens."""
    await service.logout(gateway=gateway, refresh_token=body.refresh_token)
    return Response(status_code=204)
