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
from bench.scenarios import FILTERS, page_variants
from bench.seed import SeedUser

PLAN_MODES = {"custom": "force_custom_plan", "generic": "force_generic_plan"}


def page_query(
    user: SeedUser, category: str, start: dt.date, end: dt.date
) -> tuple[str, list[str]]:
    """db-gateway's page query with $n placeholders, and its arguments as SQL literals."""
    from db_gateway.transactions import Filters

    filters = Filters(category_id=uuid.UUID(category), date_from=start, date_to=end)
    return _compiled(user, filters)


def _compiled(user: SeedUser, filters: Any) -> tuple[str, list[str]]:
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    from db_gateway.transactions import page_statement

    query = page_statement(uuid.UUID(user.user_id), filters, limit=50, before=None)
    compiled = query.compile(dialect=dialect())  # type: ignore[no-untyped-call]
    names = compiled.positiontup or []
    return str(compiled), [_literal(compiled.params[name]) for name in names]


def _literal(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):  # the tags: a text[] literal of plain words
        return sql_literal("{" + ",".join(value) + "}")
    return sql_literal(str(value))


def filter_query(user: SeedUser, name: str) -> tuple[str, list[str]]:
    """db-gateway's page query for one of the bench's filters (scenarios.FILTERS)."""
    from decimal import Decimal

    from db_gateway.transactions import Filters

    query = dict(part.split("=") for part in FILTERS[name].split("&"))
    account = next(a.id for a in user.accounts if a.name == "Checking")
    filters = Filters(
        q=query.get("q"),
        tag=query.get("tag"),
        min_amount=Decimal(query["min_amount"]) if "min_amount" in query else None,
        max_amount=Decimal(query["max_amount"]) if "max_amount" in query else None,
        account_id=uuid.UUID(account) if "account_id" in query else None,
    )
    return _compiled(user, filters)


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
