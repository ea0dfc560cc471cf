"""The auth service as a client uses it: sessions, password changes, the OAuth 2
form, and the password rules."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import StackInfo
from tests.e2e.conftest import PASSWORD, User, assert_problem, bearer, login, register_and_login


def _email() -> str:
    return f"auth-{uuid.uuid4().hex[:10]}@example.com"


def test_token_form_logs_in_like_the_json_endpoint(api: httpx.Client, user: User) -> None:
    # what Swagger UI's Authorize dialog sends
    swagger_form = {
        "grant_type": "password",
        "username": user.email,
        "password": PASSWORD,
        "scope": "",
    }
    response = api.post("/auth/token", data=swagger_form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert api.get("/profile", headers=bearer(body["access_token"])).status_code == 200
    wrong = api.post("/auth/token", data={"username": user.email, "password": "nope-nope"})
    assert_problem(wrong, 401, "invalid_credentials")
    not_email = api.post("/auth/token", data={"username": "ada", "password": PASSWORD})
    assert assert_problem(not_email, 422)["errors"][0]["field"] == "username"


def test_sessions_are_listed_with_the_current_one_marked(api: httpx.Client) -> None:
    phone = register_and_login(api)
    laptop = login(api, phone.email, user_agent="laptop-browser")
    listed = api.get("/auth/sessions", headers=phone.headers)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert len(items) == 2
    assert [s["current"] for s in items].count(True) == 1
    assert {s["user_agent"] for s in items} == {
        f"python-httpx/{httpx.__version__}",
        "laptop-browser",
    }
    assert {"id", "created_at", "last_used_at", "user_agent", "current"} == set(items[0])
    from_laptop = api.get("/auth/sessions", headers=laptop.headers).json()["items"]
    assert next(s for s in from_laptop if s["current"])["user_agent"] == "laptop-browser"


def test_ending_one_session_leaves_the_others(api: httpx.Client) -> None:
    first = register_and_login(api)
    second = login(api, first.email)
    sessions = api.get("/auth/sessions", headers=first.headers).json()["items"]
    other = next(s["id"] for s in sessions if not s["current"])
    assert api.delete(f"/auth/sessions/{other}", headers=first.headers).status_code == 204
    assert_problem(api.get("/profile", headers=second.headers), 401, "token_revoked")
    assert_problem(api.post("/auth/refresh", json={"refresh_token": second.refresh_token}), 401)
    assert api.get("/profile", headers=first.headers).status_code == 200
    # already ended, or someone else's: indistinguishable from missing
    assert_problem(api.delete(f"/auth/sessions/{other}", headers=first.headers), 404)
    stranger = register_and_login(api)
    mine = api.get("/auth/sessions", headers=first.headers).json()["items"][0]["id"]
    assert_problem(api.delete(f"/auth/sessions/{mine}", headers=stranger.headers), 404)
    assert api.get("/profile", headers=first.headers).status_code == 200


def test_password_change_keeps_this_session_and_ends_the_others(api: httpx.Client) -> None:
    here = register_and_login(api)
    elsewhere = login(api, here.email)
    new_password = "an entirely new passphrase " + uuid.uuid4().hex[:6]
    changed = api.post(
        "/auth/password",
        headers=here.headers,
        json={"current_password": PASSWORD, "new_password": new_password},
    )
    assert changed.status_code == 204, changed.text
    assert api.get("/profile", headers=here.headers).status_code == 200
    assert_problem(api.get("/profile", headers=elsewhere.headers), 401, "token_revoked")
    assert_problem(
        api.post("/auth/login", json={"email": here.email, "password": PASSWORD}),
        401,
        "invalid_credentials",
    )
    login(api, here.email, new_password)


def test_password_change_refuses_a_wrong_current_or_weak_new_password(
    api: httpx.Client, user: User
) -> None:
    wrong = api.post(
        "/auth/password",
        headers=user.headers,
        json={"current_password": "not my password", "new_password": "x" * 12},
    )
    body = assert_problem(wrong, 403, "invalid_current_password")
    assert body["errors"] == [{"field": "current_password", "message": "is incorrect"}]
    weak = api.post(
        "/auth/password",
        headers=user.headers,
        json={"current_password": PASSWORD, "new_password": "Password1"},
    )
    assert assert_problem(weak, 422)["errors"][0]["field"] == "new_password"
    login(api, user.email)  # unchanged


@pytest.mark.parametrize("common", ["password1", "Password1", "BASEBALL1", "iloveyou1"])
def test_the_most_common_passwords_are_refused_in_any_case(api: httpx.Client, common: str) -> None:
    response = api.post("/auth/register", json={"email": _email(), "password": common})
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "password"
    assert "common" in body["errors"][0]["message"]


@pytest.mark.parametrize("length", [7, 1025])
def test_password_length_is_bounded(api: httpx.Client, length: int) -> None:
    response = api.post("/auth/register", json={"email": _email(), "password": "k" * length})
    assert assert_problem(response, 422)["errors"][0]["field"] == "password"


@pytest.mark.parametrize("password", ["é" * 500, "q" * 999 + "Z"], ids=["500x2-bytes", "ascii"])
def test_a_1000_byte_password_works_and_is_never_truncated(
    api: httpx.Client, password: str
) -> None:
    assert len(password.encode()) == 1000
    email = _email()
    assert (
        api.post("/auth/register", json={"email": email, "password": password}).status_code == 201
    )
    login(api, email, password)
    # differs only in its last character: a truncating hash would accept it
    almost = password[:-1] + "!"
    assert_problem(api.post("/auth/login", json={"email": email, "password": almost}), 401)


def test_emails_are_normalised_and_unique_in_any_case(api: httpx.Client) -> None:
    local = f"Mixed.Case-{uuid.uuid4().hex[:8]}"
    created = api.post(
        "/auth/register", json={"email": f"{local}@Example.COM", "password": PASSWORD}
    )
    assert created.status_code == 201
    assert created.json()["email"] == f"{local}@example.com".lower()
    duplicate = api.post(
        "/auth/register", json={"email": f"{local.upper()}@example.com", "password": PASSWORD}
    )
    assert_problem(duplicate, 409, "email_taken")
    login(api, f"{local.lower()}@EXAMPLE.com")


def test_concurrent_refreshes_of_one_token_let_exactly_one_through(
    api: httpx.Client, stack: StackInfo, user: User
) -> None:
    def refresh(_: int) -> httpx.Response:
        with httpx.Client(base_url=stack.ingress, timeout=10) as client:
            return client.post("/auth/refresh", json={"refresh_token": user.refresh_token})

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(refresh, range(8)))
    statuses = sorted(r.status_code for r in responses)
    # the token row is locked: the first rotation wins, the rest find it used
    assert statuses == [200] + [401] * 7, statuses
    codes = {assert_problem(r, 401)["code"] for r in responses if r.status_code == 401}
    # the first loser revokes the session; later ones find it ended
    assert "refresh_token_reused" in codes
    assert codes <= {"refresh_token_reused", "invalid_refresh_token"}
    # a used token was presented, so the session is gone, the winner's pair included
    winners = [r.json() for r in responses if r.status_code == 200]
    for pair in winners:
        again = api.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert_problem(again, 401)
