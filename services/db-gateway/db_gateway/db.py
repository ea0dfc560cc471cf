"""Engine and per-request sessions; created in the lifespan, never at import time.

Metrics of the connection pool, read from it when Prometheus scrapes:
`db_pool_connections{state="in_use"|"idle"|"overflow"}` (overflow: open
beyond DB_POOL_SIZE, at most DB_MAX_OVERFLOW), `db_pool_connections_max`
(DB_POOL_SIZE + DB_MAX_OVERFLOW) and `db_pool_timeouts_total` (requests that
waited DB_POOL_TIMEOUT for a connection in vain and were answered 503).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg  # type: ignore[import-untyped]
from fastapi import Depends, Request
from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool

from db_gateway.config import Settings
from servicekit import metrics, tracing
from servicekit.background import running

POOL_STATES = ("in_use", "idle", "overflow")
POOL_TIMEOUTS = Counter(
    "db_pool_timeouts",
    "Requests that found no free database connection within DB_POOL_TIMEOUT (answered 503).",
)
_CONNECTIONS_HELP = "Database connections of the pool, by state."
_MAX_HELP = "Connections the pool may open: DB_POOL_SIZE + DB_MAX_OVERFLOW."


def create_engine(settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        # No ping before every checkout: it was a round trip per request. After
        # a Postgres restart, the first statement on a broken connection fails
        # (a 503, "retry"), and SQLAlchemy then invalidates every connection
        # of the pool made before the failure, so the next requests reconnect.
        pool_pre_ping=False,
        pool_recycle=1800,
        # errors are logged: their SQL parameters (hashes, emails, amounts) are not
        hide_parameters=True,
        connect_args={
            "timeout": 3,
            "command_timeout": settings.db_statement_timeout_ms / 1000 + 1,
            "server_settings": {
                "statement_timeout": str(settings.db_statement_timeout_ms),
                "lock_timeout": str(settings.db_statement_timeout_ms),
                "idle_in_transaction_session_timeout": "10000",
                "application_name": settings.service_name,
            },
        },
    )
    tracing.instrument_engine(engine)  # no-op unless tracing is configured
    return engine


def _pool_state(engine: AsyncEngine, limit: int) -> tuple[dict[str, int], int]:
    pool = engine.sync_engine.pool
    if not isinstance(pool, QueuePool):  # e.g. NullPool in a script: nothing held
        return dict.fromkeys(POOL_STATES, 0), 0
    return {
        "in_use": pool.checkedout(),
        "idle": pool.checkedin(),
        # starts at -DB_POOL_SIZE and counts every connection opened
        "overflow": max(pool.overflow(), 0),
    }, limit


class PoolCollector:
    """Reads the watched pools at scrape time (one per process in service)."""

    def __init__(self) -> None:
        self.pools: list[tuple[AsyncEngine, int]] = []

    def collect(self) -> Iterator[Metric]:
        connections = GaugeMetricFamily("db_pool_connections", _CONNECTIONS_HELP, labels=["state"])
        totals, limit = dict.fromkeys(POOL_STATES, 0), 0
        for engine, pool_limit in self.pools:
            state, counted_limit = _pool_state(engine, pool_limit)
            limit += counted_limit
            for name, value in state.items():
                totals[name] += value
        for name in POOL_STATES:
            connections.add_metric([name], totals[name])
        yield connections
        yield GaugeMetricFamily("db_pool_connections_max", _MAX_HELP, value=limit)


_collector = PoolCollector()
# Multiprocess mode: a scrape reaches one worker, which cannot read the
# others' pools, so each worker copies its own into summed gauges instead.
_mirror: tuple[Gauge, Gauge] | None = None
MIRROR_INTERVAL_SECONDS = 1.0
if metrics.multiprocess_mode():
    _mirror = (
        Gauge("db_pool_connections", _CONNECTIONS_HELP, ["state"], multiprocess_mode="livesum"),
        Gauge("db_pool_connections_max", _MAX_HELP, multiprocess_mode="livesum"),
    )
else:
    REGISTRY.register(_collector)


async def _mirror_loop(engine: AsyncEngine, limit: int, gauges: tuple[Gauge, Gauge]) -> None:
    connections, maximum = gauges
    while True:
        state, counted_limit = _pool_state(engine, limit)
        for name, value in state.items():
            connections.labels(name).set(value)
        maximum.set(counted_limit)
        await asyncio.sleep(MIRROR_INTERVAL_SECONDS)


@asynccontextmanager
async def pool_metrics(engine: AsyncEngine, settings: Settings) -> AsyncIterator[None]:
    """Export the engine's pool for as long as the block runs (the lifespan)."""
    entry = (engine, settings.db_pool_size + settings.db_max_overflow)
    _collector.pools.append(entry)
    try:
        if _mirror is None:
            yield
        else:
            async with running(_mirror_loop(*entry, _mirror), name="pool-metrics"):
                yield
    finally:
        _collector.pools.remove(entry)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(get_session)]


# What asyncpg raises when the connection is gone or Postgres is going away:
# the connection is of no more use, and likely its pool-mates neither.
DISCONNECTS = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    OSError,
)


@asynccontextmanager
async def raw_connection(session: AsyncSession) -> AsyncIterator[Any]:
    """The session's asyncpg connection, for statements that skip SQLAlchemy
    (its per-statement work cost more than running them). A connection that
    breaks is handled as SQLAlchemy handles it: invalidated, and the pool's
    older connections with it (a Postgres restart breaks them all), before
    the error goes on to the 503 handler."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    try:
        yield raw.driver_connection
    except DISCONNECTS as exc:
        await connection.invalidate(exc)
        await connection.engine.dispose(close=False)
        raise
