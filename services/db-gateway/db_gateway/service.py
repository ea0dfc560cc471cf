"""Accounts and transactions. Each public function is one atomic unit: callers
pass a fresh session and the function commits (or raises, and nothing is
written)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import Select, column, func, insert, select, tuple_, update, values
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db_gateway import schemas
from db_gateway.models import (
    MONEY,
    Account,
    IdempotencyRecord,
    Posting,
    Transaction,
)
from servicekit.errors import NotFound, Unprocessable

FOREIGN_KEY_VIOLATION = "23503"

# ---------------------------------------------------------------- accounts


def _user_accounts(user_id: uuid.UUID) -> Select[Account]:
    return select(Account).where(Account.user_id == user_id, Account.system_role.is_(None))


async def create_account(
    *, session: AsyncSession, user_id: uuid.UUID, draft: schemas.AccountCreate
) -> Account:
    account = Account(id=uuid.uuid4(), user_id=user_id, **draft.model_dump())
    session.add(account)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        if getattr(exc.orig, "pgcode", None) != FOREIGN_KEY_VIOLATION:
            raise
        raise NotFound("user not found") from exc  # deleted meanwhile
    await session.refresh(account)
    return account


async def list_accounts(
    *, session: AsyncSession, user_id: uuid.UUID, limit: int, after_seq: int | None
) -> list[Account]:
    query = _user_accounts(user_id).order_by(Account.seq).limit(limit)
    if after_seq is not None:
        query = query.where(Account.seq > after_seq)
    return list((await session.execute(query)).scalars())


async def get_account(
    *, session: AsyncSession, user_id: uuid.UUID, account_id: uuid.UUID
) -> Account:
    account = (
        await session.execute(_user_accounts(user_id).where(Account.id == account_id))
    ).scalar_one_or_none()
    if account is None:
        raise NotFound("account not found")
    return account


# ---------------------------------------------------------------- transactions


class IdempotencyConflict(Unprocessable):
    default_code = "idempotency_conflict"


async def _counter_account(
    session: AsyncSession, user_id: uuid.UUID, role: str, currency: str
) -> uuid.UUID:
    """The hidden income/expense account of this user and currency, made on first use."""
    await session.execute(
        pg_insert(Account)
        .values(
            id=uuid.uuid4(),
            user_id=user_id,
            system_role=role,
            name=f"{role} ({currency})",
            type="other",
            currency=currency,
        )
        .on_conflict_do_nothing(
            index_elements=["user_id", "system_role", "currency"],
            index_where=Account.system_role.is_not(None),
        )
    )
    return (
        await session.execute(
            select(Account.id).where(
                Account.user_id == user_id,
                Account.system_role == role,
                Account.currency == currency,
            )
        )
    ).scalar_one()


async def post_transaction(
    *, session: AsyncSession, user_id: uuid.UUID, draft: schemas.TransactionPost
) -> schemas.PostResult:
    """Write a transaction, its postings, the new balances and the idempotency record.

    Accounts are locked in one fixed order (the user's accounts by id, then the
    counter-account), so concurrent writes queue instead of deadlocking, and
    every balance moves by exactly its postings in the same DB transaction.
    """
    tx_id = uuid.uuid4()
    if draft.idempotency_key is not None:
        if draft.request_hash is None:
            raise Unprocessable("request_hash is required with idempotency_key")
        # Claim the key first: a concurrent request with the same key blocks here
        # until this one commits, then finds the record and replays it.
        claimed = (
            await session.execute(
                pg_insert(IdempotencyRecord)
                .values(
                    user_id=user_id,
                    key=draft.idempotency_key,
                    request_hash=bytes.fromhex(draft.request_hash),
                    transaction_id=tx_id,
                    response={},
                )
                .on_conflict_do_nothing()
                .returning(IdempotencyRecord.key)
            )
        ).scalar_one_or_none()
        if claimed is None:
            return await _replay(session, user_id, draft)

    own_ids = sorted({draft.account_id, *([draft.to_account_id] if draft.to_account_id else [])})
    locked = {
        a.id: a
        for a in (
            await session.execute(
                _user_accounts(user_id)
                .where(Account.id.in_(own_ids))
                .order_by(Account.id)
                .with_for_update()
            )
        ).scalars()
    }
    if draft.account_id not in locked:
        raise NotFound(
            "account not found", errors=[{"field": "account_id", "message": "account not found"}]
        )
    source = locked[draft.account_id]
    amount = draft.amount
    if draft.type == "transfer":
        if draft.to_account_id is None or draft.to_account_id not in locked:
            raise NotFound(
                "destination account not found",
                errors=[{"field": "to_account_id", "message": "account not found"}],
            )
        target = locked[draft.to_account_id]
        if target.currency != source.currency:
            raise Unprocessable(
                "both accounts of a transfer must have the same currency",
                code="currency_mismatch",
                errors=[
                    {"field": "to_account_id", "message": "currency differs from account_id's"}
                ],
            )
        legs = [(source.id, -amount), (target.id, amount)]
    else:
        counter = await _counter_account(session, user_id, draft.type, source.currency)
        sign = Decimal(-1) if draft.type == "expense" else Decimal(1)
        legs = [(source.id, sign * amount), (counter, -sign * amount)]

    await session.execute(
        insert(Transaction).values(
            id=tx_id,
            user_id=user_id,
            type=draft.type,
            account_id=source.id,
            to_account_id=draft.to_account_id,
            amount=amount,
            currency=source.currency,
            date=draft.date,
            description=draft.description,
        )
    )
    await session.execute(
        insert(Posting),
        [
            {
                "transaction_id": tx_id,
                "user_id": user_id,
                "account_id": account_id,
                "currency": source.currency,
                "amount": delta,
            }
            for account_id, delta in legs
        ],
    )
    deltas = values(column("id", UUID(as_uuid=True)), column("delta", MONEY), name="deltas").data(
        legs
    )
    balances = [
        schemas.BalanceRead(
            account_id=r.id, currency=r.currency, balance=r.balance, version=r.version
        )
        for r in (
            await session.execute(
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
                    Account.system_role,
                )
            )
        )
        if r.system_role is None
    ]
    created = (
        await session.execute(select(Transaction).where(Transaction.id == tx_id))
    ).scalar_one()
    transaction = schemas.TransactionRead.model_validate(created)
    if draft.idempotency_key is not None:
        await session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == draft.idempotency_key
            )
            .values(response=transaction.model_dump(mode="json"))
        )
    await session.commit()
    return schemas.PostResult(transaction=transaction, balances=balances, replayed=False)


async def _replay(
    session: AsyncSession, user_id: uuid.UUID, draft: schemas.TransactionPost
) -> schemas.PostResult:
    stored_hash, response = (
        await session.execute(
            select(IdempotencyRecord.request_hash, IdempotencyRecord.response).where(
                IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == draft.idempotency_key
            )
        )
    ).one()
    await session.rollback()
    assert draft.request_hash is not None
    if stored_hash != bytes.fromhex(draft.request_hash):
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with a different request body",
            errors=[{"field": "Idempotency-Key", "message": "reused with a different body"}],
        )
    return schemas.PostResult(
        transaction=schemas.TransactionRead.model_validate(response), balances=[], replayed=True
    )


async def list_transactions(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    limit: int,
    before: tuple[dt.date, int] | None,
    account_id: uuid.UUID | None = None,
) -> list[Transaction]:
    """Newest first by (date, seq): a keyset, so pages stay stable under inserts."""
    query = (
        select(Transaction)
        .where(Transaction.user_id == user_id)
        .order_by(Transaction.date.desc(), Transaction.seq.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(tuple_(Transaction.date, Transaction.seq) < tuple_(*before))
    if account_id is not None:
        query = query.where(
            (Transaction.account_id == account_id) | (Transaction.to_account_id == account_id)
        )
    return list((await session.execute(query)).scalars())


async def get_transaction(
    *, session: AsyncSession, user_id: uuid.UUID, transaction_id: uuid.UUID
) -> Transaction:
    row = (
        await session.execute(
            select(Transaction).where(
                Transaction.user_id == user_id, Transaction.id == transaction_id
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("transaction not found")
    return row
