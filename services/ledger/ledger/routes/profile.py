"""/profile"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ledger.deps import Cache, Gateway
from ledger.routes.common import INVALID, UNAUTHORIZED
from ledger.schemas.profile import ProfileDelete, ProfileRead, ProfileUpdate
from ledger.services import profile as service
from servicekit.credentials import ClientIp
from servicekit.errors import problem_responses
from servicekit.jwt import CurrentUser

router = APIRouter(prefix="/profile", tags=["profile"], responses=UNAUTHORIZED)


@router.get("")
async def get_profile(user: CurrentUser, gateway: Gateway) -> ProfileRead:
    """Who you are: email, display name, default currency and time zone."""
    return await service.get_profile(gateway=gateway, user_id=user.user_id)


@router.patch("", responses=INVALID)
async def update_profile(
    body: ProfileUpdate, user: CurrentUser, gateway: Gateway, cache: Cache
) -> ProfileRead:
    """Change your display name, default currency or time zone."""
    return await service.update_profile(
        gateway=gateway, cache=cache, user_id=user.user_id, change=body
    )


@router.delete(
    "",
    status_code=204,
    response_class=Response,
    responses=problem_responses(
        _403="password is wrong",
        _422="password missing",
        _429="Too many failed attempts; see Retry-After",
    ),
)
async def delete_profile(
    body: ProfileDelete,
    user: CurrentUser,
    request: Request,
    gateway: Gateway,
    cache: Cache,
    client_ip: ClientIp,
) -> Response:
    """Delete your account for good: every account, transaction, category,
    budget and session of yours is erased, and every token you hold stops
    working at once. Needs your password; wrong passwords count toward the
    login throttle."""
    state = request.app.state
    await service.delete_profile(
        gateway=gateway,
        cache=cache,
        hasher=state.password_hasher,
        revocations=state.revocations,
        settings=state.settings,
        user_id=user.user_id,
        password=body.password,
        client_ip=client_ip,
    )
    return Response(status_code=204)
