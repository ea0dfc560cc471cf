"""Public /auth routes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import EmailStr, TypeAdapter, ValidationError

from auth import schemas, service
from servicekit.credentials import ClientIp
from servicekit.errors import field_error, problem_responses
from servicekit.jwt import CurrentUser

router = APIRouter(prefix="/auth", tags=["auth"])

THROTTLED = "Too many failed attempts from this address or for this account; see Retry-After"
SIGNED_IN = problem_responses(_401="Missing, invalid, expired or revoked access token")
_email = TypeAdapter(EmailStr)


async def _deps(request: Request) -> service.Deps:
    deps: service.Deps = request.app.state.deps
    return deps


Deps = Annotated[service.Deps, Depends(_deps)]
UserAgent = Annotated[str | None, Header()]


@router.post(
    "/register",
    status_code=201,
    responses=problem_responses(_409="Email already registered", _422="Invalid email or password"),
)
async def register(body: schemas.RegisterRequest, deps: Deps) -> schemas.UserRead:
    """Create a user. Emails are unique regardless of letter case; passwords have
    8 to 1024 characters and may not be one of the most common ones."""
    return await service.register(deps, body)


@router.post("/login", responses=problem_responses(_401="Wrong email or password", _429=THROTTLED))
async def login(
    body: schemas.LoginRequest, deps: Deps, client_ip: ClientIp, user_agent: UserAgent = None
) -> schemas.TokenPair:
    """Exchange email and password for an access token and a refresh token.

    Send the access token as `Authorization: Bearer <token>`; when it expires
    (`expires_in` seconds), exchange the refresh token at `/auth/refresh`.
    Repeated failures for one account or from one address are answered with
    429 and a `Retry-After` header.
    """
    return await service.login(
        deps,
        email=str(body.email),
        password=body.password,
        user_agent=user_agent,
        client_ip=client_ip,
    )


@router.post(
    "/token",
    responses=problem_responses(
        _401="Wrong email or password", _422="Invalid form", _429=THROTTLED
    ),
)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    deps: Deps,
    client_ip: ClientIp,
    user_agent: UserAgent = None,
) -> schemas.TokenPair:
    """The same as /auth/login, as an OAuth 2 password form (`username` is the
    email), so the Authorize button of the API docs can log in."""
    try:
        email = _email.validate_python(form.username)
    except ValidationError as exc:
        raise field_error("username", "must be an email address") from exc
    if not form.password or len(form.password) > 1024:
        raise field_error("password", "must have 1 to 1024 characters")
    return await service.login(
        deps, email=str(email), password=form.password, user_agent=user_agent, client_ip=client_ip
    )


@router.post(
    "/refresh",
    responses=problem_responses(_401="Refresh token invalid, expired, revoked or already used"),
)
async def refresh(body: schemas.RefreshRequest, deps: Deps) -> schemas.TokenPair:
    """Rotate: returns a new token pair and retires the refresh token sent.

    Each refresh token works once. Presenting one that was already used
    revokes its whole session (it may have been stolen), so log in again.
    """
    return await service.refresh(deps, body.refresh_token)


@router.post("/logout", status_code=204, response_class=Response)
async def logout(body: schemas.RefreshRequest, deps: Deps) -> Response:
    """End the session this refresh token belongs to; its access tokens stop
    working at once. Always 204, even for an unknown token."""
    await service.logout(deps, body.refresh_token)
    return Response(status_code=204)


@router.post("/logout-all", status_code=204, response_class=Response, responses=SIGNED_IN)
async def logout_all(user: CurrentUser, deps: Deps) -> Response:
    """End every session of yours, this one included, on every device."""
    await service.logout_all(deps, user.user_id)
    return Response(status_code=204)


@router.get("/sessions", responses=SIGNED_IN)
async def list_sessions(user: CurrentUser, deps: Deps) -> schemas.SessionList:
    """Your active sessions, most recently used first; `current` marks this one."""
    return await service.list_sessions(deps, user.user_id, current=user.session_id)


@router.delete(
    "/sessions/{session_id}",
    status_code=204,
    response_class=Response,
    responses={**SIGNED_IN, **problem_responses(_404="No such active session")},
)
async def end_session(session_id: uuid.UUID, user: CurrentUser, deps: Deps) -> Response:
    """End one of your sessions (e.g. a lost phone); its tokens stop working at once."""
    await service.end_session(deps, user.user_id, session_id)
    return Response(status_code=204)


@router.post(
    "/password",
    status_code=204,
    response_class=Response,
    responses={
        **SIGNED_IN,
        **problem_responses(
            _403="current_password is wrong",
            _422="new_password too short, long or common",
            _429=THROTTLED,
        ),
    },
)
async def change_password(
    body: schemas.PasswordChange, user: CurrentUser, deps: Deps, client_ip: ClientIp
) -> Response:
    """Change your password. Every other session is ended; this one stays."""
    await service.change_password(
        deps, user_id=user.user_id, session_id=user.session_id, change=body, client_ip=client_ip
    )
    return Response(status_code=204)
