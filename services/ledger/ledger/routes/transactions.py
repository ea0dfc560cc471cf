"""/services/transactions"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from ledger import transactions as service
from ledger.deps import (
    Cursor,
    Gateway,
    IfMatch,
    Limit,
    SearchText,
    check_idempotency_key,
    etag,
)
from ledger.routes.common import CONFLICT, INVALID, NOT_FOUND, STALE, UNAUTHORIZED
from ledger.schemas.transactions import (
    TransactionCreate,
    TransactionPage,
    TransactionRead,
    TransactionType,
    TransactionUpdate,
)
from servicekit.errors import field_error
from servicekit.jsonutil import dumps
from servicekit.jwt import CurrentUser
from servicekit.money import parse_positive_amount

router = APIRouter(prefix="/services/transactions", tags=["transactions"], responses=UNAUTHORIZED)

IdempotencyKey = Annotated[
    str | None,
    Header(
        description="Any unique string (e.g. a UUID) per intended transaction. A retry "
        "with the same key and body returns the first answer (with "
        "`Idempotent-Replayed: true`) instead of posting twice; the same key with "
        "another body is refused (422 `idempotency_conflict`)."
    ),
]
AmountFilter = Annotated[
    str | None, Query(max_length=25, description='a decimal string, e.g. "10.00"')
]


@router.post(
    "",
    status_code=201,
    response_model=TransactionRead,
    responses={**NOT_FOUND, **INVALID, **CONFLICT},
)
async def post_transaction(
    body: TransactionCreate,
    user: CurrentUser,
    gateway: Gateway,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Record an expense, an income or a transfer between two of your accounts
    (across currencies with `to_amount`: what arrives).

    Balances change in the same database transaction, and the debits and
    credits of every transaction sum to zero in each currency (double entry).
    Send an `Idempotency-Key` so a retry after a timeout can never post twice.
    """
    check_idempotency_key(idempotency_key)
    posted = await service.post_transaction(
        gateway=gateway,
        user_id=user.user_id,
        draft=body,
        idempotency_key=idempotency_key,
    )
    headers = {"ETag": etag(posted.transaction["version"])}
    if posted.replayed:
        headers["Idempotent-Replayed"] = "true"
    return _json(posted.transaction, headers, status_code=201)


def _json(body: object, headers: dict[str, str] | None = None, status_code: int = 200) -> Response:
    # the body is plain data, serialised once (the route's response_model
    # documents it): no model is built and validated per transaction
    return Response(dumps(body), status_code, headers, media_type="application/json")


def _amount(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(parse_positive_amount(value))
    except ValueError as exc:
        raise field_error(name, str(exc)) from exc


@router.get("", response_model=TransactionPage, responses=INVALID)
async def list_transactions(
    user: CurrentUser,
    gateway: Gateway,
    limit: Limit = 50,
    cursor: Cursor = None,
    account_id: Annotated[
        uuid.UUID | None, Query(description="money leaving or arriving in this account")
    ] = None,
    category_id: Annotated[
        uuid.UUID | None, Query(description="this category or its subcategories, splits included")
    ] = None,
    type: TransactionType | None = None,
    date_from: Annotated[dt.date | None, Query(alias="from", description="on or after")] = None,
    date_to: Annotated[dt.date | None, Query(alias="to", description="on or before")] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="text in the description or notes"),
        SearchText,
    ] = None,
    min_amount: AmountFilter = None,
    max_amount: AmountFilter = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=50), SearchText] = None,
) -> Response:
    """Your transactions, newest first (by date, then by entry order), with any
    combination of filters. Follow `next_cursor` for the next page; pages stay
    stable while new transactions arrive."""
    if date_from and date_to and date_from > date_to:
        raise field_error("from", "must not be after `to`")
    filters = {
        "account_id": account_id,
        "category_id": category_id,
        "type": type,
        "date_from": date_from,
        "date_to": date_to,
        "q": q,
        "min_amount": _amount("min_amount", min_amount),
        "max_amount": _amount("max_amount", max_amount),
        "tag": tag.strip().lower() if tag else None,
    }
    body = await service.list_transactions(
        gateway=gateway,
        user_id=user.user_id,
        limit=limit,
        cursor=cursor,
        filters={k: str(v) for k, v in filters.items() if v is not None},
    )
    return Response(body, media_type="application/json")


@router.get("/{transaction_id}", response_model=TransactionRead, responses=NOT_FOUND)
async def get_transaction(
    transaction_id: uuid.UUID, user: CurrentUser, gateway: Gateway
) -> Response:
    """One transaction; its `ETag` is what `If-Match` takes when you edit it."""
    transaction = await service.get_transaction(
        gateway=gateway, user_id=user.user_id, transaction_id=transaction_id
    )
    return _json(transaction, {"ETag": etag(transaction["version"])})


@router.patch(
    "/{transaction_id}",
    response_model=TransactionRead,
    responses={**NOT_FOUND, **INVALID, **CONFLICT, **STALE},
)
async def update_transaction(
    transaction_id: uuid.UUID,
    body: TransactionUpdate,
    user: CurrentUser,
    gateway: Gateway,
    if_match: IfMatch,
) -> Response:
    """Edit a transaction; every balance it touched (before and after) moves by
    exactly the difference. With `If-Match`, an edit based on an older version
    is refused with 412 instead of overwriting someone else's change."""
    transaction = await service.update_transaction(
        gateway=gateway,
        user_id=user.user_id,
        transaction_id=transaction_id,
        change=body,
        if_match=if_match,
    )
    return _json(transaction, {"ETag": etag(transaction["version"])})


@router.delete(
    "/{transaction_id}",
    status_code=204,
    response_class=Response,
    responses={**NOT_FOUND, **CONFLICT, **STALE},
)
async def delete_transaction(
    transaction_id: uuid.UUID, user: CurrentUser, gateway: Gateway, if_match: IfMatch
) -> Response:
    """Delete a transaction; its accounts' balances move back."""
    await service.delete_transaction(
        gateway=gateway,
        user_id=user.user_id,
        transaction_id=transaction_id,
        if_match=if_match,
    )
    return Response(status_code=204)
