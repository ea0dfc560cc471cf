"""The internal token every /internal route requires, and what the routes share."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import APIKeyHeader

from servicekit.context import user_id_var
from servicekit.errors import Unauthorized, problem_responses
from servicekit.http import INTERNAL_TOKEN_HEADER

_internal_token = APIKeyHeader(
    name=INTERNAL_TOKEN_HEADER, auto_error=False, description="the shared INTERNAL_TOKEN"
)


async def require_internal_token(
    request: Request, token: Annotated[str | None, Depends(_internal_token)]
) -> None:
    expected: bytes = request.app.state.internal_token
    # constant-time: the comparison must not reveal how much of a guess was right
    if token is None or not hmac.compare_digest(token.encode(), expected):
        raise Unauthorized("internal token required", code="invalid_internal_token")


# documented where a route can answer them (every route: servicekit.openapi)
CONFLICT = problem_responses(_409="The state of the data does not allow this; see `code`")
NO_USER = problem_responses(_404="No such user (or session)")
STALE = problem_responses(_412="`if_match` is not the current version")

Limit = Annotated[int, Query(ge=1, le=201)]
Seq = Annotated[int | None, Query(ge=0, lt=2**63)]  # a Postgres bigint


async def _user_in_logs(request: Request) -> None:
    # the user a call is about is in its path: name it in the access log line,
    # as auth and ledger do
    user_id = request.path_params.get("user_id")
    if user_id is not None:
        user_id_var.set(str(user_id))


def internal_router() -> APIRouter:
    """Routes under /internal, each requiring the internal token."""
    return APIRouter(
        prefix="/internal",
        dependencies=[Depends(require_internal_token), Depends(_user_in_logs)],
    )
