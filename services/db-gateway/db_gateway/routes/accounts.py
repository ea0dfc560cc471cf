"""/internal routes for the ledger's accounts."""

from __future__ import annotations

import uuid

from db_gateway import accounts, schemas
from db_gateway.db import DbSession
from db_gateway.routes.security import CONFLICT, Limit, Seq, internal_router

router = internal_router()


@router.post("/users/{user_id}/accounts", status_code=201)
async def create_account(
    user_id: uuid.UUID, draft: schemas.AccountCreate, session: DbSession
) -> schemas.AccountWritten:
    return await accounts.create_account(session=session, user_id=user_id, draft=draft)


@router.get("/users/{user_id}/accounts")
async def list_accounts(
    user_id: uuid.UUID,
    session: DbSession,
    limit: Limit = 50,
    after_seq: Seq = None,
    archived: bool | None = None,
) -> schemas.AccountPage:
    rows = await accounts.list_accounts(
        session=session, user_id=user_id, limit=limit, after_seq=after_seq, archived=archived
    )
    return schemas.AccountPage(items=[schemas.AccountRead.model_validate(r) for r in rows])


@router.get("/users/{user_id}/accounts/{account_id}")
async def get_account(
    user_id: uuid.UUID, account_id: uuid.UUID, session: DbSession
) -> schemas.AccountRead:
    return schemas.AccountRead.model_validate(
        await accounts.get_account(session=session, user_id=user_id, account_id=account_id)
    )


@router.patch("/users/{user_id}/accounts/{account_id}", responses=CONFLICT)
async def update_account(
    user_id: uuid.UUID, account_id: uuid.UUID, change: schemas.AccountUpdate, session: DbSession
) -> schemas.AccountWritten:
    return await accounts.update_account(
        session=session, user_id=user_id, account_id=account_id, change=change
    )


@router.delete("/users/{user_id}/accounts/{account_id}", responses=CONFLICT)
async def delete_account(
    user_id: uuid.UUID, account_id: uuid.UUID, session: DbSession
) -> schemas.LedgerVersion:
    """409 account_has_transactions while any transaction uses it."""
    return await accounts.delete_account(session=session, user_id=user_id, account_id=account_id)
