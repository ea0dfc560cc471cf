"""PATCH /profile: only what is sent changes, every value is checked, and
GET /profile shows the result."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import User, assert_problem


def _profile(api: httpx.Client, user: User) -> dict[str, Any]:
    response = api.get("/profile", headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _patch(api: httpx.Client, user: User, body: object) -> httpx.Response:
    return api.patch("/profile", headers=user.headers, json=body)


def test_a_new_profile_has_the_defaults(api: httpx.Client, user: User) -> None:
    profile = _profile(api, user)
    assert set(profile) == {
        "id",
        "email",
        "display_name",
        "default_currency",
        "timezone",
        "created_at",
    }
    assert profile["email"] == user.email
    assert (profile["display_name"], profile["default_currency"], profile["timezone"]) == (
        None,
        "USD",
        "UTC",
    )


def test_every_field_changes_and_get_shows_it(api: httpx.Client, user: User) -> None:
    before = _profile(api, user)
    change = {"display_name": "Ada Lovelace", "default_currency": "EUR", "timezone": "Asia/Tokyo"}
    response = _patch(api, user, change)
    assert response.status_code == 200, response.text
    assert response.json() == {**before, **change}
    assert _profile(api, user) == {**before, **change}


def test_only_the_fields_sent_change(api: httpx.Client, user: User) -> None:
    first = {"display_name": "Grace", "default_currency": "JPY", "timezone": "Europe/Paris"}
    assert _patch(api, user, first).status_code == 200
    for change in (
        {"display_name": "Grace Hopper"},
        {"default_currency": "BHD"},
        {"timezone": "America/Argentina/Buenos_Aires"},
        {},
    ):
        before = _profile(api, user)
        response = _patch(api, user, change)
        assert response.status_code == 200, response.text
        assert response.json() == {**before, **change}
        assert _profile(api, user) == {**before, **change}


def test_the_display_name_can_be_cleared(api: httpx.Client, user: User) -> None:
    assert _patch(api, user, {"display_name": "Temporary"}).json()["display_name"] == "Temporary"
    response = _patch(api, user, {"display_name": None})
    assert response.status_code == 200, response.text
    assert response.json()["display_name"] is None
    assert _profile(api, user)["display_name"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("default_currency", "usd"),  # codes are upper case
        ("default_currency", "XYZ"),  # not ISO 4217
        ("default_currency", "XAU"),  # ISO 4217, but gold is not money we book
        ("default_currency", "EURO"),
        ("default_currency", ""),
        ("default_currency", 840),
        ("default_currency", None),  # required: only the display name can be cleared
        ("timezone", "Mars/Olympus_Mons"),
        ("timezone", "europe/paris"),  # IANA names are case-sensitive
        ("timezone", "+02:00"),  # an offset is not a time zone
        ("timezone", ""),
        ("timezone", "x" * 65),
        ("timezone", None),
        ("display_name", ""),
        ("display_name", "x" * 101),
        ("display_name", "nul\x00byte"),
    ],
)
def test_an_invalid_value_is_refused_naming_the_field(
    api: httpx.Client, user: User, field: str, value: object
) -> None:
    before = _profile(api, user)
    body = assert_problem(_patch(api, user, {field: value}), 422, "validation_failed")
    assert {e["field"] for e in body["errors"]} == {field}
    assert _profile(api, user) == before


def test_one_invalid_field_writes_nothing(api: httpx.Client, user: User) -> None:
    before = _profile(api, user)
    response = _patch(
        api, user, {"display_name": "Changed", "default_currency": "EUR", "timezone": "Nowhere"}
    )
    body = assert_problem(response, 422, "validation_failed")
    assert [e["field"] for e in body["errors"]] == ["timezone"]
    assert _profile(api, user) == before


@pytest.mark.parametrize(
    "body",
    [
        {"email": "someone-else@example.com"},
        {"display_name": "Ok", "password": "new password"},
        {"id": "00000000-0000-0000-0000-000000000000"},
        {"ledger_version": 0},
    ],
)
def test_an_unknown_field_is_refused(api: httpx.Client, user: User, body: dict[str, Any]) -> None:
    before = _profile(api, user)
    problem = assert_problem(_patch(api, user, body), 422, "validation_failed")
    unknown = {e["field"] for e in problem["errors"] if e["message"] == "unknown field"}
    assert unknown == set(body) - {"display_name"}
    assert _profile(api, user) == before


@pytest.mark.parametrize("body", [[], "EUR", None])
def test_a_body_that_is_not_an_object_is_refused(
    api: httpx.Client, user: User, body: object
) -> None:
    before = _profile(api, user)
    assert_problem(_patch(api, user, body), 422, "validation_failed")
    assert _profile(api, user) == before


def test_updating_needs_a_valid_token(api: httpx.Client, user: User) -> None:
    before = _profile(api, user)
    change = {"display_name": "Mallory"}
    assert_problem(api.patch("/profile", json=change), 401, "missing_token")
    bad = {"Authorization": "Bearer not-a-token"}
    assert_problem(api.patch("/profile", json=change, headers=bad), 401, "invalid_token")
    assert _profile(api, user) == before
