"""Realistic data, fast: users registered through the API (real argon2id
hashes, their default categories made by the product), then accounts,
transactions (expenses with categories and some splits, incomes, transfers,
some across currencies), postings, allocations and budgets bulk-loaded with
COPY as the Postgres superuser.

The deferred double-entry trigger would check every row at commit; the load
skips it (`session_replication_role = replica`, which also skips foreign-key
checks), so afterwards every balance and version is recomputed from the
postings and `verify` checks the books the trigger and the foreign keys would
have checked. A seed that does not verify is refused.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import random
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import httpx

from bench.pg import Postgres, uuid_array
from bench.stack import StackInfo, log

MANIFEST = "bench-seed.json"
CURRENCIES = ("USD", "EUR")
DAYS = 730  # two years of history
NULL = "\\N"

# name, type, currency: ten accounts each, in two currencies
ACCOUNTS = (
    ("Checking", "checking", "USD"),
    ("Savings", "savings", "USD"),
    ("Wallet", "cash", "USD"),
    ("Visa", "credit_card", "USD"),
    ("Brokerage", "investment", "USD"),
    ("Emergency fund", "savings", "USD"),
    ("Car loan", "loan", "USD"),
    ("Euro checking", "checking", "EUR"),
    ("Euro savings", "savings", "EUR"),
    ("Euro cash", "cash", "EUR"),
)
# where expenses are paid from (weights), and incomes land
EXPENSE_ACCOUNTS = {"Checking": 35, "Visa": 30, "Wallet": 15, "Euro checking": 12, "Euro cash": 8}
# expense categories (the product's defaults) with weights and amount ranges in
# whole units of the account's currency
EXPENSES = {
    "Groceries": (20, 5, 180),
    "Restaurants": (12, 8, 120),
    "Food": (3, 3, 40),
    "Rent": (3, 700, 2200),
    "Utilities": (5, 30, 250),
    "Maintenance": (2, 20, 600),
    "Fuel": (8, 20, 110),
    "Public transport": (6, 2, 90),
    "Taxi": (3, 8, 70),
    "Clothing": (4, 15, 250),
    "Electronics": (2, 30, 1500),
    "Shopping": (2, 5, 150),
    "Health": (4, 10, 400),
    "Subscriptions": (5, 5, 25),
    "Entertainment": (3, 10, 150),
    "Travel": (3, 80, 2500),
    "Education": (1, 20, 900),
    "Phone & internet": (3, 20, 90),
    "Insurance": (2, 40, 400),
    "Bank fees": (2, 1, 30),
    "Gifts & donations": (2, 10, 300),
    "Personal care": (3, 5, 120),
    "Other expenses": (2, 3, 200),
}
INCOMES = {
    "Salary": (40, 1800, 6500),
    "Business": (5, 100, 3000),
    "Interest": (10, 1, 80),
    "Dividends": (10, 5, 400),
    "Gifts received": (5, 20, 500),
    "Refunds": (20, 5, 300),
    "Other income": (10, 5, 800),
}
INCOME_ACCOUNTS = {
    "Salary": ("Checking", "Euro checking"),
    "Interest": ("Savings", "Euro savings", "Emergency fund"),
    "Dividends": ("Brokerage",),
}
BUDGETS = {"Food": 650, "Transport": 260, "Shopping": 300, "Entertainment": 140}
TAGS = ("work", "family", "vacation", "reimbursable", "gift", "kids", "home")
# in 0.2% of transactions: what a search for one rare word finds
RARE_NOTE = "warranty claim"
MERCHANTS = ("Corner shop", "Market", "Online", "Downtown", "Airport", "Station", "Mall")
EXCHANGE = {("USD", "EUR"): 0.92, ("EUR", "USD"): 1.087}


@dataclass
class SeedAccount:
    id: str
    name: str
    type: str
    currency: str


@dataclass
class SeedUser:
    email: str
    password: str
    role: str  # "user" (one of the many), "small" (1k history) or "big" (100k)
    transactions: int
    user_id: str = ""
    accounts: list[SeedAccount] = field(default_factory=list)
    # category name -> id, for the names the scenarios filter on
    categories: dict[str, str] = field(default_factory=dict)

    def account_pairs(self) -> list[tuple[str, str]]:
        """Pairs of this user's accounts in one currency: transfer endpoints."""
        by_currency: dict[str, list[str]] = {}
        for account in self.accounts:
            by_currency.setdefault(account.currency, []).append(account.id)
        return [
            (ids[i], ids[(i + 1) % len(ids)])
            for ids in by_currency.values()
            if len(ids) > 1
            for i in range(len(ids))
        ]


