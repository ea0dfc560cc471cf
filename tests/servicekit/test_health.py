"""Liveness checks nothing; readiness runs bounded checks and answers 503 fast."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping

import httpx
import pytest
from fastapi import FastAPI

from servicekit.health import ReadinessCheck, health_router


async def ok() -> None:
    return None


async def broken() -> None:
    raise ConnectionError("database down")


async def stuck() -> None:
    await asyncio.sleep(10)


def client_for(checks: Mapping[str, ReadinessCheck]) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(health_router(lambda: checks, timeout=0.05))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


@pytest.fixture
async def failing_client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for({"db": ok, "redis": broken}) as client:
        yield client


async def test_healthz_is_ok_even_when_dependencies_are_down(
    failing_client: httpx.AsyncClient,
) -> None:
    response = await failing_client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ok_when_every_check_passes() -> None:
    async with client_for({"db": ok, "redis": ok}) as client:
        response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"db": "ok", "redis": "ok"}}


async def test_readyz_with_no_checks_is_ready() -> None:
    async with client_for({}) as client:
        response = await client.get("/readyz")

    assert response.status_code == 200


async def test_readyz_names_the_failing_check(failing_client: httpx.AsyncClient) -> None:
    response = await failing_client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "not_ready",
        "checks": {"db": "ok", "redis": "failed: ConnectionError"},
    }


async def test_readyz_does_not_leak_the_failure_message(
    failing_client: httpx.AsyncClient,
) -> None:
    response = await failing_client.get("/readyz")

    assert "database down" not in response.text


async def test_stuck_check_times_out_into_a_fast_503() -> None:
    started = time.monotonic()
    async with client_for({"db": ok, "queue": stuck}) as client:
        response = await client.get("/readyz")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.json()["checks"] == {"db": "ok", "queue": "failed: TimeoutError"}
    assert elapsed < 5


async def test_checks_run_concurrently() -> None:
    # Each check passes only once all three are running at the same time; run one
    # after another, the first would wait for the others and time out.
    arrived = 0
    everyone_here = asyncio.Event()

    async def rendezvous() -> None:
        nonlocal arrived
        arrived += 1
        if arrived == 3:
            everyone_here.set()
        await everyone_here.wait()

    async with client_for({"a": rendezvous, "b": rendezvous, "c": rendezvous}) as client:
        response = await client.get("/readyz")

    assert response.status_code == 200
