"""What the logs hold: one id follows a request through every service it
crosses, and no password, token or secret is ever written."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import JWT, StackInfo
from tests.e2e.conftest import User, bearer, complete_lines, login, register_and_login
from tests.waiting import wait_until

Lines = dict[str, list[dict[str, object]]]


def _lines_with(logs: Path, pattern: str, text: str) -> Lines:
    found: Lines = {}
    for log in sorted(logs.glob(pattern)):
        lines = [json.loads(line) for line in complete_lines(log) if text in line]
        if lines:
            found[log.name] = lines
    return found


def _access_lines(found: Lines) -> list[dict[str, object]]:
    return [line for lines in found.values() for line in lines if line.get("logger") == "access"]


def _wait_for_lines(logs: Path, pattern: str, text: str) -> Lines:
    """The lines of `text`'s request in the logs matching `pattern`, once they are
    all written. nginx writes one line per request, once it has answered; a
    service writes its access line last, just after the response has left it,
    so that line is the event to wait for (a line the request logged before it
    may already be there without it)."""

    def written() -> Lines:
        found = _lines_with(logs, pattern, text)
        complete = pattern.startswith("nginx") or _access_lines(found)
        return found if found and complete else {}

    return wait_until(written, f"{text}: no access line in {pattern}")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),  # nginx's own answer
        ("GET", "/services/accounts", 401),
        ("POST", "/auth/login", 422),
        ("GET", "/auth/docs", 200),
    ],
)
def test_every_response_carries_a_request_id(
    api: httpx.Client, method: str, path: str, status: int
) -> None:
    response = api.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == status
    assert re.fullmatch(r"[A-Za-z0-9._:-]{16,128}", response.headers["x-request-id"])


def test_one_request_id_across_every_service_a_write_touched(
    api: httpx.Client, user: User, stack: StackInfo
) -> None:
    account = api.post(
        "/services/accounts",
        headers=user.headers,
        json={"name": "Traced", "type": "cash", "currency": "EUR"},
    ).json()["id"]
    request_id = f"trace-{uuid.uuid4().hex}"
    response = api.post(
        "/services/transactions",
        headers={**user.headers, "X-Request-ID": request_id},
        json={"type": "income", "account_id": account, "amount": "5.00", "date": "2026-11-20"},
    )
    assert response.status_code == 201
    assert response.headers["x-request-id"] == request_id
    for pattern in ("nginx-access.log", "ledger*.log", "db-gateway.log"):
        found = _wait_for_lines(stack.logs, pattern, request_id)
        lines = [line for lines in found.values() for line in lines]
        assert all(line["request_id"] == request_id for line in lines)
        if pattern != "nginx-access.log":
            # the one access line of the one replica that served it
            (served,) = _access_lines(found)
            assert served["status"] in (200, 201)
            assert str(served["route"]).startswith(("/services", "/internal"))
            assert served["user_id"]


def test_a_login_is_followed_into_auth_and_db_gateway(
    api: httpx.Client, user: User, stack: StackInfo
) -> None:
    request_id = f"login-{uuid.uuid4().hex}"
    response = api.post(
        "/auth/login",
        json={"email": user.email, "password": "correct horse battery staple"},
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 200
    for pattern in ("auth*.log", "db-gateway.log"):
        found = _wait_for_lines(stack.logs, pattern, request_id)
        assert len(found) == 1, f"one {pattern} replica served it: {sorted(found)}"


def _every_line_written(stack: StackInfo, request_ids: list[str]) -> None:
    """Wait until every line about these requests is in the logs. nginx writes
    a request's one line once it has answered it: each one is waited for. A
    service process writes all of a request's lines, its access line last, as
    it answers it and before it reads another request: once one more request
    to each process has its access line, every earlier line is there too."""
    nginx = stack.logs / "nginx-access.log"
    wait_until(
        lambda: (
            set(request_ids)
            <= set(re.findall(r"secrets-[0-9a-f]{32}", "\n".join(complete_lines(nginx))))
        ),
        "a request of the test has no nginx access line",
    )
    for name, url in stack.services.items():
        marker = f"flushed-{uuid.uuid4().hex}"
        httpx.get(f"{url}/{marker}", headers={"X-Request-ID": marker}, timeout=10)
        _wait_for_lines(stack.logs, f"{name}.log", marker)


def test_no_log_line_holds_a_password_token_or_secret(stack: StackInfo) -> None:
    """Everything sensitive this test handles, and the stack's own secrets,
    appear in no log of any part (the whole run's other passwords and tokens
    are checked when the stack stops: see tests/conftest.py)."""
    sent: list[str] = []

    def tag(request: httpx.Request) -> None:
        # an id of its own for each request: what tells when its lines are written
        request.headers["X-Request-ID"] = f"secrets-{uuid.uuid4().hex}"
        sent.append(request.headers["X-Request-ID"])

    password = f"Unlogged-{uuid.uuid4().hex}"
    new_password = f"Still-unlogged-{uuid.uuid4().hex}"
    with httpx.Client(base_url=stack.ingress, timeout=10, event_hooks={"request": [tag]}) as api:
        user = register_and_login(api, password=password)
        second = login(api, user.email, password)
        api.post("/auth/login", json={"email": user.email, "password": f"{password}-wrong"})
        rotated = api.post("/auth/refresh", json={"refresh_token": second.refresh_token}).json()
        api.post("/auth/refresh", json={"refresh_token": second.refresh_token})  # reuse: refused
        api.get("/auth/sessions", headers=bearer(rotated["access_token"]))
        changed = api.post(
            "/auth/password",
            headers=user.headers,
            json={"current_password": password, "new_password": new_password},
        )
        assert changed.status_code == 204
        api.request("DELETE", "/profile", headers=user.headers, json={"password": "not it"})
    sensitive = {
        password,
        new_password,
        user.access_token,
        user.refresh_token,
        second.access_token,
        second.refresh_token,
        rotated["access_token"],
        rotated["refresh_token"],
        *stack.secrets.values(),
    }
    _every_line_written(stack, sent)
    leaks = [
        (log.name, number)
        for log in sorted(stack.logs.glob("*.log"))
        for number, line in enumerate(log.read_text(errors="replace").splitlines(), 1)
        if JWT.search(line) or any(secret in line for secret in sensitive)
    ]
    assert leaks == []
