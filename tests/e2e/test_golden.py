"""Every read and list endpoint of the ledger, byte for byte: a seeded user's
data read back through the ingress and compared with tests/e2e/golden/reads.json.

The speed work on the read paths must change nothing a client sees. Ids,
timestamps, cursors, the email and the current month are replaced by stable
placeholders (ids numbered in order of first appearance); everything else
(field order, every digit of every amount, status codes, content types, ETags)
must match. After an intended change of the API, rewrite the file with
`GOLDEN_UPDATE=1 pytest tests/e2e/test_golden.py` and review its diff.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import zoneinfo
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import User, register_and_login

GOLDEN = Path(__file__).parent / "golden" / "reads.json"
KEPT_HEADERS = ("content-type", "etag", "cache-control", "content-disposition")
TIMEZONE = "Europe/Berlin"
ZONE = zoneinfo.ZoneInfo(TIMEZONE)

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
_CURSOR = re.compile(r'"next_cursor":"[^"]+"')


class Normaliser:
    """Replaces what differs between runs. An id keeps its identity: the seeded
    objects' ids by name, the others numbered in order of first appearance."""

    def __init__(self, named: dict[str, str], email: str) -> None:
        self.ids = {value: f"<{name}>" for name, value in named.items()}
        self.email = email
        # today, in UTC and in the user's time zone (the seeded data is in 2025)
        now = dt.datetime.now(dt.UTC)
        self.days = {d.isoformat() for d in (now.date(), now.astimezone(ZONE).date())}
        self.months = {day[:7] for day in self.days}

    def _id(self, match: re.Match[str]) -> str:
        return self.ids.setdefault(match[0], f"<id {len(self.ids) + 1}>")

    def __call__(self, text: str) -> str:
        text = _UUID.sub(self._id, text)
        text = _TIMESTAMP.sub("<timestamp>", text)
        text = _CURSOR.sub('"next_cursor":"<cursor>"', text)
        text = text.replace(self.email, "<email>")
        for day in self.days:
            text = text.replace(day, "<today>")
        for month in self.months:
            text = text.replace(month, "<this month>")
        return text


