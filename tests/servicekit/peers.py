"""A real peer on loopback for servicekit.http's clients: each test says how it
answers (an aiohttp handler), and gets a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from servicekit.http import PeerClient, create_http_client

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def peer(handler: Handler, **options: Any) -> AsyncIterator[PeerClient]:
    """A peer on a free loopback port answering every request with `handler`,
    and a client for it (`options` go to create_http_client)."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    options.setdefault("peer", "test-peer")  # a label value, as the services name theirs
    try:
        async with create_http_client(str(server.make_url("")), **options) as client:
            yield client
    finally:
        await server.close()


def answering(status: int, body: Any = None, text: str | None = None) -> Handler:
    async def handler(_: web.Request) -> web.StreamResponse:
        if text is not None:
            return web.Response(status=status, text=text, content_type="text/html")
        if body is None:
            return web.Response(status=status)
        return web.json_response(body, status=status)

    return handler
