"""/internal routes for the ledger's categories."""

from __future__ import annotations

import uuid

from db_gateway import categories, schemas
from db_gateway.db import DbSession
from db_gateway.routes.security import CONFLICT, Limit, Seq, internal_router

router = internal_router()


@router.post("/users/{user_id}/categories", status_code=201, responses=CONFLICT)
async def create_category(
    user_id: uuid.UUID, draft: schemas.CategoryCreate, session: DbSession
) -> schemas.CategoryWritten:
    """404 naming parent_id, 422 for a parent that is not top-level or of
    another kind, 409 category_exists for a name taken at that level."""
    return await categories.create_category(session=session, user_id=user_id, draft=draft)


@router.get("/users/{user_id}/categories")
async def list_categories(
    user_id: uuid.UUID,
    session: DbSession,
    limit: Limit = 50,
    after_seq: Seq = None,
    kind: schemas.CategoryKind | None = None,
) -> schemas.CategoryPage:
    rows = await categories.list_categories(
        session=session, user_id=user_id, limit=limit, after_seq=after_seq, kind=kind
    )
    return schemas.CategoryPage(items=[schemas.CategoryRead.model_validate(r) for r in rows])


@router.get("/users/{user_id}/categories/{category_id}")
async def get_category(
    user_id: uuid.UUID, category_id: uuid.UUID, session: DbSession
) -> schemas.CategoryRead:
    return schemas.CategoryRead.model_validate(
        await categories.get_category(session=session, user_id=user_id, category_id=category_id)
    )


@router.patch("/users/{user_id}/categories/{category_id}", responses=CONFLICT)
async def update_category(
    user_id: uuid.UUID, category_id: uuid.UUID, change: schemas.CategoryUpdate, session: DbSession
) -> schemas.CategoryWritten:
    return await categories.update_category(
        session=session, user_id=user_id, category_id=category_id, change=change
    )


@router.delete("/users/{user_id}/categories/{category_id}", responses=CONFLICT)
async def delete_category(
    user_id: uuid.UUID, category_id: uuid.UUID, session: DbSession
) -> schemas.LedgerVersion:
    """409 category_has_children or category_in_use; its budgets go with it."""
    return await categories.delete_category(
        session=session, user_id=user_id, category_id=category_id
    )
