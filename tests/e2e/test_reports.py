"""Reports and budget status through the real nginx: exact sums per currency,
splits per category, subcategories rolled up, the user's time zone."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
import zoneinfo
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import StackInfo
from tests.e2e.conftest import User, assert_problem, register_and_login

# ------------------------------------------------ helpers (test_dashboard uses them too)


async def _sql(stack: StackInfo, statement: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    engine = create_async_engine(stack.database_url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement), params)
            return [dict(r._mapping) for r in result] if result.returns_rows else []
    finally:
        await engine.dispose()


def sql(stack: StackInfo, statement: str, **params: Any) -> list[dict[str, Any]]:
    return asyncio.run(_sql(stack, statement, params))


def user_id(api: httpx.Client, user: User) -> str:
    profile = api.get("/profile", headers=user.headers)
    assert profile.status_code == 200, profile.text
    return str(profile.json()["id"])


def categories(stack: StackInfo, owner: str) -> dict[str, str]:
    """The user's categories by name (every user starts with the default set)."""
    rows = sql(stack, "SELECT name, id FROM categories WHERE user_id = :u", u=owner)
    return {r["name"]: str(r["id"]) for r in rows}


def account(api: httpx.Client, user: User, currency: str, opening: str | None = None) -> str:
    body = {"name": f"{currency} {uuid.uuid4().hex[:6]}", "type": "checking", "currency": currency}
    if opening is not None:
        body["opening_balance"] = opening
    created = api.post("/services/accounts", headers=user.headers, json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def post(api: httpx.Client, user: User, **body: Any) -> dict[str, Any]:
    posted = api.post("/services/transactions", headers=user.headers, json=body)
    assert posted.status_code == 201, posted.text
    transaction: dict[str, Any] = posted.json()
    return transaction


def expense(
    api: httpx.Client, user: User, account_id: str, amount: str, date: str, **more: Any
) -> dict[str, Any]:
    return post(api, user, type="expense", account_id=account_id, amount=amount, date=date, **more)


def income(
    api: httpx.Client, user: User, account_id: str, amount: str, date: str, **more: Any
) -> dict[str, Any]:
    return post(api, user, type="income", account_id=account_id, amount=amount, date=date, **more)


def _has_budgets_api(api: httpx.Client) -> bool:
    spec = api.get("/services/openapi.json").json()
    return "post" in spec["paths"].get("/services/budgets", {})


def budget(
    api: httpx.Client, stack: StackInfo, user: User, category_id: str, amount: str, currency: str
) -> str:
    """Through POST /services/budgets where it exists, else straight in SQL."""
    if _has_budgets_api(api):
        created = api.post(
            "/services/budgets",
            headers=user.headers,
            json={"category_id": category_id, "amount": amount, "currency": currency},
        )
        assert created.status_code == 201, created.text
        return str(created.json()["id"])
    budget_id = str(uuid.uuid4())
    sql(
        stack,
        "INSERT INTO budgets (id, user_id, category_id, amount, currency)"
        " VALUES (:id, :u, :c, CAST(:a AS numeric), :cur)",
        id=budget_id,
        u=user_id(api, user),
        c=category_id,
        a=amount,
        cur=currency,
    )
    return budget_id


def get(api: httpx.Client, user: User, path: str, **params: str) -> dict[str, Any]:
    response = api.get(path, headers=user.headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def local_today(zone: str) -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo(zone)).date()


# ---------------------------------------------------------------- summary


def test_summary_is_exact_per_currency_and_leaves_out_transfers_and_opening_balances(
    api: httpx.Client, user: User
) -> None:
    usd = account(api, user, "USD", opening="1000.00")
    card = account(api, user, "USD", opening="-50.00")
    jpy = account(api, user, "JPY", opening="50000")
    bhd = account(api, user, "BHD", opening="10.000")
    income(api, user, usd, "2500.10", "2026-02-01")  # first day: in
    expense(api, user, usd, "0.10", "2026-02-14")
    expense(api, user, usd, "0.20", "2026-02-28")  # last day: in
    expense(api, user, card, "99.99", "2026-02-14")
    expense(api, user, jpy, "1234", "2026-02-14")
    income(api, user, jpy, "100000", "2026-02-14")
    expense(api, user, bhd, "0.001", "2026-02-14")
    expense(api, user, bhd, "1.999", "2026-02-14")
    income(api, user, bhd, "3.333", "2026-02-14")
    expense(api, user, usd, "7.00", "2026-01-31")  # the day before: out
    income(api, user, usd, "7.00", "2026-03-01")  # the day after: out
    # moving money between your own accounts is neither income nor expense
    post(api, user, type="transfer", account_id=usd, to_account_id=card, amount="300.00",
         date="2026-02-14")  # fmt: skip
    post(api, user, type="transfer", account_id=usd, to_account_id=jpy, amount="100.00",
         to_amount="15000", date="2026-02-14")  # fmt: skip

    report = get(
        api, user, "/services/reports/summary", **{"from": "2026-02-01", "to": "2026-02-28"}
    )
    assert report == {
        "from": "2026-02-01",
        "to": "2026-02-28",
        "items": [
            {"currency": "BHD", "income": "3.333", "expense": "2.000", "net": "1.333",
             "transactions": 3},
            {"currency": "JPY", "income": "100000", "expense": "1234", "net": "98766",
             "transactions": 2},
            {"currency": "USD", "income": "2500.10", "expense": "100.29", "net": "2399.81",
             "transactions": 4},
        ],
    }  # fmt: skip
    one_day = get(
        api, user, "/services/reports/summary", **{"from": "2026-01-31", "to": "2026-01-31"}
    )
    assert one_day["items"] == [
        {"currency": "USD", "income": "0.00", "expense": "7.00", "net": "-7.00", "transactions": 1}
    ]

    stranger = register_and_login(api)
    assert get(api, stranger, "/services/reports/summary", **{"from": "2026-02-01"})["items"] == []


# ---------------------------------------------------------------- categories


def test_categories_count_splits_per_category_and_name_the_parent(
    api: httpx.Client, stack: StackInfo, user: User
) -> None:
    cats = categories(stack, user_id(api, user))
    usd = account(api, user, "USD")
    jpy = account(api, user, "JPY")
    day = "2026-05-05"
    expense(api, user, usd, "80.00", day, splits=[
        {"category_id": cats["Groceries"], "amount": "60.00"},
        {"category_id": cats["Electronics"], "amount": "20.00"},
    ])  # fmt: skip
    expense(api, user, usd, "5.55", day, category_id=cats["Groceries"])
    expense(api, user, usd, "1.01", day)
    expense(api, user, jpy, "700", day, category_id=cats["Groceries"])
    income(api, user, usd, "9.00", day, category_id=cats["Salary"])
    income(api, user, usd, "0.99", day, category_id=cats["Interest"])
    period = {"from": "2026-05-01", "to": "2026-05-31"}

    report = get(api, user, "/services/reports/categories", **period)
    assert report["type"] == "expense"
    assert (report["from"], report["to"]) == ("2026-05-01", "2026-05-31")
    assert report["items"] == [
        {"currency": "JPY", "category_id": cats["Groceries"], "name": "Groceries",
         "parent_id": cats["Food"], "amount": "700", "transactions": 1},
        {"currency": "USD", "category_id": cats["Groceries"], "name": "Groceries",
         "parent_id": cats["Food"], "amount": "65.55", "transactions": 2},
        {"currency": "USD", "category_id": cats["Electronics"], "name": "Electronics",
         "parent_id": cats["Shopping"], "amount": "20.00", "transactions": 1},
        {"currency": "USD", "category_id": None, "name": None, "parent_id": None,
         "amount": "1.01", "transactions": 1},
    ]  # fmt: skip
    incomes = get(api, user, "/services/reports/categories", type="income", **period)
    assert [(i["name"], i["amount"], i["parent_id"]) for i in incomes["items"]] == [
        ("Salary", "9.00", None),
        ("Interest", "0.99", cats["Investments"]),
    ]


# ---------------------------------------------------------------- monthly


def test_monthly_lists_each_month_with_activity_per_currency(api: httpx.Client, user: User) -> None:
    usd = account(api, user, "USD", opening="5.00")
    bhd = account(api, user, "BHD")
    income(api, user, usd, "10.00", "2025-12-31")
    expense(api, user, usd, "2.50", "2026-01-01")
    expense(api, user, usd, "2.50", "2026-01-31")
    income(api, user, bhd, "0.125", "2026-01-15")
    income(api, user, usd, "1.00", "2026-03-01")
    income(api, user, usd, "99.00", "2026-04-01")  # after the period
    report = get(api, user, "/services/reports/monthly", **{"from": "2025-12", "to": "2026-03"})
    assert report == {
        "from": "2025-12",
        "to": "2026-03",
        "items": [
            {"month": "2025-12", "currency": "USD", "income": "10.00", "expense": "0.00",
             "net": "10.00"},
            {"month": "2026-01", "currency": "BHD", "income": "0.125", "expense": "0.000",
             "net": "0.125"},
            {"month": "2026-01", "currency": "USD", "income": "0.00", "expense": "5.00",
             "net": "-5.00"},
            {"month": "2026-03", "currency": "USD", "income": "1.00", "expense": "0.00",
             "net": "1.00"},
        ],
    }  # fmt: skip
    widest = get(api, user, "/services/reports/monthly", **{"from": "2017-01", "to": "2026-12"})
    assert len(widest["items"]) == 5


# ---------------------------------------------------------------- net worth


def test_net_worth_per_currency_counts_archived_accounts(api: httpx.Client, user: User) -> None:
    account(api, user, "USD", opening="1500.25")
    account(api, user, "USD", opening="-300.10")
    old = account(api, user, "USD", opening="0.05")
    account(api, user, "JPY", opening="-5000")
    bhd = account(api, user, "BHD", opening="2.000")
    expense(api, user, bhd, "0.001", "2026-02-01")
    archived = api.patch(f"/services/accounts/{old}", headers=user.headers, json={"archived": True})
    assert archived.status_code == 200, archived.text
    assert get(api, user, "/services/reports/net-worth") == {
        "items": [
            {"currency": "BHD", "assets": "1.999", "liabilities": "0.000", "net_worth": "1.999"},
            {"currency": "JPY", "assets": "0", "liabilities": "5000", "net_worth": "-5000"},
            {"currency": "USD", "assets": "1500.30", "liabilities": "300.10",
             "net_worth": "1200.20"},
        ]
    }  # fmt: skip


# ---------------------------------------------------------------- budget status


def test_budget_status_counts_subcategories_and_splits_in_the_budgets_currency(
    api: httpx.Client, stack: StackInfo, user: User
) -> None:
    cats = categories(stack, user_id(api, user))
    usd = account(api, user, "USD")
    jpy = account(api, user, "JPY")
    bhd = account(api, user, "BHD")
    food = budget(api, stack, user, cats["Food"], "100.00", "USD")
    transport = budget(api, stack, user, cats["Transport"], "10.00", "USD")
    food_jpy = budget(api, stack, user, cats["Food"], "3000", "JPY")
    fees = budget(api, stack, user, cats["Bills & fees"], "1.500", "BHD")
    day = "2026-06-15"
    expense(api, user, usd, "30.00", day, category_id=cats["Groceries"])  # a subcategory
    expense(api, user, usd, "15.00", day, category_id=cats["Food"])
    expense(api, user, usd, "25.00", day, splits=[
        {"category_id": cats["Restaurants"], "amount": "20.00"},
        {"category_id": cats["Taxi"], "amount": "5.00"},
    ])  # fmt: skip
    expense(api, user, usd, "7.34", day, category_id=cats["Fuel"])
    expense(api, user, usd, "999.00", "2026-05-31", category_id=cats["Food"])  # May
    expense(api, user, usd, "999.00", "2026-07-01", category_id=cats["Food"])  # July
    expense(api, user, usd, "3.00", day)  # uncategorised
    expense(api, user, jpy, "1000", day, category_id=cats["Restaurants"])
    expense(api, user, bhd, "0.500", day, category_id=cats["Bank fees"])
    expense(api, user, bhd, "0.001", day, category_id=cats["Insurance"])
    income(api, user, usd, "500.00", day, category_id=cats["Refunds"])

    status = get(api, user, "/services/budgets/status", month="2026-06")
    assert status == {
        "month": "2026-06",
        "items": [
            {"budget_id": food, "category_id": cats["Food"], "name": "Food", "currency": "USD",
             "amount": "100.00", "spent": "65.00", "remaining": "35.00", "percent": "65.0"},
            {"budget_id": transport, "category_id": cats["Transport"], "name": "Transport",
             "currency": "USD", "amount": "10.00", "spent": "12.34", "remaining": "-2.34",
             "percent": "123.4"},
            {"budget_id": food_jpy, "category_id": cats["Food"], "name": "Food",
             "currency": "JPY", "amount": "3000", "spent": "1000", "remaining": "2000",
             "percent": "33.3"},
            {"budget_id": fees, "category_id": cats["Bills & fees"], "name": "Bills & fees",
             "currency": "BHD", "amount": "1.500", "spent": "0.501", "remaining": "0.999",
             "percent": "33.4"},
        ],
    }  # fmt: skip
    may = get(api, user, "/services/budgets/status", month="2026-05")
    assert [(i["spent"], i["percent"]) for i in may["items"]] == [
        ("999.00", "999.0"),
        ("0.00", "0.0"),
        ("0", "0.0"),
        ("0.000", "0.0"),
    ]


# ---------------------------------------------------------------- the user's time zone


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_this_month_is_the_month_in_the_users_time_zone(
    api: httpx.Client, user: User, zone: str
) -> None:
    """UTC+14 and UTC-11: for a day and more around each month's end they are
    in different months, and neither need be UTC's month."""
    changed = api.patch("/profile", headers=user.headers, json={"timezone": zone})
    assert changed.status_code == 200, changed.text
    usd = account(api, user, "USD")
    today = local_today(zone)
    first = today.replace(day=1)
    previous = first - dt.timedelta(days=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    expense(api, user, usd, "1.00", first.isoformat())
    expense(api, user, usd, "2.00", previous.isoformat())  # last day of the previous month
    expense(api, user, usd, "4.00", following.isoformat())  # first day of the next month
    month = f"{today:%Y-%m}"

    summary = get(api, user, "/services/reports/summary")
    assert summary["from"] == first.isoformat()
    assert summary["to"] == (following - dt.timedelta(days=1)).isoformat()
    assert [i["expense"] for i in summary["items"]] == ["1.00"]
    assert get(api, user, "/services/reports/categories")["from"] == first.isoformat()
    monthly = get(api, user, "/services/reports/monthly")
    assert monthly["to"] == month
    back = first.year * 12 + first.month - 1 - 11  # 11 months before this one
    assert monthly["from"] == f"{back // 12:04d}-{back % 12 + 1:02d}"
    assert [(i["month"], i["expense"]) for i in monthly["items"]] == [
        (f"{previous:%Y-%m}", "2.00"),
        (month, "1.00"),
    ]
    assert get(api, user, "/services/budgets/status")["month"] == month
    dashboard = get(api, user, "/services/dashboard")
    assert (dashboard["month"], dashboard["timezone"]) == (month, zone)
    assert [t["expense"] for t in dashboard["this_month"]] == ["1.00"]


# ---------------------------------------------------------------- refused input


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/services/reports/summary", {"from": "2026-03-02", "to": "2026-03-01"}, "from"),
        ("/services/reports/summary", {"from": "2999-01-01"}, "from"),  # after the default `to`
        ("/services/reports/summary", {"from": "2026-02-30"}, "from"),
        ("/services/reports/summary", {"to": "yesterday"}, "to"),
        ("/services/reports/categories", {"from": "2026-03-02", "to": "2026-03-01"}, "from"),
        ("/services/reports/categories", {"type": "transfer"}, "type"),
        ("/services/reports/categories", {"type": "EXPENSE"}, "type"),
        ("/services/reports/monthly", {"from": "2026-04", "to": "2026-03"}, "from"),
        ("/services/reports/monthly", {"from": "2016-12", "to": "2026-12"}, "from"),
        ("/services/reports/monthly", {"from": "1900-01"}, "from"),  # > 120 months to now
        ("/services/reports/monthly", {"from": "2026-13"}, "from"),
        ("/services/reports/monthly", {"to": "2026-1"}, "to"),
        ("/services/reports/monthly", {"to": "2026-01-01"}, "to"),
        ("/services/reports/monthly", {"from": "0000-01"}, "from"),
        ("/services/budgets/status", {"month": "2026-00"}, "month"),
        ("/services/budgets/status", {"month": "June"}, "month"),
        ("/services/budgets/status", {"month": "2026-06 "}, "month"),
    ],
)
def test_bad_periods_are_422_naming_the_field(
    api: httpx.Client, user: User, path: str, params: dict[str, str], field: str
) -> None:
    response = api.get(path, headers=user.headers, params=params)
    body = assert_problem(response, 422, "validation_failed")
    assert [e["field"] for e in body["errors"]] == [field], body


def test_reports_need_a_token(api: httpx.Client) -> None:
    for path in (
        "/services/reports/summary",
        "/services/reports/categories",
        "/services/reports/monthly",
        "/services/reports/net-worth",
        "/services/budgets/status",
        "/services/dashboard",
    ):
        assert_problem(api.get(path), 401)
