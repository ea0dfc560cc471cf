"""/healthz (the process is alive) and /readyz (it can do its job right now).

Liveness checks nothing external on purpose: a database outage must not make
Kubernetes restart every healthy pod. Readiness runs the service's checks, each
bounded by a timeout, so a stuck dependency turns into a fast 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from starlette.responses import JSONResponse

ReadinessCheck = Callable[[], Awaitable[object]]


def health_router(
    checks: Callable[[], Mapping[str, ReadinessCheck]], *, timeout: float = 1.0
) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        named = checks()

        async def run(check: ReadinessCheck) -> str:
            try:
                await asyncio.wait_for(check(), timeout)
            except Exception as exc:  # any failure means "not ready", never a 500
                return f"failed: {type(exc).__name__}"
            return "ok"

        results = dict(
            zip(named, await asyncio.gather(*(run(c) for c in named.values())), strict=True)
        )
        ready = all(r == "ok" for r in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": results},
            status_code=200 if ready else 503,
        )

    return router
