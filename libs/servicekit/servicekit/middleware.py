"""Plain-ASGI request context: request id, one access log line, request metrics,
last-resort 500.

It sits inside Starlette's ServerErrorMiddleware, so an unhandled exception
reaches it first: it logs the traceback and answers a generic problem+json 500
that carries the request id and leaks nothing about the failure.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit import metrics
from servicekit.context import request_id_var, user_id_var
from servicekit.errors import problem_response

REQUEST_ID_HEADER = "X-Request-ID"
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_log = logging.getLogger("access")


def _incoming_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            # A caller-chosen id ends up in every log line: keep it short and inert.
            if VALID_REQUEST_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, quiet_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.quiet_paths = quiet_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope)
        request_id_token = request_id_var.set(request_id)
        user_token = user_id_var.set(None)
        # probes and scrapes are not traffic: neither logged (unless they fail)
        # nor counted, so they never dilute rates and latencies
        quiet = scope.get("path", "") in self.quiet_paths
        if not quiet:
            metrics.request_started()
        started = time.perf_counter()
        # nginx's code for a request whose client left before any answer (e.g. a
        # caller that crashed mid-request): no response is sent, and it is no 500
        status = 499
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            access_log.exception("unhandled error")
            if response_started:
                raise
            status = 500
            response = problem_response(
                500,
                "Internal Server Error",
                "The server failed to handle this request; quote the request_id when reporting it.",
                "internal_error",
            )
            await response(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            # the template the router matched (set into the scope by it), never
            # the raw path: bounded, and free of ids
            route = getattr(scope.get("route"), "path", None) or metrics.UNMATCHED_ROUTE
            if not quiet:
                metrics.request_ended()
                metrics.observe_request(scope["method"], route, status, duration)
            if not quiet or status >= 400:
                access_log.info(
                    "request",
                    extra={
                        "method": scope.get("method"),
                        "route": route,
                        "status": status,
                        "duration_ms": round(duration * 1000, 2),
                    },
                )
            user_id_var.reset(user_token)
            request_id_var.reset(request_id_token)