def _ok(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def _seed(api: httpx.Client) -> tuple[User, dict[str, str]]:
    """One user with a bit of everything, on fixed dates in 2025 (never the
    current month, which the dashboard and budget status depend on)."""
    user = register_and_login(api)
    h = user.headers
    _ok(
        api.patch(
            "/profile",
            headers=h,
            json={"display_name": "Golden", "default_currency": "EUR", "timezone": TIMEZONE},
        ),
        200,
    )
    ids: dict[str, str] = {}

    def account(name: str, kind: str, currency: str, opening: str | None) -> None:
        body: dict[str, Any] = {"name": name, "type": kind, "currency": currency}
        if opening is not None:
            body["opening_balance"] = opening
        ids[name] = _ok(api.post("/services/accounts", headers=h, json=body))["id"]

    account("Checking", "checking", "EUR", "1520.75")
    account("Savings", "savings", "EUR", "10000")
    account("Card", "credit_card", "EUR", "-230.10")
    account("Dollars", "cash", "USD", "300.00")
    account("Yen", "cash", "JPY", "12000")
    account("Old", "other", "EUR", None)
    categories = _ok(api.get("/services/categories", headers=h, params={"limit": 200}), 200)
    by_name = {c["name"]: c["id"] for c in categories["items"]}
    for name in ("Groceries", "Restaurants", "Salary", "Food"):
        ids[name] = by_name[name]
    ids["Bakery"] = _ok(
        api.post(
            "/services/categories",
            headers=h,
            json={"name": "Bakery", "kind": "expense", "parent_id": ids["Food"]},
        )
    )["id"]

    def transaction(**body: Any) -> None:
        _ok(api.post("/services/transactions", headers=h, json=body))

    checking, card = ids["Checking"], ids["Card"]
    transaction(
        type="income",
        account_id=checking,
        amount="3250.00",
        date="2025-03-01",
        description="Salary March",
        category_id=ids["Salary"],
        tags=["work"],
    )
    transaction(
        type="expense",
        account_id=checking,
        amount="84.37",
        date="2025-03-02",
        description="Weekly shop",
        category_id=ids["Groceries"],
        notes="organic, two bags",
        tags=["food", "weekly"],
    )
    transaction(
        type="expense",
        account_id=card,
        amount="42.10",
        date="2025-03-02",
        description="Bakery and lunch",
        splits=[
            {"category_id": ids["Bakery"], "amount": "12.10", "description": "bread"},
            {"category_id": ids["Restaurants"], "amount": "30.00"},
        ],
        tags=["food"],
    )
    transaction(
        type="transfer",
        account_id=checking,
        to_account_id=ids["Savings"],
        amount="500.00",
        date="2025-03-05",
        description="Save",
    )
    transaction(
        type="transfer",
        account_id=checking,
        to_account_id=ids["Dollars"],
        amount="100.00",
        to_amount="108.25",
        date="2025-03-06",
        description="Travel money",
        tags=["travel"],
    )
    transaction(
        type="expense",
        account_id=ids["Yen"],
        amount="1500",
        date="2025-04-11",
        description="Ramen",
        category_id=ids["Restaurants"],
        tags=["travel", "food"],
    )
    transaction(
        type="expense",
        account_id=ids["Dollars"],
        amount="0.99",
        date="2025-04-11",
        description="Gum",
    )
    transaction(
        type="income",
        account_id=checking,
        amount="3250.00",
        date="2025-04-01",
        description="Salary April",
        category_id=ids["Salary"],
        tags=["work"],
    )
    transaction(
        type="expense",
        account_id=checking,
        amount="1234.56",
        date="2025-04-15",
        description="Rent",
    )
    _ok(
        api.post(
            "/services/budgets",
            headers=h,
            json={"category_id": ids["Groceries"], "amount": "400.00", "period": "monthly"},
        )
    )
    _ok(
        api.post(
            "/services/budgets",
            headers=h,
            json={"category_id": ids["Restaurants"], "amount": "150", "period": "monthly"},
        )
    )
    _ok(api.patch(f"/services/accounts/{ids['Old']}", headers=h, json={"archived": True}), 200)
    return user, ids


def _reads(ids: dict[str, str]) -> list[tuple[str, str, dict[str, str]]]:
    """(name, path, query) of every read; lists also page through their cursors."""
    checking = ids["Checking"]
    tx = "/services/transactions"
    return [
        ("profile", "/profile", {}),
        ("accounts", "/services/accounts", {}),
        ("accounts, archived only", "/services/accounts", {"archived": "true"}),
        ("accounts, 2 per page", "/services/accounts", {"limit": "2"}),
        ("account", f"/services/accounts/{checking}", {}),
        ("balance", f"/services/accounts/{checking}/balance", {}),
        ("balance, yen", f"/services/accounts/{ids['Yen']}/balance", {}),
        ("categories", "/services/categories", {"limit": "200"}),
        ("categories, income", "/services/categories", {"kind": "income", "limit": "200"}),
        ("category", f"/services/categories/{ids['Bakery']}", {}),
        ("transactions", tx, {}),
        ("transactions, 3 per page", tx, {"limit": "3"}),
        ("transactions, account", tx, {"account_id": checking}),
        ("transactions, category", tx, {"category_id": ids["Groceries"]}),
        ("transactions, type", tx, {"type": "transfer"}),
        ("transactions, dates", tx, {"from": "2025-03-02", "to": "2025-04-01"}),
        (
            "transactions, dates and category",
            tx,
            {"from": "2025-03-01", "category_id": ids["Restaurants"]},
        ),
        ("transactions, text", tx, {"q": "salary"}),
        ("transactions, tag", tx, {"tag": "FOOD"}),
        ("transactions, amounts", tx, {"min_amount": "40", "max_amount": "1234.56"}),
        ("budgets", "/services/budgets", {}),
        ("budget status", "/services/budgets/status", {"month": "2025-03"}),
        ("budget status, this month", "/services/budgets/status", {}),
        ("summary", "/services/reports/summary", {"from": "2025-01-01", "to": "2025-12-31"}),
        (
            "categories report",
            "/services/reports/categories",
            {"from": "2025-03-01", "type": "expense"},
        ),
        ("monthly", "/services/reports/monthly", {"from": "2025-01", "to": "2025-06"}),
        ("net worth", "/services/reports/net-worth", {}),
        ("dashboard", "/services/dashboard", {}),
        ("export", "/profile/export", {}),
        ("export, csv", "/profile/export", {"format": "csv"}),
    ]


def _record(api: httpx.Client, user: User, ids: dict[str, str]) -> dict[str, Any]:
    normalise = Normaliser(ids, user.email)
    recorded: dict[str, Any] = {}
    for name, path, query in _reads(ids):
        params: dict[str, str] = dict(query)
        pages: list[dict[str, Any]] = []
        while True:
            response = api.get(path, headers=user.headers, params=params)
            headers = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
            pages.append(
                {
                    "status": response.status_code,
                    "headers": {k: normalise(v) for k, v in headers.items()},
                    "body": normalise(response.text),
                }
            )
            is_json = headers.get("content-type") == "application/json"
            cursor = is_json and response.json().get("next_cursor")
            if not cursor:
                break
            params["cursor"] = cursor
        recorded[name] = pages
    return recorded


def test_every_read_answers_byte_for_byte_as_recorded(api: httpx.Client) -> None:
    user, ids = _seed(api)
    recorded = _record(api, user, ids)
    if os.environ.get("GOLDEN_UPDATE") == "1":
        if os.environ.get("CI") == "true":
            pytest.fail("GOLDEN_UPDATE is for a developer rewriting the file, never in CI")
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(recorded, indent=1, ensure_ascii=False) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert list(recorded) == list(expected)
    for name in expected:
        assert recorded[name] == expected[name], name
