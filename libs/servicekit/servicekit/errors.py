"""RFC 9457 problem+json: one exception hierarchy, one renderer.

Services raise these (never `HTTPException`); the handlers installed by
`install_error_handlers` turn every error, including FastAPI's validation
errors and Starlette's routing 404/405, into the same shape.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from servicekit.context import request_id_var
from servicekit.jsonutil import dumps

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("servicekit.errors")


class ProblemError(Exception):
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: Sequence[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.code = code or self.default_code
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})


class BadRequest(ProblemError):
    status, title, default_code = 400, "Bad Request", "bad_request"


class Unauthorized(ProblemError):
    status, title, default_code = 401, "Unauthorized", "unauthorized"


class Forbidden(ProblemError):
    status, title, default_code = 403, "Forbidden", "forbidden"


class NotFound(ProblemError):
    status, title, default_code = 404, "Not Found", "not_found"


class Conflict(ProblemError):
    status, title, default_code = 409, "Conflict", "conflict"


class PreconditionFailed(ProblemError):
    status, title, default_code = 412, "Precondition Failed", "precondition_failed"


class Unprocessable(ProblemError):
    status, title, default_code = 422, "Unprocessable Content", "validation_failed"


class TooManyRequests(ProblemError):
    status, title, default_code = 429, "Too Many Requests", "too_many_requests"


class ServiceUnavailable(ProblemError):
    status, title, default_code = 503, "Service Unavailable", "service_unavailable"


def field_error(field: str, message: str) -> Unprocessable:
    """A 422 naming one field, for checks that need more than the schema knows."""
    return Unprocessable(f"{field}: {message}", errors=[{"field": field, "message": message}])


_BY_STATUS: dict[int, type[ProblemError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PreconditionFailed,
        Unprocessable,
        TooManyRequests,
        ServiceUnavailable,
    )
}


def problem_from(
    status: int, *, code: str, detail: str, errors: Sequence[Mapping[str, str]] | None = None
) -> ProblemError:
    """Rebuild a problem a peer service sent, keeping its status and code."""
    cls = _BY_STATUS.get(status, ProblemError)
    return cls(detail, code=code, errors=errors)


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error response."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str = Field(description="stable machine-readable reason, e.g. not_found")
    request_id: str | None
    errors: list[FieldProblem] | None = Field(
        default=None, description="one entry per invalid field"
    )


def problem_responses(**described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries: problem_responses(_404="No such account")."""
    return {
        int(status.lstrip("_")): {"model": Problem, "description": text}
        for status, text in described.items()
    }


def problem_body(
    status: int,
    title: str,
    detail: str,
    code: str,
    errors: Sequence[Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id_var.get(),
    }
    if errors is not None:
        body["errors"] = list(errors)
    return body


def problem_response(
    status: int,
    title: str,
    detail: str,
    code: str,
    errors: Sequence[Mapping[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        dumps(problem_body(status, title, detail, code, errors)),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def _field_name(loc: Sequence[Any]) -> str:
    # ("body", "splits", 0, "amount") -> "splits[0].amount"; the "body"/"query"
    # prefix is FastAPI's bookkeeping, not something the client wrote.
    parts = list(loc[1:]) if loc and loc[0] in {"body", "query", "path", "header"} else list(loc)
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or str(loc[0] if loc else "body")


def validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for err in exc.errors():
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        field = _field_name(err.get("loc", ()))
        if err.get("type") == "extra_forbidden":
            message = "unknown field"
        elif err.get("type") == "json_invalid":
            # its location is a character offset, not a field
            field, message = "body", "is not valid JSON"
        errors.append({"field": field, "message": message})
    return errors


async def _on_problem(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.status, exc.title, exc.detail, exc.code, exc.errors, exc.headers)


def _on_validation(code: str) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = validation_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(422, Unprocessable.title, detail or "invalid request", code, errors)

    return handle


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}


async def _on_http(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status, "http_error")
    title = {404: "Not Found", 405: "Method Not Allowed"}.get(status, "HTTP Error")
    detail = str(exc.detail) if exc.detail else title
    return problem_response(status, title, detail, code, headers=exc.headers)


def install_error_handlers(app: FastAPI, *, validation_code: str = "validation_failed") -> None:
    """`validation_code` is the code of a request the schema refuses. Internal
    services use their own, so a caller can tell "I sent a malformed call" (its
    bug) from "the data is invalid" (the client's `validation_failed`)."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation(validation_code))
    app.add_exception_handler(StarletteHTTPException, _on_http)
