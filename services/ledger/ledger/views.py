"""db-gateway's rows as the public API shows them: amounts with exactly the
decimal places of their currency."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ledger.cache import CachedBalance
from ledger.gateway import AccountRow, TransactionRow
from ledger.schemas.accounts import AccountRead
from ledger.schemas.transactions import TransactionRead
from servicekit.jsonutil import dumps
from servicekit.money import format_amount


def money(value: str, currency: str) -> str:
    return format_amount(Decimal(value), currency)


def account_read(row: AccountRow) -> AccountRead:
    currency = row["currency"]
    return AccountRead.model_validate(
        {
            "id": row["id"],
            "name": row["name"],
            "type": row["type"],
            "currency": currency,
            "balance": money(row["balance"], currency),
            "opening_balance": money(row["opening_balance"], currency),
            "archived": row["archived"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
    )


def transaction_public(row: TransactionRow) -> dict[str, Any]:
    """A transaction as db-gateway sent it, as the API shows it (TransactionRead's
    fields, in order), as plain data: pages and writes are serialised once,
    without building a model per transaction."""
    currency = row["currency"]
    to_currency = row["to_currency"]
    to_amount = row["to_amount"]
    return {
        "id": row["id"],
        "type": row["type"],
        "account_id": row["account_id"],
        "to_account_id": row["to_account_id"],
        "amount": money(row["amount"], currency),
        "currency": currency,
        "to_amount": money(to_amount, to_currency) if to_amount and to_currency else None,
        "to_currency": to_currency,
        "category_id": row["category_id"],
        "splits": [
            {
                "category_id": s["category_id"],
                "amount": money(s["amount"], currency),
                "description": s["description"],
            }
            for s in row["splits"]
        ],
        "date": row["date"],
        "description": row["description"],
        "notes": row["notes"],
        "tags": row["tags"],
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def transaction_read(row: TransactionRow) -> TransactionRead:
    return TransactionRead.model_validate(transaction_public(row))


def balance_json(balance: CachedBalance) -> bytes:
    """A BalanceRead as the response body, without building the model: the
    hottest path of the API."""
    return dumps(
        {
            "account_id": str(balance.account_id),
            "currency": balance.currency,
            "balance": format_amount(balance.balance, balance.currency),
            "version": balance.version,
            "as_of": balance.as_of,
        }
    )
