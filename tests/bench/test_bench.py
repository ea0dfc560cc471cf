"""The parts of `make bench` that can be checked without timing anything: wrk's
output read right, the Lua scripts sending what they should, the table and
JSON writer, the generated books balancing, and the seed's verification query
catching broken books on the test stack. No assertion here is about speed."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bench.ceilings import parse_pgbench_output, percentile
from bench.history import execution_ms, page_query, timing_script
from bench.pg import Postgres
from bench.report import median_of, render_table, table_rows, write_json
from bench.seed import (
    BUDGETS,
    EXPENSES,
    INCOMES,
    Generator,
    SeedUser,
    load_script,
    plan_users,
    register_all,
    user_categories,
    verify,
)
from bench.stack import StackInfo as BenchStack
from bench.wrkrun import WrkResult, parse_wrk_output, requests_per_second_line, run_wrk
from devstack.__main__ import SERVE_FLAGS
from tests.conftest import StackInfo

ROOT = Path(__file__).resolve().parents[2]

WRK_TEXT = """\
Running 15s test @ http://127.0.0.1:32080/services/dashboard
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.23ms    2.34ms    1.20s    80.00%
    Req/Sec     3.12k   200.00     3.50k    70.00%
  Latency Distribution
     50%  850.00us
     75%   11.20ms
     90%   13.00ms
     99%    1.05s
  46800 requests in 15.00s, 10.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 7
  Non-2xx or 3xx responses: 12
Requests/sec:   3.12k
Transfer/sec:      0.67MB
"""


# ---------------------------------------------------------------- wrk output


def test_the_json_summary_line_wins_and_is_exact() -> None:
    line = (
        'WRK_JSON {"requests":1000,"duration_us":10000000,"bytes":5000,'
        '"errors":{"connect":0,"read":1,"write":0,"status":10,"timeout":2},'
        '"latency_us":{"min":100,"max":90000,"mean":1500.5,"stdev":20.0,'
        '"p50":1200,"p75":1400,"p90":2000,"p99":8000,"p99_9":12000}}'
    )
    result = parse_wrk_output(WRK_TEXT + line + "\n")
    assert result.requests == 1000
    assert result.duration_s == 10.0
    assert result.latency_ms["p50"] == 1.2
    assert result.latency_ms["p99"] == 8.0
    assert result.latency_ms["p99_9"] == 12.0
    assert result.errors == {"connect": 0, "read": 1, "write": 0, "status": 10, "timeout": 2}
    # only successful answers count as throughput
    assert result.ok_requests == 990
    assert result.rps == 99.0
    assert result.error_count == 13


def test_wrk_text_output_is_parsed_with_its_units() -> None:
    result = parse_wrk_output(WRK_TEXT)
    assert result.requests == 46800
    assert result.duration_s == 15.0
    assert result.latency_ms["p50"] == pytest.approx(0.85)
    assert result.latency_ms["p75"] == pytest.approx(11.2)
    assert result.latency_ms["p99"] == pytest.approx(1050.0)
    assert result.latency_ms["max"] == pytest.approx(1200.0)
    assert result.errors == {"connect": 0, "read": 2, "write": 0, "status": 12, "timeout": 7}
    assert result.rps == pytest.approx((46800 - 12) / 15)
    assert requests_per_second_line(WRK_TEXT) == pytest.approx(3120.0)


def test_output_without_a_summary_is_refused() -> None:
    with pytest.raises(ValueError, match="requests in"):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_pgbench_output_is_parsed() -> None:
    text = """\
