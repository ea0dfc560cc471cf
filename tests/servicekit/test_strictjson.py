"""Strict JSON bodies: what `loads` refuses, and the middleware around a service."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from servicekit.strictjson import StrictJSONError, StrictJSONMiddleware, loads


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ('{"amount": "1", "amount": "2"}', "amount", "duplicate key"),
        ('{"a": [{"b": 1, "c": 2, "b": 3}]}', "b", "duplicate key"),
        ('{"a": NaN}', "body", "NaN is not JSON"),
        ('{"a": Infinity}', "body", "Infinity is not JSON"),
        ('{"a": -Infinity}', "body", "-Infinity is not JSON"),
        ('{"a": 1e400}', "body", "a number is out of range"),
        ('{"a": -1e400}', "body", "a number is out of range"),
        ('{"a": ' + "9" * 33 + "}", "body", "a number has too many digits"),
        ('{"a": 0.' + "1" * 40 + "}", "body", "a number has too many digits"),
        ("[" * 10_000 + "]" * 10_000, "body", "is nested too deeply"),
        ('{"a": 1} {"b": 2}', "body", "is not valid JSON"),
        ("{'a': 1}", "body", "is not valid JSON"),
        ("", "body", "is not valid JSON"),
    ],
)
def test_ambiguous_or_unbounded_json_is_refused(text: str, field: str, message: str) -> None:
    with pytest.raises(StrictJSONError) as refused:
        loads(text)
    assert (refused.value.field, refused.value.message) == (field, message)


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(StrictJSONError, match="is not valid UTF-8"):
        loads(b'{"name": "\xff"}')


@pytest.mark.parametrize(
    "value",
    [
        {"amount": "12.30", "tags": ["a", "b"], "nested": {"x": None, "y": True}},
        {"int": 2**63 - 1, "negative": -(2**63), "float": 0.5, "exp": 1e300},
        {"unicode": "Zoë ✓ \u0000", "same key in siblings": [{"a": 1}, {"a": 2}]},
        [],
        "just a string",
    ],
)
def test_plain_json_reads_as_usual(value: Any) -> None:
    assert loads(json.dumps(value).encode()) == value


# ---------------------------------------------------------------- middleware


class Echo:
    """The service behind the middleware: answers the body it received."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def _client(echo: Echo, **options: Any) -> httpx.AsyncClient:
    app = StrictJSONMiddleware(echo, **options)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


async def test_a_refused_body_never_reaches_the_service() -> None:
    echo = Echo()
    async with _client(echo, validation_code="bad_internal_request") as client:
        response = await client.post(
            "/x", content=b'{"a": 1, "a": 2}', headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "bad_internal_request"
    assert body["errors"] == [{"field": "a", "message": "duplicate key"}]
    assert echo.calls == 0


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/x+json"]
)
async def test_an_accepted_body_reaches_the_service_unchanged(content_type: str) -> None:
    echo = Echo()
    sent = b'{"amount": "12.30", "splits": [{"amount": "12.30"}]}'
    async with _client(echo) as client:
        response = await client.patch("/x", content=sent, headers={"Content-Type": content_type})
    assert response.status_code == 200
    assert response.content == sent
    assert echo.calls == 1


async def test_other_media_types_pass_untouched() -> None:
    echo = Echo()
    async with _client(echo) as client:
        form = await client.post("/token", data={"username": "a", "password": "b"})
        text = await client.post(
            "/x", content=b'{"a": 1, "a": 2}', headers={"Content-Type": "text/plain"}
        )
    assert (form.status_code, text.status_code) == (200, 200)
    assert text.content == b'{"a": 1, "a": 2}'


async def test_a_body_over_the_limit_is_a_413_declared_or_streamed() -> None:
    echo = Echo()

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b" " * 40

    async with _client(echo, max_body_bytes=100) as client:
        declared = await client.post(
            "/x", content=b"[" + b" " * 99 + b"]", headers={"Content-Type": "application/json"}
        )
        streamed = await client.post(
            "/x", content=stream(), headers={"Content-Type": "application/json"}
        )
        at_limit = await client.post(
            "/x", content=b"[" + b" " * 98 + b"]", headers={"Content-Type": "application/json"}
        )
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
    assert at_limit.status_code == 200
    assert echo.calls == 1
