"""The internal token every /internal route requires, and what the routes share."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import APIKeyHeader
from starlette.types import ASGIApp, Receive, Scope, Send

from servicekit.context import user_id_var
from servicekit.errors import Unauthorized, problem_response, problem_responses
from servicekit.http import INTERNAL_TOKEN_HEADER

_internal_token = APIKeyHeader(
    name=INTERNAL_TOKEN_HEADER, auto_error=False, description="the shared INTERNAL_TOKEN"
)


_TOKEN_HEADER = INTERNAL_TOKEN_HEADER.lower().encode("latin-1")
_DETAIL, _CODE = "internal token required", "invalid_internal_token"


def _valid(token: bytes | None, expected: bytes) -> bool:
    # constant-time: the comparison must not reveal how much of a guess was right
    return token is not None and hmac.compare_digest(token, expected)


async def require_internal_token(
    request: Request, token: Annotated[str | None, Depends(_internal_token)]
) -> None:
    """The route-level check (and what OpenAPI documents as the security scheme)."""
    if not _valid(None if token is None else token.encode(), request.app.state.internal_token):
        raise Unauthorized(_DETAIL, code=_CODE)


class InternalTokenGuard:
    """The same check for every /internal request before anything reads its
    body: a caller without the token gets its 401 whatever it sent, never a
    422 that tells it how its JSON was read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/internal"):
            token = next((v for k, v in scope["headers"] if k == _TOKEN_HEADER), None)
            if not _valid(token, scope["app"].state.internal_token):
                response = problem_response(401, "Unauthorized", _DETAIL, _CODE)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


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
