"""Every error leaves a service as RFC 9457 problem+json carrying the request id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from servicekit import app as app_module
from servicekit.app import build_app
from servicekit.errors import PROBLEM_JSON, NotFound, problem_responses
from servicekit.settings import ServiceSettings

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "request_id"}


class Split(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: str
    amount: int


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    memo: str
    splits: list[Split]


class Item(BaseModel):
    item_id: int


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    # build_app replaces the root logger's handlers; keep pytest's own in place.
    monkeypatch.setattr(app_module, "configure_logging", lambda *_args, **_kwargs: None)
    application = build_app(
        ServiceSettings(service_name="errors-test", environment="test"),
        title="errors-test",
        description="test app",
        lifespan=_lifespan,
        readiness=lambda _app: {},
        docs_prefix=None,
    )

    @application.get("/items/{item_id}", responses=problem_responses(_404="No such item"))
    async def get_item(item_id: int) -> Item:
        if item_id == 404:
            raise NotFound("item 404 does not exist", code="item_not_found")
        return Item(item_id=item_id)

    @application.post("/entries", status_code=201)
    async def post_entry(entry: Entry) -> Entry:
        return entry

    @application.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail xyz")

    return application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions stays True: an exception escaping the app fails the test.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as c:
        yield c


def _problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == response.status_code
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_raised_problem_renders_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/404")

    assert response.status_code == 404
    body = _problem(response)
    assert body["type"] == "about:blank"
    assert body["title"] == "Not Found"
    assert body["detail"] == "item 404 does not exist"
    assert body["code"] == "item_not_found"


async def test_problem_request_id_is_the_callers_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/404", headers={"X-Request-ID": "caller-id-1"})

    assert response.headers["x-request-id"] == "caller-id-1"
    assert response.json()["request_id"] == "caller-id-1"


async def test_validation_error_names_nested_fields(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/entries", json={"memo": "rent", "splits": [{"account": "a", "amount": "lots"}]}
    )

    assert response.status_code == 422
    body = _problem(response)
    assert body["code"] == "validation_failed"
    assert [e["field"] for e in body["errors"]] == ["splits[0].amount"]
    assert "splits[0].amount" in body["detail"]


async def test_validation_error_reports_unknown_fields(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/entries",
        json={"memo": "rent", "splits": [{"account": "a", "amount": 1, "fx": 2}], "extra": 1},
    )

    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in _problem(response)["errors"]}
    assert errors == {"splits[0].fx": "unknown field", "extra": "unknown field"}


async def test_validation_error_names_missing_fields(client: httpx.AsyncClient) -> None:
    response = await client.post("/entries", json={"splits": []})

    assert response.status_code == 422
    assert [e["field"] for e in _problem(response)["errors"]] == ["memo"]


async def test_validation_error_names_path_parameters(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/not-a-number")

    assert response.status_code == 422
    assert [e["field"] for e in _problem(response)["errors"]] == ["item_id"]


async def test_malformed_json_body_is_blamed_on_the_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/entries", content=b'{"memo": "rent",, }', headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    # FastAPI reports a character offset here; it must not read as "element 16 of a list".
    assert [e["field"] for e in _problem(response)["errors"]] == ["body"]


async def test_unhandled_exception_is_a_generic_500_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom")

    assert response.status_code == 500
    body = _problem(response)
    assert body["code"] == "internal_error"
    assert "xyz" not in response.text
    assert "RuntimeError" not in response.text
    assert response.headers["x-request-id"]


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route")

    assert response.status_code == 404
    assert _problem(response)["code"] == "not_found"


async def test_wrong_method_is_a_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/entries")

    assert response.status_code == 405
    assert _problem(response)["code"] == "method_not_allowed"
    assert "POST" in response.headers["allow"]


def test_openapi_declares_problem_json_for_error_responses(app: FastAPI) -> None:
    schema = app.openapi()
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    item_responses = schema["paths"]["/items/{item_id}"]["get"]["responses"]

    assert item_responses["404"]["description"] == "No such item"
    assert item_responses["404"]["content"] == problem
    assert item_responses["422"]["content"] == problem
    assert schema["paths"]["/entries"]["post"]["responses"]["422"]["content"] == problem
    assert "application/json" in item_responses["200"]["content"]


def test_openapi_replaces_fastapis_validation_schema_with_problem(app: FastAPI) -> None:
    components = app.openapi()["components"]["schemas"]

    assert "HTTPValidationError" not in components
    assert "ValidationError" not in components
    assert set(components["Problem"]["required"]) >= {"title", "status", "detail", "code"}
    assert components["Problem"]["properties"]["errors"]["anyOf"][0]["items"] == {
        "$ref": "#/components/schemas/FieldProblem"
    }
    assert "FieldProblem" in components