@dataclass
class Manifest:
    users: list[SeedUser]
    seeded_on: str
    counts: dict[str, int]
    verification: dict[str, int]
    seconds: dict[str, float]

    def save(self, state: Path) -> None:
        path = state / MANIFEST
        path.touch(mode=0o600)  # holds the seeded users' passwords
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, state: Path) -> Manifest:
        raw = json.loads((state / MANIFEST).read_text())
        users = [
            SeedUser(**{**u, "accounts": [SeedAccount(**a) for a in u["accounts"]]})
            for u in raw.pop("users")
        ]
        return cls(users=users, **raw)

    def by_role(self, role: str) -> list[SeedUser]:
        return [u for u in self.users if u.role == role]


def plan_users(users: int, per_user: int, small: int, big: int) -> list[SeedUser]:
    token = secrets.token_hex(4)

    def make(label: str, role: str, count: int) -> SeedUser:
        return SeedUser(
            email=f"bench-{label}-{token}@example.com",
            password=f"bench {token} {label} passphrase",
            role=role,
            transactions=count,
        )

    planned = [make(f"{i:03d}", "user", per_user) for i in range(users)]
    if small:
        planned.append(make("small", "small", small))
    if big:
        planned.append(make("big", "big", big))
    return planned


# ---------------------------------------------------------------- through the API


async def register_all(auth_urls: list[str], users: list[SeedUser], concurrency: int) -> None:
    """POST /auth/register for each user, spread over auth's replicas directly
    (the ingress rate-limits registration per client address)."""
    limit = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, index: int, user: SeedUser) -> None:
        async with limit:
            url = auth_urls[index % len(auth_urls)]
            response = await client.post(
                f"{url}/auth/register",
                json={"email": user.email, "password": user.password, "display_name": "Bench"},
            )
            if response.status_code != 201:
                raise RuntimeError(f"register {user.email}: {response.status_code} {response.text}")
            user.user_id = response.json()["id"]

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(one(client, i, u) for i, u in enumerate(users)))


async def login_all(auth_urls: list[str], users: list[SeedUser], concurrency: int) -> list[str]:
    """A fresh access token per user (auth directly, as for registration)."""
    limit = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, index: int, user: SeedUser) -> str:
        async with limit:
            response = await client.post(
                f"{auth_urls[index % len(auth_urls)]}/auth/login",
                json={"email": user.email, "password": user.password},
            )
            if response.status_code != 200:
                raise RuntimeError(f"login {user.email}: {response.status_code} {response.text}")
            return str(response.json()["access_token"])

    async with httpx.AsyncClient(timeout=60) as client:
        return list(await asyncio.gather(*(one(client, i, u) for i, u in enumerate(users))))


# ---------------------------------------------------------------- the rows


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _split(rng: random.Random, cents: int, parts: int) -> list[int]:
    """`cents` divided into `parts` positive amounts."""
    cuts = sorted(rng.sample(range(1, cents), parts - 1))
    bounds = [0, *cuts, cents]
    return [bounds[i + 1] - bounds[i] for i in range(parts)]


