"""The ingress controller's error backend answers like the services do."""

from __future__ import annotations

import httpx
import pytest

from servicekit.ingress_errors import app


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edge")


@pytest.mark.parametrize(
    ("code", "status", "problem"),
    [
        ("413", 413, "payload_too_large"),
        ("429", 429, "too_many_requests"),
        ("502", 502, "bad_gateway"),
        ("503", 503, "service_unavailable"),
        ("504", 504, "gateway_timeout"),
        (None, 404, "not_found"),  # the catch-all route: no X-Code
        ("418", 404, "not_found"),  # a status it does not know: never echoed blindly
        ("abc", 404, "not_found"),
    ],
)
async def test_the_status_the_controller_hands_over_becomes_a_problem(
    code: str | None, status: int, problem: str
) -> None:
    headers = {"X-Request-ID": "req-42"} | ({"X-Code": code} if code else {})
    async with _client() as client:
        response = await client.post("/services/anything", headers=headers, content=b"x" * 10)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == problem
    assert body["request_id"] == "req-42"
    assert set(body) == {"type", "title", "status", "detail", "code", "request_id"}
    assert ("retry-after" in response.headers) == (status in (429, 503))


async def test_an_unsafe_request_id_is_not_echoed() -> None:
    async with _client() as client:
        response = await client.get("/x", headers={"X-Request-ID": '"><script>'})
    assert response.json()["request_id"] is None


async def test_health_answers_for_the_probes() -> None:
    async with _client() as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        # a controller-forwarded error on those paths is still the error
        forwarded = await client.get("/healthz", headers={"X-Code": "503"})
        assert forwarded.status_code == 503
