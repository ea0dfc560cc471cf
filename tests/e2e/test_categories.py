"""/services/categories through the real nginx, as a client app would use it."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import StackInfo
from tests.e2e.conftest import User, assert_problem, register_and_login

FIELDS = {"id", "name", "kind", "parent_id", "created_at", "updated_at"}


def instant(timestamp: str) -> dt.datetime:
    """A timestamp of the API, to compare: "…:07Z" (a whole second) would sort
    after "…:07.5Z" as text."""
    return dt.datetime.fromisoformat(timestamp)


def create(api: httpx.Client, user: User, **body: Any) -> dict[str, Any]:
    response = api.post("/services/categories", headers=user.headers, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def everything(api: httpx.Client, user: User, **params: Any) -> list[dict[str, Any]]:
    """Every page, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api.get(
            "/services/categories",
            headers=user.headers,
            params={**params, **({"cursor": cursor} if cursor else {})},
        )
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def account(api: httpx.Client, user: User, currency: str = "USD") -> str:
    response = api.post(
        "/services/accounts",
        headers=user.headers,
        json={"name": "Checking", "type": "checking", "currency": currency},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def expense(api: httpx.Client, user: User, account_id: str, **extra: Any) -> httpx.Response:
    return api.post(
        "/services/transactions",
        headers=user.headers,
        json={
            "type": "expense",
            "account_id": account_id,
            "amount": "10.00",
            "date": "2026-11-05",
            **extra,
        },
    )


def refused(response: httpx.Response, status: int, code: str | None = None) -> list[str]:
    """Assert a problem+json answer; the fields it names."""
    body = assert_problem(response, status, code)
    return [e["field"] for e in body.get("errors") or []]


def test_a_new_user_starts_with_default_categories(api: httpx.Client, user: User) -> None:
    first = api.get("/services/categories", headers=user.headers)
    assert first.status_code == 200, first.text
    assert first.json()["items"]
    items = everything(api, user)
    assert all(set(c) == FIELDS for c in items)
    by_id = {c["id"]: c for c in items}
    children = [c for c in items if c["parent_id"] is not None]
    assert {c["kind"] for c in items} == {c["kind"] for c in children} == {"expense", "income"}
    for child in children:
        parent = by_id[child["parent_id"]]
        assert parent["parent_id"] is None
        assert parent["kind"] == child["kind"]
    groceries = next(c for c in items if c["name"] == "Groceries")
    assert by_id[groceries["parent_id"]]["name"] == "Food"


def test_pages_follow_creation_order_and_filter_by_kind(api: httpx.Client, user: User) -> None:
    whole = api.get("/services/categories", headers=user.headers, params={"limit": 200})
    assert whole.json()["next_cursor"] is None
    created = create(api, user, name="Zzz last", kind="income")
    all_items = everything(api, user, limit=5)
    assert [c["id"] for c in all_items] == [c["id"] for c in whole.json()["items"]] + [
        created["id"]
    ]
    income = everything(api, user, kind="income", limit=3)
    assert income
    assert [c["id"] for c in income] == [c["id"] for c in all_items if c["kind"] == "income"]
    assert income[-1]["id"] == created["id"]

    by_kind = api.get("/services/categories?kind=transfer", headers=user.headers)
    assert refused(by_kind, 422) == ["kind"]
    forged = base64.urlsafe_b64encode(json.dumps({"s": "1"}).encode()).decode()
    bad_cursor = api.get("/services/categories", headers=user.headers, params={"cursor": forged})
    assert assert_problem(bad_cursor, 422)["errors"][0]["field"] == "cursor"
    assert_problem(api.get("/services/categories?limit=0", headers=user.headers), 422)


def test_create_read_rename_move_and_delete(api: httpx.Client, user: User) -> None:
    pets = create(api, user, name="  Pets  ", kind="expense")
    assert set(pets) == FIELDS
    assert (pets["name"], pets["kind"], pets["parent_id"]) == ("Pets", "expense", None)
    vet = create(api, user, name="Vet", kind="expense", parent_id=pets["id"])
    assert vet["parent_id"] == pets["id"]
    assert api.get(f"/services/categories/{vet['id']}", headers=user.headers).json() == vet

    kids = create(api, user, name="Kids", kind="expense")
    moved = api.patch(
        f"/services/categories/{vet['id']}",
        headers=user.headers,
        json={"name": "Doctor", "parent_id": kids["id"]},
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["name"], moved.json()["parent_id"]) == ("Doctor", kids["id"])
    assert instant(moved.json()["updated_at"]) > instant(vet["updated_at"])
    top = api.patch(
        f"/services/categories/{vet['id']}", headers=user.headers, json={"parent_id": None}
    )
    assert (top.json()["name"], top.json()["parent_id"]) == ("Doctor", None)
    assert api.get(f"/services/categories/{vet['id']}", headers=user.headers).json() == top.json()

    gone = api.delete(f"/services/categories/{vet['id']}", headers=user.headers)
    assert gone.status_code == 204
    assert gone.content == b""
    assert_problem(api.get(f"/services/categories/{vet['id']}", headers=user.headers), 404)
    assert vet["id"] not in {c["id"] for c in everything(api, user)}
    assert_problem(api.delete(f"/services/categories/{vet['id']}", headers=user.headers), 404)


def test_two_levels_one_kind_and_unique_names(api: httpx.Client, user: User) -> None:
    pets = create(api, user, name="Pets", kind="expense")
    vet = create(api, user, name="Vet", kind="expense", parent_id=pets["id"])
    salary = next(c for c in everything(api, user, kind="income") if c["name"] == "Salary")
    before = everything(api, user)

    def post(**body: Any) -> httpx.Response:
        return api.post("/services/categories", headers=user.headers, json=body)

    deeper = post(name="Dentist", kind="expense", parent_id=vet["id"])
    assert refused(deeper, 422) == ["parent_id"]
    assert "two levels" in deeper.json()["detail"]
    mixed = post(name="Tips", kind="expense", parent_id=salary["id"])
    assert refused(mixed, 422) == ["parent_id"]
    for name, parent in (("pets", None), ("VET", pets["id"]), ("Food", None)):
        duplicate = post(name=name, kind="expense", parent_id=parent)
        assert_problem(duplicate, 409, "category_exists")
    assert everything(api, user) == before

    # the same name is fine in another kind, or under another parent
    create(api, user, name="Pets", kind="income")
    create(api, user, name="Vet", kind="expense")


def test_patches_that_break_the_rules_are_refused(api: httpx.Client, user: User) -> None:
    pets = create(api, user, name="Pets", kind="expense")
    vet = create(api, user, name="Vet", kind="expense", parent_id=pets["id"])
    kids = create(api, user, name="Kids", kind="expense")
    bonus = create(api, user, name="Bonus", kind="income")

    def patch(category: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
        return api.patch(f"/services/categories/{category['id']}", headers=user.headers, json=body)

    for category, body, status, field in [
        (kids, {"kind": "income"}, 422, "kind"),  # the kind is fixed
        (kids, {"kind": "expense"}, 422, "kind"),
        (kids, {"parent_id": kids["id"]}, 422, "parent_id"),  # its own parent
        (pets, {"parent_id": kids["id"]}, 422, "parent_id"),  # it has a child
        (kids, {"parent_id": vet["id"]}, 422, "parent_id"),  # three levels
        (kids, {"parent_id": bonus["id"]}, 422, "parent_id"),  # another kind
        (kids, {"name": None}, 422, "name"),
        (kids, {"name": "   "}, 422, "name"),
        (kids, {"name": "x" * 101}, 422, "name"),
        (kids, {"colour": "red"}, 422, "colour"),
        (kids, {"parent_id": "not-a-uuid"}, 422, "parent_id"),
    ]:
        assert refused(patch(category, body), status) == [field], body
    assert_problem(patch(vet, {"name": "KIDS", "parent_id": None}), 409, "category_exists")
    assert api.get(f"/services/categories/{vet['id']}", headers=user.headers).json() == vet
    assert api.get(f"/services/categories/{kids['id']}", headers=user.headers).json() == kids


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "kind": "expense"}, "name"),
        ({"name": " \t ", "kind": "expense"}, "name"),
        ({"name": "x" * 101, "kind": "expense"}, "name"),
        ({"name": "a\nb", "kind": "expense"}, "name"),
        ({"name": "a\u0000b", "kind": "expense"}, "name"),
        ({"name": 5, "kind": "expense"}, "name"),
        ({"name": "Pets", "kind": "transfer"}, "kind"),
        ({"name": "Pets"}, "kind"),
        ({"kind": "expense"}, "name"),
        ({"name": "Pets", "kind": "expense", "parent_id": "nope"}, "parent_id"),
        ({"name": "Pets", "kind": "expense", "colour": "red"}, "colour"),
    ],
)
def test_invalid_bodies_are_a_422_naming_the_field(
    api: httpx.Client, user: User, body: dict[str, Any], field: str
) -> None:
    response = api.post("/services/categories", headers=user.headers, json=body)
    assert field in refused(response, 422, "validation_failed")


