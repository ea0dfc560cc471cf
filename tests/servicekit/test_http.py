"""servicekit.http.send: peer problems become ours, caller bugs become 500s,
and a failing or absent peer becomes a retryable 503."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from servicekit.errors import (
    Conflict,
    NotFound,
    ProblemError,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
)
from servicekit.http import create_http_client, send

Handler = Callable[[httpx.Request], httpx.Response]


def peer(handler: Handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://peer")


def answering(status: int, body: Any = None, **kwargs: Any) -> Handler:
    def handler(_: httpx.Request) -> httpx.Response:
        if body is None:
            return httpx.Response(status, **kwargs)
        return httpx.Response(status, json=body, **kwargs)

    return handler


def problem(status: int, code: str, detail: str = "peer says no") -> dict[str, Any]:
    return {"type": "about:blank", "title": "x", "status": status, "code": code, "detail": detail}


async def call(handler: Handler, method: str = "GET", url: str = "/thing") -> httpx.Response:
    async with peer(handler) as client:
        return await send(client, method, url)


async def test_success_returns_the_response() -> None:
    response = await call(answering(200, {"ok": True}))

    assert response.json() == {"ok": True}


async def test_request_is_sent_as_asked() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={})

    async with peer(handler) as client:
        await send(client, "POST", "/things", json={"a": 1})

    [request] = seen
    assert request.method == "POST"
    assert request.url == "http://peer/things"
    assert request.read() == b'{"a":1}'


async def test_peer_404_passes_through_as_not_found_keeping_its_code() -> None:
    with pytest.raises(NotFound) as caught:
        await call(answering(404, problem(404, "account_not_found", "no such account")))

    assert caught.value.status == 404
    assert caught.value.code == "account_not_found"
    assert caught.value.detail == "no such account"


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "invalid_token", Unauthorized),
        (409, "version_conflict", Conflict),
        (422, "insufficient_funds", Unprocessable),
    ],
)
async def test_meaningful_peer_problems_pass_through(
    status: int, code: str, expected: type[ProblemError]
) -> None:
    with pytest.raises(expected) as caught:
        await call(answering(status, problem(status, code)))

    assert caught.value.status == status
    assert caught.value.code == code


@pytest.mark.parametrize("code", ["validation_failed", "idempotency_conflict"])
async def test_peer_field_errors_pass_through(code: str) -> None:
    body = problem(422, code)
    body["errors"] = [{"field": "splits", "message": "must balance"}]

    with pytest.raises(Unprocessable) as caught:
        await call(answering(422, body))

    assert caught.value.errors == [{"field": "splits", "message": "must balance"}]


@pytest.mark.parametrize(
    ("status", "code"),
    [(422, "bad_internal_request"), (401, "invalid_internal_token")],
)
async def test_peer_rejecting_our_own_call_is_our_500(status: int, code: str) -> None:
    with pytest.raises(ProblemError) as caught:
        await call(answering(status, problem(status, code, "internal detail from peer")))

    assert type(caught.value) is ProblemError
    assert caught.value.status == 500
    assert caught.value.code == "internal_error"
    assert "internal detail from peer" not in caught.value.detail


async def test_peer_4xx_outside_the_passthrough_list_is_our_500() -> None:
    with pytest.raises(ProblemError) as caught:
        await call(answering(400, problem(400, "bad_request")))

    assert type(caught.value) is ProblemError
    assert caught.value.status == 500


async def test_peer_404_without_a_problem_body_is_still_not_found() -> None:
    with pytest.raises(NotFound) as caught:
        await call(answering(404, content=b"<html>nope</html>"))

    assert caught.value.code == "peer_error"


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_peer_5xx_is_service_unavailable_with_retry_after(status: int) -> None:
    with pytest.raises(ServiceUnavailable) as caught:
        await call(answering(status, problem(status, "internal_error", "stack trace here")))

    assert caught.value.status == 503
    assert caught.value.headers["Retry-After"] == "1"
    assert "stack trace here" not in caught.value.detail


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError, httpx.ReadTimeout, httpx.ConnectTimeout, httpx.RemoteProtocolError],
)
async def test_unreachable_peer_is_service_unavailable(error: type[httpx.TransportError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("peer gone", request=request)

    with pytest.raises(ServiceUnavailable) as caught:
        await call(handler)

    assert caught.value.headers["Retry-After"] == "1"
    assert isinstance(caught.value.__cause__, error)


async def test_http_client_has_explicit_timeouts() -> None:
    client = create_http_client("http://peer")
    try:
        timeout = client.timeout
        assert timeout.connect is not None
        assert timeout.read is not None
        assert timeout.write is not None
        assert timeout.pool is not None
    finally:
        await client.aclose()


async def test_http_client_timeouts_follow_its_arguments() -> None:
    client = create_http_client(
        "http://peer", connect_timeout=0.5, read_timeout=3.0, pool_timeout=1.5
    )
    try:
        assert client.timeout == httpx.Timeout(connect=0.5, read=3.0, write=3.0, pool=1.5)
        assert client.base_url == "http://peer"
    finally:
        await client.aclose()
