from __future__ import annotations

import uuid
from typing import Any

import httpx

from ledger import views
from ledger.cache import CachedBalance, Gone, LedgerCache
from ledger.cursor import decode_cursor, encode_cursor
from ledger.schemas.accounts import AccountCreate, AccountPage, AccountRead, AccountUpdate
from ledger.services.common import cursor_int, users
from servicekit.errors import NotFound
from servicekit.http import send


async def _written(cache: LedgerCache, user_id: uuid.UUID, result: dict[str, Any]) -> AccountRead:
    account = result["account"]
    await cache.written(user_id, [views.cached_balance(account)], result["ledger_version"])
    return views.account_read(account)


async def create_account(
    *, gateway: httpx.AsyncClient, cache: LedgerCache, user_id: uuid.UUID, draft: AccountCreate
) -> AccountRead:
    result = await send(
        gateway, "POST", f"{users(user_id)}/accounts", json=draft.model_dump(mode="json")
    )
    return await _written(cache, user_id, result.json())


async def list_accounts(
    *,
    gateway: httpx.AsyncClient,
    user_id: uuid.UUID,
    limit: int,
    cursor: str | None,
    archived: bool | None,
) -> AccountPage:
    params: dict[str, Any] = {"limit": limit + 1}
    if cursor:
        params["after_seq"] = cursor_int(decode_cursor(cursor, frozenset({"s"}))["s"])
    if archived is not None:
        params["archived"] = archived
    rows = (await send(gateway, "GET", f"{users(user_id)}/accounts", params=params)).json()["items"]
    page, more = rows[:limit], len(rows) > limit
    return AccountPage(
        items=[views.account_read(r) for r in page],
        next_cursor=encode_cursor({"s": page[-1]["seq"]}) if more else None,
    )


async def fetch_account(
    gateway: httpx.AsyncClient, user_id: uuid.UUID, account_id: uuid.UUID
) -> dict[str, Any]:
    response = await send(gateway, "GET", f"{users(user_id)}/accounts/{account_id}")
    row: dict[str, Any] = response.json()
    return row


async def get_account(
    *, gateway: httpx.AsyncClient, user_id: uuid.UUID, account_id: uuid.UUID
) -> AccountRead:
    return views.account_read(await fetch_account(gateway, user_id, account_id))


async def update_account(
    *,
    gateway: httpx.AsyncClient,
    cache: LedgerCache,
    user_id: uuid.UUID,
    account_id: uuid.UUID,
    change: AccountUpdate,
) -> AccountRead:
    result = await send(
        gateway,
        "PATCH",
        f"{users(user_id)}/accounts/{account_id}",
        json=change.model_dump(mode="json", exclude_unset=True),
    )
    return await _written(cache, user_id, result.json())


async def delete_account(
    *, gateway: httpx.AsyncClient, cache: LedgerCache, user_id: uuid.UUID, account_id: uuid.UUID
) -> None:
    result = (await send(gateway, "DELETE", f"{users(user_id)}/accounts/{account_id}")).json()
    await cache.written(user_id, [], result["ledger_version"], deleted_accounts=[account_id])


async def get_balance(
    *,
    gateway: httpx.AsyncClient,
    cache: LedgerCache,
    user_id: uuid.UUID,
    account_id: uuid.UUID,
    cached: CachedBalance | Gone | None,
) -> CachedBalance:
    """`cached` is what the cache held (read by the caller, together with the
    token's revocation check); on a miss the database answers and fills it."""
    if isinstance(cached, Gone):
        raise NotFound("account not found")
    if cached is not None:
        return cached
    balance = views.cached_balance(await fetch_account(gateway, user_id, account_id))
    await cache.fill_balance(user_id, balance)
    return balance
