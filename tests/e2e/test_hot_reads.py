"""The balance and the dashboard skip FastAPI's routing (ledger.hot): every
request they do not take themselves still gets the routes' answer, and the
ones they take answer errors, 304s, logs and metrics as the routes do."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.conftest import User, assert_problem, register_and_login

DASHBOARD = "/services/dashboard"


def _account(api: httpx.Client, user: User) -> str:
    response = api.post(
        "/services/accounts",
        headers=user.headers,
        json={"name": "Hot", "type": "cash", "currency": "EUR", "opening_balance": "7.50"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize("which", ["balance", "dashboard"])
@pytest.mark.parametrize(
    ("authorization", "code"),
    [(None, "missing_token"), ("Basic dXNlcjpwdw==", "missing_token"), ("Bearer", "missing_token")],
)
def test_a_request_without_a_bearer_token_gets_the_routes_401(
    api: httpx.Client, user: User, which: str, authorization: str | None, code: str
) -> None:
    path = f"/services/accounts/{_account(api, user)}/balance" if which == "balance" else DASHBOARD
    headers = {} if authorization is None else {"Authorization": authorization}
    response = api.get(path, headers=headers)
    assert_problem(response, 401, code)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("which", ["balance", "dashboard"])
def test_a_bad_or_revoked_token_is_refused_like_anywhere_else(
    api: httpx.Client, which: str
) -> None:
    user = register_and_login(api)
    path = f"/services/accounts/{_account(api, user)}/balance" if which == "balance" else DASHBOARD
    forged = {"Authorization": f"Bearer {user.access_token[:-4]}AAAA"}
    assert_problem(api.get(path, headers=forged), 401, "invalid_token")
    assert api.post("/auth/logout", json={"refresh_token": user.refresh_token}).status_code == 204
    refused = api.get(path, headers=user.headers)
    assert_problem(refused, 401, "token_revoked")
    assert refused.headers["www-authenticate"] == "Bearer"


def test_a_path_that_is_not_an_account_id_gets_the_routes_422(
    api: httpx.Client, user: User
) -> None:
    assert_problem(
        api.get("/services/accounts/not-a-uuid/balance", headers=user.headers),
        422,
        "validation_failed",
    )


def test_someone_elses_or_no_account_is_a_404(api: httpx.Client, user: User) -> None:
    other = register_and_login(api)
    theirs = _account(api, other)
    for account_id in (theirs, str(uuid.uuid4())):
        response = api.get(f"/services/accounts/{account_id}/balance", headers=user.headers)
        assert_problem(response, 404, "not_found")


@pytest.mark.parametrize("which", ["balance", "dashboard"])
def test_an_unchanged_read_is_a_304_with_its_etag(
    api: httpx.Client, user: User, which: str
) -> None:
    path = f"/services/accounts/{_account(api, user)}/balance" if which == "balance" else DASHBOARD
    first = api.get(path, headers=user.headers)
    assert first.status_code == 200
    tag = first.headers["etag"]
    again = api.get(path, headers={**user.headers, "If-None-Match": f"W/{tag}"})
    assert again.status_code == 304
    assert again.headers["etag"] == tag
    assert again.headers["cache-control"] == "private, no-cache"
    assert again.content == b""