def test_odd_but_valid_names_are_stored_as_sent(api: httpx.Client, user: User) -> None:
    for name in ("x" * 100, "Café ☕ & crème", "🐶" * 100, "'; DROP TABLE categories; --"):
        created = create(api, user, name=name, kind="expense")
        assert created["name"] == name
        assert api.get(f"/services/categories/{created['id']}", headers=user.headers).json() == (
            created
        )


def test_delete_refuses_parents_and_categories_in_use(api: httpx.Client, user: User) -> None:
    checking = account(api, user)
    pets = create(api, user, name="Pets", kind="expense")
    vet = create(api, user, name="Vet", kind="expense", parent_id=pets["id"])
    food = create(api, user, name="Pet food", kind="expense")
    toys = create(api, user, name="Pet toys", kind="expense")
    assert expense(api, user, checking, category_id=food["id"]).status_code == 201
    split = expense(
        api,
        user,
        checking,
        splits=[
            {"category_id": vet["id"], "amount": "4.00"},
            {"category_id": toys["id"], "amount": "6.00"},
        ],
    )
    assert split.status_code == 201, split.text

    def delete(category: dict[str, Any]) -> httpx.Response:
        return api.delete(f"/services/categories/{category['id']}", headers=user.headers)

    assert_problem(delete(pets), 409, "category_has_children")
    for used in (food, vet, toys):
        assert_problem(delete(used), 409, "category_in_use")
    assert {c["id"] for c in (pets, vet, food, toys)} <= {c["id"] for c in everything(api, user)}

    # once nothing uses them, they go
    split_id = split.json()["id"]
    assert api.delete(f"/services/transactions/{split_id}", headers=user.headers).is_success
    assert delete(vet).status_code == 204
    assert delete(pets).status_code == 204
    assert delete(toys).status_code == 204
    assert_problem(delete(food), 409, "category_in_use")