class Tables:
    """COPY text of every table the seed writes, in dependency order."""

    COLUMNS: ClassVar[dict[str, str]] = {
        "accounts": "id, user_id, system_role, name, type, currency",
        "transactions": "id, user_id, type, account_id, to_account_id, amount, currency,"
        " to_amount, to_currency, category_id, date, description, notes, tags, has_splits",
        "postings": "transaction_id, user_id, account_id, currency, amount",
        "allocations": "transaction_id, user_id, kind, category_id, amount, description, position",
        "budgets": "id, user_id, category_id, kind, amount, currency",
    }

    def __init__(self) -> None:
        self.buffers = {name: io.StringIO() for name in self.COLUMNS}
        self.counts = dict.fromkeys(self.COLUMNS, 0)

    def add(self, table: str, *values: str) -> None:
        self.buffers[table].write("\t".join(values))
        self.buffers[table].write("\n")
        self.counts[table] += 1

    def copy_script(self) -> Iterable[str]:
        for table, columns in self.COLUMNS.items():
            staged = table == "allocations"
            if staged:
                yield STAGE_ALLOCATIONS
            yield f"COPY {'allocations_staged' if staged else table} ({columns}) FROM STDIN;\n"
            yield self.buffers[table].getvalue()
            yield "\\.\n"
            if staged:
                yield LOAD_ALLOCATIONS


# Allocations carry their transaction's (date, seq), and seq is only known once
# the transactions are in: they are staged, then copied with both.
STAGE_ALLOCATIONS = """
CREATE TEMP TABLE allocations_staged ON COMMIT DROP AS
    SELECT transaction_id, user_id, kind, category_id, amount, description, position
    FROM allocations WITH NO DATA;
"""
LOAD_ALLOCATIONS = """
INSERT INTO allocations
    (transaction_id, user_id, kind, category_id, amount, description, position, date, seq)
SELECT s.transaction_id, s.user_id, s.kind, s.category_id, s.amount, s.description,
       s.position, t.date, t.seq
FROM allocations_staged s JOIN transactions t ON t.id = s.transaction_id;
"""


