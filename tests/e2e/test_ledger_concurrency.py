"""The ledger under concurrent load, through the real nginx: many writers with
idempotent retries, readers racing a writer, and optimistic locking."""

from __future__ import annotations

import datetime as dt
import functools
import random
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import StackInfo
from tests.e2e.conftest import assert_problem, register_and_login
from tests.e2e.ledger_checks import (
    assert_books_balance,
    balance_of,
    cached_equals_db,
    create_tx,
    log_offsets,
    log_text_since,
    open_account,
    query,
    scalar,
    user_id_of,
)
from tests.waiting import wait_until

SEED = 20261125
TRANSFERS = 200
ACCOUNTS = 10
THREADS = 32
REPLAY_SHARE = 0.2


class ThreadClients:
    """One httpx client per worker thread, all closed at the end."""

    def __init__(self, stack: StackInfo) -> None:
        self._stack = stack
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients: list[httpx.Client] = []

    def get(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(base_url=self._stack.ingress, timeout=30)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()


@pytest.fixture
def clients(stack: StackInfo) -> Iterator[ThreadClients]:
    pool = ThreadClients(stack)
    try:
        yield pool
    finally:
        pool.close()


@dataclass(frozen=True)
class Sent:
    index: int
    status: int
    body: Any
    text: str
    replayed: str | None
    etag: str | None


@dataclass(frozen=True)
class Transfer:
    key: str
    source: int
    target: int
    cents: int
    body: dict[str, str]


def _money(cents: int) -> str:
    return str(Decimal(cents).scaleb(-2))


def test_concurrent_idempotent_transfers_keep_the_books_exact(
    api: httpx.Client, stack: StackInfo, clients: ThreadClients
) -> None:
    print(f"seed={SEED}")
    rng = random.Random(SEED)
    user = register_and_login(api)
    user_id = user_id_of(api, user)
    openings = [rng.randrange(0, 500_000) for _ in range(ACCOUNTS)]
    accounts = [
        open_account(api, user, f"Account {n}", opening_balance=_money(cents))
        for n, cents in enumerate(openings)
    ]
    transfers: list[Transfer] = []
    for i in range(TRANSFERS):
        source, target = rng.sample(range(ACCOUNTS), 2)
        cents = rng.randrange(1, 100_000)
        transfers.append(
            Transfer(
                key=f"xfer-{SEED}-{i}",
                source=source,
                target=target,
                cents=cents,
                body={
                    "type": "transfer",
                    "account_id": accounts[source],
                    "to_account_id": accounts[target],
                    "amount": _money(cents),
                    "date": (
                        dt.date(2026, 11, 1) + dt.timedelta(days=rng.randrange(30))
                    ).isoformat(),
                    "description": f"transfer {i}",
                },
            )
        )
    replayed = sorted(rng.sample(range(TRANSFERS), int(TRANSFERS * REPLAY_SHARE)))
    together = set(replayed[::2])  # sent twice at the same moment
    after = set(replayed[1::2])  # sent again as soon as the first answer arrives

    results: dict[int, list[Sent]] = defaultdict(list)
    results_lock = threading.Lock()

    def send(i: int) -> None:
        transfer = transfers[i]
        response = clients.get().post(
            "/services/transactions",
            headers={**user.headers, "Idempotency-Key": transfer.key},
            json=transfer.body,
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        with results_lock:
            results[i].append(
                Sent(
                    index=i,
                    status=response.status_code,
                    body=body,
                    text=response.text,
                    replayed=response.headers.get("idempotent-replayed"),
                    etag=response.headers.get("etag"),
                )
            )

    def twice(i: int) -> None:
        send(i)
        send(i)

    jobs: list[Callable[[], None]] = []
    for i in range(TRANSFERS):
        if i in after:
            jobs.append(functools.partial(twice, i))
        else:
            jobs.append(functools.partial(send, i))
            if i in together:
                jobs.append(functools.partial(send, i))

    offsets = log_offsets(stack)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [pool.submit(job) for job in jobs]
        for future in futures:
            future.result()

    every = [sent for sents in results.values() for sent in sents]
    assert len(every) == TRANSFERS + len(replayed)
    server_errors = [(s.index, s.status, s.text) for s in every if s.status >= 500]
    assert not server_errors, server_errors
    assert not [s.text for s in every if "deadlock" in s.text.lower()]
    refused = [(s.index, s.status, s.text) for s in every if s.status != 201]
    assert not refused, refused
    grown = log_text_since(stack, offsets)
    assert not {name: text for name, text in grown.items() if "deadlock" in text.lower()}

    # each key: one original answer, and every other answer a replay of it
    for i, sents in results.items():
        originals = [s for s in sents if s.replayed is None]
        replays = [s for s in sents if s.replayed is not None]
        assert len(originals) == 1, (i, sents)
        assert all(s.replayed == "true" for s in replays), (i, sents)
        assert len(replays) == (1 if i in together or i in after else 0), (i, sents)
        for replay in replays:
            assert replay.body == originals[0].body, i
            assert replay.etag == originals[0].etag, i
        body = originals[0].body
        transfer = transfers[i]
        assert body["amount"] == transfer.body["amount"]
        assert body["account_id"] == transfer.body["account_id"]
        assert body["to_account_id"] == transfer.body["to_account_id"]

    # exactly one transaction per key, and it is the one the answers name
    records = query(
        stack,
        "SELECT key, transaction_id FROM idempotency_records WHERE user_id = :u",
        u=user_id,
    )
    by_key = {r["key"]: str(r["transaction_id"]) for r in records}
    assert len(records) == TRANSFERS
    assert len(set(by_key.values())) == TRANSFERS
    for i, sents in results.items():
        assert by_key[transfers[i].key] == sents[0].body["id"]
    stored = query(
        stack,
        "SELECT id FROM transactions WHERE user_id = :u AND type = 'transfer'",
        u=user_id,
    )
    assert {str(r["id"]) for r in stored} == set(by_key.values())

    # balances: opening + what the test itself summed, to the cent
    expected = list(openings)
    for transfer in transfers:
        expected[transfer.source] -= transfer.cents
        expected[transfer.target] += transfer.cents
    assert [balance_of(api, user, a) for a in accounts] == [_money(c) for c in expected]
    db = {
        str(r["id"]): r["balance"]
        for r in query(
            stack,
            "SELECT id, balance FROM accounts WHERE user_id = :u AND system_role IS NULL",
            u=user_id,
        )
    }
    assert [db[a] for a in accounts] == [Decimal(_money(c)) for c in expected]
    assert assert_books_balance(stack, user_id)["transactions"] >= TRANSFERS
    assert cached_equals_db(stack, user_id) == ACCOUNTS


def test_a_writer_always_reads_its_own_writes_while_readers_race(
    api: httpx.Client, stack: StackInfo, clients: ThreadClients
) -> None:
    rng = random.Random(SEED + 1)
    print(f"seed={SEED + 1}")
    user = register_and_login(api)
    user_id = user_id_of(api, user)
    accounts = [
        open_account(api, user, "Checking", opening_balance="1000.00"),
        open_account(api, user, "Savings"),
        open_account(api, user, "Cash", opening_balance="50.00"),
    ]
    cents = {accounts[0]: 100_000, accounts[1]: 0, accounts[2]: 5_000}
    # every (account, version) the writer saw, with the balance it had then
    seen_by_writer: dict[tuple[str, int], str] = {}
    for account in accounts:
        first = api.get(f"/services/accounts/{account}/balance", headers=user.headers).json()
        seen_by_writer[(account, first["version"])] = first["balance"]
    done = threading.Event()
    readers = 4
    reads_by = [0] * readers  # the reads each reader has completed so far
    failures: list[str] = []
    observations: list[tuple[str, int, str]] = []
    observations_lock = threading.Lock()

    def reader(n: int) -> int:
        client = clients.get()
        last: dict[str, int] = {}
        reads = 0
        mine: list[tuple[str, int, str]] = []
        while not done.is_set():
            account = accounts[reads % len(accounts)]
            response = client.get(f"/services/accounts/{account}/balance", headers=user.headers)
            reads += 1
            reads_by[n] = reads
            if response.status_code != 200:
                failures.append(f"reader {n}: {response.status_code} {response.text}")
                break
            body = response.json()
            if body["version"] < last.get(account, 0):
                failures.append(
                    f"reader {n}: {account} went back from version {last[account]} to {body}"
                )
            if response.headers.get("etag") != f'"{body["version"]}"':
                failures.append(f"reader {n}: etag {response.headers.get('etag')} for {body}")
            last[account] = body["version"]
            mine.append((account, body["version"], body["balance"]))
        with observations_lock:
            observations.extend(mine)
        return reads

    def read_since(marks: list[int]) -> bool:
        """Every reader has read since `marks` (or one has failed, and stopped)."""
        return bool(failures) or all(r > m for r, m in zip(reads_by, marks, strict=True))

    def writer() -> None:
        client = clients.get()
        versions = {a: v for (a, v) in seen_by_writer}
        since = [0] * readers
        try:
            for i in range(50):
                # each write waits until every reader has read since the last
                # one: the readers race all the writes, however the threads
                # happen to be scheduled (a reader that failed stops this)
                wait_until(functools.partial(read_since, since), "a reader stopped reading")
                since = list(reads_by)
                kind = ("expense", "income", "transfer")[i % 3]
                amount = rng.randrange(1, 5_000)
                source, target = rng.sample(accounts, 2)
                body: dict[str, Any] = {
                    "type": kind,
                    "account_id": source,
                    "amount": _money(amount),
                    "date": "2026-11-20",
                }
                touched = [source]
                if kind == "transfer":
                    body["to_account_id"] = target
                    touched.append(target)
                    cents[source] -= amount
                    cents[target] += amount
                else:
                    cents[source] += amount if kind == "income" else -amount
                response = client.post("/services/transactions", headers=user.headers, json=body)
                assert response.status_code == 201, response.text
                for account in touched:
                    read = client.get(f"/services/accounts/{account}/balance", headers=user.headers)
                    assert read.status_code == 200, read.text
                    got = read.json()
                    assert got["balance"] == _money(cents[account]), (i, account, got)
                    assert got["version"] > versions[account], (i, account, got)
                    versions[account] = got["version"]
                    seen_by_writer[(account, got["version"])] = got["balance"]
        finally:
            done.set()

    with ThreadPoolExecutor(max_workers=5) as pool:
        running = [pool.submit(reader, n) for n in range(readers)]
        writes = pool.submit(writer)
        writes.result()
        reads = [r.result() for r in running]
    assert not failures, failures[:10]
    assert min(reads) > 10, reads  # the readers really ran alongside the writer
    # whatever a reader saw was a state the writer saw at that same version
    unknown = [o for o in observations if seen_by_writer.get((o[0], o[1])) != o[2]]
    assert not unknown, unknown[:10]
    assert [balance_of(api, user, a) for a in accounts] == [_money(cents[a]) for a in accounts]
    assert_books_balance(stack, user_id)
    assert cached_equals_db(stack, user_id) == len(accounts)


def test_concurrent_patches_with_one_if_match_let_exactly_one_win(
    api: httpx.Client, stack: StackInfo, clients: ThreadClients
) -> None:
    user = register_and_login(api)
    user_id = user_id_of(api, user)
    account = open_account(api, user, "Checking", opening_balance="100.00")
    created = create_tx(
        api,
        user,
        {"type": "expense", "account_id": account, "amount": "10.00", "date": "2026-11-02"},
    )
    read = api.get(f"/services/transactions/{created['id']}", headers=user.headers)
    etag = read.headers["etag"]
    assert etag == f'"{created["version"]}"'
    contenders = 12
    barrier = threading.Barrier(contenders)

    def patch(n: int) -> httpx.Response:
        client = clients.get()
        barrier.wait(timeout=10)
        return client.patch(
            f"/services/transactions/{created['id']}",
            headers={**user.headers, "If-Match": etag},
            json={"amount": f"{n + 1}.00", "description": f"edit {n}"},
        )

    with ThreadPoolExecutor(max_workers=contenders) as pool:
        responses = list(pool.map(patch, range(contenders)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * (contenders - 1), [r.text for r in responses]
    for response in responses:
        if response.status_code == 412:
            assert_problem(response, 412, "version_mismatch")
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert winner["version"] == created["version"] + 1
    now = api.get(f"/services/transactions/{created['id']}", headers=user.headers)
    assert now.json() == winner
    assert now.headers["etag"] == f'"{winner["version"]}"'
    assert balance_of(api, user, account) == _money(10_000 - int(Decimal(winner["amount"]) * 100))
    assert (
        scalar(
            stack,
            "SELECT count(*) FROM transactions WHERE user_id = :u AND type = 'expense'",
            u=user_id,
        )
        == 1
    )
    assert_books_balance(stack, user_id)
    cached_equals_db(stack, user_id)


def test_one_key_sent_concurrently_with_two_bodies_posts_exactly_one(
    api: httpx.Client, stack: StackInfo, clients: ThreadClients
) -> None:
    user = register_and_login(api)
    user_id = user_id_of(api, user)
    account = open_account(api, user, "Checking")
    keys = [f"race-{n}" for n in range(10)]
    barrier = threading.Barrier(len(keys) * 2)

    def send(job: tuple[str, str]) -> tuple[str, str, httpx.Response]:
        key, amount = job
        client = clients.get()
        barrier.wait(timeout=10)
        response = client.post(
            "/services/transactions",
            headers={**user.headers, "Idempotency-Key": key},
            json={"type": "income", "account_id": account, "amount": amount, "date": "2026-11-03"},
        )
        return key, amount, response

    jobs = [(key, amount) for key in keys for amount in ("1.00", "2.00")]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        answers = list(pool.map(send, jobs))
    winners: dict[str, str] = {}
    for key in keys:
        pair = [(amount, r) for k, amount, r in answers if k == key]
        statuses = sorted(r.status_code for _, r in pair)
        assert statuses == [201, 422], [r.text for _, r in pair]
        for amount, response in pair:
            if response.status_code == 201:
                assert response.json()["amount"] == amount
                assert "idempotent-replayed" not in response.headers
                winners[key] = response.json()["id"]
            else:
                assert_problem(response, 422, "idempotency_conflict")
    records = query(
        stack,
        "SELECT key, transaction_id FROM idempotency_records WHERE user_id = :u",
        u=user_id,
    )
    assert {r["key"]: str(r["transaction_id"]) for r in records} == winners
    total = sum(
        Decimal(t["amount"])
        for t in (
            api.get(f"/services/transactions/{i}", headers=user.headers).json()
            for i in winners.values()
        )
    )
    assert scalar(stack, "SELECT count(*) FROM transactions WHERE user_id = :u", u=user_id) == 10
    assert balance_of(api, user, account) == str(total)
    assert_books_balance(stack, user_id)
    cached_equals_db(stack, user_id)
