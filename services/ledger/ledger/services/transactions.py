from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import Counter

from ledger import views
from ledger.cache import LedgerCache
from ledger.cursor import decode_cursor, encode_cursor
from ledger.schemas.transactions import (
    TransactionCreate,
    TransactionUpdate,
)
from ledger.services.common import cursor_int, users
from servicekit.errors import field_error
from servicekit.http import send
from servicekit.jsonutil import loads

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


async def _written(
    cache: LedgerCache, user_id: uuid.UUID, result: dict[str, Any]
) -> dict[str, Any] | None:
    # Write-through before answering: once the client has its answer, every
    # reader sees the new balances (and no older dashboard). A replay too: the
    # first attempt's update may have died with the replica that made it, or
    # its answer never arrived; a replay carries its accounts' current
    # balances and the first write's ledger version (db_gateway.transactions).
    await cache.written(
        user_id, [views.cached_balance(b) for b in result["balances"]], result["ledger_version"]
    )
    transaction: dict[str, Any] | None = result["transaction"]
    return transaction


async def post_transaction(
    *,
    gateway: httpx.AsyncClient,
    cache: LedgerCache,
    user_id: uuid.UUID,
    draft: TransactionCreate,
    idempotency_key: str | None,
) -> Posted:
    body = draft.model_dump(mode="json")
    if idempotency_key is not None:
        body |= {"idempotency_key": idempotency_key, "request_hash": request_fingerprint(draft)}
    result = loads(
        (await send(gateway, "POST", f"{users(user_id)}/transactions", json=body)).content
    )
    transaction = await _written(cache, user_id, result)
    assert transaction is not None
    if result["replayed"]:
        IDEMPOTENT_REPLAYS.inc()
    return Posted(transaction=views.transaction_public(transaction), replayed=result["replayed"])


async def update_transaction(
    *,
    gateway: httpx.AsyncClient,
    cache: LedgerCache,
    user_id: uuid.UUID,
    transaction_id: uuid.UUID,
    change: TransactionUpdate,
    if_match: int | None,
) -> dict[str, Any]:
    body = change.model_dump(mode="json", exclude_unset=True) | {"if_match": if_match}
    result = await send(
        gateway, "PATCH", f"{users(user_id)}/transactions/{transaction_id}", json=body
    )
    transaction = await _written(cache, user_id, loads(result.content))
    assert transaction is not None
    return views.transaction_public(transaction)


async def delete_transaction(
    *,
    gateway: httpx.AsyncClient,
    cache: LedgerCache,
    user_id: uuid.UUID,
    transaction_id: uuid.UUID,
    if_match: int | None,
) -> None:
    params = {"if_match": if_match} if if_match is not None else {}
    result = await send(
        gateway, "DELETE", f"{users(user_id)}/transactions/{transaction_id}", params=params
    )
    await _written(cache, user_id, result.json())


async def list_transactions(
    *,
    gateway: httpx.AsyncClient,
    user_id: uuid.UUID,
    limit: int,
    cursor: str | None,
    filters: dict[str, str],
) -> dict[str, Any]:
    """A TransactionPage, as plain data."""
    params: dict[str, Any] = {"limit": limit + 1, **filters}
    if cursor:
        position = decode_cursor(cursor, frozenset({"d", "s"}))
        try:
            params["before_date"] = dt.date.fromisoformat(str(position["d"])).isoformat()
        except ValueError as exc:
            raise field_error("cursor", "is not a cursor this API returned") from exc
        params["before_seq"] = cursor_int(position["s"])
    response = await send(gateway, "GET", f"{users(user_id)}/transactions", params=params)
    rows = loads(response.content)["items"]
    page, more = rows[:limit], len(rows) > limit
    return {
        "items": [views.transaction_public(r) for r in page],
        "next_cursor": (
            encode_cursor({"d": page[-1]["date"], "s": page[-1]["seq"]}) if more else None
        ),
    }


async def get_transaction(
    *, gateway: httpx.AsyncClient, user_id: uuid.UUID, transaction_id: uuid.UUID
) -> dict[str, Any]:
    response = await send(gateway, "GET", f"{users(user_id)}/transactions/{transaction_id}")
    return views.transaction_public(loads(response.content))
