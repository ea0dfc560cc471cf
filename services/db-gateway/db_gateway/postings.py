"""The posting engine every ledger write goes through.

A write first takes the user's ledger lock (`begin_write`: one row per user,
so a user's writes queue instead of deadlocking, and the version the
dashboard cache is keyed on moves in the same DB transaction). It then turns
what happened into postings that sum to zero per currency, and moves each
account's balance by exactly its postings (`apply`), bumping its version.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from db_gateway import schemas
from db_gateway.models import MONEY, Account, Posting, User
from servicekit.errors import NotFound

# Core statements on the tables, built once: every ledger write runs them, and
# the ORM's per-statement work (compiling a statement whose VALUES list differs
# each time, bulk-DML bookkeeping) was half of db-gateway's CPU on writes.
_users = cast(Table, User.__table__)
_accounts = cast(Table, Account.__table__)
_postings = cast(Table, Posting.__table__)

_BEGIN_WRITE = (
    update(_users)
    .where(_users.c.id == bindparam("user_id"))
    .values(ledger_version=_users.c.ledger_version + 1)
    .returning(_users.c.ledger_version)
)
_LOCK_ACCOUNTS = (
    select(_accounts.c.id, _accounts.c.currency, _accounts.c.archived)
    .where(
        _accounts.c.user_id == bindparam("user_id"),
        _accounts.c.system_role.is_(None),
        _accounts.c.id.in_(bindparam("ids", expanding=True)),
    )
    .order_by(_accounts.c.id)
    .with_for_update()
)
_SYSTEM_ACCOUNTS = select(_accounts.c.system_role, _accounts.c.currency, _accounts.c.id).where(
    _accounts.c.user_id == bindparam("user_id"), _accounts.c.system_role.is_not(None)
)
_LEGS = select(_postings.c.account_id, _postings.c.currency, _postings.c.amount).where(
    _postings.c.transaction_id == bindparam("transaction_id")
)
_INSERT_POSTING = insert(_postings)
# every changed account in one statement, whatever their number
_APPLY = text(
    """
    UPDATE accounts
    SET balance = accounts.balance + change.delta,
        version = accounts.version + 1,
        updated_at = now()
    FROM unnest(CAST(:ids AS uuid[]), CAST(:deltas AS numeric[])) AS change (id, delta)
    WHERE accounts.id = change.id
    RETURNING accounts.id, accounts.currency, accounts.balance, accounts.version,
              accounts.updated_at, accounts.system_role
    """
).bindparams(
    bindparam("ids", type_=ARRAY(UUID(as_uuid=True))),
    bindparam("deltas", type_=ARRAY(MONEY)),
)


@dataclass(frozen=True, slots=True)
class Leg:
    account_id: uuid.UUID
    currency: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class LockedAccount:
    """What a write needs of one of the user's accounts, locked until commit."""

    id: uuid.UUID
    currency: str
    archived: bool


async def begin_write(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Take the user's ledger lock and return their new ledger version.

    Every write to a user's ledger (and deleting the user) locks this row
    first, so all of a user's writes run one at a time, in one order.
    """
    version = (await session.execute(_BEGIN_WRITE, {"user_id": user_id})).scalar_one_or_none()
    if version is None:
        raise NotFound("user not found")
    return int(version)


async def system_accounts(
    session: AsyncSession, user_id: uuid.UUID, wanted: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], uuid.UUID]:
    """The hidden (role, currency) counter-accounts of this user, made on first use."""
    keys = sorted(set(wanted))
    if not keys:
        return {}
    found = await _system_accounts(session, user_id)
    missing = [key for key in keys if key not in found]
    if missing:
        # first use of this role and currency (the caller holds the user's lock)
        await session.execute(
            pg_insert(_accounts)
            .values(
                [
                    {
                        "id": uuid.uuid4(),
                        "user_id": user_id,
                        "system_role": role,
                        "name": f"{role} ({currency})",
                        "type": "other",
                        "currency": currency,
                    }
                    for role, currency in missing
                ]
            )
            .on_conflict_do_nothing(
                index_elements=["user_id", "system_role", "currency"],
                index_where=_accounts.c.system_role.is_not(None),
            )
        )
        found = await _system_accounts(session, user_id)
    return {key: found[key] for key in keys}


async def _system_accounts(
    session: AsyncSession, user_id: uuid.UUID
) -> dict[tuple[str, str], uuid.UUID]:
    rows = await session.execute(_SYSTEM_ACCOUNTS, {"user_id": user_id})
    return {(r.system_role, r.currency): r.id for r in rows}


async def lock_accounts(
    session: AsyncSession, user_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, LockedAccount]:
    """The user's own accounts among `ids`, locked in id order; missing ones are absent."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.execute(_LOCK_ACCOUNTS, {"user_id": user_id, "ids": wanted})
    return {r.id: LockedAccount(r.id, r.currency, r.archived) for r in rows}


async def current_legs(session: AsyncSession, transaction_id: uuid.UUID) -> list[Leg]:
    rows = await session.execute(_LEGS, {"transaction_id": transaction_id})
    return [Leg(r.account_id, r.currency, r.amount) for r in rows]


async def write_legs(
    session: AsyncSession, user_id: uuid.UUID, transaction_id: uuid.UUID, legs: list[Leg]
) -> None:
    await session.execute(
        _INSERT_POSTING,
        [
            {
                "transaction_id": transaction_id,
                "user_id": user_id,
                "account_id": leg.account_id,
                "currency": leg.currency,
                "amount": leg.amount,
            }
            for leg in legs
        ],
    )


def net_change(old: Iterable[Leg], new: Iterable[Leg]) -> dict[uuid.UUID, Decimal]:
    """How much each account's balance moves when `old` postings become `new`."""
    change: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for leg in old:
        change[leg.account_id] -= leg.amount
    for leg in new:
        change[leg.account_id] += leg.amount
    return {account: delta for account, delta in change.items() if delta != 0}


def balance_read(row: Row[*tuple[Any, ...]]) -> schemas.BalanceRead:
    """A balance as writes return it, from a row with the account's id,
    currency, balance, version and updated_at."""
    return schemas.BalanceRead(
        account_id=row.id,
        currency=row.currency,
        balance=row.balance,
        version=row.version,
        updated_at=row.updated_at,
    )


async def apply(
    session: AsyncSession, change: dict[uuid.UUID, Decimal]
) -> list[schemas.BalanceRead]:
    """Move each balance by its change and bump its version.

    Returns the new balances of the user's own accounts (not the hidden ones),
    for the caller to write through to the cache.
    """
    if not change:
        return []
    ordered = sorted(change.items())
    rows = await session.execute(
        _APPLY, {"ids": [i for i, _ in ordered], "deltas": [d for _, d in ordered]}
    )
    return sorted(
        (balance_read(r) for r in rows if r.system_role is None),
        key=lambda b: b.account_id,
    )
