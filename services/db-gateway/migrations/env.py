"""Alembic environment: async engine from DATABASE_URL, online migrations only."""

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from db_gateway.models import Base

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    # All pending migrations run in one transaction (Postgres DDL is transactional),
    # under a lock: several db-gateway replicas may start at once; one migrates,
    # the others wait and then find nothing left to do.
    with context.begin_transaction():
        context.execute("SELECT pg_advisory_xact_lock(7243911)")
        context.run_migrations()


async def _main() -> None:
    engine = create_async_engine(os.environ["DATABASE_URL"])
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
asyncio.run(_main())
