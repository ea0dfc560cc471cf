"""What the fuzzer found, pinned down so it stays fixed whatever it generates
next time."""

from __future__ import annotations

import uuid

import httpx
import pytest
from pydantic import ValidationError

from auth.config import Settings as AuthSettings
from servicekit.settings import MAX_LOGIN_WINDOW_SECONDS
from tests.conftest import StackInfo
from tests.e2e.conftest import assert_problem


@pytest.mark.parametrize(
    "policy",
    [
        # a window no timedelta can hold: it was a 500 (OverflowError)
        {"max_per_account": 1, "max_per_ip": 1, "window_seconds": 5767502492423620913004544},
        {"max_per_account": 1, "max_per_ip": 1, "window_seconds": MAX_LOGIN_WINDOW_SECONDS + 1},
        {"max_per_account": 2**63, "max_per_ip": 1, "window_seconds": 900},
    ],
)
def test_a_throttling_policy_out_of_range_is_refused_not_a_500(
    stack: StackInfo, internal_headers: dict[str, str], policy: dict[str, int]
) -> None:
    with httpx.Client(base_url=stack.services["db-gateway"], timeout=10) as gateway:
        response = gateway.post(
            "/internal/login-attempts",
            headers=internal_headers,
            json={"email": "nobody@example.com", "client_ip": "127.0.26.250", "policy": policy},
        )
    body = assert_problem(response, 422, "bad_internal_request")
    assert body["errors"][0]["field"].startswith("policy.")


def test_auth_refuses_to_start_with_a_window_db_gateway_would_refuse() -> None:
    with pytest.raises(ValidationError, match="login_failure_window_seconds"):
        AuthSettings(
            environment="test",
            internal_token="i" * 40,
            jwt_secret="j" * 40,
            login_failure_window_seconds=MAX_LOGIN_WINDOW_SECONDS + 1,
        )


@pytest.mark.parametrize("since", ["0001-01-01T02:00:00+04:00", "9999-12-31T23:00:00-02:00"])
def test_a_time_with_no_utc_equivalent_is_refused_not_a_500(
    stack: StackInfo, internal_headers: dict[str, str], since: str
) -> None:
    with httpx.Client(base_url=stack.services["db-gateway"], timeout=10) as gateway:
        revoked = gateway.get(
            "/internal/sessions/revoked", params={"since": since}, headers=internal_headers
        )
        session = gateway.post(
            "/internal/sessions",
            headers=internal_headers,
            json={
                "user_id": str(uuid.uuid4()),
                "token_hash": "0" * 64,
                "expires_at": since,
                "client_ip": "127.0.26.250",
            },
        )
    assert assert_problem(revoked, 422, "bad_internal_request")["errors"][0]["field"] == "since"
    body = assert_problem(session, 422, "bad_internal_request")
    assert body["errors"][0]["field"] == "expires_at"


def test_a_request_line_too_long_for_the_ingress_is_a_documented_problem(
    api: httpx.Client, stack: StackInfo
) -> None:
    response = api.get("/services/categories", params={"cursor": "x" * 20000})
    assert_problem(response, 414, "uri_too_long")
    documented = api.get("/services/openapi.json").json()
    assert "414" in documented["paths"]["/services/categories"]["get"]["responses"]
