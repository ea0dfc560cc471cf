"""GET /services/dashboard through the real nginx: what it shows, its ETag, and
that the cached copy is never older than an acknowledged write, whatever
state the Redis entry is in."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis
from pydantic import SecretStr
from redis.asyncio import Redis as AsyncRedis

from ledger import reports as ledger_reports
from ledger.cache import LedgerCache
from ledger.gateway import Gateway
from servicekit.http import create_internal_client
from servicekit.jsonutil import loads
from tests.conftest import StackInfo
from tests.e2e.conftest import User, register_and_login
from tests.e2e.test_reports import (
    account,
    budget,
    categories,
    expense,
    get,
    income,
    post,
    user_id,
)
from tests.waiting import EVENT_WITHIN


@pytest.fixture
def cache(stack: StackInfo) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    yield client
    client.close()


def today() -> str:
    """Today for a user in UTC, the time zone users start with."""
    return dt.datetime.now(dt.UTC).date().isoformat()


def figures(dashboard: dict[str, Any]) -> dict[str, Any]:
    """Everything but the moment it was read."""
    return {k: v for k, v in dashboard.items() if k != "as_of"}


def dashboard_of(api: httpx.Client, user: User) -> dict[str, Any]:
    return get(api, user, "/services/dashboard")


def test_the_dashboard_shows_this_months_figures(
    api: httpx.Client, stack: StackInfo, user: User
) -> None:
    cats = categories(stack, user_id(api, user))
    day = today()
    month = day[:7]
    last_month = (dt.date.fromisoformat(day).replace(day=1) - dt.timedelta(days=1)).isoformat()
    usd = account(api, user, "USD", opening="1000.00")
    card = account(api, user, "USD", opening="-120.50")
    jpy = account(api, user, "JPY", opening="20000")
    bhd = account(api, user, "BHD")
    closed = account(api, user, "USD", opening="3.00")
    archived = api.patch(
        f"/services/accounts/{closed}", headers=user.headers, json={"archived": True}
    )
    assert archived.status_code == 200, archived.text
    food = budget(api, stack, user, cats["Food"], "200.00", "USD")
    for category, amount in (
        ("Groceries", "40.00"),  # Food: 40 + 35 + 10 (split) = 85
        ("Restaurants", "35.00"),
        ("Rent", "70.00"),  # Housing: 70
        ("Fuel", "20.00"),  # Transport: 20 + 15 = 35
        ("Taxi", "15.00"),
        ("Health", "30.00"),
        ("Education", "14.99"),  # the sixth: left out
    ):
        expense(api, user, usd, amount, day, category_id=cats[category])
    expense(api, user, card, "25.00", day, splits=[
        {"category_id": cats["Groceries"], "amount": "10.00"},
        {"category_id": cats["Travel"], "amount": "15.00"},
    ])  # fmt: skip
    expense(api, user, usd, "500.00", last_month, category_id=cats["Education"])
    expense(api, user, jpy, "1200", day, category_id=cats["Subscriptions"])
    income(api, user, usd, "2000.00", day, category_id=cats["Salary"])
    income(api, user, bhd, "1.250", day)
    post(api, user, type="transfer", account_id=usd, to_account_id=card, amount="100.00", date=day)

    dashboard = dashboard_of(api, user)
    assert dashboard["month"] == month
    assert dashboard["timezone"] == "UTC"
    assert abs(dt.datetime.fromisoformat(dashboard["as_of"]) - dt.datetime.now(dt.UTC)) < (
        dt.timedelta(minutes=1)
    )
    assert [(a["id"], a["balance"], a["archived"]) for a in dashboard["accounts"]] == [
        (usd, "2175.01", False),  # 1000 - 224.99 - 500 + 2000 - 100
        (card, "-45.50", False),
        (jpy, "18800", False),
        (bhd, "1.250", False),
    ]
    assert dashboard["accounts"][0]["type"] == "checking"
    assert dashboard["net_worth"] == [
        {"currency": "BHD", "assets": "1.250", "liabilities": "0.000", "net_worth": "1.250"},
        {"currency": "JPY", "assets": "18800", "liabilities": "0", "net_worth": "18800"},
        {"currency": "USD", "assets": "2178.01", "liabilities": "45.50", "net_worth": "2132.51"},
    ]
    assert dashboard["this_month"] == [
        {"currency": "BHD", "income": "1.250", "expense": "0.000", "net": "1.250"},
        {"currency": "JPY", "income": "0", "expense": "1200", "net": "-1200"},
        {"currency": "USD", "income": "2000.00", "expense": "249.99", "net": "1750.01"},
    ]
    assert dashboard["top_categories"] == [
        {"category_id": cats["Entertainment"], "name": "Entertainment", "currency": "JPY",
         "amount": "1200"},
        {"category_id": cats["Food"], "name": "Food", "currency": "USD", "amount": "85.00"},
        {"category_id": cats["Housing"], "name": "Housing", "currency": "USD", "amount": "70.00"},
        {"category_id": cats["Transport"], "name": "Transport", "currency": "USD",
         "amount": "35.00"},
        {"category_id": cats["Health"], "name": "Health", "currency": "USD", "amount": "30.00"},
        {"category_id": cats["Travel"], "name": "Travel", "currency": "USD", "amount": "15.00"},
    ]  # fmt: skip
    assert dashboard["budgets"] == [
        {"budget_id": food, "category_id": cats["Food"], "name": "Food", "currency": "USD",
         "amount": "200.00", "spent": "85.00", "remaining": "115.00", "percent": "42.5"},
    ]  # fmt: skip
    # the 10 newest, exactly as GET /services/transactions lists them
    listed = get(api, user, "/services/transactions", limit="10")["items"]
    assert len(listed) == 10
    assert dashboard["recent_transactions"] == listed
    assert dashboard["recent_transactions"][0]["type"] == "transfer"


def test_etag_and_if_none_match(api: httpx.Client, user: User) -> None:
    usd = account(api, user, "USD")
    first = api.get("/services/dashboard", headers=user.headers)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.headers["cache-control"] == "private, no-cache"
    tag = first.headers["etag"]
    assert tag.startswith('"')
    assert tag.endswith(f'-{today()[:7]}"')

    again = api.get("/services/dashboard", headers={**user.headers, "If-None-Match": tag})
    assert again.status_code == 304
    assert again.headers["etag"] == tag
    assert again.content == b""
    listed = api.get(
        "/services/dashboard", headers={**user.headers, "If-None-Match": f'"nope", {tag}'}
    )
    assert listed.status_code == 304
    other = api.get("/services/dashboard", headers={**user.headers, "If-None-Match": '"0-2000-01"'})
    assert other.status_code == 200
    assert other.content == first.content  # served from the cache

    expense(api, user, usd, "1.00", today())
    changed = api.get("/services/dashboard", headers={**user.headers, "If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
    assert changed.json()["accounts"][0]["balance"] == "-1.00"
    unchanged = api.get(
        "/services/dashboard", headers={**user.headers, "If-None-Match": changed.headers["etag"]}
    )
    assert unchanged.status_code == 304


class Reader(threading.Thread):
    """Reads the dashboard over and over, so stale bodies keep being offered
    to the cache while the test writes."""

    def __init__(self, stack: StackInfo, user: User) -> None:
        super().__init__(daemon=True)
        self.stack, self.user = stack, user
        self.stop = threading.Event()
        self.reading = threading.Event()  # it has read once: it is running
        self.reads = 0
        self.failures: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.stack.ingress, timeout=10) as client:
            deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
            while not self.stop.is_set() and dt.datetime.now(dt.UTC) < deadline:
                response = client.get("/services/dashboard", headers=self.user.headers)
                self.reads += 1
                self.reading.set()
                if response.status_code != 200:
                    self.failures.append(response.text)


def test_every_write_shows_on_the_next_read_while_another_client_reads(
    api: httpx.Client, stack: StackInfo
) -> None:
    user = register_and_login(api)
    cats = categories(stack, user_id(api, user))
    day = today()
    readers = [Reader(stack, user), Reader(stack, user)]
    for reader in readers:
        reader.start()
    try:
        # the writes begin once both readers are reading, not when their
        # threads happen to get going
        for reader in readers:
            assert reader.reading.wait(EVENT_WITHIN), "a reader never read"
        usd = account(api, user, "USD", opening="100.00")
        assert [a["id"] for a in dashboard_of(api, user)["accounts"]] == [usd]
        balance, spent, newest = Decimal("100.00"), Decimal(0), None
        for n in range(1, 7):
            amount = Decimal(f"{n}.{n:02d}")
            posted = expense(api, user, usd, str(amount), day, category_id=cats["Groceries"])
            seen = dashboard_of(api, user)
            assert seen["accounts"][0]["balance"] == str(balance - amount)
            assert seen["this_month"][0]["expense"] == str(spent + amount)
            assert seen["recent_transactions"][0]["id"] == posted["id"]
            food = [c for c in seen["top_categories"] if c["category_id"] == cats["Food"]]
            assert [c["amount"] for c in food] == [str(amount)]

            edited = api.patch(
                f"/services/transactions/{posted['id']}",
                headers=user.headers,
                json={"amount": str(amount + 1)},
            )
            assert edited.status_code == 200, edited.text
            seen = dashboard_of(api, user)
            assert seen["accounts"][0]["balance"] == str(balance - amount - 1)
            assert seen["this_month"][0]["expense"] == str(spent + amount + 1)
            assert seen["recent_transactions"][0]["amount"] == str(amount + 1)
            assert seen["recent_transactions"][0]["version"] == 2

            deleted = api.delete(f"/services/transactions/{posted['id']}", headers=user.headers)
            assert deleted.status_code == 204, deleted.text
            seen = dashboard_of(api, user)
            assert seen["accounts"][0]["balance"] == str(balance)
            assert [i["id"] for i in seen["recent_transactions"][:1]] == (
                [newest] if newest else []
            )
            assert [t["expense"] for t in seen["this_month"]] == ([str(spent)] if spent else [])
            assert cats["Food"] not in [c["category_id"] for c in seen["top_categories"]]

            newest = expense(api, user, usd, "0.01", day, category_id=cats["Rent"])["id"]
            balance, spent = balance - Decimal("0.01"), spent + Decimal("0.01")
            seen = dashboard_of(api, user)
            assert seen["recent_transactions"][0]["id"] == newest
            assert seen["accounts"][0]["balance"] == str(balance)

            extra = account(api, user, "JPY", opening=str(n))
            seen = dashboard_of(api, user)
            assert [a["id"] for a in seen["accounts"]][-1] == extra
            assets = str(n * (n + 1) // 2)  # archived accounts still count
            assert seen["net_worth"][0] == {
                "currency": "JPY", "assets": assets, "liabilities": "0", "net_worth": assets
            }  # fmt: skip

            archived = api.patch(
                f"/services/accounts/{extra}", headers=user.headers, json={"archived": True}
            )
            assert archived.status_code == 200, archived.text
            seen = dashboard_of(api, user)
            assert extra not in [a["id"] for a in seen["accounts"]]
            assert [a["id"] for a in seen["accounts"]] == [usd]
            assert seen["net_worth"][0]["assets"] == assets
    finally:
        for reader in readers:
            reader.stop.set()
        for reader in readers:
            reader.join(timeout=30)
    for reader in readers:
        assert reader.failures == []
        assert reader.reads > 0


def test_a_missing_or_damaged_cache_entry_never_shows_wrong_figures(
    api: httpx.Client, stack: StackInfo, cache: redis.Redis
) -> None:
    user = register_and_login(api)
    key = f"dash:{user_id(api, user)}"
    usd = account(api, user, "USD", opening="10.00")
    expected = figures(dashboard_of(api, user))
    assert cache.hget(key, "version") is not None  # filled by that read
    try:
        cache.delete(key)
        assert figures(dashboard_of(api, user)) == expected

        version = str(cache.hget(key, "version"))
        for field, damage in (
            ("version", "not-a-number"),
            ("body", "{not json"),
            ("body", '{"month": "2000-01", "timezone": "UTC"}'),  # a month long gone
            ("body", "[]"),
        ):
            cache.hset(key, mapping={"version": version, "body": expected_body(api, user)})
            cache.hset(key, field, damage)
            assert figures(dashboard_of(api, user)) == expected, (field, damage)

        # an older version than the last write's floor is never served
        cache.hset(key, mapping={"version": "1", "floor": version, "body": '{"stale": true}'})
        assert figures(dashboard_of(api, user)) == expected

        # a damaged entry, then a write: the write still shows
        cache.hset(key, "version", "garbage")
        expense(api, user, usd, "2.50", today())
        seen = dashboard_of(api, user)
        assert seen["accounts"][0]["balance"] == "7.50"
        assert seen["this_month"][0]["expense"] == "2.50"
    finally:
        cache.delete(key)  # lets the ledger's queued floor update through
    assert dashboard_of(api, user)["accounts"][0]["balance"] == "7.50"


def expected_body(api: httpx.Client, user: User) -> str:
    response = api.get("/services/dashboard", headers=user.headers)
    assert response.status_code == 200
    return response.text


async def test_without_redis_the_dashboard_is_computed_every_time(
    api: httpx.Client, stack: StackInfo
) -> None:
    """The ledger's dashboard use case with a cache whose Redis is down: every
    read goes to db-gateway and is right."""
    user = register_and_login(api)
    owner = uuid.UUID(user_id(api, user))
    usd = account(api, user, "USD", opening="5.00")
    down = AsyncRedis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, decode_responses=True)
    cache = LedgerCache(down, ttl_seconds=60)
    client = create_internal_client(
        stack.services["db-gateway"], SecretStr(stack.secrets["INTERNAL_TOKEN"])
    )
    gateway = Gateway(client, cache)
    try:
        async with client:
            first = await ledger_reports.dashboard(
                gateway=gateway, cache=cache, user_id=owner, cached=await cache.dashboard(owner)
            )
            assert figures(loads(first.body)) == figures(dashboard_of(api, user))
            expense(api, user, usd, "1.25", today())
            second = await ledger_reports.dashboard(
                gateway=gateway, cache=cache, user_id=owner, cached=await cache.dashboard(owner)
            )
            assert second.version > first.version
            assert loads(second.body)["accounts"][0]["balance"] == "3.75"
            assert figures(loads(second.body)) == figures(dashboard_of(api, user))
    finally:
        await down.aclose()
