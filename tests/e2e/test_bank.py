"""The bank invariant under faults (after Jepsen's "bank" test), on the local stack.

Sixteen clients move money between a few accounts of two users through the
ingress, each transfer under its own Idempotency-Key and retried with the same
key and body until it is acknowledged (some first attempts time out on the
client at once), while readers check what the API promises (see
tests/e2e/bank.py) and a schedule drawn from a seed restarts Postgres and
Redis and kills (SIGKILL) a ledger replica and db-gateway. After each fault,
once no transfer is in flight, every cached balance must be the database's;
at the end every key holds exactly one transaction, the one it was
acknowledged with, the money is all there to the cent, the cache agrees
with the database before and after it is emptied, and no part of the stack
answered a 500 (an outage is a retryable 503, between services too).

A failure names its seed: `BANK_SEED=<seed> pytest tests/e2e/test_bank.py`
replays the same schedule, transfers and amounts (not the same interleaving).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
import redis as sync_redis
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import StackInfo
from tests.e2e.bank import Bank, Intent, reader, settle, worker
from tests.e2e.conftest import register_and_login
from tests.e2e.ledger_checks import (
    assert_books_balance,
    balance_of,
    log_offsets,
    log_text_since,
    open_account,
    post_tx,
    query,
    user_id_of,
)
from tests.waiting import wait_until_async

USERS = 2
ACCOUNTS = 5  # per user
WORKERS = 16
READERS = 2
# Once nothing writes, a cache entry a write could not update (Redis was
# unreachable to it) is repaired by the ledger's background loop every 0.5 s:
# the cache must agree with the database well within this. Entries live 300 s,
# so any bound far below that shows the repair put it right, not the expiry;
# the margin is for a busy machine.
CONVERGED_WITHIN = 30.0
READY_WITHIN = 60.0
# Each stretch of load (before each fault, and after the last) lasts its drawn
# seconds and at least this much work: the checks need enough transfers and
# consistent listings, and a busy machine does less in the same seconds.
TRANSFERS_PER_STRETCH = 25
LISTINGS_PER_STRETCH = 3
PARTS = ("postgres", "redis", "db-gateway", "ledger-1", "ledger-2")


@dataclass(frozen=True)
class Fault:
    part: str
    verb: str  # "restart", or "kill" then "start"
    after: float  # seconds of load before it


def schedule(rng: random.Random) -> list[Fault]:
    """Each kind of fault once, in a random order, and one more of any kind."""
    kinds = ["postgres", "redis", "ledger", "db-gateway"]
    rng.shuffle(kinds)
    kinds.append(rng.choice(kinds))
    faults = []
    for kind in kinds:
        part = rng.choice(["ledger-1", "ledger-2"]) if kind == "ledger" else kind
        verb = "restart" if kind in ("postgres", "redis") else "kill"
        faults.append(Fault(part, verb, after=rng.uniform(1.5, 3.0)))
    return faults


@pytest.fixture
def parts_back(stack: StackInfo) -> Iterator[None]:
    """Whatever happens to the run, the stack is whole for the tests after it."""
    try:
        yield
    finally:
        for part in PARTS:
            stack.control("start", part)  # a no-op when it is running


@pytest.mark.usefixtures("parts_back")
def test_money_is_conserved_and_every_transfer_happens_once_under_faults(
    api: httpx.Client, stack: StackInfo
) -> None:
    seed = int(os.environ.get("BANK_SEED") or random.SystemRandom().randrange(10**9))
    print(f"\nBANK_SEED={seed}")
    rng = random.Random(seed)
    faults = schedule(rng)
    print("faults:", [(f.verb, f.part, round(f.after, 1)) for f in faults])

    headers, accounts, user_ids, openings = [], [], [], {}
    for number in range(USERS):
        owner = register_and_login(api)
        headers.append(owner.headers)
        user_ids.append(user_id_of(api, owner))
        ids = []
        for index in range(ACCOUNTS):
            cents = rng.randint(0, 200_000)
            opening = f"{cents // 100}.{cents % 100:02d}"
            account = open_account(api, owner, f"bank {number}-{index}", opening_balance=opening)
            openings[account] = Decimal(opening)
            ids.append(account)
        accounts.append(ids)
    totals = [sum((openings[a] for a in ids), Decimal(0)) for ids in accounts]

    logs = log_offsets(stack)
    started = time.monotonic()
    bank = Bank(seed=seed, user_ids=user_ids, headers=headers, accounts=accounts, totals=totals)
    asyncio.run(_drive(stack, bank, faults))
    elapsed = time.monotonic() - started
    acknowledged = [i for i in bank.intents if i.acknowledged]
    print(
        f"{len(bank.intents)} transfers in {elapsed:.1f}s,"
        f" {sum(i.replayed for i in acknowledged)} acknowledged by a replay,"
        f" {bank.unknown} unknown at the end (then replayed),"
        f" {bank.snapshots} consistent listings; answers {dict(bank.answers)}"
    )
    context = f"BANK_SEED={seed} ({len(bank.anomalies)} anomalies: {bank.anomalies[:3]})"
    assert len(acknowledged) == len(bank.intents) > 100, context
    assert bank.snapshots > 10, context
    assert any(len(i.statuses) > 1 for i in bank.intents), f"{context}: nothing was retried"

    # first the books, straight from Postgres: exactly once, to the cent
    expected = dict(openings)
    for intent in bank.intents:
        amount = Decimal(intent.body["amount"])
        expected[intent.body["account_id"]] -= amount
        expected[intent.body["to_account_id"]] += amount
    for user, user_id in enumerate(user_ids):
        _check_database(stack, user_id, [i for i in bank.intents if i.user == user], context)
        assert_books_balance(stack, user_id)
        rows = query(
            stack,
            "SELECT id::text AS id, balance FROM accounts"
            " WHERE user_id = :u AND system_role IS NULL",
            u=user_id,
        )
        balances = {r["id"]: r["balance"] for r in rows}
        assert balances == {a: expected[a] for a in accounts[user]}, context
        assert sum(balances.values()) == bank.totals[user], context
    # then what the clients and readers saw on the way
    assert not bank.anomalies, f"BANK_SEED={seed}: {bank.anomalies[:20]}"
    # and no part of the stack answered a 500 to anyone, its peers included:
    # every outage is a retryable 503
    errors = {
        name: gained.count('"status":500')
        for name, gained in log_text_since(stack, logs).items()
        if '"status":500' in gained
    }
    assert not errors, f"BANK_SEED={seed}: 500s in {errors} (see {stack.logs})"


def test_a_retry_puts_right_the_cache_its_lost_first_attempt_left_behind(
    api: httpx.Client, stack: StackInfo
) -> None:
    """A replica that dies between its commit and its cache write (or whose
    answer from db-gateway never arrives) leaves the cache as it was before the
    write; the client's retry with the same key is answered from the key's
    record, and must put the cache right: the write is acknowledged now."""
    user = register_and_login(api)
    user_id = user_id_of(api, user)
    source = open_account(api, user, "from", opening_balance="100.00")
    target = open_account(api, user, "to")
    keys = [f"bal:{user_id}:{source}", f"bal:{user_id}:{target}", f"dash:{user_id}"]
    for path in (f"/services/accounts/{source}/balance", f"/services/accounts/{target}/balance"):
        assert api.get(path, headers=user.headers).status_code == 200
    assert api.get("/services/dashboard", headers=user.headers).status_code == 200
    cache = sync_redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        before = {key: cache.hgetall(key) for key in keys}
        assert all(before.values()), before  # all three cached
        body = {
            "type": "transfer",
            "account_id": source,
            "to_account_id": target,
            "amount": "30.00",
            "date": "2026-11-20",
        }
        first = post_tx(api, user, body, key="lost-first-answer")
        assert first.status_code == 201, first.text
        # the first attempt's cache updates never happened
        for key, entry in before.items():
            cache.delete(key)
            for field, value in entry.items():
                cache.hset(key, field, value)
    finally:
        cache.close()
    assert balance_of(api, user, source) == "100.00"  # stale, as the crash left it

    retry = post_tx(api, user, body, key="lost-first-answer")
    assert retry.status_code == 201, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    assert balance_of(api, user, source) == "70.00"
    assert balance_of(api, user, target) == "30.00"
    dashboard = api.get("/services/dashboard", headers=user.headers).json()
    assert [a["balance"] for a in dashboard["accounts"]] == ["70.00", "30.00"]


def _check_database(stack: StackInfo, user_id: str, intents: list[Intent], context: str) -> None:
    """Every key holds exactly the one transaction it was acknowledged with, and
    there is no transfer without a key."""
    records = {
        r["key"]: r["transaction_id"]
        for r in query(
            stack,
            "SELECT key, transaction_id::text AS transaction_id FROM idempotency_records"
            " WHERE user_id = :u",
            u=user_id,
        )
    }
    transfers = {
        r["id"]: r
        for r in query(
            stack,
            "SELECT id::text AS id, account_id::text AS account_id,"
            " to_account_id::text AS to_account_id, amount FROM transactions"
            " WHERE user_id = :u AND type = 'transfer'",
            u=user_id,
        )
    }
    acknowledged = {i.key: i for i in intents}
    assert records == {k: i.transaction["id"] for k, i in acknowledged.items() if i.transaction}, (
        f"{context}: the idempotency records are not the acknowledged transfers"
    )
    assert Counter(records.values()).most_common(1)[0][1] == 1, f"{context}: a shared id"
    assert set(transfers) == set(records.values()), f"{context}: a transfer without its key"
    assert len(transfers) == len(intents), f"{context}: not one transfer per key"
    for key, transaction_id in records.items():
        row, sent = transfers[transaction_id], acknowledged[key].body
        assert (row["account_id"], row["to_account_id"], row["amount"]) == (
            sent["account_id"],
            sent["to_account_id"],
            Decimal(sent["amount"]),
        ), f"{context}: {key} holds {row}, sent {sent}"


async def _drive(stack: StackInfo, bank: Bank, faults: list[Fault]) -> None:
    engine = create_async_engine(stack.database_url, poolclass=NullPool)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=stack.ingress, limits=limits) as client:
        bank.go.set()
        tasks = [asyncio.create_task(worker(client, bank, n)) for n in range(WORKERS)]
        tasks += [asyncio.create_task(reader(client, bank, n)) for n in range(READERS)]
        try:
            for number, fault in enumerate(faults):
                await _stretch(bank, fault.after)  # transfers run meanwhile
                await _inject(stack, bank, fault)
                await _converged(client, engine, bank, f"after fault {number} ({fault})")
                bank.go.set()
            await _stretch(bank, 1.0)
        finally:
            bank.stopping = True
            bank.go.set()
            await asyncio.gather(*tasks)
        try:
            await _resolve(client, bank)
            await _replay_some(client, bank)
            await _converged(client, engine, bank, "at the end")
            await _flush_cache(stack, bank)
            await _converged(client, engine, bank, "at the end, after emptying the cache")
        finally:
            await engine.dispose()


async def _stretch(bank: Bank, seconds: float) -> None:
    """Let the workload run for `seconds`, and on until it has done a stretch's
    work (TRANSFERS_PER_STRETCH acknowledged, LISTINGS_PER_STRETCH checked)."""
    acknowledged = sum(i.acknowledged for i in bank.intents)
    snapshots = bank.snapshots
    await asyncio.sleep(seconds)

    async def worked() -> bool:
        done = sum(i.acknowledged for i in bank.intents) - acknowledged
        return done >= TRANSFERS_PER_STRETCH and bank.snapshots - snapshots >= LISTINGS_PER_STRETCH

    await wait_until_async(worked, "the workload stalled", within=READY_WITHIN)


async def _inject(stack: StackInfo, bank: Bank, fault: Fault) -> None:
    """Carry out one fault; then hold new transfers until the part is ready
    again and none is in flight, so that what the fault left behind (a commit
    whose cache update died with its replica, say) is what the next check
    sees, not something later transfers happened to paper over. Transfers
    already started keep retrying meanwhile; the hold begins at the first
    failure a worker sees while the fault is under way."""
    bank.faulting = True
    try:
        if fault.verb == "restart":
            await asyncio.to_thread(stack.control, "restart", fault.part)
        else:
            await asyncio.to_thread(stack.control, "kill", fault.part)
            await asyncio.to_thread(stack.control, "start", fault.part)
    finally:
        bank.go.clear()
        bank.faulting = False
    await asyncio.wait_for(_ready(stack, fault.part), READY_WITHIN)
    await asyncio.wait_for(bank.drained(), READY_WITHIN)


async def _ready(stack: StackInfo, part: str) -> None:
    """Poll the part's readiness: a service's /readyz (db-gateway's checks
    Postgres), Redis's PING."""
    if part == "redis":
        cache = aioredis.Redis.from_url(stack.redis_url)
        try:
            while True:
                try:
                    if await cache.ping():
                        return
                except (aioredis.RedisError, OSError):
                    pass
                await asyncio.sleep(0.05)
        finally:
            await cache.aclose()
    url = stack.services["db-gateway" if part == "postgres" else part] + "/readyz"
    async with httpx.AsyncClient(timeout=1.0) as client:
        while True:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)


