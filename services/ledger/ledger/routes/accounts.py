"""/services/accounts"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from ledger import accounts as service
from ledger import views
from ledger.cache import LedgerCache
from ledger.deps import Cache, Cursor, Gateway, Limit, etag, matches
from ledger.gateway import Gateway as GatewayClient
from ledger.routes.common import (
    CONFLICT,
    INVALID,
    NOT_FOUND,
    NOT_MODIFIED,
    PRIVATE,
    UNAUTHORIZED,
    NotModified,
)
from ledger.schemas.accounts import (
    AccountCreate,
    AccountPage,
    AccountRead,
    AccountUpdate,
    BalanceRead,
)
from servicekit.jwt import CurrentUser, PendingPrincipal, UserPendingRevocation

router = APIRouter(prefix="/services/accounts", tags=["accounts"], responses=UNAUTHORIZED)


@router.post("", status_code=201, responses=INVALID)
async def create_account(body: AccountCreate, user: CurrentUser, gateway: Gateway) -> AccountRead:
    """Open an account. Its currency is fixed for life. An `opening_balance`
    (negative for a card or loan you owe on) is booked against a hidden equity
    account, so the books stay balanced."""
    return await service.create_account(gateway=gateway, user_id=user.user_id, draft=body)


@router.get("", responses=INVALID)
async def list_accounts(
    user: CurrentUser,
    gateway: Gateway,
    limit: Limit = 50,
    cursor: Cursor = None,
    archived: Annotated[
        bool | None, Query(description="true: only archived; false: only active; omit: all")
    ] = None,
) -> AccountPage:
    """Your accounts, oldest first."""
    return await service.list_accounts(
        gateway=gateway, user_id=user.user_id, limit=limit, cursor=cursor, archived=archived
    )


@router.get("/{account_id}", responses=NOT_FOUND)
async def get_account(account_id: uuid.UUID, user: CurrentUser, gateway: Gateway) -> AccountRead:
    return await service.get_account(gateway=gateway, user_id=user.user_id, account_id=account_id)


@router.patch("/{account_id}", responses={**NOT_FOUND, **INVALID, **CONFLICT})
async def update_account(
    account_id: uuid.UUID, body: AccountUpdate, user: CurrentUser, gateway: Gateway
) -> AccountRead:
    """Rename, retype, archive or unarchive an account, or correct its opening
    balance (the balance moves by the difference). Archived accounts are
    read-only: no transaction may be added to, moved to or changed on them."""
    return await service.update_account(
        gateway=gateway, user_id=user.user_id, account_id=account_id, change=body
    )


@router.delete(
    "/{account_id}", status_code=204, response_class=Response, responses={**NOT_FOUND, **CONFLICT}
)
async def delete_account(account_id: uuid.UUID, user: CurrentUser, gateway: Gateway) -> Response:
    """Delete an account no transaction uses; otherwise 409
    `account_has_transactions`: archive it instead."""
    await service.delete_account(gateway=gateway, user_id=user.user_id, account_id=account_id)
    return Response(status_code=204)


@router.get(
    "/{account_id}/balance",
    response_model=BalanceRead,
    responses={**NOT_FOUND, **NOT_MODIFIED},
)
async def get_balance(
    account_id: uuid.UUID,
    pending: UserPendingRevocation,
    gateway: Gateway,
    cache: Cache,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The account's current balance, served from cache and never older than your
    last acknowledged write. Send the `ETag` back as `If-None-Match` to get a
    304 while it has not changed."""
    return await balance_response(pending, gateway, cache, account_id, if_none_match)


async def balance_response(
    pending: PendingPrincipal,
    gateway: GatewayClient,
    cache: LedgerCache,
    account_id: uuid.UUID,
    if_none_match: str | None,
) -> Response:
    """GET .../balance, for this route and for ledger.hot (the same answer
    without FastAPI's routing and dependencies)."""
    user_id = pending.principal.user_id
    # the session check and the cache read: one round trip to Redis
    results = await pending.confirm(cache.balance_read(user_id, account_id))
    balance = await service.get_balance(
        gateway=gateway,
        cache=cache,
        user_id=user_id,
        account_id=account_id,
        cached=cache.parse_balance(account_id, results[0] if results else None),
    )
    tag = etag(balance.version)
    if matches(if_none_match, tag):
        raise NotModified(tag)
    return Response(
        views.balance_json(balance),
        media_type="application/json",
        headers={"ETag": tag, "Cache-Control": PRIVATE},
    )
