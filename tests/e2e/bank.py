"""The "bank" workload for tests/e2e/test_bank.py (after Jepsen's bank test):
concurrent transfers between a fixed set of accounts, each under its own
Idempotency-Key and retried with the same key and body until acknowledged,
readers checking what the API promises while parts of the stack are killed and
restarted, and the record of every attempt for the checks afterwards.

What the API promises, and so what the readers check while faults happen:
- `GET /services/accounts` is one SELECT in Postgres, so its balances are one
  snapshot: the listed balances always sum to the money the user started with.
- `GET /services/accounts/{id}/balance` comes from the cache, one account at a
  time: several such reads are no snapshot (their sum may be off while
  transfers run), but a `version` of an account always has the same balance.
- Exactness of every balance, cached or not, is only promised once nothing is
  writing; the test checks that at quiescent points and at the end.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

# An answer that means "not now, try again": the stack is (partly) down.
RETRYABLE = frozenset({502, 503, 504})
DATE = "2026-11-20"


@dataclass
class Intent:
    """One transfer a worker wants done, under one Idempotency-Key."""

    key: str
    user: int
    body: dict[str, str]
    statuses: list[int | str] = field(default_factory=list)
    transaction: dict[str, Any] | None = None  # the acknowledged transaction
    replayed: bool = False  # acknowledged by a replay of an earlier attempt
    refused: str | None = None  # an answer no retry could change (always an anomaly here)

    @property
    def acknowledged(self) -> bool:
        return self.transaction is not None


@dataclass
class Bank:
    """The shared state of one run: users, accounts, intents and anomalies."""

    seed: int
    user_ids: list[str]
    headers: list[dict[str, str]]  # per user
    accounts: list[list[str]]  # per user: the account ids
    totals: list[Decimal]  # per user: the money they hold
    intents: list[Intent] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)
    answers: Counter[tuple[str, int | str]] = field(default_factory=Counter)
    # every (account, version) -> balance any reader saw
    seen: dict[tuple[str, int], str] = field(default_factory=dict)
    snapshots: int = 0  # consistent account lists checked
    unknown: int = 0  # intents still unacknowledged when the run ended
    go: asyncio.Event = field(default_factory=asyncio.Event)  # new intents may start
    stopping: bool = False
    faulting: bool = False  # a fault is being injected: hold at the first failure
    active: int = 0  # intents started and not finished
    idle: asyncio.Condition = field(default_factory=asyncio.Condition)

    def anomaly(self, text: str) -> None:
        self.anomalies.append(text)

    async def drained(self) -> None:
        """Wait until no intent is in flight (each was acknowledged or abandoned)."""
        async with self.idle:
            await self.idle.wait_for(self._idle)

    def _idle(self) -> bool:
        return self.active == 0


def is_problem(response: httpx.Response) -> bool:
    content_type = str(response.headers.get("content-type", ""))
    return content_type.startswith("application/problem+json")


def _amount(rng: random.Random) -> str:
    cents = rng.randint(1, 5000)
    return f"{cents // 100}.{cents % 100:02d}"


async def post_transfer(
    client: httpx.AsyncClient, bank: Bank, intent: Intent, seconds: float
) -> httpx.Response | None:
    """One attempt; None when no answer came (timeout, connection reset)."""
    try:
        response = await client.post(
            "/services/transactions",
            headers={**bank.headers[intent.user], "Idempotency-Key": intent.key},
            json=intent.body,
            timeout=seconds,
        )
    except httpx.TransportError as exc:
        intent.statuses.append(type(exc).__name__)
        bank.answers["post", type(exc).__name__] += 1
        return None
    intent.statuses.append(response.status_code)
    bank.answers["post", response.status_code] += 1
    return response


def settle(bank: Bank, intent: Intent, response: httpx.Response) -> bool:
    """Record a final answer; False when the attempt should be retried."""
    if response.status_code == 201:
        created = response.json()
        sent = intent.body
        if (
            created["type"] != "transfer"
            or created["account_id"] != sent["account_id"]
            or created["to_account_id"] != sent["to_account_id"]
            or Decimal(created["amount"]) != Decimal(sent["amount"])
        ):
            bank.anomaly(f"{intent.key}: answered with another transfer: {created} for {sent}")
        if intent.transaction is not None and intent.transaction["id"] != created["id"]:
            bank.anomaly(f"{intent.key}: {intent.transaction['id']} then {created['id']}")
        intent.transaction = created
        intent.replayed = response.headers.get("idempotent-replayed") == "true"
        return True
    if response.status_code in RETRYABLE and is_problem(response):
        return False
    intent.refused = f"{response.status_code} {response.text[:300]}"
    bank.anomaly(f"{intent.key}: {intent.refused}")
    return True


async def push(client: httpx.AsyncClient, bank: Bank, intent: Intent, first_timeout: float) -> None:
    """Send the intent until it is acknowledged (or refused), or the run ends."""
    timeout = first_timeout
    while True:
        response = await post_transfer(client, bank, intent, timeout)
        if response is not None and settle(bank, intent, response):
            return
        if bank.faulting:
            bank.go.clear()  # the fault landed: no new intents until it is over
        if bank.stopping:
            return  # unknown: resolved once the stack is healthy
        timeout = 10.0
        await asyncio.sleep(0.05)  # a client's pause between retries


async def worker(client: httpx.AsyncClient, bank: Bank, number: int) -> None:
    rng = random.Random(f"{bank.seed}-worker-{number}")
    count = 0
    while not bank.stopping:
        await bank.go.wait()
        if bank.stopping:
            return
        user = rng.randrange(len(bank.accounts))
        source, target = rng.sample(bank.accounts[user], 2)
        intent = Intent(
            key=f"bank-{bank.seed}-{number}-{count}",
            user=user,
            body={
                "type": "transfer",
                "account_id": source,
                "to_account_id": target,
                "amount": _amount(rng),
                "date": DATE,
            },
        )
        count += 1
        bank.intents.append(intent)
        # some first attempts give up almost at once: an answer the client never
        # saw, for a write that may or may not have happened
        first_timeout = 0.02 if rng.random() < 0.2 else 10.0
        bank.active += 1
        try:
            await push(client, bank, intent, first_timeout)
        finally:
            async with bank.idle:
                bank.active -= 1
                bank.idle.notify_all()


async def reader(client: httpx.AsyncClient, bank: Bank, number: int) -> None:
    rng = random.Random(f"{bank.seed}-reader-{number}")
    while not bank.stopping:
        user = rng.randrange(len(bank.accounts))
        await _read_list(client, bank, user)
        for account in bank.accounts[user]:
            await _read_balance(client, bank, user, account)
        await asyncio.sleep(0.01)


async def _get(client: httpx.AsyncClient, bank: Bank, path: str, user: int) -> Any | None:
    """The JSON of a 200, or None for a retryable failure (anything else is an anomaly)."""
    try:
        response = await client.get(path, headers=bank.headers[user], timeout=10.0)
    except httpx.TransportError as exc:
        bank.answers["read", type(exc).__name__] += 1
        return None
    bank.answers["read", response.status_code] += 1
    if response.status_code == 200:
        return response.json()
    if response.status_code not in RETRYABLE or not is_problem(response):
        bank.anomaly(f"GET {path}: {response.status_code} {response.text[:300]}")
    return None


async def _read_list(client: httpx.AsyncClient, bank: Bank, user: int) -> None:
    page = await _get(client, bank, "/services/accounts?limit=200", user)
    if page is None:
        return
    balances = {a["id"]: Decimal(a["balance"]) for a in page["items"]}
    if set(balances) != set(bank.accounts[user]):
        bank.anomaly(f"user {user}: listed accounts {sorted(balances)}")
    elif sum(balances.values()) != bank.totals[user]:
        bank.anomaly(f"user {user}: one listing sums to {sum(balances.values())}: {balances}")
    bank.snapshots += 1


async def _read_balance(client: httpx.AsyncClient, bank: Bank, user: int, account: str) -> None:
    body = await _get(client, bank, f"/services/accounts/{account}/balance", user)
    if body is None:
        return
    key = (account, int(body["version"]))
    earlier = bank.seen.setdefault(key, body["balance"])
    if Decimal(earlier) != Decimal(body["balance"]):
        bank.anomaly(f"account {account} version {key[1]}: balance {earlier} and {body['balance']}")
