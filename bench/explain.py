"""`python -m bench.explain`: EXPLAIN (ANALYZE, BUFFERS) of the queries behind
the transaction list (a category page and each filter: the index it uses),
the reports and the dashboard, for the seeded user with
the longest history, on a running bench stack (`make bench` leaves its seed in
.devstack/bench; start that stack with `python -m devstack run --state-dir
.devstack/bench --port-base 32000 --environment test`).

The SQL is db-gateway's own: the list query from its query builder, the
report and dashboard statements from db_gateway.reports, with the values a
request for "this month" / "this year" would bind.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

from bench.history import filter_query, page_query
from bench.pg import Postgres
from bench.scenarios import FILTERS, page_variants
from bench.seed import Manifest
from bench.stack import STATE


def literal_sql(statement: Any, params: dict[str, Any]) -> str:
    """A text() statement with its parameters bound as SQL literals."""
    from sqlalchemy.dialects.postgresql import dialect

    bound = statement.bindparams(
        **{k: str(v) if isinstance(v, uuid.UUID) else v for k, v in params.items()}
    )
    compiled = bound.compile(dialect=dialect(), compile_kwargs={"literal_binds": True})  # type: ignore[no-untyped-call]
    return str(compiled)


def statements(manifest: Manifest, today: dt.date) -> dict[str, str]:
    from db_gateway import reports

    user = manifest.by_role("big")[0]
    user_id = uuid.UUID(user.user_id)
    month = today.replace(day=1)
    year_start = reports.add_months(month, -11)
    this_month = {"user_id": user_id, "first": month, "last": reports.last_day(month)}
    found: dict[str, str] = {}
    category, start, end = page_variants(user, today)[0]
    sql, arguments = page_query(user, category, start, end)
    found["list: 50 transactions, one year, a parent category"] = (
        f"PREPARE page AS {sql};\nEXPLAIN (ANALYZE, BUFFERS) EXECUTE page({', '.join(arguments)})"
    )
    for name in FILTERS:
        sql, arguments = filter_query(user, name)
        # a fresh statement's first run gets a plan for its values, as
        # db-gateway's filtered pages do (db_gateway.transactions.page_json)
        found[f"list: 50 transactions, filter {name} ({FILTERS[name].split('&')[0]})"] = (
            f"DEALLOCATE ALL;\nPREPARE page AS {sql};\n"
            f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE page({', '.join(arguments)})"
        )
    reads: dict[str, tuple[Any, dict[str, Any]]] = {
        "report: summary, this month": (reports._SUMMARY, this_month),
        "report: monthly, last 12 months": (
            reports._MONTHLY,
            {"user_id": user_id, "first": year_start, "last": reports.last_day(month)},
        ),
        "report: categories (expense), this month": (
            reports._CATEGORIES,
            {**this_month, "kind": "expense"},
        ),
        "dashboard: top categories, this month": (
            reports._TOP_CATEGORIES,
            {**this_month, "top": reports.TOP_CATEGORIES},
        ),
        "dashboard: open accounts": (reports._OPEN_ACCOUNTS, {"user_id": user_id}),
        "dashboard: net worth": (reports._NET_WORTH, {"user_id": user_id}),
    }
    for name, (statement, params) in reads.items():
        found[name] = "EXPLAIN (ANALYZE, BUFFERS) " + literal_sql(statement, params)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.explain", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=STATE)
    args = parser.parse_args(argv)
    state = args.state_dir.resolve()
    described = json.loads((state / "stack.json").read_text())
    pg = Postgres(state, described["database_url"])
    manifest = Manifest.load(state)
    today = dt.datetime.now(dt.UTC).date()
    for name, sql in statements(manifest, today).items():
        print(f"-- {name}\n{pg.run_script(sql + ';')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