class Generator:
    """Deterministic (for one `seed`) ledgers for the planned users."""

    def __init__(self, today: dt.date, seed: int = 20261125) -> None:
        self.rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
        self.dates = [(today - dt.timedelta(days=d)).isoformat() for d in range(DAYS)]
        self.tables = Tables()

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def user(self, user: SeedUser, all_categories: dict[str, tuple[str, str]]) -> None:
        """`all_categories`: this user's category name -> (id, kind)."""
        rng, add, uid = self.rng, self.tables.add, user.user_id
        user.accounts = [SeedAccount(self.uuid(), n, t, c) for n, t, c in ACCOUNTS]
        for a in user.accounts:
            add("accounts", a.id, uid, NULL, a.name, a.type, a.currency)
        # the hidden counter-accounts, named and typed as the posting engine makes them
        system: dict[tuple[str, str], str] = {}
        for role in ("expense", "income", "exchange"):
            for currency in CURRENCIES:
                system[(role, currency)] = self.uuid()
                add(
                    "accounts",
                    system[(role, currency)], uid, role, f"{role} ({currency})", "other", currency,
                )  # fmt: skip
        named = {a.name: a for a in user.accounts}
        user.categories = {
            name: all_categories[name][0]
            for name in ("Food", "Transport", "Shopping", "Entertainment")
        }

        pay_from = [named[n] for n in EXPENSE_ACCOUNTS]
        pay_weights = list(EXPENSE_ACCOUNTS.values())
        expense_names = [n for n in EXPENSES if n in all_categories]
        expense_weights = [EXPENSES[n][0] for n in expense_names]
        income_names = [n for n in INCOMES if n in all_categories]
        income_weights = [INCOMES[n][0] for n in income_names]
        by_currency = {c: [a for a in user.accounts if a.currency == c] for c in CURRENCIES}

        for _ in range(user.transactions):
            tx = self.uuid()
            date = self.dates[rng.randrange(DAYS)]
            kind = rng.random()
            tags = "{}"
            if rng.random() < 0.08:
                tags = "{" + ",".join(sorted(set(rng.sample(TAGS, rng.randint(1, 2))))) + "}"
            roll = rng.random()  # one draw, as before the rare note was added
            notes = "paid in two parts" if roll < 0.03 else RARE_NOTE if roll < 0.032 else ""
            if kind < 0.62:  # expense
                account = rng.choices(pay_from, pay_weights)[0]
                name = rng.choices(expense_names, expense_weights)[0]
                _, low, high = EXPENSES[name]
                cents = rng.randint(low * 100, high * 100)
                self._categorised(
                    tx, uid, "expense", account, cents, name, all_categories, expense_names,
                    date, f"{name} - {rng.choice(MERCHANTS)}", notes, tags,
                    system[("expense", account.currency)],
                )  # fmt: skip
            elif kind < 0.80:  # income
                name = rng.choices(income_names, income_weights)[0]
                account = named[rng.choice(INCOME_ACCOUNTS.get(name, ("Checking",)))]
                _, low, high = INCOMES[name]
                cents = rng.randint(low * 100, high * 100)
                self._categorised(
                    tx, uid, "income", account, cents, name, all_categories, income_names,
                    date, name, notes, tags, system[("income", account.currency)],
                )  # fmt: skip
            else:  # transfer
                cents = rng.randint(1000, 200000)
                if rng.random() < 0.15:  # across currencies, through the exchange accounts
                    source_currency, target_currency = rng.sample(CURRENCIES, 2)
                    source = rng.choice(by_currency[source_currency])
                    target = rng.choice(by_currency[target_currency])
                    rate = EXCHANGE[(source_currency, target_currency)] * rng.uniform(0.97, 1.03)
                    to_cents = max(1, round(cents * rate))
                else:
                    currency = "USD" if rng.random() < 0.8 else "EUR"
                    source, target = rng.sample(by_currency[currency], 2)
                    to_cents = cents
                self._transfer(tx, uid, source, target, cents, to_cents, date, notes, tags, system)
        for name, units in BUDGETS.items():
            self.tables.add(
                "budgets",
                self.uuid(),
                uid,
                all_categories[name][0],
                "expense",
                _money(units * 100),
                "USD",
            )

    def _categorised(
        self,
        tx: str,
        uid: str,
        kind: str,
        account: SeedAccount,
        cents: int,
        name: str,
        categories: dict[str, tuple[str, str]],
        names: list[str],
        date: str,
        description: str,
        notes: str,
        tags: str,
        counter: str,
    ) -> None:
        rng, add = self.rng, self.tables.add
        roll = rng.random()
        splits: list[tuple[str, int]] = []
        category = categories[name][0]
        if kind == "expense" and roll < 0.08 and cents >= 300:
            parts = _split(rng, cents, rng.randint(2, 3))
            chosen = [name, *rng.sample([n for n in names if n != name], len(parts) - 1)]
            splits = [(categories[n][0], c) for n, c in zip(chosen, parts, strict=True)]
            category = NULL
        elif roll < 0.12:
            category = NULL  # not categorised (yet)
        amount = _money(cents)
        add(
            "transactions",
            tx, uid, kind, account.id, NULL, amount, account.currency, NULL, NULL,
            category, date, description, notes, tags, "t" if splits else "f",
        )  # fmt: skip
        sign = "-" if kind == "expense" else ""
        other = "" if kind == "expense" else "-"
        add("postings", tx, uid, account.id, account.currency, sign + amount)
        add("postings", tx, uid, counter, account.currency, other + amount)
        if splits:
            for position, (split_category, split_cents) in enumerate(splits):
                add(
                    "allocations",
                    tx, uid, kind, split_category, _money(split_cents), "", str(position),
                )  # fmt: skip
        else:
            add("allocations", tx, uid, kind, category, amount, "", "0")

    def _transfer(
        self,
        tx: str,
        uid: str,
        source: SeedAccount,
        target: SeedAccount,
        cents: int,
        to_cents: int,
        date: str,
        notes: str,
        tags: str,
        system: dict[tuple[str, str], str],
    ) -> None:
        add = self.tables.add
        amount, to_amount = _money(cents), _money(to_cents)
        add(
            "transactions",
            tx, uid, "transfer", source.id, target.id, amount, source.currency, to_amount,
            target.currency, NULL, date, f"To {target.name}", notes, tags, "f",
        )  # fmt: skip
        add("postings", tx, uid, source.id, source.currency, "-" + amount)
        if source.currency == target.currency:
            add("postings", tx, uid, target.id, target.currency, amount)
            return
        add("postings", tx, uid, system[("exchange", source.currency)], source.currency, amount)
        add(
            "postings",
            tx, uid, system[("exchange", target.currency)], target.currency, "-" + to_amount,
        )  # fmt: skip
        add("postings", tx, uid, target.id, target.currency, to_amount)


