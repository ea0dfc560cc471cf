"""/services/categories"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from ledger import categories as service
from ledger.deps import Cursor, Gateway, Limit
from ledger.routes.common import CONFLICT, INVALID, NOT_FOUND, UNAUTHORIZED
from ledger.schemas.categories import (
    CategoryCreate,
    CategoryKind,
    CategoryPage,
    CategoryRead,
    CategoryUpdate,
)
from servicekit.jwt import CurrentUser

router = APIRouter(prefix="/services", tags=["categories"], responses=UNAUTHORIZED)


@router.post("/categories", status_code=201, responses={**NOT_FOUND, **INVALID, **CONFLICT})
async def create_category(
    body: CategoryCreate, user: CurrentUser, gateway: Gateway
) -> CategoryRead:
    """Create a category, top-level or (with `parent_id`) under one of your
    top-level categories of the same kind: categories have two levels. A name
    already used (in any letter case) by a category of the same kind under the
    same parent is a 409 `category_exists`."""
    return await service.create_category(gateway=gateway, user_id=user.user_id, draft=body)


@router.get("/categories", responses=INVALID)
async def list_categories(
    user: CurrentUser,
    gateway: Gateway,
    limit: Limit = 50,
    cursor: Cursor = None,
    kind: CategoryKind | None = None,
) -> CategoryPage:
    """Your categories in the order they were created, parents before their
    children; every new user starts with a default set."""
    return await service.list_categories(
        gateway=gateway, user_id=user.user_id, limit=limit, cursor=cursor, kind=kind
    )


@router.get("/categories/{category_id}", responses=NOT_FOUND)
async def get_category(category_id: uuid.UUID, user: CurrentUser, gateway: Gateway) -> CategoryRead:
    return await service.get_category(
        gateway=gateway, user_id=user.user_id, category_id=category_id
    )


@router.patch("/categories/{category_id}", responses={**NOT_FOUND, **INVALID, **CONFLICT})
async def update_category(
    category_id: uuid.UUID, body: CategoryUpdate, user: CurrentUser, gateway: Gateway
) -> CategoryRead:
    """Rename a category, move it under another top-level category of the same
    kind, or make it top-level with `"parent_id": null`. A category with
    subcategories stays top-level. Its kind cannot change (422)."""
    return await service.update_category(
        gateway=gateway, user_id=user.user_id, category_id=category_id, change=body
    )


@router.delete(
    "/categories/{category_id}",
    status_code=204,
    response_class=Response,
    responses={**NOT_FOUND, **CONFLICT},
)
async def delete_category(category_id: uuid.UUID, user: CurrentUser, gateway: Gateway) -> Response:
    """Delete a category, and its budgets with it. Refused with 409
    `category_has_children` while it has subcategories, and
    `category_in_use` while a transaction or split is filed under it."""
    await service.delete_category(gateway=gateway, user_id=user.user_id, category_id=category_id)
    return Response(status_code=204)
