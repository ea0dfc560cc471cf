"""Each service's OpenAPI document lists the errors its routes can answer, all
as problem+json (servicekit.openapi), derived from what each operation takes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from auth.config import Settings as AuthSettings
from auth.main import create_app as auth_app
from db_gateway.config import Settings as GatewaySettings
from db_gateway.main import create_app as gateway_app
from ledger.config import Settings as LedgerSettings
from ledger.main import create_app as ledger_app
from servicekit.openapi import HTTP_METHODS

TOKEN = "i" * 40


def _apps() -> dict[str, FastAPI]:
    return {
        "auth": auth_app(
            AuthSettings(jwt_secret="j" * 40, internal_token=TOKEN, environment="test")
        ),
        "ledger": ledger_app(
            LedgerSettings(jwt_secret="j" * 40, internal_token=TOKEN, environment="test")
        ),
        "db-gateway": gateway_app(
            GatewaySettings(
                database_url="postgresql+asyncpg://u:p@db:5432/finledger",
                internal_token=TOKEN,
                environment="test",
            )
        ),
    }


def _operations() -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (service, method, path, operation)
        for service, app in _apps().items()
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


OPERATIONS = _operations()


def _ids() -> list[str]:
    return [f"{service} {method.upper()} {path}" for service, method, path, _ in OPERATIONS]


@pytest.mark.parametrize(("service", "method", "path", "operation"), OPERATIONS, ids=_ids())
def test_every_operation_documents_the_errors_it_can_answer(
    service: str, method: str, path: str, operation: dict[str, Any]
) -> None:
    responses = operation["responses"]
    parameters = operation.get("parameters", [])
    expected = {"503"}
    if operation.get("security"):
        expected.add("401")
    if any(p["in"] == "path" for p in parameters):
        expected |= {"400", "404", "422"}
    if parameters:
        expected.add("422")
    if any(p["in"] in ("query", "path") for p in parameters):
        expected.add("414")
    if method in {"post", "put", "patch", "delete"}:
        expected |= {"413", "422"}
    if any(p["name"].lower() == "if-match" for p in parameters):
        expected.add("412")
    assert expected <= responses.keys(), sorted(expected - responses.keys())
    for status, response in responses.items():
        if int(status) >= 400:
            assert response["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, status


def test_route_specific_errors_keep_their_own_description() -> None:
    ledger = _apps()["ledger"].openapi()
    patch = ledger["paths"]["/services/transactions/{transaction_id}"]["patch"]["responses"]
    assert {"409", "412"} <= patch.keys()
    assert "If-Match" in patch["412"]["description"]
    login = _apps()["auth"].openapi()["paths"]["/auth/login"]["post"]["responses"]
    assert "Retry-After" in login["429"]["description"]


def test_the_problem_schema_is_published() -> None:
    for app in _apps().values():
        schemas = app.openapi()["components"]["schemas"]
        assert {"type", "title", "status", "detail", "code"} <= schemas["Problem"][
            "properties"
        ].keys()
        assert "HTTPValidationError" not in schemas
