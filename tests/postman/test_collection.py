"""The Postman collection: it covers every public endpoint of both OpenAPI documents,
holds no secrets, and runs green with newman (scripts/newman.sh) against the real stack."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, StackInfo

POSTMAN = ROOT / "postman"
COLLECTION = POSTMAN / "finledger.postman_collection.json"
NEWMAN_SH = ROOT / "scripts" / "newman.sh"
SCHEMA_V21 = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
ENVIRONMENTS = {
    "local.postman_environment.json": "http://127.0.0.1:8080",
    "minikube.postman_environment.json": "http://127.0.0.1",
}
FOLDERS = [
    "Auth",
    "Accounts",
    "Transactions",
    "Categories",
    "Budgets",
    "Reports",
    "Dashboard",
    "Profile",
]
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
# the only secrets a request may carry: the ones a script generates or captures per run
GENERATED_PASSWORDS = {"{{password}}", "{{new_password}}", "{{wrong_password}}"}
VARIABLE = re.compile(r"^\{\{[A-Za-z_$][\w$]*\}\}$")
JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}")


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def collection() -> dict[str, Any]:
    data: dict[str, Any] = _load(COLLECTION)
    return data


def _walk(items: list[dict[str, Any]], trail: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
    for item in items:
        if "item" in item:
            yield from _walk(item["item"], (*trail, item["name"]))
        else:
            yield {**item, "trail": trail}


def _requests(collection: dict[str, Any]) -> list[dict[str, Any]]:
    return list(_walk(collection["item"]))


def _label(item: dict[str, Any]) -> str:
    return " / ".join((*item["trail"], item["name"]))


def _operation(item: dict[str, Any]) -> tuple[str, str]:
    """METHOD and path template of a request, with every {{variable}} segment as {}."""
    url = item["request"]["url"]
    segments = [("{}" if VARIABLE.match(s) else s) for s in url["path"]]
    return item["request"]["method"].upper(), "/" + "/".join(segments)


def _script(item: dict[str, Any], listen: str) -> str:
    return "\n".join(
        "\n".join(event["script"]["exec"])
        for event in item.get("event", [])
        if event["listen"] == listen
    )


def _openapi_operations(stack: StackInfo) -> dict[tuple[str, str], bool]:
    """(METHOD, path template) of every public operation -> whether it needs a token."""
    operations: dict[tuple[str, str], bool] = {}
    for document in ("/auth/openapi.json", "/services/openapi.json"):
        response = httpx.get(stack.ingress + document, timeout=10)
        assert response.status_code == 200, (document, response.text)
        for path, methods in response.json()["paths"].items():
            template = re.sub(r"\{[^}]+\}", "{}", path)
            for method, operation in methods.items():
                if method in HTTP_METHODS:
                    operations[(method.upper(), template)] = bool(operation.get("security"))
    return operations


def test_the_collection_covers_every_public_endpoint(
    stack: StackInfo, collection: dict[str, Any]
) -> None:
    documented = _openapi_operations(stack)
    assert len(documented) >= 30, documented  # both documents were read
    requests = _requests(collection)
    covered = {_operation(item) for item in requests}
    assert sorted(set(documented) - covered) == [], "endpoints without a request"
    assert sorted(covered - set(documented)) == [], "requests to undocumented endpoints"
    # every protected endpoint is called at least once with the collection's bearer auth
    inheriting = {_operation(item) for item in requests if "auth" not in item["request"]}
    protected = {operation for operation, secured in documented.items() if secured}
    assert sorted(protected - inheriting) == []


def test_the_collection_is_v21_organised_in_folders(collection: dict[str, Any]) -> None:
    assert collection["info"]["schema"] == SCHEMA_V21
    assert collection["info"]["description"].strip()
    assert [folder["name"] for folder in collection["item"]] == FOLDERS
    for folder in collection["item"]:
        assert folder["description"].strip(), folder["name"]
        assert folder["item"], folder["name"]
    names = [_label(item) for item in _requests(collection)]
    assert len(names) == len(set(names)), "request names must be unique"


def test_every_request_is_described_tested_and_uses_base_url(
    collection: dict[str, Any],
) -> None:
    for item in _requests(collection):
        label = _label(item)
        request = item["request"]
        assert len(request.get("description", "").strip()) >= 40, label
        assert "pm.test(" in _script(item, "test"), f"{label}: no pm.test"
        url = request["url"]
        assert url["host"] == ["{{base_url}}"], label
        raw_path = "{{base_url}}/" + "/".join(url["path"])
        assert url["raw"].split("?")[0] == raw_path, label
        for query in url.get("query", []):
            assert f"{query['key']}={query['value']}" in url["raw"], label


def test_tokens_are_captured_and_sent_by_collection_auth(collection: dict[str, Any]) -> None:
    assert collection["auth"] == {
        "type": "bearer",
        "bearer": [{"key": "token", "value": "{{access_token}}", "type": "string"}],
    }
    requests = {item["name"]: item for item in _requests(collection)}
    login = _script(requests["Log in"], "test")
    refresh = _script(requests["Refresh the token pair"], "test")
    for script in (login, refresh):
        for name in ("access_token", "refresh_token"):
            assert re.search(rf'collectionVariables\.set\("{name}"', script), script
    register = _script(requests["Register a new user"], "prerequest")
    assert "{{$timestamp}}" in register
    for name in ("email", "password", "new_password", "wrong_password"):
        assert re.search(rf'collectionVariables\.set\("{name}"', register), name
    keys = [
        header["value"]
        for item in requests.values()
        for header in item["request"]["header"]
        if header["key"].lower() == "idempotency-key"
    ]
    assert keys
    assert set(keys) == {"{{idempotency_key}}"}
    prerequests = [_script(item, "prerequest") for item in requests.values()]
    assert any("{{$guid}}" in js and "idempotency_key" in js for js in prerequests)


def _strings(value: Any) -> Iterator[tuple[str, Any]]:
    """(key, value) of every field of a JSON document, at any depth."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key, inner
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def test_no_hard_coded_tokens_or_passwords(collection: dict[str, Any]) -> None:
    text = COLLECTION.read_text()
    assert not JWT.search(text), "a JWT is stored in the collection"
    assert not re.search(r"Bearer\s+(?!\{\{)[\w.~+/-]{8,}", text), "a literal bearer token"
    assert all(variable["value"] == "" for variable in collection["variable"]), (
        "collection variables must start empty: scripts fill them per run"
    )
    for item in _requests(collection):
        label = _label(item)
        request = item["request"]
        for header in request["header"]:
            assert header["key"].lower() != "authorization", f"{label}: use the collection auth"
        auth = request.get("auth")
        if auth is not None and auth["type"] != "noauth":
            assert auth["type"] == "bearer", label
            assert all(VARIABLE.match(entry["value"]) for entry in auth["bearer"]), label
        body = request.get("body")
        if body is None:
            continue
        if body["mode"] == "raw":
            fields = list(_strings(json.loads(body["raw"])))
        else:
            fields = [(field["key"], field["value"]) for field in body[body["mode"]]]
        for key, value in fields:
            if "password" in key or "token" in key:
                assert isinstance(value, str), label
                assert VARIABLE.match(value), f"{label}: {key} must be a {{{{variable}}}}"
            if "password" in key:
                assert value in GENERATED_PASSWORDS, f"{label}: {key}={value}"


