"""Strict JSON request bodies, for every service: parsed once here, before
routing, and refused with a 422 problem+json when they are ambiguous or
unbounded, instead of being read leniently by `json.loads` further in.

Refused: duplicate keys (`{"amount": "1", "amount": "2"}` would otherwise
mean whichever came last), `NaN`/`Infinity`, numbers that overflow to
infinity or run past `MAX_NUMBER_CHARS`, nesting deep enough to exhaust the
parser's recursion, invalid UTF-8 and malformed JSON. A body larger than
`max_body_bytes` is a 413 before it is even buffered whole. Bodies of other
media types pass through untouched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.errors import problem_response

# Services hear from the ingress (1 MiB at most) and from each other.
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
# An int64 has 19 digits; an amount is a string, never a number.
MAX_NUMBER_CHARS = 32
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class StrictJSONError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise StrictJSONError(key, "duplicate key")
            seen.add(key)
    return result


def _constant(name: str) -> Any:
    raise StrictJSONError("body", f"{name} is not JSON")


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise StrictJSONError("body", "a number has too many digits")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise StrictJSONError("body", "a number has too many digits")
    value = float(text)
    if not math.isfinite(value):
        raise StrictJSONError("body", "a number is out of range")
    return value


def loads(data: bytes | str) -> Any:
    """`json.loads`, refusing what a lenient parser would guess at."""
    try:
        return json.loads(
            data,
            object_pairs_hook=_object,
            parse_constant=_constant,
            parse_int=_int,
            parse_float=_float,
        )
    except StrictJSONError:
        raise
    except RecursionError:
        raise StrictJSONError("body", "is nested too deeply") from None
    except UnicodeDecodeError:
        raise StrictJSONError("body", "is not valid UTF-8") from None
    except ValueError:  # json.JSONDecodeError among them
        raise StrictJSONError("body", "is not valid JSON") from None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def is_json_media_type(content_type: str | None) -> bool:
    """application/json or application/<anything>+json, as FastAPI parses them."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class StrictJSONMiddleware:
    """Buffers a JSON body (bounded), checks it with `loads`, then hands the
    same bytes on; the route parses them again, knowing they are unambiguous."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        validation_code: str = "validation_failed",
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.validation_code = validation_code
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") not in _BODY_METHODS
            or not is_json_media_type(_header(scope, b"content-type"))
        ):
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:  # chunked, or a wrong Content-Length
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if body:
            try:
                loads(body)
            except StrictJSONError as exc:
                response = problem_response(
                    422,
                    "Unprocessable Content",
                    f"{exc.field}: {exc.message}",
                    self.validation_code,
                    [{"field": exc.field, "message": exc.message}],
                )
                await response(scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            "Content Too Large",
            f"The request body is larger than {self.max_body_bytes} bytes.",
            "payload_too_large",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: only a disconnect

    return replay
