"""The two-hop ceiling: what the product's shape costs with no work at all.

`front_from_env` plays the ledger: `GET /page` forwards to `back_from_env`
over one keep-alive client of the kind the services call each other with
(servicekit.http's PeerClient, without its metrics and error mapping) and
answers with its bytes as they came.
`back_from_env` plays db-gateway: it answers a fixed page of 50 transactions,
exactly `TWOHOP_PAGE_BYTES` long (the size of the real pages the benchmark
reads). Both are served like the services, behind nginx configured like the
ingress (bench.ceilings).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from servicekit.http import create_http_client

ITEMS = 50


def page_body(size: int) -> bytes:
    """A transaction page, shaped like the API's, padded to exactly `size` bytes."""
    item: dict[str, object] = {
        "id": "00000000-0000-4000-8000-000000000000",
        "type": "expense",
        "account_id": "00000000-0000-4000-8000-000000000001",
        "to_account_id": None,
        "amount": "12.30",
        "currency": "USD",
        "to_amount": None,
        "to_currency": None,
        "category_id": "00000000-0000-4000-8000-000000000002",
        "splits": [],
        "date": "2026-11-22",
        "description": "",
        "notes": "",
        "tags": [],
        "version": 1,
        "created_at": "2026-11-22T12:00:00Z",
        "updated_at": "2026-11-22T12:00:00Z",
    }

    def render(padding: int) -> bytes:
        items = [dict(item, description="x" * (padding // ITEMS))] * ITEMS
        body = {"items": items, "next_cursor": "c" * (20 + padding % ITEMS)}
        return json.dumps(body, separators=(",", ":")).encode()

    bare = len(render(0))
    if size < bare:
        raise ValueError(f"a page of {ITEMS} items takes at least {bare} bytes, not {size}")
    body = render(size - bare)
    assert len(body) == size
    return body


def back_from_env() -> FastAPI:
    body = page_body(int(os.environ["TWOHOP_PAGE_BYTES"]))
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/page")
    async def page() -> Response:
        return Response(body, media_type="application/json")

    return app


def front_from_env() -> FastAPI:
    back = os.environ["TWOHOP_BACK_URL"]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the same pool shape as the services' clients between them
        async with create_http_client(back, peer="back") as client:
            app.state.back = client
            yield

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    @app.get("/page")
    async def page(request: Request) -> Response:
        answer = await request.app.state.back.request("GET", "/page")
        return Response(answer.content, answer.status_code, media_type="application/json")

    return app
