"""What the ingress routes, and what it answers itself."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import StackInfo
from tests.e2e.conftest import User, assert_problem, client_at


@pytest.mark.parametrize(
    "path",
    ["/", "/nope", "/authx", "/servicesx/accounts", "/internal/users", "/profilex", "/healthz"],
)
def test_unrouted_paths_get_a_problem_404_from_nginx(api: httpx.Client, path: str) -> None:
    assert_problem(api.get(path), 404, "not_found")


def test_request_id_is_echoed_or_generated(api: httpx.Client, user: User) -> None:
    mine = api.get("/profile", headers={**user.headers, "X-Request-ID": "client-req-42"})
    assert mine.headers["x-request-id"] == "client-req-42"
    generated = api.get("/profile", headers=user.headers)
    assert len(generated.headers["x-request-id"]) >= 16
    # an id that could break a log line or a JSON body is replaced, not echoed
    hostile = api.get("/nope", headers={"X-Request-ID": 'a"b'})
    assert hostile.headers["x-request-id"] != 'a"b'
    assert hostile.json()["request_id"] == hostile.headers["x-request-id"]


def test_docs_are_reachable_through_the_ingress(api: httpx.Client) -> None:
    for prefix in ("/auth", "/services"):
        assert api.get(f"{prefix}/docs").status_code == 200
        spec = api.get(f"{prefix}/openapi.json").json()
        assert spec["components"]["schemas"]["Problem"]["properties"]["code"]
        # the Authorize button logs in through auth's OAuth 2 form, from either page
        (scheme,) = spec["components"]["securitySchemes"].values()
        assert scheme["flows"]["password"]["tokenUrl"] == "/auth/token"


def test_missing_or_bad_token_is_a_problem_401(api: httpx.Client) -> None:
    assert_problem(api.get("/services/accounts"), 401, "missing_token")
    assert_problem(
        api.get("/profile", headers={"Authorization": "Bearer x.y.z"}), 401, "invalid_token"
    )


SPA = "http://localhost:5173"  # one of deploy/ingress/settings.yaml's origins


def test_a_preflight_from_an_allowed_spa_origin_is_answered_by_the_edge(
    api: httpx.Client,
) -> None:
    response = api.options(
        "/services/transactions",
        headers={
            "Origin": SPA,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, idempotency-key",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SPA
    assert "PATCH" in response.headers["access-control-allow-methods"]
    assert "Idempotency-Key" in response.headers["access-control-allow-headers"]


def test_cors_headers_go_to_allowed_origins_only(api: httpx.Client, user: User) -> None:
    allowed = api.get("/profile", headers={**user.headers, "Origin": SPA})
    assert allowed.headers["access-control-allow-origin"] == SPA
    assert "ETag" in allowed.headers["access-control-expose-headers"]
    stranger = api.get("/profile", headers={**user.headers, "Origin": "https://evil.example"})
    assert stranger.status_code == 200
    assert "access-control-allow-origin" not in stranger.headers
    assert "access-control-expose-headers" not in stranger.headers


@pytest.mark.parametrize(
    ("path", "size"),
    [("/services/transactions", 1024 * 1024 + 1), ("/auth/login", 16 * 1024 + 1)],
)
def test_oversized_bodies_are_a_problem_413_at_the_edge(
    api: httpx.Client, path: str, size: int
) -> None:
    response = api.post(
        path, content=b"{" + b" " * (size - 2) + b"}", headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


def test_credential_endpoints_are_rate_limited_per_client_address(stack: StackInfo) -> None:
    """Bursts from one address until the ingress refuses. Not timed: whatever
    the machine's speed, more attempts than the burst allowance (100) plus the
    rate (20/s) times the elapsed time cannot all pass."""

    def attempt(_: int) -> httpx.Response:
        with client_at(stack, "127.0.0.40") as client:
            return client.post("/auth/refresh", json={"refresh_token": "not-a-real-one"})

    responses: list[httpx.Response] = []
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        while len(responses) < 3000 and not any(r.status_code == 503 for r in responses):
            responses += pool.map(attempt, range(64))
    elapsed = time.monotonic() - started
    statuses = {r.status_code for r in responses}
    assert statuses == {401, 503}, statuses
    passed = sum(r.status_code == 401 for r in responses)
    assert passed <= 100 + 20 * elapsed + 1, (passed, elapsed)
    limited = [r for r in responses if r.status_code == 503]
    body = assert_problem(limited[0], 503, "service_unavailable")
    assert limited[0].headers["retry-after"] == "1"
    assert body["detail"]
    # another address is not affected
    with client_at(stack, "127.0.0.41") as other:
        refused = other.post("/auth/refresh", json={"refresh_token": "not-a-real-one"})
        assert_problem(refused, 401, "invalid_refresh_token")
