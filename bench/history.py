"""The page query of the history comparison on its own: the SQL db-gateway
sends for `GET /services/transactions?limit=50&from&to&category_id` (built by
db-gateway's own query builder), timed by Postgres with EXPLAIN ANALYZE for
the user with 1k transactions and the one with 100k. This separates the
database's share of any slowdown from the services' (JSON, HTTP, queueing).

It is timed under both of Postgres's plan choices for a prepared statement
(asyncpg prepares every query): a custom plan, made for the actual values
(what the first five executions on a new connection get), and the generic
plan that a connection settles on afterwards when it looks no more costly.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import uuid
from typing import Any

from bench.pg import Postgres, sql_literal
from bench.scenarios import page_variants
from bench.seed import SeedUser

PLAN_MODES = {"custom": "force_custom_plan", "generic": "force_generic_plan"}


def page_query(
    user: SeedUser, category: str, start: dt.date, end: dt.date
) -> tuple[str, list[str]]:
    """db-gateway's page query with $n placeholders, and its arguments as SQL literals."""
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    from db_gateway.transactions import Filters, page_statement

    query = page_statement(
        uuid.UUID(user.user_id),
        Filters(category_id=uuid.UUID(category), date_from=start, date_to=end),
        limit=50,
        before=None,
    )
    compiled = query.compile(dialect=dialect())  # type: ignore[no-untyped-call]
    names = compiled.positiontup or []
    arguments = [
        str(value) if isinstance(value, int) else sql_literal(str(value))
        for value in (compiled.params[name] for name in names)
    ]
    return str(compiled), arguments


def execution_ms(explained: str) -> list[float]:
    """Every `Execution Time` in EXPLAIN ANALYZE output, in order."""
    found = [float(v) for v in re.findall(r"Execution Time: ([\d.]+) ms", explained)]
    if not found:
        raise ValueError("no 'Execution Time' in EXPLAIN ANALYZE's output")
    return found


def timing_script(sql: str, arguments: list[str], mode: str, runs: int) -> str:
    execute = f"EXPLAIN (ANALYZE, TIMING OFF) EXECUTE page({', '.join(arguments)});\n"
    return (
        f"SET plan_cache_mode = {PLAN_MODES[mode]};\n"
        f"PREPARE page AS {sql};\n" + execute * (runs + 1) + "DEALLOCATE page;\n"
    )


def page_sql_ms(pg: Postgres, user: SeedUser, today: dt.date, runs: int = 5) -> dict[str, Any]:
    """Per plan mode: the median execution time of each page query (after one
    warm-up execution), and their mean."""
    result: dict[str, Any] = {}
    for mode in PLAN_MODES:
        per_query: list[float] = []
        for category, start, end in page_variants(user, today):
            sql, arguments = page_query(user, category, start, end)
            times = execution_ms(pg.run_script(timing_script(sql, arguments, mode, runs)))
            per_query.append(statistics.median(times[1:]))
        result[mode] = {
            "per_query_ms": [round(v, 3) for v in per_query],
            "mean_ms": round(statistics.fmean(per_query), 3),
        }
    return result
