"""servicekit.http against a real local peer: requests go out as asked, peer
problems become ours, caller bugs become 500s, and a failing, silent or
absent peer becomes a retryable 503."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from aiohttp import web

from servicekit.context import request_id_var
from servicekit.errors import (
    Conflict,
    NotFound,
    ProblemError,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
)
from servicekit.http import PeerResponse, create_http_client, send
from tests.servicekit.peers import Handler, answering, peer
from tests.waiting import EVENT_WITHIN


def problem(status: int, code: str, detail: str = "peer says no") -> dict[str, Any]:
    return {"type": "about:blank", "title": "x", "status": status, "code": code, "detail": detail}


async def call(handler: Handler, method: str = "GET", path: str = "/thing") -> PeerResponse:
    async with peer(handler) as client:
        return await send(client, method, path)


async def test_success_returns_the_whole_answer() -> None:
    response = await call(answering(200, {"ok": True}))

    assert response.json() == {"ok": True}
    assert response.is_success
    assert response.headers["content-type"].startswith("application/json")


async def test_the_request_goes_out_as_asked_with_the_request_id() -> None:
    seen: list[tuple[str, str, dict[str, str], bytes, dict[str, str]]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(
            (
                request.method,
                request.path,
                dict(request.query),
                await request.read(),
                {k: v for k, v in request.headers.items()},
            )
        )
        return web.json_response({}, status=201)

    token = request_id_var.set("req-42")
    try:
        async with peer(handler, headers={"X-Internal-Token": "secret"}) as client:
            await send(
                client, "POST", "/things", params={"a": 1, "b": True, "c": "x y"}, json={"n": "1"}
            )
    finally:
        request_id_var.reset(token)

    [(method, path, query, body, headers)] = seen
    assert (method, path) == ("POST", "/things")
    assert query == {"a": "1", "b": "true", "c": "x y"}
    assert body == b'{"n":"1"}'
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Internal-Token"] == "secret"
    assert headers["X-Request-ID"] == "req-42"


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


async def test_a_stale_etag_passes_through_with_the_current_one() -> None:
    async def handler(_: web.Request) -> web.StreamResponse:
        return web.json_response(
            problem(412, "version_mismatch"), status=412, headers={"ETag": '"7"'}
        )

    with pytest.raises(ProblemError) as caught:
        await call(handler)

    assert caught.value.status == 412
    assert caught.value.headers["ETag"] == '"7"'


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
        await call(answering(404, text="<html>nope</html>"))

    assert caught.value.code == "peer_error"


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_peer_5xx_is_service_unavailable_with_retry_after(status: int) -> None:
    with pytest.raises(ServiceUnavailable) as caught:
        await call(answering(status, problem(status, "internal_error", "stack trace here")))

    assert caught.value.status == 503
    assert caught.value.headers["Retry-After"] == "1"
    assert "stack trace here" not in caught.value.detail


async def test_a_peer_that_is_not_there_is_service_unavailable() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    async with create_http_client(f"http://127.0.0.1:{port}", peer="gone") as client:
        with pytest.raises(ServiceUnavailable) as caught:
            await send(client, "GET", "/thing")

    assert "unreachable" in caught.value.detail
    assert caught.value.headers["Retry-After"] == "1"


async def test_a_peer_that_drops_the_connection_is_service_unavailable() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    with pytest.raises(ServiceUnavailable) as caught:
        await call(handler)

    assert "unreachable" in caught.value.detail


async def test_a_peer_that_does_not_answer_in_time_is_service_unavailable() -> None:
    never = asyncio.Event()

    async def handler(_: web.Request) -> web.StreamResponse:
        await never.wait()
        return web.Response()

    async with peer(handler, read_timeout=0.2) as client:
        with pytest.raises(ServiceUnavailable) as caught:
            await asyncio.wait_for(send(client, "GET", "/slow"), EVENT_WITHIN)

    assert "timed out" in caught.value.detail


async def test_the_pool_never_opens_more_connections_than_its_limit() -> None:
    in_flight, most, release = 0, 0, asyncio.Event()
    connections: set[int] = set()

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal in_flight, most
        connections.add(id(request.transport))
        in_flight += 1
        most = max(most, in_flight)
        if most >= 3:
            release.set()
        await release.wait()
        in_flight -= 1
        return web.json_response({})

    async with peer(handler, max_connections=3) as client:
        await asyncio.wait_for(
            asyncio.gather(*(send(client, "GET", f"/{i}") for i in range(12))), EVENT_WITHIN
        )

    assert most == 3
    assert len(connections) == 3  # kept alive and reused
