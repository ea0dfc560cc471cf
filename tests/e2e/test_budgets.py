"""/services/budgets through the real nginx, as a client app would use it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import StackInfo
from tests.e2e.conftest import User, assert_problem, register_and_login
from tests.e2e.test_categories import create, everything, instant, refused

FIELDS = {"id", "category_id", "amount", "currency", "period", "created_at", "updated_at"}


def expense_category(api: httpx.Client, user: User) -> str:
    return str(create(api, user, name=f"c-{uuid.uuid4().hex[:8]}", kind="expense")["id"])


def post(api: httpx.Client, user: User, **body: Any) -> httpx.Response:
    return api.post("/services/budgets", headers=user.headers, json=body)


def budget(api: httpx.Client, user: User, **body: Any) -> dict[str, Any]:
    response = post(api, user, **body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def listed(api: httpx.Client, user: User) -> list[dict[str, Any]]:
    response = api.get("/services/budgets", headers=user.headers, params={"limit": 200})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_create_read_update_delete(api: httpx.Client, user: User) -> None:
    category = expense_category(api, user)
    created = budget(api, user, category_id=category, amount="400")
    assert set(created) == FIELDS
    # the profile's default currency, and the amount with its decimal places
    assert (created["category_id"], created["amount"], created["currency"]) == (
        category,
        "400.00",
        "USD",
    )
    assert created["period"] == "monthly"
    url = f"/services/budgets/{created['id']}"
    assert api.get(url, headers=user.headers).json() == created
    assert listed(api, user) == [created]

    changed = api.patch(url, headers=user.headers, json={"amount": "450.5"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["amount"], changed.json()["currency"]) == ("450.50", "USD")
    assert instant(changed.json()["updated_at"]) > instant(created["updated_at"])
    same = api.patch(url, headers=user.headers, json={"period": "monthly"})
    assert same.json()["amount"] == "450.50"
    assert api.get(url, headers=user.headers).json() == same.json()

    gone = api.delete(url, headers=user.headers)
    assert gone.status_code == 204
    assert gone.content == b""
    assert_problem(api.get(url, headers=user.headers), 404, "not_found")
    assert_problem(api.delete(url, headers=user.headers), 404, "not_found")
    assert listed(api, user) == []


def test_currency_defaults_to_the_profile_and_one_budget_per_currency(
    api: httpx.Client, user: User
) -> None:
    category = expense_category(api, user)
    profile = api.patch("/profile", headers=user.headers, json={"default_currency": "JPY"})
    assert profile.status_code == 200, profile.text
    yen = budget(api, user, category_id=category, amount="30000")
    assert (yen["currency"], yen["amount"]) == ("JPY", "30000")
    euro = budget(api, user, category_id=category, amount="12.5", currency="EUR", period="monthly")
    assert (euro["currency"], euro["amount"]) == ("EUR", "12.50")
    bhd = budget(api, user, category_id=category, amount="1.5", currency="BHD")
    assert bhd["amount"] == "1.500"

    refused_twice = post(api, user, category_id=category, amount="1", currency="EUR")
    assert refused(refused_twice, 409, "budget_exists") == ["category_id"]
    assert_problem(post(api, user, category_id=category, amount="1"), 409, "budget_exists")
    assert [b["id"] for b in listed(api, user)] == [yen["id"], euro["id"], bhd["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "10.5", "currency": "JPY"}, "amount"),
        ({"amount": "1.001"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "0.00"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": 5}, "amount"),
        ({"amount": "1e3"}, "amount"),
        ({"amount": "1" * 16}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({}, "amount"),
        ({"amount": "5", "currency": "usd"}, "currency"),
        ({"amount": "5", "currency": "XXX"}, "currency"),
        ({"amount": "5", "currency": "DOLLARS"}, "currency"),
        ({"amount": "5", "period": "weekly"}, "period"),
        ({"amount": "5", "colour": "red"}, "colour"),
        ({"amount": "5", "category_id": "nope"}, "category_id"),
    ],
)
def test_invalid_budgets_are_a_422_naming_the_field(
    api: httpx.Client, user: User, body: dict[str, Any], field: str
) -> None:
    category = expense_category(api, user)
    response = post(api, user, **({"category_id": category} | body))
    assert field in refused(response, 422)
    assert listed(api, user) == []


def test_the_largest_amount_fits(api: httpx.Client, user: User) -> None:
    created = budget(
        api,
        user,
        category_id=expense_category(api, user),
        amount="999999999999999.9999",
        currency="CLF",
    )
    assert created["amount"] == "999999999999999.9999"


def test_only_expense_categories_of_yours_take_budgets(api: httpx.Client, user: User) -> None:
    salary = next(c for c in everything(api, user, kind="income") if c["name"] == "Salary")
    income = post(api, user, category_id=salary["id"], amount="100.00")
    assert refused(income, 422) == ["category_id"]
    missing = post(api, user, category_id=str(uuid.uuid4()), amount="100.00")
    assert refused(missing, 404, "not_found") == ["category_id"]
    # a subcategory is an expense category too
    groceries = next(c for c in everything(api, user) if c["name"] == "Groceries")
    assert budget(api, user, category_id=groceries["id"], amount="300")["amount"] == "300.00"


def test_patches_change_the_amount_only(api: httpx.Client, user: User) -> None:
    created = budget(api, user, category_id=expense_category(api, user), amount="50")
    url = f"/services/budgets/{created['id']}"
    other = expense_category(api, user)
    for body, field in [
        ({"currency": "EUR"}, "currency"),
        ({"currency": "USD"}, "currency"),
        ({"category_id": other}, "category_id"),
        ({"amount": None}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "5.555"}, "amount"),
        ({"amount": 5}, "amount"),
        ({"period": "yearly"}, "period"),
        ({"colour": "red"}, "colour"),
    ]:
        response = api.patch(url, headers=user.headers, json=body)
        assert refused(response, 422) == [field], body
    assert api.get(url, headers=user.headers).json() == created


def test_pages_are_oldest_first_with_a_stable_cursor(api: httpx.Client, user: User) -> None:
    category = expense_category(api, user)
    created = [
        budget(api, user, category_id=category, amount="1", currency=c)["id"]
        for c in ("USD", "EUR", "GBP", "CHF", "JPY")
    ]
    seen: list[str] = []
    cursor = None
    while True:
        page = api.get(
            "/services/budgets",
            headers=user.headers,
            params={"limit": 2, **({"cursor": cursor} if cursor else {})},
        )
        assert page.status_code == 200, page.text
        assert len(page.json()["items"]) <= 2
        seen += [b["id"] for b in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        if len(seen) == 2:  # one that arrives meanwhile comes last, not twice
            created.append(
                budget(api, user, category_id=category, amount="1", currency="SEK")["id"]
            )
    assert seen == created
    bad = api.get("/services/budgets", headers=user.headers, params={"cursor": "!!"})
    assert refused(bad, 422) == ["cursor"]


def test_only_uuids_are_budget_ids(api: httpx.Client, user: User) -> None:
    for path in ("/services/budgets/not-a-uuid", f"/services/budgets/{uuid.uuid4()}"):
        assert_problem(api.get(path, headers=user.headers), 404, "not_found")


def test_another_users_budgets_are_not_found(api: httpx.Client) -> None:
    alice, bob = register_and_login(api), register_and_login(api)
    secret = budget(api, alice, category_id=expense_category(api, alice), amount="10")
    url = f"/services/budgets/{secret['id']}"

    assert_problem(api.get(url, headers=bob.headers), 404, "not_found")
    assert_problem(api.patch(url, headers=bob.headers, json={"amount": "1"}), 404, "not_found")
    assert_problem(api.delete(url, headers=bob.headers), 404, "not_found")
    theirs = post(api, bob, category_id=secret["category_id"], amount="1")
    assert refused(theirs, 404) == ["category_id"]
    assert listed(api, bob) == []
    assert api.get(url, headers=alice.headers).json() == secret


def test_every_write_raises_the_dashboard_floor(
    api: httpx.Client, user: User, stack: StackInfo
) -> None:
    """The dashboard shows budgets: after each acknowledged write, no dashboard
    computed before it may be served."""
    user_id = api.get("/profile", headers=user.headers).json()["id"]
    category = expense_category(api, user)
    store = redis.Redis.from_url(stack.redis_url)

    def floor() -> int:
        return int(store.hget(f"dash:{user_id}", "floor") or 0)

    try:
        before = floor()
        created = budget(api, user, category_id=category, amount="10")
        after_create = floor()
        url = f"/services/budgets/{created['id']}"
        assert api.patch(url, headers=user.headers, json={"amount": "11"}).is_success
        after_update = floor()
        assert api.delete(url, headers=user.headers).status_code == 204
        after_delete = floor()
    finally:
        store.close()
    assert before < after_create < after_update < after_delete
