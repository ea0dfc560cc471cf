from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import StackInfo

PASSWORD = "correct horse battery staple"


@dataclass
class User:
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@pytest.fixture(scope="session")
def api(stack: StackInfo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.ingress, timeout=10) as client:
        yield client


def register_and_login(api: httpx.Client, password: str = PASSWORD) -> User:
    email = f"user-{uuid.uuid4().hex[:12]}@example.com"
    created = api.post("/auth/register", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    tokens = api.post("/auth/login", json={"email": email, "password": password})
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return User(email=email, access_token=body["access_token"], refresh_token=body["refresh_token"])


@pytest.fixture
def user(api: httpx.Client) -> User:
    return register_and_login(api)


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "code", "request_id"} <= body.keys()
    assert body["request_id"] == response.headers["x-request-id"]
    if code is not None:
        assert body["code"] == code, body
    return body


def client_at(stack: StackInfo, address: str) -> httpx.Client:
    """A client whose requests come from another loopback address, so per-IP
    login throttling sees a separate client."""
    return httpx.Client(
        base_url=stack.ingress, timeout=10, transport=httpx.HTTPTransport(local_address=address)
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(
    api: httpx.Client, email: str, password: str = PASSWORD, user_agent: str = "tests"
) -> User:
    response = api.post(
        "/auth/login",
        json={"email": email, "password": password},
        headers={"User-Agent": user_agent},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return User(email=email, access_token=body["access_token"], refresh_token=body["refresh_token"])


def complete_lines(log: Path) -> list[str]:
    """The lines of a log file another process is appending to, the one it may
    be half-way through writing left out: only lines already ended by a newline."""
    return log.read_text(errors="replace").split("\n")[:-1]
