"""The ingress controller's error backend: the errors the edge makes itself
(no route, body too large, rate limited, no ready pod, upstream timeout) as
the same RFC 9457 problem+json the services answer with.

ingress-nginx sends it the failed request with the status in `X-Code` and the
request id in `X-Request-ID` (custom-http-errors); a request without `X-Code`
matched no route, so it is a 404. Runs from the ledger image:
`uvicorn servicekit.ingress_errors:app`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from servicekit.jsonutil import dumps

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PROBLEMS: dict[int, tuple[str, str, str]] = {
    404: ("Not Found", "not_found", "No route for this path."),
    413: ("Content Too Large", "payload_too_large", "The request body is too large."),
    429: ("Too Many Requests", "too_many_requests", "Slow down and retry later."),
    502: ("Bad Gateway", "bad_gateway", "The service behind this route is not answering."),
    503: ("Service Unavailable", "service_unavailable", "Try again shortly."),
    504: ("Gateway Timeout", "gateway_timeout", "The service took too long to answer."),
}
RETRY_AFTER = {429: "1", 503: "1"}
# Echoed into the body: only a plain, short id, as the services accept.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    code = _header(scope, b"x-code")
    if code is None and scope["path"] in ("/healthz", "/readyz"):
        await _respond(send, 200, b'{"status":"ok"}', "application/json", {})
        return
    status = int(code) if code and code.isdigit() and int(code) in PROBLEMS else 404
    title, problem_code, detail = PROBLEMS[status]
    request_id = _header(scope, b"x-request-id")
    body = dumps(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "code": problem_code,
            "request_id": request_id if request_id and _REQUEST_ID.match(request_id) else None,
        }
    )
    headers = {"Retry-After": RETRY_AFTER[status]} if status in RETRY_AFTER else {}
    await _respond(send, status, body, "application/problem+json", headers)


async def _respond(
    send: Send, status: int, body: bytes, content_type: str, headers: dict[str, str]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *((k.lower().encode(), v.encode()) for k, v in headers.items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
