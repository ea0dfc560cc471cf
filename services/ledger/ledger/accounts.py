"""Accounts and their balances."""

from __future__ import annotations

import uuid

from ledger import views
from ledger.cache import CachedBalance, Gone, LedgerCache
from ledger.cursor import cursor_int, decode_cursor, encode_cursor
from ledger.gateway import Gateway, account_balance, cached_balance
from ledger.schemas.accounts import AccountCreate, AccountPage, AccountRead, AccountUpdate
from servicekit.errors import NotFound


async def create_account(
    *, gateway: Gateway, user_id: uuid.UUID, draft: AccountCreate
) -> AccountRead:
    result = await gateway.create_account(user_id, draft.model_dump(mode="json"))
    return views.account_read(result["account"])


async def list_accounts(
    *,
    gateway: Gateway,
    user_id: uuid.UUID,
    limit: int,
    cursor: str | None,
    archived: bool | None,
) -> AccountPage:
    params: dict[str, str | int | bool] = {"limit": limit + 1}
    if cursor:
        params["after_seq"] = cursor_int(decode_cursor(cursor, frozenset({"s"}))["s"])
    if archived is not None:
        params["archived"] = archived
    rows = await gateway.accounts(user_id, params)
    page, more = rows[:limit], len(rows) > limit
    return AccountPage(
        items=[views.account_read(r) for r in page],
        next_cursor=encode_cursor({"s": page[-1]["seq"]}) if more else None,
    )


async def get_account(
    *, gateway: Gateway, user_id: uuid.UUID, account_id: uuid.UUID
) -> AccountRead:
    return views.account_read(await gateway.account(user_id, account_id))


async def update_account(
    *, gateway: Gateway, user_id: uuid.UUID, account_id: uuid.UUID, change: AccountUpdate
) -> AccountRead:
    result = await gateway.update_account(
        user_id, account_id, change.model_dump(mode="json", exclude_unset=True)
    )
    return views.account_read(result["account"])


async def delete_account(*, gateway: Gateway, user_id: uuid.UUID, account_id: uuid.UUID) -> None:
    await gateway.delete_account(user_id, account_id)


async def get_balance(
    *,
    gateway: Gateway,
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
    balance = cached_balance(account_balance(await gateway.account(user_id, account_id)))
    await cache.fill_balance(user_id, balance)
    return balance
