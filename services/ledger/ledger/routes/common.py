"""What the route modules share: documented error responses and 304s."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from servicekit.errors import problem_responses

UNAUTHORIZED = problem_responses(_401="Missing, invalid, expired or revoked access token")
NOT_FOUND = problem_responses(_404="No such object of yours")
INVALID = problem_responses(_422="Invalid input; `errors` names each field")
CONFLICT = problem_responses(_409="The object's state does not allow this; see `code`")
STALE = problem_responses(_412="If-Match does not match the current version; read it again")
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Unchanged since the ETag sent in If-None-Match"}
}
PRIVATE = "private, no-cache"


class NotModified(Exception):
    def __init__(self, etag: str) -> None:
        self.etag = etag


async def not_modified(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotModified)
    return Response(status_code=304, headers={"ETag": exc.etag, "Cache-Control": PRIVATE})
