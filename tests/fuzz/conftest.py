"""Fuzzing every service's OpenAPI with schemathesis against the real stack.

The auth and ledger documents are read and called through the ingress, as a
client would; db-gateway's directly at its own port with the internal token.
Generated requests come from many loopback addresses (`SpreadSession`), so the
ingress's per-address rate limit and auth's per-address login throttle, which
are not what these tests are about, do not turn the rest of a run into 503s
and 429s.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from requests.adapters import HTTPAdapter
from schemathesis.specs.openapi.schemas import OpenApiSchema

from servicekit.http import INTERNAL_TOKEN_HEADER
from tests.conftest import StackInfo
from tests.e2e.conftest import User, api, register_and_login

__all__ = ["api"]

# 127.0.26.1-64: used by no other test, so per-address counters stay theirs
FUZZ_ADDRESSES = [f"127.0.26.{i}" for i in range(1, 65)]
# Not the password of the documents' examples, which the fuzzer sends: with
# that one, DELETE /profile would erase the user the remaining cases run as.
FUZZ_PASSWORD = "fuzzing never guesses this passphrase"

# How schemathesis generates (the tests' hypothesis settings bound how much):
# valid and invalid requests, reproducible, nothing saved in the repository.
CONFIG = {
    "generation": {
        "mode": "all",
        # a token only where a test sends one: the cases without are anonymous
        "with-security-parameters": False,
        "deterministic": True,
        "database": "none",
    },
}


class _FromAddress(HTTPAdapter):
    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


class SpreadSession(requests.Session):
    """A session whose requests leave from the fuzz addresses in turn."""

    def __init__(self) -> None:
        super().__init__()
        self._adapters = [_FromAddress(address) for address in FUZZ_ADDRESSES]
        self._next = itertools.cycle(self._adapters)

    def get_adapter(self, url: str) -> HTTPAdapter:
        return next(self._next)

    def close(self) -> None:
        for adapter in self._adapters:
            adapter.close()
        super().close()


@pytest.fixture(scope="session")
def fuzz_session() -> Iterator[SpreadSession]:
    with SpreadSession() as session:
        yield session


def load(url: str, **kwargs: Any) -> OpenApiSchema:
    config = schemathesis.Config.from_dict(CONFIG)
    return schemathesis.openapi.from_url(url, config=config, timeout=10, **kwargs)


@pytest.fixture(scope="session")
def auth_schema(stack: StackInfo) -> OpenApiSchema:
    return load(f"{stack.ingress}/auth/openapi.json")


@pytest.fixture(scope="session")
def ledger_schema(stack: StackInfo) -> OpenApiSchema:
    return load(f"{stack.ingress}/services/openapi.json")


@pytest.fixture(scope="session")
def gateway_schema(stack: StackInfo) -> OpenApiSchema:
    # the internal API's document is behind the internal token too
    return load(
        f"{stack.services['db-gateway']}/internal/openapi.json",
        headers={INTERNAL_TOKEN_HEADER: stack.secrets["INTERNAL_TOKEN"]},
    )


@pytest.fixture(scope="session")
def internal_headers(stack: StackInfo) -> dict[str, str]:
    return {INTERNAL_TOKEN_HEADER: stack.secrets["INTERNAL_TOKEN"]}


@pytest.fixture(scope="session")
def fuzz_user(api: httpx.Client) -> User:
    """The user whose bearer token the ledger's cases carry."""
    return register_and_login(api, FUZZ_PASSWORD)


@pytest.fixture(scope="session")
def auth_user(api: httpx.Client) -> User:
    """Another one for auth's cases, which may end its other sessions."""
    return register_and_login(api, FUZZ_PASSWORD)


@pytest.fixture(scope="session")
def logout_user(api: httpx.Client) -> User:
    """The user POST /auth/logout-all is fuzzed with: it ends all its sessions."""
    return register_and_login(api, FUZZ_PASSWORD)
