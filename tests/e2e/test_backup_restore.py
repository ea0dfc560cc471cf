"""The backup and restore procedure of the README, run for real: a pg_dump of
the live database (what the postgres-backup CronJob writes) restores with
pg_restore into an empty database that holds the same ledger, and its books
still balance."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from devstack.__main__ import as_user, pg_bindir, pg_os_user, postgres_home
from tests.conftest import StackInfo
from tests.e2e.conftest import register_and_login

# Per table: a fingerprint of every row, so "the same data" means the same data.
FINGERPRINT = """
SELECT c.relname,
       (xpath('/row/f/text()', query_to_xml(format(
           'SELECT count(*)::text || '':'' || coalesce(md5(string_agg(t::text, '','' ORDER BY t::text)), '''') AS f FROM %I t',
           c.relname), false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r'
ORDER BY c.relname
"""  # noqa: E501
BOOKS_BALANCE = """
SELECT count(*) FROM accounts a
WHERE a.balance <> (SELECT coalesce(sum(p.amount), 0) FROM postings p WHERE p.account_id = a.id)
"""


class Postgres:
    """psql and friends against the test stack's cluster, as its superuser."""

    def __init__(self, stack: StackInfo) -> None:
        url = make_url(stack.database_url)
        self.bindir = pg_bindir()
        self.user = pg_os_user()
        self.socket = postgres_home(stack.state, self.user) / "run"
        self.port = str(url.port)
        self.app_url = url.set(drivername="postgresql").render_as_string(hide_password=False)

    def superuser(self, tool: str, *args: str) -> list[str]:
        return as_user(
            self.user,
            [
                str(self.bindir / tool),
                "-h",
                str(self.socket),
                "-p",
                self.port,
                "-U",
                "postgres",
                *args,
            ],
        )

    def query(self, database: str, sql: str) -> str:
        result = subprocess.run(
            self.superuser("psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database),
            input=sql,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout


@pytest.fixture
def scratch_database(stack: StackInfo) -> Iterator[tuple[Postgres, str]]:
    pg = Postgres(stack)
    name = f"restore_check_{uuid.uuid4().hex[:8]}"
    pg.query("postgres", f"CREATE DATABASE {name} OWNER finledger")
    try:
        yield pg, name
    finally:
        pg.query("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_backup_restores_into_an_empty_database_with_every_row(
    api: httpx.Client, stack: StackInfo, scratch_database: tuple[Postgres, str], tmp_path: Path
) -> None:
    pg, scratch = scratch_database
    user = register_and_login(api)
    account = api.post(
        "/services/accounts",
        headers=user.headers,
        json={"name": "Kept", "type": "savings", "currency": "JPY", "opening_balance": "5000"},
    ).json()
    assert account["balance"] == "5000"

    # what the CronJob runs (as the application role, over TCP)
    dump = tmp_path / "finledger.dump"
    subprocess.run(
        [str(pg.bindir / "pg_dump"), "-Fc", "--no-owner", "-f", str(dump), pg.app_url],
        check=True,
    )

    # what the README's restore step runs: as the application role, over TCP
    subprocess.run(
        [
            str(pg.bindir / "pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--exit-on-error",
            "-d",
            pg.app_url.rsplit("/", 1)[0] + f"/{scratch}",
            str(dump),
        ],
        check=True,
    )
    original = pg.query("finledger", FINGERPRINT)
    restored = pg.query(scratch, FINGERPRINT)
    assert "accounts|" in restored
    # the live database may have moved on since the dump only if other tests wrote
    # meanwhile; they run one at a time, so it has not
    assert restored == original
    assert pg.query(scratch, BOOKS_BALANCE).strip() == "0"
    assert account["id"] in pg.query(scratch, "SELECT id FROM accounts")
    # the restored schema is complete: its migrations are recorded, so an upgrade
    # after a restore continues from the right revision
    assert (
        pg.query(scratch, "SELECT version_num FROM alembic_version").strip()
        == pg.query("finledger", "SELECT version_num FROM alembic_version").strip()
    )
