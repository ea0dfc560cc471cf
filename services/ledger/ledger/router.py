"""Public /services and /profile routes."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Header, Query, Request, Response

from ledger import schemas, service
from ledger.cache import BalanceCache
from servicekit.credentials import ClientIp
from servicekit.errors import field_error, problem_responses
from servicekit.jwt import CurrentUser

UNAUTHORIZED = problem_responses(_401="Missing, invalid or expired access token")
NOT_FOUND = problem_responses(_404="No such object for this user")
INVALID = problem_responses(_422="Invalid input; `errors` names each field")

router = APIRouter(prefix="/services", responses=UNAUTHORIZED)
profile_router = APIRouter(prefix="/profile", tags=["profile"], responses=UNAUTHORIZED)


def _gateway(request: Request) -> httpx.AsyncClient:
    client: httpx.AsyncClient = request.app.state.gateway
    return client


def _cache(request: Request) -> BalanceCache:
    cache: BalanceCache = request.app.state.balance_cache
    return cache


Gateway = Annotated[httpx.AsyncClient, Depends(_gateway)]
Cache = Annotated[BalanceCache, Depends(_cache)]
Limit = Annotated[int, Query(ge=1, le=200, description="page size (default 50, max 200)")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page")
]
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


@router.post("/accounts", status_code=201, tags=["accounts"], responses=INVALID)
async def create_account(
    body: schemas.AccountCreate, user: CurrentUser, gateway: Gateway
) -> schemas.AccountRead:
    """Open an account. Its currency is fixed for life; the balance starts at 0."""
    return await service.create_account(gateway=gateway, user_id=user.user_id, draft=body)


@router.get("/accounts", tags=["accounts"], responses=INVALID)
async def list_accounts(
    user: CurrentUser, gateway: Gateway, limit: Limit = 50, cursor: Cursor = None
) -> schemas.AccountPage:
    """Your accounts, oldest first."""
    return await service.list_accounts(
        gateway=gateway, user_id=user.user_id, limit=limit, cursor=cursor
    )


@router.get("/accounts/{account_id}", tags=["accounts"], responses=NOT_FOUND)
async def get_account(
    account_id: uuid.UUID, user: CurrentUser, gateway: Gateway
) -> schemas.AccountRead:
    return await service.get_account(gateway=gateway, user_id=user.user_id, account_id=account_id)


@router.get(
    "/accounts/{account_id}/balance",
    tags=["accounts"],
    responses={**NOT_FOUND, 304: {"description": "Unchanged since the ETag sent"}},
)
async def get_balance(
    account_id: uuid.UUID,
    user: CurrentUser,
    gateway: Gateway,
    cache: Cache,
    response: Response,
    if_none_match: Annotated[str | None, Header()] = None,
) -> schemas.BalanceRead:
    """The account's current balance, served from cache and never older than your
    last acknowledged write. Send the `ETag` back as `If-None-Match` to get a
    304 while it has not changed."""
    balance = await service.get_balance(
        gateway=gateway, cache=cache, user_id=user.user_id, account_id=account_id
    )
    etag = f'"{balance.version}"'
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        raise NotModified(etag)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "private, no-cache"
    return service.balance_read(balance)


class NotModified(Exception):
    def __init__(self, etag: str) -> None:
        self.etag = etag


async def not_modified(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotModified)
    return Response(
        status_code=304, headers={"ETag": exc.etag, "Cache-Control": "private, no-cache"}
    )


@router.post(
    "/transactions", status_code=201, tags=["transactions"], responses={**NOT_FOUND, **INVALID}
)
async def post_transaction(
    body: schemas.TransactionCreate,
    user: CurrentUser,
    gateway: Gateway,
    cache: Cache,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="Any unique string (e.g. a UUID) per intended transaction. A retry "
            "with the same key and body returns the first answer instead of "
            "posting twice; the same key with another body is refused (422)."
        ),
    ] = None,
) -> schemas.TransactionRead:
    """Record an expense, an income or a transfer between two of your accounts.

    Balances change in the same database transaction, and the debits and
    credits of every transaction sum to zero (double entry). Send an
    `Idempotency-Key` so a retry after a timeout can never post twice.
    """
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise field_error("Idempotency-Key", "must be 1-255 visible ASCII characters")
    posted = await service.post_transaction(
        gateway=gateway,
        cache=cache,
        user_id=user.user_id,
        draft=body,
        idempotency_key=idempotency_key,
    )
    if posted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return posted.transaction


@router.get("/transactions", tags=["transactions"], responses=INVALID)
async def list_transactions(
    user: CurrentUser,
    gateway: Gateway,
    limit: Limit = 50,
    cursor: Cursor = None,
    account_id: uuid.UUID | None = None,
) -> schemas.TransactionPage:
    """Your transactions, newest first (by date, then by entry order). Follow
    `next_cursor` for the next page; pages stay stable while new ones arrive."""
    return await service.list_transactions(
        gateway=gateway, user_id=user.user_id, limit=limit, cursor=cursor, account_id=account_id
    )


@router.get("/transactions/{transaction_id}", tags=["transactions"], responses=NOT_FOUND)
async def get_transaction(
    transaction_id: uuid.UUID, user: CurrentUser, gateway: Gateway
) -> schemas.TransactionRead:
    return await service.get_transaction(
        gateway=gateway, user_id=user.user_id, transaction_id=transaction_id
    )


@profile_router.get("")
async def get_profile(user: CurrentUser, gateway: Gateway) -> schemas.ProfileRead:
    """Who you are: email, display name, default currency and time zone."""
    return await service.get_profile(gateway=gateway, user_id=user.user_id)


@profile_router.delete(
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
    body: schemas.ProfileDelete,
    user: CurrentUser,
    request: Request,
    gateway: Gateway,
    cache: Cache,
    client_ip: ClientIp,
) -> Response:
    """Delete your account for good: every account, transaction and session of
    yours is erased, and every token you hold stops working at once. Needs your
    password; wrong passwords count toward the login throttle."""
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
