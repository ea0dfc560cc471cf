"""/internal routes for the ledger's transactions."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import Query, Response

from db_gateway import schemas, transactions
from db_gateway.db import DbSession
from db_gateway.routes.security import CONFLICT, STALE, Limit, Seq, internal_router

router = internal_router()
Amount = Annotated[Decimal | None, Query(gt=0, max_digits=19, decimal_places=4)]


@router.post(
    "/users/{user_id}/transactions",
    status_code=201,
    response_model=schemas.TransactionWritten,
    responses=CONFLICT,
)
async def post_transaction(
    user_id: uuid.UUID, draft: schemas.TransactionPost, session: DbSession
) -> Response:
    written = await transactions.post_transaction_json(
        session=session, user_id=user_id, draft=draft
    )
    # written by Postgres (the SQL function post_transaction): passed on as it came
    return Response(written, status_code=201, media_type="application/json")


@router.get(
    "/users/{user_id}/transactions",
    response_model=list[schemas.PublicTransaction],
    responses={
        200: {
            "description": "One page, newest first, as the public API shows it; when "
            "more follow, the keyset of the next page in X-Next-Date and X-Next-Seq",
            "headers": {
                "X-Next-Date": {"schema": {"type": "string", "format": "date"}},
                "X-Next-Seq": {"schema": {"type": "integer"}},
            },
        }
    },
)
async def list_transactions(
    user_id: uuid.UUID,
    session: DbSession,
    limit: Limit = 50,
    before_date: dt.date | None = None,
    before_seq: Seq = None,
    account_id: uuid.UUID | None = None,
    category_id: uuid.UUID | None = None,
    type: schemas.TransactionType | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    min_amount: Amount = None,
    max_amount: Amount = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
) -> Response:
    before = (before_date, before_seq) if before_date and before_seq is not None else None
    filters = transactions.Filters(
        account_id=account_id,
        category_id=category_id,
        type=type,
        date_from=date_from,
        date_to=date_to,
        q=q,
        min_amount=min_amount,
        max_amount=max_amount,
        tag=tag,
    )
    page = await transactions.page_json(
        session=session, user_id=user_id, limit=limit, before=before, filters=filters
    )
    # built by Postgres in its final shape: passed on as it came
    headers = {}
    if page.next is not None:
        headers = {"X-Next-Date": page.next[0].isoformat(), "X-Next-Seq": str(page.next[1])}
    return Response(page.items, media_type="application/json", headers=headers)


@router.get("/users/{user_id}/transactions/{transaction_id}")
async def get_transaction(
    user_id: uuid.UUID, transaction_id: uuid.UUID, session: DbSession
) -> schemas.TransactionRead:
    return await transactions.get_transaction(
        session=session, user_id=user_id, transaction_id=transaction_id
    )


@router.patch("/users/{user_id}/transactions/{transaction_id}", responses={**CONFLICT, **STALE})
async def update_transaction(
    user_id: uuid.UUID,
    transaction_id: uuid.UUID,
    patch: schemas.TransactionPatch,
    session: DbSession,
) -> schemas.TransactionWritten:
    return await transactions.update_transaction(
        session=session, user_id=user_id, transaction_id=transaction_id, patch=patch
    )


@router.delete("/users/{user_id}/transactions/{transaction_id}", responses={**CONFLICT, **STALE})
async def delete_transaction(
    user_id: uuid.UUID,
    transaction_id: uuid.UUID,
    session: DbSession,
    if_match: Annotated[int | None, Query(ge=1)] = None,
) -> schemas.TransactionWritten:
    return await transactions.delete_transaction(
        session=session, user_id=user_id, transaction_id=transaction_id, if_match=if_match
    )
