"""`make bench BENCH_ARGS="--soak 60"`: load held, not speed.

For the given seconds, 256 connections (by default) read cached balances and,
at the same time, 256 more post transfers with unique Idempotency-Keys, all
through the ingress. What counts is what a client would see go wrong: any
non-2xx answer or socket error/timeout fails the soak, as does a timed-out
wait for a pooled connection in db-gateway, books that no longer balance, or
a service whose memory did not settle back after the load.
"""

from __future__ import annotations

import re
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.stack import StackInfo, log, service_rss
from bench.wrkrun import WrkResult, run_wrk

# Memory "flat afterwards": RSS after the soak (and a settle) against RSS after a
# short warm-up at the same concurrency, per process. Allocators keep some of
# what a peak needed, so a little growth is not a leak; a leak grows with the
# number of requests, which is in the tens of thousands here.
RSS_GROWTH_MAX_MIB = 20.0
POOL_COUNTERS = ("db_pool_timeouts_total",)


def counter_sum(metrics: str, name: str) -> float:
    """The sum over every label set of one counter in Prometheus text format."""
    pattern = rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.eE+-]+)$"
    return sum(float(value) for value in re.findall(pattern, metrics, re.M))


def counters(url: str, names: tuple[str, ...] = POOL_COUNTERS) -> dict[str, float]:
    """Sums of the named counters on a service's /metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:  # noqa: S310 (ours)
        text = response.read().decode()
    return {name: counter_sum(text, name) for name in names}


def _both(
    info: StackInfo, files: dict[str, Any], run_id: str, today: str, seconds: int, connections: int
) -> tuple[WrkResult, WrkResult]:
    common: dict[str, Any] = {
        "url": info.ingress,
        "connections": connections,
        "threads": 2,
        "duration": seconds,
        "timeout_s": 30,  # a mobile client's patience; nginx gives up on upstreams at 30 s
    }
    with ThreadPoolExecutor(2) as pool:
        reads = pool.submit(run_wrk, script="get.lua", args=[str(files["balance"])], **common)
        writes = pool.submit(
            run_wrk, script="transfer.lua", args=[str(files["transfer"]), run_id, today], **common
        )
        return reads.result()[0], writes.result()[0]


def _peak_rss(rss: dict[str, dict[str, float]]) -> dict[str, float]:
    return {name: max(per_pid.values(), default=0.0) for name, per_pid in rss.items()}


def soak(
    info: StackInfo,
    files: dict[str, Any],
    *,
    run_id: str,
    today: str,
    seconds: int,
    connections: int,
    settle: float,
) -> dict[str, Any]:
    gateway = info.services["db-gateway"]
    log(f"soak: warm-up, {connections} + {connections} connections for 10s")
    _both(info, files, run_id + "w", today, 10, connections)
    time.sleep(settle)
    before = service_rss(info)
    pool_before = counters(gateway)
    log(f"soak: {connections} connections reading balances + {connections} posting, {seconds}s")
    reads, writes = _both(info, files, run_id, today, seconds, connections)
    time.sleep(settle)
    after = service_rss(info)
    pool_after = counters(gateway)
    growth = {
        name: round(
            max(after[name].get(pid, 0.0) - rss for pid, rss in per_pid.items())
            if per_pid
            else 0.0,
            1,
        )
        for name, per_pid in before.items()
    }
    result = {
        "seconds": seconds,
        "connections_per_path": connections,
        "reads": reads.as_dict(),
        "writes": writes.as_dict(),
        "pool_timeouts": pool_after["db_pool_timeouts_total"]
        - pool_before["db_pool_timeouts_total"],
        "rss_mib_after_warmup": _peak_rss(before),
        "rss_mib_after_soak": _peak_rss(after),
        "rss_growth_mib": growth,
    }
    problems = []
    for name, run in (("reads", reads), ("writes", writes)):
        if run.error_count:
            problems.append(f"{name}: {run.error_count} errors {run.errors}")
        if not run.ok_requests:
            problems.append(f"{name}: no request succeeded")
    if result["pool_timeouts"]:
        problems.append(f"db-gateway: {result['pool_timeouts']} pool timeouts")
    grown = {name: mib for name, mib in growth.items() if mib > RSS_GROWTH_MAX_MIB}
    if grown:
        problems.append(f"memory grew by more than {RSS_GROWTH_MAX_MIB} MiB: {grown}")
    result["problems"] = problems
    for name, run in (("reads", reads), ("writes", writes)):
        log(
            f"soak {name:<6} {run.rps:8.1f} rps  p50 {run.latency_ms.get('p50', 0):8.2f} ms"
            f"  p99 {run.latency_ms.get('p99', 0):8.2f} ms  max {run.latency_ms.get('max', 0):8.2f}"
            f" ms  requests {run.requests}  errors {run.errors}"
        )
    log(
        f"soak memory MiB after warm-up {result['rss_mib_after_warmup']}, after soak "
        f"{result['rss_mib_after_soak']} (growth {growth}); pool timeouts {result['pool_timeouts']}"
    )
    return result