def test_both_environments_set_base_url() -> None:
    for name, base_url in ENVIRONMENTS.items():
        environment = _load(POSTMAN / name)
        assert environment["_postman_variable_scope"] == "environment"
        assert environment["name"].strip()
        values = {value["key"]: value for value in environment["values"]}
        assert set(values) == {"base_url"}, f"{name}: only base_url, never a secret"
        assert values["base_url"]["value"] == base_url
        assert values["base_url"]["enabled"] is True


NODE_MISSING = shutil.which("node") is None or shutil.which("npm") is None


@pytest.mark.e2e
@pytest.mark.skipif(
    NODE_MISSING and os.environ.get("CI", "").lower() != "true",
    reason="node and npm are not installed; with CI=true scripts/newman.sh installs them",
)
def test_newman_runs_the_collection_green(
    stack: StackInfo, collection: dict[str, Any], tmp_path: Path
) -> None:
    report = tmp_path / "newman.json"
    result = subprocess.run(
        [
            str(NEWMAN_SH),
            stack.ingress,
            "--color",
            "off",
            "-r",
            "cli,json",
            "--reporter-json-export",
            str(report),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout[-20000:] + result.stderr[-5000:]
    assert report.exists(), output  # newman did not run: the script failed before it
    run = _load(report)["run"]
    failures = [
        f"{failure['source']['name']}: {failure['error']['name']}: {failure['error']['message']}"
        for failure in run["failures"]
    ]
    assert failures == [], "\n".join(failures)
    assert result.returncode == 0, output
    stats = run["stats"]
    expected = [item["name"] for item in _requests(collection)]
    assert stats["requests"]["total"] >= len(expected) >= 70
    assert stats["requests"]["failed"] == 0, output
    assert stats["assertions"]["failed"] == 0, output
    assert stats["testScripts"]["failed"] == 0, output
    assert stats["prerequestScripts"]["failed"] == 0, output
    assert stats["assertions"]["total"] >= 2 * len(expected)
    executed = [execution["item"]["name"] for execution in run["executions"]]
    assert executed == expected, "every request ran once, in order"
    assert all("response" in execution for execution in run["executions"])
