"""What this machine can do at best, measured in the same run:

- hello: nginx (configured by the same generator as the ingress: keep-alive
  upstream, the same proxy settings, access log) in front of a bare FastAPI
  `GET /hello` served as the services are (servicekit.serve with the stack's
  flags): the ceiling of the reads.
- pgbench: the double-entry write of `POST /services/transactions` as bare
  SQL on the same Postgres and seeded data: the ceiling of the writes.
- argon2id: raw hashes per second with the product's parameters, one process
  per core: the ceiling of logins.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bench.pg import Postgres, sql_literal
from bench.seed import Manifest
from bench.stack import ROOT, log
from db_gateway.config import Settings as DbGatewaySettings
from devstack.__main__ import make_runtime, runtime_dir, serve_argv
from devstack.ingress import Route, load_controller_settings, load_routes, render_nginx_conf
from servicekit.passwords import OWASP_MEMORY_KIB, OWASP_TIME_COST

# db-gateway's pool (DB_POOL_SIZE + DB_MAX_OVERFLOW, deploy/base/config.env and
# the defaults devstack runs with): at most this many writes are in Postgres at once.
DB_POOL_MAX = sum(
    DbGatewaySettings.model_fields[name].default for name in ("db_pool_size", "db_max_overflow")
)
ARGON2_PARALLELISM = 1


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait(check: Any, what: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready in {timeout:.0f}s")


@dataclass(frozen=True)
class App:
    """One app of a ceiling, served as the services are (servicekit.serve)."""

    name: str
    factory: str
    port: int
    env: dict[str, str]
    behind_nginx: bool  # reached by nginx on a Unix socket, as the replicas are


class ProxiedCeiling:
    """nginx, configured like the ingress, in front of apps served like the
    services: `path` is routed (with /services' settings) to the first app."""

    def __init__(
        self, state: Path, name: str, port: int, path: str, apps: list[App], workers: int
    ) -> None:
        self.dir = state / "ceilings" / name
        self.name = name
        self.port = port
        self.path = path
        self.apps = apps
        self.workers = workers
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def socket(self, app: App) -> Path:
        return runtime_dir(self.dir) / "sockets" / f"{app.name}.sock"

    def serve_argv(self, app: App) -> list[str]:
        uds = self.socket(app) if app.behind_nginx else None
        return serve_argv(app.factory, app.port, workers=self.workers, uds=uds)

    def nginx_conf(self, prefix: Path, run_as: str | None) -> str:
        settings = ROOT / "deploy/ingress/settings.yaml"
        routes = load_routes(ROOT / "deploy/ingress/ingress.yaml", settings)
        main = next(r for r in routes if r.path == "/services")
        route = Route(path=self.path, service=self.name, max_body=main.max_body, cors=main.cors)
        front = self.apps[0]
        return render_nginx_conf(
            routes=[route],
            upstreams={self.name: [f"unix:{self.socket(front)}"]},
            listen_port=self.port,
            prefix=prefix,
            run_as=run_as,
            temp=runtime_dir(self.dir),
            limits=load_controller_settings(settings),
        )

    def _spawn(
        self, argv: list[str], log_name: str, env: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        logs = self.dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / log_name).open("ab") as out:
            proc = subprocess.Popen(  # noqa: S603 (our own argv)
                argv,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        run_as = make_runtime(runtime_dir(self.dir))
        # the last app first: each one's peer is up before it
        for app in reversed(self.apps):
            env = {**os.environ, "PYTHONPATH": str(ROOT), **app.env}
            proc = self._spawn(self.serve_argv(app), f"{app.name}.log", env)
            url = f"http://127.0.0.1:{app.port}{self.path}"
            _wait(lambda url=url: _http_ok(url), f"{self.name} {app.name}", proc)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        prefix = self.dir / "nginx"
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "nginx.conf").write_text(self.nginx_conf(prefix, run_as))
        proxy = self._spawn(
            [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
            "nginx.log",
            dict(os.environ),
        )
        _wait(lambda: _http_ok(f"{self.url}{self.path}"), f"{self.name} nginx", proxy)

    def stop(self) -> None:
        """SIGTERM (then SIGKILL) to the process groups of the processes we started."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


def hello_ceiling(state: Path, port_base: int, workers: int) -> ProxiedCeiling:
    """The reads' ceiling: nginx -> the smallest FastAPI app, `GET /hello`
    (app on base+90, nginx on base+91)."""
    app = App("hello", "bench.hello_app:app_from_env", port_base + 90, {}, behind_nginx=True)
    return ProxiedCeiling(state, "hello", port_base + 91, "/hello", [app], workers)


def twohop_ceiling(state: Path, port_base: int, workers: int, page_bytes: int) -> ProxiedCeiling:
    """The shape's ceiling: nginx -> a front app -> one keep-alive httpx client
    -> a back app answering a fixed 50-item page of `page_bytes` bytes (front
    on base+92, back on base+93, nginx on base+94); see bench.twohop_app."""
    back = App(
        "back",
        "bench.twohop_app:back_from_env",
        port_base + 93,
        {"TWOHOP_PAGE_BYTES": str(page_bytes)},
        behind_nginx=False,
    )
    front = App(
        "front",
        "bench.twohop_app:front_from_env",
        port_base + 92,
        {"TWOHOP_BACK_URL": f"http://127.0.0.1:{back.port}"},
        behind_nginx=True,
    )
    return ProxiedCeiling(state, "twohop", port_base + 94, "/page", [front, back], workers)


# ---------------------------------------------------------------- pgbench

# What db-gateway's post_transaction does for a same-currency transfer, as
# bare SQL: the user's ledger lock (and version), the two accounts locked in id
# order, the transaction and its two postings, both balances and versions
# moved, commit (when the deferred double-entry trigger runs).
PGBENCH_SCRIPT = """\
\\set n random(1, :npairs)
\\set cents random(1, 25000)
BEGIN;
SELECT user_id, a, b, currency FROM bench.pairs WHERE n = :n \\gset
UPDATE users SET ledger_version = ledger_version + 1 WHERE id = :user_id RETURNING ledger_version \\gset
SELECT id FROM accounts WHERE user_id = :user_id AND system_role IS NULL AND id IN (:a, :b) ORDER BY id FOR UPDATE;
INSERT INTO transactions (id, user_id, type, account_id, to_account_id, amount, currency, to_amount, to_currency, date, description) VALUES (gen_random_uuid(), :user_id, 'transfer', :a, :b, :cents::numeric / 100, :currency, :cents::numeric / 100, :currency, current_date, 'pgbench transfer') RETURNING id AS tx \\gset
INSERT INTO postings (transaction_id, user_id, account_id, currency, amount) VALUES (:tx, :user_id, :a, :currency, -(:cents::numeric / 100)), (:tx, :user_id, :b, :currency, :cents::numeric / 100);
UPDATE accounts SET balance = balance + d.delta, version = version + 1, updated_at = now() FROM (VALUES (:a::uuid, -(:cents::numeric / 100)), (:b::uuid, :cents::numeric / 100)) AS d (id, delta) WHERE accounts.id = d.id;
COMMIT;
"""  # noqa: E501


@dataclass(frozen=True)
class PgbenchSummary:
    tps: float
    transactions: int
    failed: int
    latency_avg_ms: float | None


def parse_pgbench_output(text: str) -> PgbenchSummary:
    tps = re.search(r"^tps = ([\d.]+)", text, re.M)
    if tps is None:
        raise ValueError("no 'tps = ' line in pgbench's output")
    processed = re.search(r"number of transactions actually processed: (\d+)", text)
    failed = re.search(r"number of failed transactions: (\d+)", text)
    latency = re.search(r"latency average = ([\d.]+) ms", text)
    return PgbenchSummary(
        tps=float(tps.group(1)),
        transactions=int(processed.group(1)) if processed else 0,
        failed=int(failed.group(1)) if failed else 0,
        latency_avg_ms=float(latency.group(1)) if latency else None,
    )


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of unsorted values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p * len(ordered) / 100)))
    return ordered[rank - 1]


def pgbench_latencies_ms(log_dir: Path) -> list[float]:
    """Per-transaction latencies from pgbench's -l logs (third field, in µs)."""
    found: list[float] = []
    for path in log_dir.glob("pgbench_log*"):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                found.append(int(fields[2]) / 1000)
    return found


def prepare_pairs(pg: Postgres, manifest: Manifest) -> int:
    """bench.pairs: (user, two accounts of one currency) to write between."""
    rows = [
        (user.user_id, a, b, next(x.currency for x in user.accounts if x.id == a))
        for user in manifest.by_role("user")
        for a, b in user.account_pairs()
    ]
    values = ",\n".join(
        f"({n}, {sql_literal(u)}, {sql_literal(a)}, {sql_literal(b)}, {sql_literal(c)})"
        for n, (u, a, b, c) in enumerate(rows, 1)
    )
    pg.run_script(
        "CREATE SCHEMA IF NOT EXISTS bench;\n"
        "DROP TABLE IF EXISTS bench.pairs;\n"
        "CREATE TABLE bench.pairs (n int PRIMARY KEY, user_id uuid NOT NULL, a uuid NOT NULL,"
        " b uuid NOT NULL, currency char(3) NOT NULL);\n"
        f"INSERT INTO bench.pairs VALUES\n{values};\n"
        "ANALYZE bench.pairs;\n"
    )
    return len(rows)


def run_pgbench(pg: Postgres, pairs: int, *, clients: int, duration: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="finledger-bench-pgbench-"))
    try:
        work.chmod(0o777)  # the Postgres OS user writes its logs here
        script = work / "transfer.sql"
        script.write_text(PGBENCH_SCRIPT)
        script.chmod(0o644)
        argv = pg.argv(
            "pgbench",
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(min(2, clients)),
            "-T",
            str(duration),
            "-D",
            f"npairs={pairs}",
            "-f",
            str(script),
            "-l",
            f"--log-prefix={work / 'pgbench_log'}",
            pg.database,
        )
        done = subprocess.run(  # noqa: S603 (our own argv)
            argv, capture_output=True, text=True, timeout=duration + 120, check=False
        )
        output = done.stdout + done.stderr
        if done.returncode != 0:
            raise RuntimeError(f"pgbench failed ({done.returncode}): {output[-3000:]}")
        summary = parse_pgbench_output(output)
        latencies = pgbench_latencies_ms(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "rps": summary.tps,
        "requests": summary.transactions,
        "failed": summary.failed,
        "clients": clients,
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 3),
            "p99": round(percentile(latencies, 99), 3),
            "mean": summary.latency_avg_ms,
        },
    }


# ---------------------------------------------------------------- argon2id


def _hash_for(seconds: float) -> tuple[int, float]:
    from argon2 import PasswordHasher

    hasher = PasswordHasher(
        time_cost=OWASP_TIME_COST, memory_cost=OWASP_MEMORY_KIB, parallelism=ARGON2_PARALLELISM
    )
    hasher.hash("warm up")
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        hasher.hash("correct horse battery staple")
        count += 1
    return count, time.perf_counter() - started


def argon2_ceiling(seconds: float, processes: int | None = None) -> dict[str, Any]:
    processes = processes or os.cpu_count() or 1
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_hash_for, [seconds] * processes))
    rate = sum(count / elapsed for count, elapsed in results)
    per_hash = [elapsed / count * 1000 for count, elapsed in results if count]
    log(f"argon2id: {rate:.1f} hashes/s over {processes} processes")
    return {
        "rps": rate,
        "processes": processes,
        "params": {
            "memory_kib": OWASP_MEMORY_KIB,
            "time_cost": OWASP_TIME_COST,
            "parallelism": ARGON2_PARALLELISM,
        },
        "latency_ms": {"mean": round(sum(per_hash) / len(per_hash), 3) if per_hash else None},
    }