def test_delete_takes_the_budgets_with_it(api: httpx.Client, user: User) -> None:
    pets = create(api, user, name="Pets", kind="expense")
    budget = api.post(
        "/services/budgets",
        headers=user.headers,
        json={"category_id": pets["id"], "amount": "50.00"},
    )
    assert budget.status_code == 201, budget.text
    assert api.delete(f"/services/categories/{pets['id']}", headers=user.headers).status_code == 204
    assert_problem(
        api.get(f"/services/budgets/{budget.json()['id']}", headers=user.headers), 404, "not_found"
    )
    assert budget.json()["id"] not in {
        b["id"] for b in api.get("/services/budgets", headers=user.headers).json()["items"]
    }


def test_a_transaction_must_use_a_category_of_its_kind(api: httpx.Client, user: User) -> None:
    checking = account(api, user)
    salary = next(c for c in everything(api, user, kind="income") if c["name"] == "Salary")
    food = next(c for c in everything(api, user, kind="expense") if c["name"] == "Food")

    wrong = expense(api, user, checking, category_id=salary["id"])
    assert refused(wrong, 422) == ["category_id"]
    wrong_split = expense(
        api,
        user,
        checking,
        splits=[
            {"category_id": food["id"], "amount": "5.00"},
            {"category_id": salary["id"], "amount": "5.00"},
        ],
    )
    assert refused(wrong_split, 422) == ["splits[1].category_id"]
    assert api.get("/services/transactions", headers=user.headers).json()["items"] == []
    balance = api.get(f"/services/accounts/{checking}/balance", headers=user.headers).json()
    assert balance["balance"] == "0.00"

    right = expense(api, user, checking, category_id=food["id"])
    assert right.status_code == 201, right.text
    assert right.json()["category_id"] == food["id"]


def test_another_users_categories_are_not_found(api: httpx.Client) -> None:
    alice, bob = register_and_login(api), register_and_login(api)
    secret = create(api, alice, name="Secret", kind="expense")
    url = f"/services/categories/{secret['id']}"

    assert_problem(api.get(url, headers=bob.headers), 404, "not_found")
    assert_problem(api.patch(url, headers=bob.headers, json={"name": "Mine"}), 404, "not_found")
    assert_problem(api.delete(url, headers=bob.headers), 404, "not_found")
    as_parent = api.post(
        "/services/categories",
        headers=bob.headers,
        json={"name": "Child", "kind": "expense", "parent_id": secret["id"]},
    )
    assert refused(as_parent, 404) == ["parent_id"]
    in_transaction = expense(api, bob, account(api, bob), category_id=secret["id"])
    assert refused(in_transaction, 404) == ["category_id"]
    in_budget = api.post(
        "/services/budgets",
        headers=bob.headers,
        json={"category_id": secret["id"], "amount": "10.00"},
    )
    assert refused(in_budget, 404) == ["category_id"]
    assert secret["id"] not in {c["id"] for c in everything(api, bob)}
    assert api.get(url, headers=alice.headers).json() == secret


def test_every_write_raises_the_dashboard_floor(
    api: httpx.Client, user: User, stack: StackInfo
) -> None:
    """The dashboard shows categories: after each acknowledged write, no
    dashboard computed before it may be served."""
    user_id = api.get("/profile", headers=user.headers).json()["id"]
    store = redis.Redis.from_url(stack.redis_url)

    def floor() -> int:
        return int(store.hget(f"dash:{user_id}", "floor") or 0)

    try:
        before = floor()
        created = create(api, user, name="Pets", kind="expense")
        after_create = floor()
        url = f"/services/categories/{created['id']}"
        assert api.patch(url, headers=user.headers, json={"name": "Animals"}).is_success
        after_update = floor()
        assert api.delete(url, headers=user.headers).status_code == 204
        after_delete = floor()
    finally:
        store.close()
    assert before < after_create < after_update < after_delete
