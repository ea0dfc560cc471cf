"""Accounts: open (with an opening balance), read, change, archive, delete.

Each public function is one atomic unit: callers pass a fresh session and the
function commits (or raises, and nothing is written).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import Select, delete, exists, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db_gateway import schemas
from db_gateway.models import Account, Transaction
from db_gateway.postings import Leg, apply, begin_write, current_legs, net_change, write_legs
from db_gateway.postings import system_accounts as find_system_accounts
from servicekit.errors import Conflict, NotFound, Unprocessable
from servicekit.money import fits_currency, minor_units

OPENING = "opening"


def user_accounts(user_id: uuid.UUID) -> Select[Account]:
    return select(Account).where(Account.user_id == user_id, Account.system_role.is_(None))


def check_scale(field: str, amount: Decimal, currency: str) -> dict[str, str] | None:
    if fits_currency(amount, currency):
        return None
    return {
        "field": field,
        "message": f"{currency} amounts have at most {minor_units(currency)} decimal places",
    }


async def _opening_transaction(session: AsyncSession, account_id: uuid.UUID) -> Transaction | None:
    return (
        await session.execute(
            select(Transaction).where(
                Transaction.account_id == account_id, Transaction.type == OPENING
            )
        )
    ).scalar_one_or_none()


async def _set_opening_balance(
    session: AsyncSession, account: Account, amount: Decimal
) -> list[schemas.BalanceRead]:
    """Post (or re-post, or remove) the opening-balance transaction against the
    user's hidden equity account, moving the balance by the difference."""
    opening = await _opening_transaction(session, account.id)
    old = await current_legs(session, opening.id) if opening else []
    new: list[Leg] = []
    if amount != 0:
        equity = (
            await find_system_accounts(session, account.user_id, [("equity", account.currency)])
        )[("equity", account.currency)]
        new = [
            Leg(account.id, account.currency, amount),
            Leg(equity, account.currency, -amount),
        ]
    if opening is not None:
        # its postings go with it (ON DELETE CASCADE)
        await session.execute(delete(Transaction).where(Transaction.id == opening.id))
    if new:
        tx_id = uuid.uuid4()
        await session.execute(
            insert(Transaction).values(
                id=tx_id,
                user_id=account.user_id,
                type=OPENING,
                account_id=account.id,
                amount=abs(amount),
                currency=account.currency,
                date=dt.datetime.now(dt.UTC).date(),
                description="Opening balance",
            )
        )
        await write_legs(session, account.user_id, tx_id, new)
    account.opening_balance = amount
    return await apply(session, net_change(old, new))


async def create_account(
    *, session: AsyncSession, user_id: uuid.UUID, draft: schemas.AccountCreate
) -> schemas.AccountWritten:
    if problem := check_scale("opening_balance", draft.opening_balance, draft.currency):
        raise Unprocessable(problem["message"], errors=[problem])
    version = await begin_write(session, user_id)
    account = Account(
        id=uuid.uuid4(),
        user_id=user_id,
        name=draft.name,
        type=draft.type,
        currency=draft.currency,
    )
    session.add(account)
    await session.flush()
    if draft.opening_balance != 0:
        await _set_opening_balance(session, account, draft.opening_balance)
    await session.commit()
    await session.refresh(account)
    return schemas.AccountWritten(
        account=schemas.AccountRead.model_validate(account), ledger_version=version
    )


async def list_accounts(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    limit: int,
    after_seq: int | None,
    archived: bool | None = None,
) -> list[Account]:
    query = user_accounts(user_id).order_by(Account.seq).limit(limit)
    if after_seq is not None:
        query = query.where(Account.seq > after_seq)
    if archived is not None:
        query = query.where(Account.archived.is_(archived))
    return list((await session.execute(query)).scalars())


async def get_account(
    *, session: AsyncSession, user_id: uuid.UUID, account_id: uuid.UUID
) -> Account:
    account = (
        await session.execute(user_accounts(user_id).where(Account.id == account_id))
    ).scalar_one_or_none()
    if account is None:
        raise NotFound("account not found")
    return account


class AccountArchived(Conflict):
    default_code = "account_archived"


async def update_account(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    account_id: uuid.UUID,
    change: schemas.AccountUpdate,
) -> schemas.AccountWritten:
    fields = change.model_fields_set
    for name in fields & {"name", "type", "archived"}:
        if getattr(change, name) is None:
            raise Unprocessable(
                f"{name} cannot be null",
                errors=[{"field": name, "message": "cannot be null"}],
            )
    version = await begin_write(session, user_id)
    account = await _locked(session, user_id, account_id)
    if change.archived is not None:
        account.archived = change.archived
    if change.name is not None:
        account.name = change.name
    if change.type is not None:
        account.type = change.type
    if change.opening_balance is not None and change.opening_balance != account.opening_balance:
        if account.archived:
            raise AccountArchived(
                "an archived account cannot change; unarchive it first",
                errors=[{"field": "opening_balance", "message": "the account is archived"}],
            )
        if problem := check_scale("opening_balance", change.opening_balance, account.currency):
            raise Unprocessable(problem["message"], errors=[problem])
        await _set_opening_balance(session, account, change.opening_balance)
    if fields:
        account.version = Account.version + 1
        account.updated_at = func.now()
    await session.commit()
    await session.refresh(account)
    return schemas.AccountWritten(
        account=schemas.AccountRead.model_validate(account), ledger_version=version
    )


async def _locked(session: AsyncSession, user_id: uuid.UUID, account_id: uuid.UUID) -> Account:
    account = (
        await session.execute(
            user_accounts(user_id).where(Account.id == account_id).with_for_update()
        )
    ).scalar_one_or_none()
    if account is None:
        raise NotFound("account not found")
    return account


async def delete_account(
    *, session: AsyncSession, user_id: uuid.UUID, account_id: uuid.UUID
) -> schemas.LedgerVersion:
    """Delete an account that no transaction uses (its opening balance aside)."""
    version = await begin_write(session, user_id)
    account = await _locked(session, user_id, account_id)
    used = (
        await session.execute(
            select(
                exists().where(
                    Transaction.user_id == user_id,
                    Transaction.type != OPENING,
                    or_(
                        Transaction.account_id == account_id,
                        Transaction.to_account_id == account_id,
                    ),
                )
            )
        )
    ).scalar_one()
    if used:
        raise Conflict(
            "the account has transactions; archive it instead",
            code="account_has_transactions",
        )
    await _set_opening_balance(session, account, Decimal(0))
    await session.execute(delete(Account).where(Account.id == account_id))
    await session.commit()
    return schemas.LedgerVersion(ledger_version=version)
