"""The two hottest reads, a balance and the dashboard, without FastAPI's
routing and dependency resolution.

Clients read these far more than anything else, and both are answered from
Redis in one round trip, so per request the framework cost more than the work.
HotReads sits inside the request context (the request id, the access log and
the metrics apply as to any request) and answers a well-formed GET with a
bearer token itself, through the same functions as the routes
(`balance_response`, `dashboard_response`) and the same exception handlers.
Anything else (no or another kind of Authorization, a path that is not a
UUID) goes on to the FastAPI routes, which also document both in OpenAPI.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ledger.routes.accounts import balance_response
from ledger.routes.reports import dashboard_response
from servicekit.jwt import pending_principal

ACCOUNTS, BALANCE, DASHBOARD = "/services/accounts/", "/balance", "/services/dashboard"
BALANCE_PATH_LENGTH = len(ACCOUNTS) + 36 + len(BALANCE)
Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class RouteTemplate:
    """What the router puts in `scope["route"]`, as far as the metrics and the
    access log read it: the route's path template."""

    path: str


BALANCE_ROUTE = RouteTemplate(ACCOUNTS + "{account_id}" + BALANCE)
DASHBOARD_ROUTE = RouteTemplate(DASHBOARD)


class HotReads:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path == DASHBOARD:
                token = _bearer(scope)
                if token is not None:
                    scope["route"] = DASHBOARD_ROUTE
                    await self._answer(scope, receive, send, token, None)
                    return
            elif (
                len(path) == BALANCE_PATH_LENGTH
                and path.startswith(ACCOUNTS)
                and path.endswith(BALANCE)
            ):
                token = _bearer(scope)
                account_id = _uuid(path[len(ACCOUNTS) : -len(BALANCE)])
                if token is not None and account_id is not None:
                    scope["route"] = BALANCE_ROUTE
                    await self._answer(scope, receive, send, token, account_id)
                    return
        await self.app(scope, receive, send)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, token: str, account_id: uuid.UUID | None
    ) -> None:
        api: FastAPI = scope["app"]
        state = api.state
        if_none_match = _header(scope, b"if-none-match")
        try:
            pending = pending_principal(state, token)
            if account_id is None:
                response = await dashboard_response(
                    pending, state.gateway, state.cache, if_none_match
                )
            else:
                response = await balance_response(
                    pending, state.gateway, state.cache, account_id, if_none_match
                )
        except Exception as exc:
            handler = _handler(api, exc)
            if handler is None:
                raise
            answer = handler(Request(scope, receive), exc)
            response = answer if isinstance(answer, Response) else await answer
        await response(scope, receive, send)


def _handler(api: FastAPI, exc: Exception) -> Handler | None:
    """The app's exception handler for `exc`, as its ExceptionMiddleware picks it."""
    for cls in type(exc).__mro__:
        if cls in api.exception_handlers:
            handler: Handler = api.exception_handlers[cls]
            return handler
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def _bearer(scope: Scope) -> str | None:
    """The token of `Authorization: Bearer <token>`, as FastAPI's OAuth2 scheme reads it."""
    value = _header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