# ---------------------------------------------------------------- loading and checking


def user_categories(pg: Postgres, user_ids: list[str]) -> dict[str, dict[str, tuple[str, str]]]:
    """Per user: category name -> (id, kind), for the categories the product made."""
    found: dict[str, dict[str, tuple[str, str]]] = {u: {} for u in user_ids}
    scope = uuid_array(user_ids)
    query = f"SELECT user_id, id, name, kind FROM categories WHERE user_id = ANY({scope})"  # noqa: S608
    for user_id, category_id, name, kind in pg.rows(query):
        found[user_id][name] = (category_id, kind)
    return found


# Every balance and version from the postings, as the posting engine would
# have left them (one version step per posting), and each user's ledger version
# moved past everything cached; then fresh statistics for the planner.
RECOMPUTE = """
UPDATE accounts a SET balance = s.total, version = 1 + s.n, updated_at = now()
FROM (SELECT account_id, sum(amount) AS total, count(*) AS n
      FROM postings WHERE user_id = ANY({users}) GROUP BY account_id) s
WHERE a.id = s.account_id;
UPDATE users u SET ledger_version = u.ledger_version + c.n, updated_at = now()
FROM (SELECT user_id, count(*) AS n FROM transactions
      WHERE user_id = ANY({users}) GROUP BY user_id) c
WHERE u.id = c.user_id;
COMMIT;
VACUUM (ANALYZE) users, accounts, categories, transactions, postings, allocations, budgets;
"""


def load_script(tables: Tables, user_ids: list[str]) -> Iterable[str]:
    users = uuid_array(user_ids)
    yield "BEGIN;\n"
    # Skips the deferred double-entry trigger and the foreign-key triggers for
    # this transaction only; `verify` checks what they would have.
    yield "SET LOCAL session_replication_role = replica;\n"
    yield from tables.copy_script()
    yield RECOMPUTE.replace("{users}", users)


# Each count must be zero. NULL scope = the whole database.
CHECKS = {
    "transactions_with_fewer_than_2_postings": """
        SELECT count(*) FROM transactions t
        WHERE {t} AND (SELECT count(*) FROM postings p WHERE p.transaction_id = t.id) < 2""",
    "postings_not_summing_to_zero_per_currency": """
        SELECT count(*) FROM (SELECT 1 FROM postings p WHERE {p}
            GROUP BY p.transaction_id, p.currency HAVING sum(p.amount) <> 0) x""",
    "allocations_not_summing_to_amount": """
        SELECT count(*) FROM transactions t
        LEFT JOIN (SELECT transaction_id, sum(amount) AS total FROM allocations a WHERE {a}
                   GROUP BY transaction_id) s ON s.transaction_id = t.id
        WHERE {t} AND CASE WHEN t.type IN ('expense', 'income')
                           THEN s.total IS DISTINCT FROM t.amount
                           ELSE s.total IS NOT NULL END""",
    "balances_not_equal_to_postings": """
        SELECT count(*) FROM accounts ac
        LEFT JOIN (SELECT account_id, sum(amount) AS total FROM postings p WHERE {p}
                   GROUP BY account_id) s ON s.account_id = ac.id
        WHERE {ac} AND ac.balance <> coalesce(s.total, 0)""",
    "versions_behind_postings": """
        SELECT count(*) FROM accounts ac
        JOIN (SELECT account_id, count(*) AS n FROM postings p WHERE {p}
              GROUP BY account_id) s ON s.account_id = ac.id
        WHERE {ac} AND ac.version < 1 + s.n""",
    "postings_on_foreign_accounts": """
        SELECT count(*) FROM postings p
        LEFT JOIN accounts ac ON ac.id = p.account_id
        LEFT JOIN transactions t ON t.id = p.transaction_id
        WHERE {p} AND (ac.id IS NULL OR ac.user_id <> p.user_id OR ac.currency <> p.currency
                       OR t.id IS NULL OR t.user_id <> p.user_id)""",
    "transactions_on_foreign_accounts": """
        SELECT count(*) FROM transactions t
        JOIN accounts ac ON ac.id = t.account_id
        LEFT JOIN accounts ta ON ta.id = t.to_account_id
        WHERE {t} AND (ac.user_id <> t.user_id OR ac.currency <> t.currency
                       OR (t.to_account_id IS NOT NULL AND (ta.id IS NULL
                           OR ta.user_id <> t.user_id OR ta.currency <> t.to_currency)))""",
    "allocations_on_foreign_categories": """
        SELECT count(*) FROM allocations a
        LEFT JOIN categories c ON c.id = a.category_id
        LEFT JOIN transactions t ON t.id = a.transaction_id
        WHERE {a} AND (t.id IS NULL OR t.user_id <> a.user_id OR t.type <> a.kind
            OR (a.category_id IS NOT NULL AND (c.id IS NULL OR c.user_id <> a.user_id
                                               OR c.kind <> a.kind)))""",
    "allocations_not_dated_as_their_transaction": """
        SELECT count(*) FROM allocations a
        LEFT JOIN transactions t ON t.id = a.transaction_id
        WHERE {a} AND (a.date IS DISTINCT FROM t.date OR a.seq IS DISTINCT FROM t.seq)""",
}


