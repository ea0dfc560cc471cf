"""psql and pgbench as the Postgres superuser of a devstack cluster, through
its Unix socket, the way tests/e2e/test_backup_restore.py runs them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from devstack.__main__ import as_user, pg_bindir, pg_os_user, postgres_home


class PostgresError(RuntimeError):
    pass


class Postgres:
    def __init__(self, state: Path, database_url: str, database: str = "finledger") -> None:
        self.bindir = pg_bindir()
        self.os_user = pg_os_user()
        self.socket = postgres_home(state.resolve(), self.os_user).resolve() / "run"
        port = urlsplit(database_url.replace("+asyncpg", "")).port
        assert port is not None, "the database URL has no port"
        self.port = str(port)
        self.database = database

    def argv(self, tool: str, *args: str) -> list[str]:
        return as_user(
            self.os_user,
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

    def run_script(
        self,
        script: bytes | str,
        *,
        variables: dict[str, str] | None = None,
        timeout: float = 1800,
    ) -> str:
        """Run SQL (COPY data included) through psql's stdin; stop at the first
        error. `variables` are psql variables (`:'name'` in the SQL)."""
        data = script.encode() if isinstance(script, str) else script
        given = [f"--set={name}={value}" for name, value in (variables or {}).items()]
        result = subprocess.run(  # noqa: S603 (our own argv)
            self.argv(
                "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", *given, "-d", self.database
            ),
            input=data,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresError(result.stderr.decode(errors="replace")[-4000:])
        return result.stdout.decode()

    def rows(self, sql: str, variables: dict[str, str] | None = None) -> list[list[str]]:
        """The result rows of one query, as text fields (NULL as "")."""
        out = self.run_script(
            "\\pset fieldsep '\\t'\n\\pset null ''\n" + sql.rstrip().rstrip(";") + ";\n",
            variables=variables,
        )
        return [line.split("\t") for line in out.splitlines() if line]


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def uuid_array(ids: list[str]) -> str:
    """A uuid[] literal: the ids are generated or read back by us, never user input."""
    return "ARRAY[" + ",".join(sql_literal(i) for i in ids) + "]::uuid[]"
