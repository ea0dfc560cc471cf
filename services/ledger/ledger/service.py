"""Ledger use cases on top of db-gateway and the balance cache."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from ledger import schemas
from ledger.cache import BalanceCache, CachedBalance
from ledger.config import Settings
from ledger.cursor import decode_cursor, encode_cursor
from ledger.money import fits_currency, format_amount, minor_units
from servicekit.credentials import check_password
from servicekit.errors import Forbidden, NotFound, field_error
from servicekit.http import send
from servicekit.passwords import PasswordHasher
from servicekit.revocation import RevocationList


def _users(user_id: uuid.UUID) -> str:
    return f"/internal/users/{user_id}"


def _account_read(row: dict[str, Any]) -> schemas.AccountRead:
    return schemas.AccountRead(
        id=row["id"],
        name=row["name"],
        type=row["type"],
        currency=row["currency"],
        balance=format_amount(Decimal(row["balance"]), row["currency"]),
        archived=row["archived"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _transaction_read(row: dict[str, Any]) -> schemas.TransactionRead:
    return schemas.TransactionRead(
        id=row["id"],
        type=row["type"],
        account_id=row["account_id"],
        to_account_id=row["to_account_id"],
        amount=format_amount(Decimal(row["amount"]), row["currency"]),
        currency=row["currency"],
        date=row["date"],
        description=row["description"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# ---------------------------------------------------------------- accounts


async def create_account(
    *, gateway: httpx.AsyncClient, user_id: uuid.UUID, draft: schemas.AccountCreate
) -> schemas.AccountRead:
    response = await send(
        gateway, "POST", f"{_users(user_id)}/accounts", json=draft.model_dump(mode="json")
    )
    return _account_read(response.json())


async def list_accounts(
    *, gateway: httpx.AsyncClient, user_id: uuid.UUID, limit: int, cursor: str | None
) -> schemas.AccountPage:
    params: dict[str, Any] = {"limit": limit + 1}
    if cursor:
        params["after_seq"] = _int(decode_cursor(cursor, frozenset({"s"}))["s"])
    rows = (await send(gateway, "GET", f"{_users(user_id)}/accounts", params=params)).json()[
        "items"
    ]
    page, more = rows[:limit], len(rows) > limit
    return schemas.AccountPage(
        items=[_account_read(r) for r in page],
        next_cursor=encode_cursor({"s": page[-1]["seq"]}) if more else None,
    )


async def _fetch_account(
    gateway: httpx.AsyncClient, user_id: uuid.UUID, account_id: uuid.UUID
) -> dict[str, Any]:
    response = await send(gateway, "GET", f"{_users(user_id)}/accounts/{account_id}")
    row: dict[str, Any] = response.json()
    return row


async def get_account(
    *, gateway: httpx.AsyncClient, user_id: uuid.UUID, account_id: uuid.UUID
) -> schemas.AccountRead:
    return _account_read(await _fetch_account(gateway, user_id, account_id))


# ---------------------------------------------------------------- balances


async def get_balance(
    *, gateway: httpx.AsyncClient, cache: BalanceCache, user_id: uuid.UUID, account_id: uuid.UUID
) -> CachedBalance:
    cached = await cache.get(user_id, account_id)
    if cached is not None:
        return cached
    row = await _fetch_account(gateway, user_id, account_id)
    balance = CachedBalance(
        account_id=account_id,
        currency=row["currency"],
        balance=Decimal(row["balance"]),
        version=row["version"],
        as_of=row["updated_at"],
    )
    await cache.put(user_id, balance)
    return balance


def balance_read(balance: CachedBalance) -> schemas.BalanceRead:
    return schemas.BalanceRead(
        account_id=balance.account_id,
        currency=balance.currency,
        balance=format_amount(balance.balance, balance.currency),
        version=balance.version,
        as_of=dt.datetime.fromisoformat(balance.as_of),
    )


# ---------------------------------------------------------------- transactions


@dataclass(frozen=True, slots=True)
class Posted:
    transaction: schemas.TransactionRead
    replayed: bool


def request_fingerprint(draft: schemas.TransactionCreate) -> str:
    """What "the same request" means for Idempotency-Key: the parsed body, so
    key order and white space do not matter but every value does."""
    canonical = json.dumps(draft.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def post_transaction(
    *,
    gateway: httpx.AsyncClient,
    cache: BalanceCache,
    user_id: uuid.UUID,
    draft: schemas.TransactionCreate,
    idempotency_key: str | None,
) -> Posted:
    await _check_accounts(gateway, user_id, draft)
    body = {
        "type": draft.type,
        "account_id": str(draft.account_id),
        "to_account_id": str(draft.to_account_id) if draft.to_account_id else None,
        "amount": str(draft.amount),
        "date": draft.date.isoformat(),
        "description": draft.description,
    }
    if idempotency_key is not None:
        body |= {"idempotency_key": idempotency_key, "request_hash": request_fingerprint(draft)}
    result = (await send(gateway, "POST", f"{_users(user_id)}/transactions", json=body)).json()
    # Write-through before answering: once the client has its 201, every
    # reader sees the new balances.
    for b in result["balances"]:
        await cache.put(
            user_id,
            CachedBalance(
                account_id=uuid.UUID(b["account_id"]),
                currency=b["currency"],
                balance=Decimal(b["balance"]),
                version=b["version"],
                as_of=result["transaction"]["updated_at"],
            ),
        )
    return Posted(transaction=_transaction_read(result["transaction"]), replayed=result["replayed"])


async def _check_accounts(
    gateway: httpx.AsyncClient, user_id: uuid.UUID, draft: schemas.TransactionCreate
) -> None:
    """Amount scale and currencies depend on the accounts: check before posting."""
    fields = ["account_id"] + (["to_account_id"] if draft.to_account_id else [])
    results = await asyncio.gather(
        *(_fetch_account(gateway, user_id, getattr(draft, f)) for f in fields),
        return_exceptions=True,
    )
    accounts = {}
    for field, result in zip(fields, results, strict=True):
        if isinstance(result, NotFound):
            raise NotFound(
                f"{field}: account not found",
                errors=[{"field": field, "message": "account not found"}],
            )
        if isinstance(result, BaseException):
            raise result
        accounts[field] = result
    currency = accounts["account_id"]["currency"]
    if not fits_currency(draft.amount, currency):
        raise field_error(
            "amount", f"{currency} amounts have at most {minor_units(currency)} decimal places"
        )
    if "to_account_id" in accounts and accounts["to_account_id"]["currency"] != currency:
        raise field_error("to_account_id", "must have the same currency as account_id")


async def list_transactions(
    *,
    gateway: httpx.AsyncClient,
    user_id: uuid.UUID,
    limit: int,
    cursor: str | None,
    account_id: uuid.UUID | None,
) -> schemas.TransactionPage:
    params: dict[str, Any] = {"limit": limit + 1}
    if account_id is not None:
        params["account_id"] = str(account_id)
    if cursor:
        position = decode_cursor(cursor, frozenset({"d", "s"}))
        try:
            params["before_date"] = dt.date.fromisoformat(str(position["d"])).isoformat()
        except ValueError as exc:
            raise field_error("cursor", "is not a cursor this API returned") from exc
        params["before_seq"] = _int(position["s"])
    rows = (await send(gateway, "GET", f"{_users(user_id)}/transactions", params=params)).json()[
        "items"
    ]
    page, more = rows[:limit], len(rows) > limit
    return schemas.TransactionPage(
        items=[_transaction_read(r) for r in page],
        next_cursor=encode_cursor({"d": page[-1]["date"], "s": page[-1]["seq"]}) if more else None,
    )


async def get_transaction(
    *, gateway: httpx.AsyncClient, user_id: uuid.UUID, transaction_id: uuid.UUID
) -> schemas.TransactionRead:
    response = await send(gateway, "GET", f"{_users(user_id)}/transactions/{transaction_id}")
    return _transaction_read(response.json())


# ---------------------------------------------------------------- profile


async def get_profile(*, gateway: httpx.AsyncClient, user_id: uuid.UUID) -> schemas.ProfileRead:
    response = await send(gateway, "GET", _users(user_id))
    return schemas.ProfileRead.model_validate(response.json())


class WrongPassword(Forbidden):
    default_code = "invalid_password"


async def delete_profile(
    *,
    gateway: httpx.AsyncClient,
    cache: BalanceCache,
    hasher: PasswordHasher,
    revocations: RevocationList,
    settings: Settings,
    user_id: uuid.UUID,
    password: str,
    client_ip: str,
) -> None:
    """Erase the user, after checking the password exactly like a login does
    (counted and throttled), so a stolen access token cannot delete an account
    or be used to guess its password."""
    verified = await check_password(
        gateway=gateway,
        hasher=hasher,
        policy=settings,
        client_ip=client_ip,
        password=password,
        user_id=user_id,
    )
    if verified is None:
        raise WrongPassword(
            "password is incorrect", errors=[{"field": "password", "message": "is incorrect"}]
        )
    revoked = (await send(gateway, "DELETE", _users(user_id))).json()["session_ids"]
    # Every token of the user stops working now, not when the sync gets to it.
    await revocations.mark(uuid.UUID(s) for s in revoked)
    await cache.forget_user(user_id)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise field_error("cursor", "is not a cursor this API returned")
    return value
