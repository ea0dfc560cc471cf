"""Request context: a safe request id on every response, one JSON access line per
request, quiet probes, and the id forwarded on outgoing calls."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiohttp import web
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from servicekit import app as app_module
from servicekit.app import build_app
from servicekit.context import request_id_var
from servicekit.http import send
from servicekit.logging import JsonFormatter
from servicekit.middleware import RequestContextMiddleware
from servicekit.settings import ServiceSettings
from tests.servicekit.peers import peer

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


class JsonLines(logging.Handler):
    """Formats at emit time, as the real stdout handler does, while the request
    context (and so the request id) is still set."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter("middleware-test"))
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def requests(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["msg"] == "request"]


@pytest.fixture
def access_lines() -> Iterator[JsonLines]:
    handler = JsonLines()
    logger = logging.getLogger("access")
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


async def _failing_check() -> None:
    raise ConnectionError("database down")


@pytest.fixture
def client_app(monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.setattr(app_module, "configure_logging", lambda *_args, **_kwargs: None)
    ready = {"value": True}
    application = build_app(
        ServiceSettings(service_name="middleware-test", environment="test"),
        title="middleware-test",
        description="test app",
        lifespan=_lifespan,
        readiness=lambda _app: {} if ready["value"] else {"db": _failing_check},
        docs_prefix=None,
    )
    application.state.ready = ready

    @application.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, Any]:
        return {"item_id": item_id, "request_id": request_id_var.get()}

    return application


@pytest.fixture
async def client(client_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=client_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as c:
        yield c


async def test_valid_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/1", headers={"X-Request-ID": "abc-123.X:y_z"})

    assert response.headers["x-request-id"] == "abc-123.X:y_z"
    assert response.json()["request_id"] == "abc-123.X:y_z"


@pytest.mark.parametrize(
    "unsafe",
    ['abc"def', "a" * 129, "a" * 200, "has space", "new\tline", "<script>"],
)
async def test_unsafe_request_id_is_replaced(client: httpx.AsyncClient, unsafe: str) -> None:
    response = await client.get("/items/1", headers={"X-Request-ID": unsafe})

    assert GENERATED_ID.match(response.headers["x-request-id"])
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_missing_request_id_is_generated_fresh_per_request(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/items/1")
    second = await client.get("/items/1")

    assert GENERATED_ID.match(first.headers["x-request-id"])
    assert GENERATED_ID.match(second.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_request_context_does_not_leak_out_of_the_request(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/items/1", headers={"X-Request-ID": "leak-check"})

    assert request_id_var.get() is None


async def test_one_json_access_line_per_request(
    client: httpx.AsyncClient, access_lines: JsonLines
) -> None:
    response = await client.get("/items/7", headers={"X-Request-ID": "rid-7"})

    [line] = access_lines.requests()
    assert line["method"] == "GET"
    assert line["route"] == "/items/{item_id}"
    assert line["status"] == response.status_code == 200
    assert isinstance(line["duration_ms"], float | int)
    assert line["duration_ms"] >= 0
    assert line["request_id"] == "rid-7"
    assert line["service"] == "middleware-test"


async def test_access_line_of_unmatched_route(
    client: httpx.AsyncClient, access_lines: JsonLines
) -> None:
    await client.get("/nowhere")

    [line] = access_lines.requests()
    assert line["status"] == 404
    assert line["route"] == "<unmatched>"


async def test_access_line_logs_the_status_actually_sent(
    client: httpx.AsyncClient, access_lines: JsonLines
) -> None:
    await client.get("/items/not-a-number")

    [line] = access_lines.requests()
    assert line["status"] == 422


async def test_a_request_whose_client_left_unanswered_is_logged_as_499(
    access_lines: JsonLines,
) -> None:
    # the caller died while sending its body (tests/e2e/test_bank.py kills
    # ledger replicas mid-request): nothing is answered, and it is not a 500
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "http.disconnect"

    async def gone() -> Message:
        return {"type": "http.disconnect"}

    async def nowhere(message: Message) -> None:
        raise AssertionError(f"nothing is sent to a client that left: {message}")

    scope: Scope = {"type": "http", "method": "POST", "path": "/items", "headers": []}
    await RequestContextMiddleware(app)(scope, gone, nowhere)

    [line] = access_lines.requests()
    assert line["status"] == 499


@pytest.mark.parametrize("probe", ["/healthz", "/readyz"])
async def test_successful_probes_are_not_logged(
    client: httpx.AsyncClient, access_lines: JsonLines, probe: str
) -> None:
    response = await client.get(probe)

    assert response.status_code == 200
    assert access_lines.requests() == []


async def test_failing_probe_is_logged(
    client: httpx.AsyncClient, client_app: FastAPI, access_lines: JsonLines
) -> None:
    client_app.state.ready["value"] = False

    response = await client.get("/readyz")

    assert response.status_code == 503
    [line] = access_lines.requests()
    assert line["status"] == 503


async def test_outgoing_calls_forward_the_current_request_id() -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("X-Request-ID"))
        return web.json_response({})

    async with peer(handler) as client:
        token = request_id_var.set("rid-outgoing")
        try:
            await send(client, "GET", "/accounts")
        finally:
            request_id_var.reset(token)
        # outside a request, none
        await send(client, "GET", "/accounts")

    assert seen == ["rid-outgoing", None]
