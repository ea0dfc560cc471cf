"""Transactions: posting, editing and listing them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from ledger import views
from ledger.cursor import cursor_int, decode_cursor, encode_cursor
from ledger.gateway import Gateway
from ledger.schemas.transactions import (
    TransactionCreate,
    TransactionUpdate,
)
from servicekit.errors import field_error
from servicekit.jsonutil import dumps

IDEMPOTENT_REPLAYS = Counter(
    "ledger_idempotent_replays",
    "POST /services/transactions answered with the first response of its Idempotency-Key.",
)


@dataclass(frozen=True, slots=True)
class Posted:
    transaction: dict[str, Any]  # as views.transaction_public shapes it
    replayed: bool


def request_fingerprint(draft: TransactionCreate) -> str:
    """What "the same request" means for Idempotency-Key: the parsed body, so
    key order and white space do not matter but every value does."""
    canonical = json.dumps(draft.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def post_transaction(
    *,
    gateway: Gateway,
    user_id: uuid.UUID,
    draft: TransactionCreate,
    idempotency_key: str | None,
) -> Posted:
    body = draft.model_dump(mode="json")
    if idempotency_key is not None:
        body |= {"idempotency_key": idempotency_key, "request_hash": request_fingerprint(draft)}
    result = await gateway.post_transaction(user_id, body)
    transaction = result["transaction"]
    assert transaction is not None
    if result["replayed"]:
        IDEMPOTENT_REPLAYS.inc()
    return Posted(transaction=views.transaction_public(transaction), replayed=result["replayed"])


async def update_transaction(
    *,
    gateway: Gateway,
    user_id: uuid.UUID,
    transaction_id: uuid.UUID,
    change: TransactionUpdate,
    if_match: int | None,
) -> dict[str, Any]:
    body = change.model_dump(mode="json", exclude_unset=True) | {"if_match": if_match}
    transaction = (await gateway.update_transaction(user_id, transaction_id, body))["transaction"]
    assert transaction is not None
    return views.transaction_public(transaction)


async def delete_transaction(
    *, gateway: Gateway, user_id: uuid.UUID, transaction_id: uuid.UUID, if_match: int | None
) -> None:
    params = {"if_match": if_match} if if_match is not None else {}
    await gateway.delete_transaction(user_id, transaction_id, params)


async def list_transactions(
    *,
    gateway: Gateway,
    user_id: uuid.UUID,
    limit: int,
    cursor: str | None,
    filters: dict[str, str],
) -> bytes:
    """A TransactionPage as its JSON body: the items exactly as db-gateway sent
    them (built by Postgres in their final shape), and the cursor."""
    params: dict[str, str | int | bool] = {"limit": limit, **filters}
    if cursor:
        position = decode_cursor(cursor, frozenset({"d", "s"}))
        try:
            params["before_date"] = dt.date.fromisoformat(str(position["d"])).isoformat()
        except ValueError as exc:
            raise field_error("cursor", "is not a cursor this API returned") from exc
        params["before_seq"] = cursor_int(position["s"])
    page = await gateway.transaction_page(user_id, params)
    after = dumps(encode_cursor({"d": page.next[0], "s": page.next[1]})) if page.next else b"null"
    return b'{"items":' + page.items + b',"next_cursor":' + after + b"}"


async def get_transaction(
    *, gateway: Gateway, user_id: uuid.UUID, transaction_id: uuid.UUID
) -> dict[str, Any]:
    return views.transaction_public(await gateway.transaction(user_id, transaction_id))
