"""The OpenAPI document every service publishes, with its error responses.

Every error is `application/problem+json` with the `Problem` schema. The
statuses a route can answer because of what it is are added here, in one place,
derived from the operation itself:

- every route: 503 (a dependency — db-gateway, Postgres — is unavailable, or
  the ingress's rate limit was hit);
- a method that carries a body (POST, PUT, PATCH, DELETE): 422 (invalid or
  malformed input, see servicekit.strictjson) and 413 (too large, refused by
  the service or the ingress), whether or not the operation takes a body;
- a form body: 400 (a form that cannot be parsed);
- any parameter: 422, and for a query or path parameter 414 (a request line
  longer than the ingress reads);
- a security requirement (bearer token or internal token): 401;
- a path parameter: 404 (no such object, or not yours), and 400 (a value with
  dot segments, double slashes or encoded separators, which the ingress refuses);
- an `If-Match` header: 412.

Routes add what only they know (409 with its codes, 403, 429, 304) through
`responses=`; a description a route gives is kept.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from servicekit.errors import PROBLEM_JSON, Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
BODY_METHODS = frozenset({"post", "put", "patch", "delete"})

FORMS = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})

DESCRIPTIONS = {
    400: "The form cannot be parsed, or the path holds dot segments, double slashes or "
    "encoded separators",
    401: "Missing, invalid, expired or revoked credentials",
    404: "No such object (another user's objects answer the same)",
    412: "If-Match does not match the current version; read it again",
    413: "The request body is too large",
    414: "The request line is too long",
    422: "Invalid input; `errors` names each field",
    503: "A dependency is unavailable or the rate limit was hit; retry after `Retry-After`",
}


def implied_statuses(method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer because of what it is."""
    parameters = operation.get("parameters", [])
    statuses = {503}
    if method in BODY_METHODS or "requestBody" in operation:
        statuses |= {413, 422}
    if FORMS & operation.get("requestBody", {}).get("content", {}).keys():
        statuses.add(400)
    if parameters:
        statuses.add(422)
    if any(p.get("in") in ("query", "path") for p in parameters):
        statuses.add(414)
    if operation.get("security"):
        statuses.add(401)
    if any(p.get("in") == "path" for p in parameters):
        statuses |= {400, 404}
    if any(p.get("in") == "header" and p.get("name", "").lower() == "if-match" for p in parameters):
        statuses.add(412)
    return statuses


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the implied error responses to every operation, render every error
    response as problem+json, and publish the `Problem` schema."""
    for path in schema.get("paths", {}).values():
        for method, operation in path.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status in implied_statuses(method, operation):
                responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
            operation["responses"] = dict(sorted(responses.items()))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components["Problem"] = problem_schema
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def openapi_with_problems(app: FastAPI) -> dict[str, Any]:
    """`app.openapi`: built once, then cached on the app."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    app.openapi_schema = document_problems(schema)
    return app.openapi_schema
