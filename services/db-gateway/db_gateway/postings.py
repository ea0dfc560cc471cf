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

from sqlalchemy import column, func, insert, select, update, values
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from db_gateway import schemas
from db_gateway.models import MONEY, Account, Posting, User
from servicekit.errors import NotFound


@dataclass(frozen=True, slots=True)
class Leg:
    account_id: uuid.UUID
    currency: str
    amount: Decimal


async def begin_write(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Take the user's ledger lock and return their new ledger version.

    Every write to a user's ledger (and deleting the user) locks this row
    first, so all of a user's writes run one at a time, in one order.
    """
    version = (
        await session.execute(
            update(User)
            .where(User.id == user_id)
            .values(ledger_version=User.ledger_version + 1)
            .returning(User.ledger_version)
        )
    ).scalar_one_or_none()
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
    await session.execute(
        pg_insert(Account)
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
                for role, currency in keys
            ]
        )
        .on_conflict_do_nothing(
            index_elements=["user_id", "system_role", "currency"],
            index_where=Account.system_role.is_not(None),
        )
    )
    rows = await session.execute(
        select(Account.system_role, Account.currency, Account.id).where(
            Account.user_id == user_id, Account.system_role.is_not(None)
        )
    )
    found = {(r.system_role, r.currency): r.id for r in rows}
    return {key: found[key] for key in keys}


async def lock_accounts(
    session: AsyncSession, user_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Account]:
    """The user's own accounts among `ids`, locked in id order; missing ones are absent."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(Account)
        .where(Account.user_id == user_id, Account.system_role.is_(None), Account.id.in_(wanted))
        .order_by(Account.id)
        .with_for_update()
    )
    return {a.id: a for a in rows.scalars()}


async def current_legs(session: AsyncSession, transaction_id: uuid.UUID) -> list[Leg]:
    rows = await session.execute(
        select(Posting.account_id, Posting.currency, Posting.amount).where(
            Posting.transaction_id == transaction_id
        )
    )
    return [Leg(r.account_id, r.currency, r.amount) for r in rows]


async def write_legs(
    session: AsyncSession, user_id: uuid.UUID, transaction_id: uuid.UUID, legs: list[Leg]
) -> None:
    await session.execute(
        insert(Posting),
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


async def apply(
    session: AsyncSession, change: dict[uuid.UUID, Decimal]
) -> list[schemas.BalanceRead]:
    """Move each balance by its change and bump its version, in id order.

    Returns the new balances of the user's own accounts (not the hidden ones),
    for the caller to write through to the cache.
    """
    if not change:
        return []
    deltas = values(column("id", UUID(as_uuid=True)), column("delta", MONEY), name="deltas").data(
        sorted(change.items())
    )
    rows = await session.execute(
        update(Account)
        .where(Account.id == deltas.c.id)
        .values(
            balance=Account.balance + deltas.c.delta,
            version=Account.version + 1,
            updated_at=func.now(),
        )
        .returning(
            Account.id,
            Account.currency,
            Account.balance,
            Account.version,
            Account.updated_at,
            Account.system_role,
        )
    )
    return sorted(
        (
            schemas.BalanceRead(
                account_id=r.id,
                currency=r.currency,
                balance=r.balance,
                version=r.version,
                updated_at=r.updated_at,
            )
            for r in rows
            if r.system_role is None
        ),
        key=lambda b: b.account_id,
    )