def verification_sql(user_ids: list[str] | None) -> str:
    def scope(alias: str) -> str:
        if user_ids is None:
            return "true"
        return f"{alias}.user_id = ANY({uuid_array(user_ids)})"

    scopes = {alias: scope(alias) for alias in ("t", "p", "a", "ac")}
    columns = ",\n".join(
        f"({sql.format(**scopes).strip()}) AS {name}" for name, sql in CHECKS.items()
    )
    return f"SELECT\n{columns}"


def verify(pg: Postgres, user_ids: list[str] | None = None) -> dict[str, int]:
    """Count what breaks double entry; every count is 0 when the books are right."""
    (row,) = pg.rows(verification_sql(user_ids))
    return {name: int(value) for name, value in zip(CHECKS, row, strict=True)}


class SeedFailed(RuntimeError):
    pass


def seed(
    info: StackInfo,
    *,
    users: int = 100,
    per_user: int = 1000,
    small: int = 1000,
    big: int = 100_000,
    today: dt.date | None = None,
) -> Manifest:
    today = today or dt.datetime.now(dt.UTC).date()
    pg = Postgres(info.state, info.database_url)
    planned = plan_users(users, per_user, small, big)
    auth_urls = list(info.instances("auth").values())
    seconds: dict[str, float] = {}

    started = time.monotonic()
    asyncio.run(register_all(auth_urls, planned, concurrency=2 * len(auth_urls)))
    seconds["register"] = time.monotonic() - started
    log(f"registered {len(planned)} users through the API in {seconds['register']:.1f}s")

    started = time.monotonic()
    user_ids = [u.user_id for u in planned]
    categories = user_categories(pg, user_ids)
    generator = Generator(today)
    for user in planned:
        generator.user(user, categories[user.user_id])
    tables = generator.tables
    seconds["generate"] = time.monotonic() - started
    log(f"generated {tables.counts} in {seconds['generate']:.1f}s")

    started = time.monotonic()
    pg.run_script("".join(load_script(tables, user_ids)))
    seconds["load"] = time.monotonic() - started
    log(f"loaded with COPY (and VACUUM ANALYZE) in {seconds['load']:.1f}s")

    started = time.monotonic()
    verification = verify(pg)
    seconds["verify"] = time.monotonic() - started
    broken = {k: v for k, v in verification.items() if v}
    if broken:
        raise SeedFailed(f"the seeded books do not balance: {broken}")
    log(f"verified the whole database in {seconds['verify']:.1f}s: every check is 0")
    flush_redis(info.redis_url)
    return Manifest(
        users=planned,
        seeded_on=today.isoformat(),
        counts=dict(tables.counts),
        verification=verification,
        seconds={k: round(v, 2) for k, v in seconds.items()},
    )


def flush_redis(redis_url: str) -> None:
    """Cached balances and dashboards predate the bulk load: drop them (the
    revocation markers come back from Postgres within a second)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()