async def _resolve(client: httpx.AsyncClient, bank: Bank) -> None:
    """Replay every intent whose outcome is unknown, now that the stack is
    healthy: it answers the transfer made before, or makes it now, once."""
    bank.unknown = sum(not i.acknowledged and i.refused is None for i in bank.intents)
    for intent in bank.intents:
        while not intent.acknowledged and intent.refused is None:
            response = await client.post(
                "/services/transactions",
                headers={**bank.headers[intent.user], "Idempotency-Key": intent.key},
                json=intent.body,
                timeout=10.0,
            )
            intent.statuses.append(response.status_code)
            if not settle(bank, intent, response):
                bank.anomaly(f"{intent.key}: {response.status_code} with a healthy stack")
                return


async def _replay_some(client: httpx.AsyncClient, bank: Bank) -> None:
    """Acknowledged keys, sent again: the same transaction, marked as a replay."""
    rng = random.Random(f"{bank.seed}-replays")
    acknowledged = [i for i in bank.intents if i.transaction is not None]
    for intent in rng.sample(acknowledged, min(20, len(acknowledged))):
        assert intent.transaction is not None
        response = await client.post(
            "/services/transactions",
            headers={**bank.headers[intent.user], "Idempotency-Key": intent.key},
            json=intent.body,
            timeout=10.0,
        )
        if (
            response.status_code != 201
            or response.json()["id"] != intent.transaction["id"]
            or response.headers.get("idempotent-replayed") != "true"
        ):
            bank.anomaly(f"{intent.key}: replayed as {response.status_code} {response.text[:300]}")


