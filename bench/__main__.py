"""`python -m bench` (`make bench`): start a stack, seed it, measure, print one table.

Every scenario goes through the ingress with wrk, after a warm-up, except
logins: the ingress limits them to 20 r/s per client address, so wrk's
threads go straight to auth's replicas (each thread to one replica).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import report as reporting
from bench.ceilings import (
    DB_POOL_MAX,
    ProxiedCeiling,
    argon2_ceiling,
    hello_ceiling,
    prepare_pairs,
    run_pgbench,
    twohop_ceiling,
)
from bench.history import page_sql_ms
from bench.pg import Postgres
from bench.probe import Probe, probe_for
from bench.report import RESULTS
from bench.scenarios import (
    FILTERS,
    check_gets,
    check_login,
    check_transfer,
    filter_file,
    prime_gets,
    write_files,
)
from bench.seed import MANIFEST, Manifest, SeedFailed, login_all, seed, verify
from bench.soak import soak
from bench.stack import PORT_BASE, STATE, DevStack, StackInfo, log, port_of, service_rss
from bench.twohop_app import ITEMS
from bench.wrkrun import WrkResult, run_wrk, wrk_binary

SCENARIOS = ("balance", "dashboard", "page", "history", "transfer", "login")
# X-Forwarded-For addresses the login requests come from (see bench/wrk/login.lua)
LOGIN_ADDRESSES = 250


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--duration", type=int, default=15, help="seconds per scenario")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per scenario")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument(
        "--threads", type=int, default=1, help="wrk threads (per auth replica for logins)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="measure N times and report medians")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)} (ceilings follow)",
    )
    parser.add_argument(
        "--skip-seed", action="store_true", help="reuse the seeded state of --state-dir"
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per service")
    parser.add_argument(
        "--replicas", default="", help="e.g. auth=2,ledger=2 (passed to devstack run)"
    )
    parser.add_argument(
        "--settle", type=float, default=2, help="seconds of quiet between scenarios"
    )
    parser.add_argument(
        "--history-connections",
        type=int,
        default=2,
        help="connections for the 1k-vs-100k page comparison (latency, not queueing)",
    )
    parser.add_argument(
        "--soak",
        type=int,
        default=0,
        metavar="SECONDS",
        help="instead of the table: hold balance reads and transfers at --soak-connections"
        " each for SECONDS; fails on any error, timeout, pool timeout or memory growth",
    )
    parser.add_argument("--soak-connections", type=int, default=256, help="per path")
    parser.add_argument("--port-base", type=int, default=PORT_BASE)
    parser.add_argument(
        "--state-dir", type=Path, default=STATE, help="the bench stack's state (and seed)"
    )
    parser.add_argument("--users", type=int, default=100, help="seeded users")
    parser.add_argument(
        "--per-user", type=int, default=1000, help="transactions of each seeded user"
    )
    parser.add_argument(
        "--history",
        default="1000,100000",
        help="transactions of the two extra users compared for history growth (small,big)",
    )
    args = parser.parse_args(argv)
    try:
        args.small, args.big = (int(x) for x in args.history.split(","))
    except ValueError:
        parser.error("--history: two numbers, e.g. 1000,100000")
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown or not chosen:
        parser.error(f"--scenarios: unknown {unknown}; choose from {','.join(SCENARIOS)}")
    args.scenarios = [s for s in SCENARIOS if s in chosen]
    for name in (
        "duration",
        "connections",
        "threads",
        "repeat",
        "workers",
        "users",
        "history_connections",
        "soak_connections",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    return args


@dataclass
class Context:
    args: argparse.Namespace
    info: StackInfo
    manifest: Manifest
    pg: Postgres
    hello: ProxiedCeiling | None
    pairs: int
    today: dt.date
    # started once the real page's size is known (the first round's check)
    twohop: ProxiedCeiling | None = None

    @property
    def auth_urls(self) -> list[str]:
        return list(self.info.instances("auth").values())

    def wants(self, scenario: str) -> bool:
        return scenario in self.args.scenarios


def start_twohop(ctx: Context, page_bytes: int) -> ProxiedCeiling:
    if ctx.twohop is None:
        ctx.twohop = twohop_ceiling(
            ctx.info.state, ctx.args.port_base, ctx.args.workers, page_bytes
        )
        ctx.twohop.start()
    return ctx.twohop


def timed(
    ctx: Context,
    *,
    name: str,
    url: str,
    script: str,
    args: list[str],
    duration: int | None = None,
    warmup: int | None = None,
    targets: list[str] | None = None,
    threads: int | None = None,
    connections: int | None = None,
) -> WrkResult:
    """A warm-up run (discarded), then the measured one."""
    duration = duration or ctx.args.duration
    warmup = ctx.args.warmup if warmup is None else warmup
    threads = threads or ctx.args.threads
    # the servers finish what the previous run left queued before this one starts
    time.sleep(ctx.args.settle)
    common: dict[str, Any] = {
        "url": url,
        "script": script,
        "connections": connections or ctx.args.connections,
        "threads": threads,
        "targets": targets,
    }
    if warmup:
        run_wrk(args=[_fresh(a) for a in args], duration=warmup, **common)
    result, _ = run_wrk(args=[_fresh(a) for a in args], duration=duration, **common)
    log(
        f"{name:<14} {result.rps:9.1f} rps  p50 {result.latency_ms.get('p50', 0):7.2f} ms"
        f"  p99 {result.latency_ms.get('p99', 0):8.2f} ms  errors {result.errors}"
    )
    return result


def _fresh(arg: str) -> str:
    """Run ids (for Idempotency-Keys) are unique per wrk run."""
    return f"bench-{secrets.token_hex(4)}" if arg == "{run-id}" else arg


def fresh_files(ctx: Context) -> dict[str, Path]:
    """The wrk input files, with fresh access tokens for every seeded user."""
    users = ctx.manifest.users
    tokens = asyncio.run(login_all(ctx.auth_urls, users, concurrency=2 * len(ctx.auth_urls)))
    return write_files(
        ctx.info.state / "wrk",
        ctx.manifest,
        dict(zip([u.email for u in users], tokens, strict=True)),
        ctx.today,
    )


def measure_round(ctx: Context, number: int) -> dict[str, Any]:
    args = ctx.args
    log(f"round {number}: logging the seeded users in for fresh access tokens")
    files = fresh_files(ctx)
    ingress = ctx.info.ingress
    scenarios: dict[str, Any] = {}
    ceilings: dict[str, Any] = {}
    extra: dict[str, Any] = {}

    if ctx.hello is not None:
        check_gets(ctx.hello.url, files["hello"])
        hello = timed(
            ctx, name="hello", url=ctx.hello.url, script="get.lua", args=[str(files["hello"])]
        )
        workers = f"{args.workers} worker{'s' if args.workers > 1 else ''}"
        ceilings["hello"] = {**hello.as_dict(), "detail": workers}

    for name in ("balance", "dashboard", "page"):
        if not ctx.wants(name):
            continue
        checked = check_gets(ingress, files[name])
        if name in ("balance", "dashboard"):
            # served from Redis once read: every entry is read once first
            checked["primed"] = prime_gets(ingress, files[name])
        result = timed(ctx, name=name, url=ingress, script="get.lua", args=[str(files[name])])
        scenarios[name] = {**result.as_dict(), "checked": checked}
        if name == "page":
            twohop = start_twohop(ctx, int(checked["bytes_per_page"]))
            check_gets(twohop.url, files["twohop"])
            result = timed(
                ctx, name="two-hop", url=twohop.url, script="get.lua", args=[str(files["twohop"])]
            )
            pages = f"{ITEMS} items, {checked['bytes_per_page']} B"
            ceilings["twohop"] = {**result.as_dict(), "detail": pages}

    if ctx.wants("history") and "history_1k" in files and "history_100k" in files:
        # the same pages for the user with 1k transactions and the one with 100k,
        # at full concurrency and at a low one (latency without the queueing)
        short = max(5, args.duration // 2)
        levels = (("", args.connections), ("_low", args.history_connections))
        for suffix, connections in levels:
            for name in ("history_1k", "history_100k"):
                checked = check_gets(ingress, files[name])
                result = timed(
                    ctx,
                    name=name + suffix,
                    url=ingress,
                    script="get.lua",
                    args=[str(files[name])],
                    duration=short,
                    warmup=min(args.warmup, 2),
                    connections=connections,
                )
                scenarios[name + suffix] = {
                    **result.as_dict(),
                    "connections": connections,
                    "checked": checked,
                }
        # each filter of the list, at the low concurrency: is it flat with history?
        for filter_name in FILTERS:
            for history in ("1k", "100k"):
                name = filter_file(filter_name, history)
                checked = check_gets(ingress, files[name])
                result = timed(
                    ctx,
                    name=name,
                    url=ingress,
                    script="get.lua",
                    args=[str(files[name])],
                    duration=short,
                    warmup=min(args.warmup, 2),
                    connections=args.history_connections,
                )
                scenarios[name] = {
                    **result.as_dict(),
                    "connections": args.history_connections,
                    "checked": checked,
                }
        for name, role in (("history_1k", "small"), ("history_100k", "big")):
            sql = page_sql_ms(ctx.pg, ctx.manifest.by_role(role)[0], ctx.today)
            log(f"{name} page SQL alone: {sql}")
            extra.setdefault("history_sql_ms", {})[name] = sql

    if ctx.wants("transfer"):
        check_transfer(ingress, files["transfer"], ctx.today)
        result = timed(
            ctx,
            name="transfer",
            url=ingress,
            script="transfer.lua",
            args=[str(files["transfer"]), "{run-id}", ctx.today.isoformat()],
        )
        scenarios["transfer"] = result.as_dict()
        clients = min(args.connections, DB_POOL_MAX)
        pgbench = run_pgbench(ctx.pg, ctx.pairs, clients=clients, duration=args.duration)
        log(
            f"{'pgbench':<14} {pgbench['rps']:9.1f} tps  p50 {pgbench['latency_ms']['p50']:7.2f} ms"
            f"  p99 {pgbench['latency_ms']['p99']:8.2f} ms  failed {pgbench['failed']}"
        )
        ceilings["pgbench"] = {**pgbench, "detail": f"{clients} clients"}

    if ctx.wants("login"):
        # the ceiling first, on quiet cores: auth is still hashing what the
        # login run's connections left queued for a while after it ends
        time.sleep(args.settle)
        argon2 = argon2_ceiling(min(args.duration, 10))
        single = argon2_ceiling(3, processes=1)
        ceilings["argon2"] = {
            **argon2,
            "one_process_rps": round(single["rps"], 1),
            "detail": f"{argon2['processes']} procs",
        }
        targets = [f"127.0.0.1:{port_of(url)}" for url in ctx.auth_urls]
        check_login(ctx.auth_urls[0], files["login"])
        with Probe(ctx.auth_urls) as probe:
            result = timed(
                ctx,
                name="login",
                url=ctx.auth_urls[0],
                script="login.lua",
                args=[str(files["login"]), str(LOGIN_ADDRESSES)],
                targets=targets,
                threads=args.threads * len(targets),
            )
        scenarios["login"] = {
            **result.as_dict(),
            "via": f"auth x{len(targets)} direct",
            "targets": targets,
            "client_addresses": LOGIN_ADDRESSES,
        }
        extra["readyz_during_login"] = probe.summary()
        log(f"readyz during logins: {extra['readyz_during_login']}")

    return {"scenarios": scenarios, "ceilings": ceilings, **extra}


def notes(args: argparse.Namespace, result: dict[str, Any], ctx: Context) -> list[str]:
    found = [
        "wrk, nginx, the services, Postgres and Redis share these cores: every figure"
        " includes the load generator's own CPU",
    ]
    if ctx.wants("login"):
        found.append(
            "(e) bypasses the ingress (it allows 20 logins/s per address, burst 100): wrk"
            " threads go straight to auth's replicas, with X-Forwarded-For spread over"
            f" {LOGIN_ADDRESSES} client addresses as the ingress would send for distinct"
            " clients (auth counts attempts in flight per address, 30 max); ratio ="
            " logins/s per raw argon2id hash/s"
        )
    if ctx.wants("transfer"):
        found.append(
            "(d) also claims the Idempotency-Key, checks categories, reads the row back and"
            " writes the cache: pgbench does only the double-entry write"
        )
    for name, entry in result.get("scenarios", {}).items():
        errors = sum(entry.get("errors", {}).values())
        if errors:
            found.append(f"{name}: {errors} errors {entry['errors']} (non-2xx or socket)")
    return found


def run_soak(ctx: Context, host: dict[str, Any], started: float) -> int:
    """--soak: the load-held run; its own JSON file (latest.json keeps the table)."""
    files = fresh_files(ctx)
    check_gets(ctx.info.ingress, files["balance"])
    prime_gets(ctx.info.ingress, files["balance"])
    check_transfer(ctx.info.ingress, files["transfer"], ctx.today)
    result = soak(
        ctx.info,
        files,
        run_id=_fresh("{run-id}"),
        today=ctx.today.isoformat(),
        seconds=ctx.args.soak,
        connections=ctx.args.soak_connections,
        settle=max(ctx.args.settle, 5),
    )
    after = verify(ctx.pg)
    if any(after.values()):
        result["problems"].append(f"the books do not balance after the soak: {after}")
    report = {
        "timestamp": reporting.utc_stamp(),
        "git": reporting.git_commit(),
        "machine": host | {"loadavg_end": reporting.machine()["loadavg_start"]},
        "stack": {"workers": ctx.args.workers, "replicas": ctx.args.replicas},
        "soak": result,
        "verification_after_run": after,
        "runtime_s": round(time.monotonic() - started, 1),
    }
    path = RESULTS / "soak" / f"{report['timestamp']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    verdict = "FAILED: " + "; ".join(result["problems"]) if result["problems"] else "held"
    log(f"soak {verdict}; wrote {path}")
    return 1 if result["problems"] else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk_binary()
    started = time.monotonic()
    host = reporting.machine()  # load average before anything of ours runs
    state: Path = args.state_dir.resolve()
    if args.skip_seed and not (state / MANIFEST).exists():
        print(f"--skip-seed: no seeded state in {state}; run without it first", file=sys.stderr)
        return 2
    stack = DevStack(
        state=state,
        port_base=args.port_base,
        fresh=not args.skip_seed,
        workers=args.workers,
        replicas=args.replicas,
    )
    hello: ProxiedCeiling | None = None
    ctx: Context | None = None
    try:
        info = stack.start()
        idle_rss = service_rss(info)
        auth_urls = list(info.instances("auth").values())
        readyz_idle = probe_for(auth_urls, 3)
        pg = Postgres(info.state, info.database_url)
        if args.skip_seed:
            manifest = Manifest.load(state)
            log(f"reusing the seed of {manifest.seeded_on}: {manifest.counts}")
        else:
            manifest = seed(
                info, users=args.users, per_user=args.per_user, small=args.small, big=args.big
            )
            manifest.save(state)
        today = dt.datetime.now(dt.UTC).date()
        wants = set(args.scenarios)
        if args.soak:
            return run_soak(Context(args, info, manifest, pg, None, 0, today), host, started)
        pairs = prepare_pairs(pg, manifest) if "transfer" in wants else 0
        if wants & {"balance", "dashboard", "page"}:
            hello = hello_ceiling(state, args.port_base, args.workers)
            hello.start()
        ctx = Context(args, info, manifest, pg, hello, pairs, today)
        rounds = [measure_round(ctx, i + 1) for i in range(args.repeat)]
        result = reporting.median_of(rounds)
        log("checking the books after the run (every write of the run included)")
        after = verify(pg)
        if any(after.values()):
            raise SeedFailed(f"the books do not balance after the run: {after}")
        report: dict[str, Any] = {
            "timestamp": reporting.utc_stamp(),
            "git": reporting.git_commit(),
            "machine": host | {"loadavg_end": reporting.machine()["loadavg_start"]},
            "options": {
                k: getattr(args, k)
                for k in (
                    "duration",
                    "warmup",
                    "connections",
                    "threads",
                    "repeat",
                    "scenarios",
                    "settle",
                    "history_connections",
                )
            }
            | {"skip_seed": args.skip_seed},
            "stack": {
                "workers": args.workers,
                "replicas": args.replicas,
                "port_base": args.port_base,
                "ingress": info.ingress,
                "services": info.services,
            },
            "seed": {
                "seeded_on": manifest.seeded_on,
                "counts": manifest.counts,
                "seconds": manifest.seconds,
                "verification": manifest.verification,
                "users": {role: len(manifest.by_role(role)) for role in ("user", "small", "big")},
            },
            "verification_after_run": after,
            "idle_rss_mib": idle_rss,
            "rss_after_run_mib": service_rss(info),
            "readyz_idle": readyz_idle,
            "result": result,
            "rounds": rounds,
            "notes": notes(args, result, ctx),
            "runtime_s": round(time.monotonic() - started, 1),
        }
        report["rows"] = reporting.table_rows(result)
        print(reporting.render_table(report), flush=True)
        path = reporting.write_json(report)
        log(f"wrote {path} and {path.parent / 'latest.json'} ({report['runtime_s']}s in all)")
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        for ceiling in (hello, ctx.twohop if ctx else None):
            if ceiling is not None:
                ceiling.stop()
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
