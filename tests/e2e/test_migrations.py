"""Migrations that can go back do: a copy of the live database (pg_dump, then
pg_restore into a scratch database, as in test_backup_restore.py) is taken
down a revision and up again, and holds the same ledger both ways."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from alembic.config import Config
from alembic.script import ScriptDirectory

from tests.conftest import ROOT, StackInfo
from tests.e2e.conftest import register_and_login
from tests.e2e.test_backup_restore import (  # the scratch database, and the fixture making it
    BOOKS_BALANCE,
    Postgres,
    scratch_database,
)

__all__ = ["scratch_database"]  # a fixture: used by name below

COLUMNS = (
    "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns"
    " WHERE table_name = 'allocations'"
)
UNDATED = """
SELECT count(*) FROM allocations a JOIN transactions t ON t.id = a.transaction_id
WHERE a.date IS DISTINCT FROM t.date OR a.seq IS DISTINCT FROM t.seq
"""


def _alembic(pg: Postgres, database: str, *args: str) -> None:
    url = pg.app_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", "services/db-gateway/alembic.ini", *args],
        env={**os.environ, "DATABASE_URL": f"{url}/{database}"},
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def _head() -> str:
    config = Config(str(ROOT / "services/db-gateway/alembic.ini"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_the_migrations_since_0003_go_down_and_back_up_with_the_same_ledger(
    api: httpx.Client, stack: StackInfo, scratch_database: tuple[Postgres, str], tmp_path: Path
) -> None:
    pg, scratch = scratch_database
    user = register_and_login(api)
    account = api.post(
        "/services/accounts",
        headers=user.headers,
        json={"name": "Checking", "type": "checking", "currency": "USD"},
    ).json()
    category = api.get("/services/categories", headers=user.headers).json()["items"][0]
    posted = api.post(
        "/services/transactions",
        headers=user.headers,
        json={
            "type": category["kind"],
            "account_id": account["id"],
            "amount": "12.50",
            "date": "2026-03-01",
            "category_id": category["id"],
        },
    )
    assert posted.status_code == 201, posted.text
    dump = tmp_path / "finledger.dump"
    subprocess.run(
        [str(pg.bindir / "pg_dump"), "-Fc", "--no-owner", "-f", str(dump), pg.app_url],
        check=True,
    )
    subprocess.run(
        [
            str(pg.bindir / "pg_restore"),
            "--no-owner",
            "--exit-on-error",
            "-d",
            pg.app_url.rsplit("/", 1)[0] + f"/{scratch}",
            str(dump),
        ],
        check=True,
    )
    allocations = pg.query(scratch, "SELECT count(*) FROM allocations").strip()
    assert int(allocations) > 0

    _alembic(pg, scratch, "downgrade", "0003")
    assert pg.query(scratch, "SELECT version_num FROM alembic_version").strip() == "0003"
    assert "date" not in pg.query(scratch, COLUMNS).split(",")
    assert pg.query(scratch, "SELECT count(*) FROM allocations").strip() == allocations

    _alembic(pg, scratch, "upgrade", "head")
    assert pg.query(scratch, "SELECT version_num FROM alembic_version").strip() == _head()
    assert pg.query(scratch, "SELECT count(*) FROM allocations").strip() == allocations
    assert pg.query(scratch, UNDATED).strip() == "0"
    assert pg.query(scratch, BOOKS_BALANCE).strip() == "0"