pgbench (15.5)
transaction type: /tmp/x/transfer.sql
scaling factor: 1
query mode: prepared
number of clients: 15
number of threads: 2
maximum number of tries: 1
duration: 15 s
number of transactions actually processed: 18000
number of failed transactions: 3 (0.017%)
latency average = 12.480 ms
initial connection time = 20.123 ms
tps = 1201.918273 (without initial connection time)
"""
    summary = parse_pgbench_output(text)
    assert summary.tps == pytest.approx(1201.918273)
    assert summary.transactions == 18000
    assert summary.failed == 3
    assert summary.latency_avg_ms == pytest.approx(12.48)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0], 99) == 3.0


# ---------------------------------------------------------------- the report


def _round(rps: float, p99: float, status_errors: int = 0) -> dict[str, Any]:
    def entry(r: float, p: float) -> dict[str, Any]:
        return {
            "rps": r,
            "latency_ms": {"p50": p / 2, "p99": p},
            "errors": {"status": status_errors, "timeout": 0},
        }

    return {
        "scenarios": {
            "balance": entry(rps, p99),
            "dashboard": entry(rps / 2, p99 * 2),
            "page": entry(rps / 4, p99 * 4),
            "transfer": entry(rps / 10, p99 * 10),
            "login": {**entry(40.0, 900.0), "via": "auth x2 direct"},
            "history_1k": {**entry(100.0, 50.0), "connections": 32},
            "history_100k": {**entry(90.0, 60.0), "connections": 32},
            "history_1k_low": {**entry(10.0, 5.0), "connections": 2},
            "history_100k_low": {**entry(10.0, 5.0), "connections": 2},
        },
        "ceilings": {
            "hello": {"rps": 5000.0, "latency_ms": {"p50": 5.0, "p99": 10.0}, "detail": "1 worker"},
            "twohop": {"rps": 1250.0, "latency_ms": {"p50": 10.0, "p99": 40.0}, "detail": "50"},
            "pgbench": {"rps": 1000.0, "latency_ms": {"p50": 8.0, "p99": 30.0}, "failed": 0},
            "argon2": {"rps": 100.0, "latency_ms": {"mean": 20.0}},
        },
        "history_sql_ms": {
            "history_1k": {"generic": {"mean_ms": 1.0}, "custom": {"mean_ms": 2.0}},
            "history_100k": {"generic": {"mean_ms": 1.0}, "custom": {"mean_ms": 100.0}},
        },
        "readyz_during_login": {
            "probes": 300,
            "failures": 0,
            "latency_ms": {"p50": 2.0, "p99": 40.0},
        },
    }


def test_medians_over_rounds_and_errors_added_up() -> None:
    merged = median_of([_round(1000, 20, 1), _round(3000, 60, 2), _round(2000, 40, 0)])
    balance = merged["scenarios"]["balance"]
    assert balance["rps"] == 2000
    assert balance["latency_ms"]["p99"] == 40
    assert balance["errors"] == {"status": 3, "timeout": 0}
    assert merged["scenarios"]["login"]["via"] == "auth x2 direct"


def test_rows_compare_each_scenario_with_its_ceiling() -> None:
    rows = {row["scenario"]: row for row in table_rows(_round(2500, 20))}
    assert rows["balance"]["ratio"] == pytest.approx(0.5)
    assert rows["balance"]["ratio_twohop"] == pytest.approx(2.0)
    assert rows["balance"]["p99_vs_ceiling"] == pytest.approx(2.0)
    assert rows["page"]["ceiling"] == "hello"
    assert rows["page"]["ratio"] == pytest.approx(0.125)
    # every read against the two-hop ceiling too; a page's p99 against the two-hop's
    assert rows["page"]["ratio_twohop"] == pytest.approx(0.5)
    assert rows["page"]["p99_ceiling"] == "twohop"
    assert rows["page"]["p99_vs_ceiling"] == pytest.approx(2.0)
    assert rows["transfer"]["ceiling"] == "pgbench"
    assert rows["transfer"]["ratio"] == pytest.approx(0.25)
    assert rows["transfer"]["ratio_twohop"] is None
    assert rows["transfer"]["p99_vs_ceiling"] is None
    assert rows["login"]["ceiling"] == "argon2"
    assert rows["login"]["ratio"] == pytest.approx(0.4)
    assert "auth x2 direct" in rows["login"]["label"]
    assert rows["hello"]["ceiling"] is None


def _report() -> dict[str, Any]:
    result = _round(2500, 20)
    return {
        "timestamp": "20261125T120000Z",
        "git": {"commit": "a" * 40, "short": "a" * 10, "dirty": False},
        "machine": {"cpu_model": "Test CPU", "cores": 2, "memory_gib": 8.0, "loadavg_start": []},
        "options": {"duration": 15, "warmup": 3, "connections": 32, "threads": 1, "repeat": 1},
        "stack": {"workers": 1, "replicas": "auth=2"},
        "idle_rss_mib": {"auth-1": {"10": 70.2}, "auth-2": {"11": 71.0}, "ledger": {"12": 80.0}},
        "readyz_idle": {"probes": 60, "failures": 0, "latency_ms": {"p50": 1.0, "p99": 3.0}},
        "result": result,
        "rows": table_rows(result),
        "notes": ["a note long enough to be wrapped " * 6],
    }


def test_the_table_has_every_row_and_one_width() -> None:
    text = render_table(_report())
    # wrapped lines joined again, without the table's borders
    flat = " ".join(" ".join(line.strip("|").split()) for line in text.splitlines())
    for label in (
        "(a) GET balance",
        "(b) GET dashboard",
        "(c) GET 50 tx",
        "(d) POST transfer",
        "(e) POST login [auth x2 direct]",
        "ceiling: nginx+FastAPI /hello",
        "ceiling: nginx+2 FastAPI hops, page",
        "2.00x twohop",
        "ceiling: pgbench",
        "ceiling: argon2id",
        "p99 1.20x",
        "2.00 vs 100 ms (50.00x)",
        "1.00 vs 1.00 ms (1.00x)",
        "history: pages, user with 100k tx (2 conns)",
        "history: pages, user with 1k tx (32 conns)",
        "p50 1.00x, p99 1.00x",
        "/readyz during (e)",
        "/readyz idle",
        "auth-1 70, auth-2 71, ledger 80",
    ):
        assert label in text or label in flat, label
    assert len({len(line) for line in text.splitlines()}) == 1


def test_the_json_goes_to_a_timestamped_file_and_latest(tmp_path: Path) -> None:
    report = _report()
    path = write_json(report, tmp_path)
    assert path.name == "20261125T120000Z.json"
    assert json.loads(path.read_text()) == json.loads((tmp_path / "latest.json").read_text())
    assert json.loads(path.read_text())["git"]["commit"] == "a" * 40


def test_results_are_not_committed() -> None:
    assert "bench/results/" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.parametrize("ceiling", ["hello", "twohop"])
def test_the_ceilings_are_served_as_devstack_serves_the_services(ceiling: str) -> None:
    from bench.ceilings import hello_ceiling, twohop_ceiling

    state = ROOT / ".devstack" / "unused"
    proxied = (
        hello_ceiling(state, 0, 1) if ceiling == "hello" else twohop_ceiling(state, 0, 1, 25000)
    )
    for app in proxied.apps:
        argv = proxied.serve_argv(app)
        assert argv[1:3] == ["-m", "servicekit.serve"]
        # the app nginx reaches is reached as the replicas are: on a Unix socket
        assert ("--uds" in argv) == (app is proxied.apps[0])
        start = argv.index("--workers") + 2
        assert tuple(argv[start : start + len(SERVE_FLAGS)]) == SERVE_FLAGS


@pytest.mark.parametrize("size", [21000, 25000, 25001, 40000])
def test_the_two_hop_page_has_50_items_and_exactly_the_real_pages_size(size: int) -> None:
    from bench.twohop_app import page_body

    body = page_body(size)
    assert len(body) == size
    assert len(json.loads(body)["items"]) == 50


def test_the_history_sql_is_db_gateways_own_page_query() -> None:
    user = SeedUser(email="x@example.com", password="-", role="big", transactions=0)
    user.user_id = str(uuid.uuid4())
    category = str(uuid.uuid4())
    sql, arguments = page_query(user, category, dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    assert "$1" in sql
    assert "ORDER BY transactions.date DESC, transactions.seq DESC" in sql
    for value in (f"'{user.user_id}'", f"'{category}'", "'2025-01-01'", "'2025-12-31'", "50"):
        assert value in arguments
    script = timing_script(sql, arguments, "generic", runs=2)
    assert script.startswith("SET plan_cache_mode = force_generic_plan;")
    assert script.count("EXPLAIN (ANALYZE, TIMING OFF) EXECUTE page(") == 3
    explained = "Limit\nExecution Time: 151.473 ms\nLimit\nExecution Time: 2 ms\n"
    assert execution_ms(explained) == [151.473, 2.0]


# ---------------------------------------------------------------- the Lua scripts


class _Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str, dict[str, str], bytes]]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.lock:
            self.seen.append((self.command, self.path, dict(self.headers.items()), body))
        status = 404 if self.path.startswith("/missing") else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[str, str, dict[str, str], bytes]]]]:
    if shutil.which("wrk") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("wrk is not installed (make bench installs it)")
        pytest.skip("wrk is not installed")
    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.seen
    finally:
        server.shutdown()
        server.server_close()


def _wrk(url: str, script: str, args: list[str]) -> WrkResult:
    result, output = run_wrk(
        url=url, script=script, args=args, connections=2, threads=1, duration=1
    )
    assert "WRK_JSON " in output
    return result


def test_get_script_sends_each_line_with_its_token(
    recorder: tuple[str, list[tuple[str, str, dict[str, str], bytes]]], tmp_path: Path
) -> None:
    url, seen = recorder
    data = tmp_path / "get.tsv"
    data.write_text("/a?x=1\ttoken-a\n/b\ttoken-b\n/missing\t-\n")
    result = _wrk(url, "get.lua", [str(data)])
    assert result.requests > 0
    requests = {(path, headers.get("Authorization")) for _, path, headers, _ in seen}
    assert requests == {("/a?x=1", "Bearer token-a"), ("/b", "Bearer token-b"), ("/missing", None)}
    # the 404s are errors, not throughput
    assert result.errors["status"] > 0
    assert result.ok_requests < result.requests


def test_transfer_script_sends_unique_keys_and_bodies(
    recorder: tuple[str, list[tuple[str, str, dict[str, str], bytes]]], tmp_path: Path
) -> None:
    url, seen = recorder
    data = tmp_path / "transfer.tsv"
    data.write_text("tok-1\tacc-a\tacc-b\ntok-2\tacc-c\tacc-d\n")
    _wrk(url, "transfer.lua", [str(data), "run-x", "2026-11-25"])
    posts = [(headers, json.loads(body)) for method, _, headers, body in seen if method == "POST"]
    assert len(posts) > 2
    keys = [headers["Idempotency-Key"] for headers, _ in posts]
    assert len(set(keys)) == len(keys)
    assert all(key.startswith("run-x-") for key in keys)
    descriptions = [body["description"] for _, body in posts]
    assert len(set(descriptions)) == len(descriptions)
    for headers, body in posts:
        assert body["type"] == "transfer"
        assert body["date"] == "2026-11-25"
        assert Decimal(body["amount"]) > 0
        pair = {body["account_id"], body["to_account_id"]}
        assert pair in ({"acc-a", "acc-b"}, {"acc-c", "acc-d"})
        token = "tok-1" if "acc-a" in pair else "tok-2"
        assert headers["Authorization"] == f"Bearer {token}"


def test_login_script_posts_credentials_from_many_client_addresses(
    recorder: tuple[str, list[tuple[str, str, dict[str, str], bytes]]], tmp_path: Path
) -> None:
    url, seen = recorder
    data = tmp_path / "login.tsv"
    data.write_text('a@example.com\tpass "quoted" word\nb@example.com\tsecond one\n')
    _wrk(url, "login.lua", [str(data), "20"])
    posts = [(path, headers, json.loads(body)) for method, path, headers, body in seen]
    assert {path for path, _, _ in posts} == {"/auth/login"}
    assert {(b["email"], b["password"]) for _, _, b in posts} == {
        ("a@example.com", 'pass "quoted" word'),
        ("b@example.com", "second one"),
    }
    addresses = {headers["X-Forwarded-For"] for _, headers, _ in posts}
    assert 1 < len(addresses) <= 20


# ---------------------------------------------------------------- the seed


def _categories() -> dict[str, tuple[str, str]]:
    names = {**dict.fromkeys(EXPENSES, "expense"), **dict.fromkeys(INCOMES, "income")}
    names.update(dict.fromkeys(BUDGETS, "expense"))
    return {name: (str(uuid.uuid4()), kind) for name, kind in names.items()}


def test_generated_books_balance_before_they_reach_the_database() -> None:
    users = plan_users(3, 400, 0, 0)
    generator = Generator(dt.date(2026, 11, 25), seed=7)
    for user in users:
        user.user_id = str(uuid.uuid4())
        generator.user(user, _categories())
    tables = generator.tables
    rows = {
        name: [line.split("\t") for line in buffer.getvalue().splitlines()]
        for name, buffer in tables.buffers.items()
    }
    assert tables.counts["transactions"] == 1200
    transactions = {r[0]: r for r in rows["transactions"]}
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    per_tx: dict[str, int] = defaultdict(int)
    for tx, _, _, currency, amount in rows["postings"]:
        sums[(tx, currency)] += Decimal(amount)
        per_tx[tx] += 1
    assert all(total == 0 for total in sums.values())
    assert all(per_tx[tx] >= 2 for tx in transactions)
    allocated: dict[str, Decimal] = defaultdict(Decimal)
    for tx, _, kind, _, amount, _, _ in rows["allocations"]:
        assert transactions[tx][2] == kind
        allocated[tx] += Decimal(amount)
    kinds = {r[2] for r in transactions.values()}
    assert kinds == {"expense", "income", "transfer"}
    for tx, row in transactions.items():
        if row[2] == "transfer":
            assert tx not in allocated
        else:
            assert allocated[tx] == Decimal(row[5])
    assert any(r[14] == "t" for r in transactions.values()), "some expenses are split"
    dates = sorted(r[10] for r in transactions.values())
    assert dates[0] >= "2024-11-26"
    assert dates[-1] <= "2026-11-25"
    # ten accounts in two currencies, plus the hidden ones
    for user in users:
        assert len(user.accounts) == 10
        assert {a.currency for a in user.accounts} == {"USD", "EUR"}
        assert user.account_pairs()


def test_the_verification_query_passes_a_tiny_seed_and_catches_broken_books(
    stack: StackInfo,
) -> None:
    info = BenchStack(
        state=stack.state,
        ingress=stack.ingress,
        services=stack.services,
        database_url=stack.database_url,
        redis_url=stack.redis_url,
    )
    pg = Postgres(info.state, info.database_url)
    users = plan_users(2, 60, 0, 0)
    asyncio.run(register_all(list(info.instances("auth").values()), users, concurrency=2))
    ids = [u.user_id for u in users]
    categories = user_categories(pg, ids)
    generator = Generator(dt.date.today(), seed=11)
    for user in users:
        generator.user(user, categories[user.user_id])
    pg.run_script("".join(load_script(generator.tables, ids)))

    checks = verify(pg, ids)
    assert checks
    assert set(checks.values()) == {0}, checks
    # psql variables: the first user, one of their accounts, the second user
    names = {"first": ids[0], "account": users[0].accounts[0].id, "second": ids[1]}
    balances = pg.rows(
        "SELECT count(*), count(*) FILTER (WHERE balance <> 0) FROM accounts"
        " WHERE user_id = :'first'",
        names,
    )
    assert int(balances[0][0]) == 16  # ten accounts, six hidden ones
    assert int(balances[0][1]) > 0

    # one balance a cent off, one posting moved: both are caught
    pg.run_script(
        "UPDATE accounts SET balance = balance + 0.01 WHERE id = :'account';", variables=names
    )
    broken = verify(pg, ids)
    assert broken["balances_not_equal_to_postings"] == 1
    pg.run_script(
        "BEGIN; SET LOCAL session_replication_role = replica;"
        " UPDATE postings SET amount = amount + 1 WHERE id ="
        " (SELECT min(id) FROM postings WHERE user_id = :'second'); COMMIT;",
        variables=names,
    )
    broken = verify(pg, ids)
    assert broken["postings_not_summing_to_zero_per_currency"] == 1
    assert broken["balances_not_equal_to_postings"] == 2
    # put the books right again for the tests that follow
    pg.run_script(
        "UPDATE accounts SET balance = balance - 0.01 WHERE id = :'account';"
        " BEGIN; SET LOCAL session_replication_role = replica;"
        " UPDATE postings SET amount = amount - 1 WHERE id ="
        " (SELECT min(id) FROM postings WHERE user_id = :'second'); COMMIT;",
        variables=names,
    )
    assert set(verify(pg, ids).values()) == {0}


def test_the_bench_help_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    for option in (
        "--duration",
        "--connections",
        "--repeat",
        "--scenarios",
        "--skip-seed",
        "--soak",
        "--state-dir",
    ):
        assert option in done.stdout


def test_the_soak_reads_pool_timeouts_over_every_label_set() -> None:
    from bench.soak import counter_sum

    metrics = (
        "# HELP db_pool_timeouts_total Requests that waited too long\n"
        "# TYPE db_pool_timeouts_total counter\n"
        'db_pool_timeouts_total{pool="a"} 2.0\n'
        "db_pool_timeouts_total 1.0\n"
        "db_pool_timeouts_created 1.7e9\n"
        "other_db_pool_timeouts_total 5.0\n"
    )
    assert counter_sum(metrics, "db_pool_timeouts_total") == 3.0
    assert counter_sum("", "db_pool_timeouts_total") == 0.0
