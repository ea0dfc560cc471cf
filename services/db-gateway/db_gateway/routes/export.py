"""/internal routes for the ledger's data export."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import Query

from db_gateway import export, schemas
from db_gateway.db import DbSession
from db_gateway.routes.security import Seq, internal_router
from servicekit.errors import Unprocessable
from servicekit.http import BAD_INTERNAL_REQUEST

router = internal_router()
# Bigger than a page of the public list: the export walks every transaction,
# and fewer round trips matter more there than small answers.
BatchLimit = Annotated[int, Query(ge=1, le=5000)]


@router.get("/users/{user_id}/export/reference")
async def export_reference(user_id: uuid.UUID, session: DbSession) -> export.ExportReference:
    """The user's accounts (hidden system accounts excluded), categories and
    budgets, read in one snapshot."""
    return await export.reference(session=session, user_id=user_id)


@router.get("/users/{user_id}/export/transactions")
async def export_transactions(
    user_id: uuid.UUID,
    session: DbSession,
    limit: BatchLimit = 1000,
    before_date: dt.date | None = None,
    before_seq: Seq = None,
) -> schemas.TransactionPage:
    """A batch of transactions, newest first by (date, seq); pass the last
    item's date and seq as before_date and before_seq for the next batch."""
    if (before_date is None) != (before_seq is None):
        raise Unprocessable("before_date and before_seq go together", code=BAD_INTERNAL_REQUEST)
    before = (before_date, before_seq) if before_date and before_seq is not None else None
    return schemas.TransactionPage(
        items=await export.transaction_batch(
            session=session, user_id=user_id, limit=limit, before=before
        )
    )
