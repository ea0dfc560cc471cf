"""Request dependencies every route module shares. All `async def`: FastAPI
runs a plain `def` dependency in its thread pool, a thread hop per request."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from pydantic import AfterValidator

from ledger import gateway
from ledger.cache import LedgerCache
from servicekit.errors import PreconditionFailed, field_error


async def _gateway(request: Request) -> gateway.Gateway:
    the_gateway: gateway.Gateway = request.app.state.gateway
    return the_gateway


async def _cache(request: Request) -> LedgerCache:
    cache: LedgerCache = request.app.state.cache
    return cache


Gateway = Annotated[gateway.Gateway, Depends(_gateway)]
Cache = Annotated[LedgerCache, Depends(_cache)]
Limit = Annotated[int, Query(ge=1, le=200, description="page size (default 50, max 200)")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page")
]

_STRONG_ETAG = re.compile(r'^"([0-9]{1,18})"$')


async def _if_match(
    if_match: Annotated[
        str | None,
        Header(
            description='the `ETag` (e.g. `"3"`) of the version you edit: if it changed '
            "meanwhile, the answer is 412 and nothing is written"
        ),
    ] = None,
) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    match = _STRONG_ETAG.match(if_match.strip())
    if match is None:
        raise PreconditionFailed(
            'If-Match must be an ETag this API returned, such as "3"', code="version_mismatch"
        )
    return int(match.group(1))


IfMatch = Annotated[int | None, Depends(_if_match)]


def etag(version: int) -> str:
    return f'"{version}"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/"3" matches "3"."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    return tag in {t.strip().removeprefix("W/") for t in if_none_match.split(",")}


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


SearchText = AfterValidator(_no_nul)
"""For free-text query parameters: Postgres text cannot hold NUL."""


def check_idempotency_key(key: str | None) -> None:
    if key is not None and not re.fullmatch(r"[\x21-\x7e]{1,255}", key):
        raise field_error("Idempotency-Key", "must be 1-255 visible ASCII characters")