async def _database_balances(engine: AsyncEngine, bank: Bank) -> dict[str, tuple[Decimal, int]]:
    ids = [a for user in bank.accounts for a in user]
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT id::text, balance, version FROM accounts WHERE id::text = ANY(:ids)"),
            {"ids": ids},
        )
        return {r[0]: (r[1], int(r[2])) for r in rows}


async def _cached_balances(
    client: httpx.AsyncClient, bank: Bank
) -> dict[str, tuple[Decimal, int] | str]:
    found: dict[str, tuple[Decimal, int] | str] = {}
    for user, ids in enumerate(bank.accounts):
        for account in ids:
            response = await client.get(
                f"/services/accounts/{account}/balance", headers=bank.headers[user], timeout=10.0
            )
            if response.status_code == 200:
                body = response.json()
                found[account] = (Decimal(body["balance"]), int(body["version"]))
            else:
                found[account] = f"{response.status_code} {response.text[:200]}"
    return found


async def _converged(client: httpx.AsyncClient, engine: AsyncEngine, bank: Bank, when: str) -> None:
    """Nothing is writing: every balance the API serves (from the cache) is
    the database's, and each user's money is all there."""
    deadline = time.monotonic() + CONVERGED_WITHIN
    while True:
        database = await _database_balances(engine, bank)
        cached = await _cached_balances(client, bank)
        differ = {a: (cached[a], database[a]) for a in database if cached[a] != database[a]}
        if not differ:
            break
        if time.monotonic() > deadline:
            bank.anomaly(f"{when}: cached (balance, version) differ from the database: {differ}")
            break
        await asyncio.sleep(0.1)
    for user, ids in enumerate(bank.accounts):
        money = sum(database[a][0] for a in ids)
        if money != bank.totals[user]:
            bank.anomaly(f"{when}: user {user} holds {money}, not {bank.totals[user]}")


async def _flush_cache(stack: StackInfo, bank: Bank) -> None:
    """Empty the cache of the run's users (what a Redis flush does to them)."""
    cache = aioredis.Redis.from_url(stack.redis_url)
    try:
        for user, ids in enumerate(bank.accounts):
            user_id = bank.user_ids[user]
            keys = [f"bal:{user_id}:{a}" for a in ids] + [f"dash:{user_id}"]
            await cache.delete(*keys)
    finally:
        await cache.aclose()
