"""The one table `make bench` prints, and the same as JSON in bench/results/."""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import textwrap
from pathlib import Path
from typing import Any

from bench.scenarios import FILTERS, filter_file
from bench.stack import ROOT

RESULTS = Path(__file__).resolve().parent / "results"

# scenario key, label, the ceiling its rate is compared with, the one its p99 is
SCENARIOS: tuple[tuple[str, str, str, str | None], ...] = (
    ("balance", "(a) GET balance (cached)", "hello", "hello"),
    ("dashboard", "(b) GET dashboard", "hello", "hello"),
    ("page", "(c) GET 50 tx, dates+category", "hello", "twohop"),
    ("transfer", "(d) POST transfer", "pgbench", None),
    ("login", "(e) POST login", "argon2", None),
)
READS = frozenset({"balance", "dashboard", "page"})  # also compared with the two-hop ceiling
CEILINGS: dict[str, str] = {
    "hello": "ceiling: nginx+FastAPI /hello",
    "twohop": "ceiling: nginx+2 FastAPI hops, page",
    "pgbench": "ceiling: pgbench same write",
    "argon2": "ceiling: argon2id hash/s",
}
SUMMED = {"errors", "failures", "failed"}


# ---------------------------------------------------------------- medians


def median_of(rounds: list[Any]) -> Any:
    """The element-wise median of several results of the same shape (errors
    and failures are added up instead: any of them matters)."""
    first = rounds[0]
    if isinstance(first, dict):
        keys = [k for k in first if all(isinstance(r, dict) and k in r for r in rounds)]
        merged: dict[str, Any] = {}
        for key in keys:
            values = [r[key] for r in rounds]
            if key in SUMMED:
                merged[key] = _sum(values)
            else:
                merged[key] = median_of(values)
        return merged
    if isinstance(first, bool) or not isinstance(first, int | float):
        return first
    numbers = [v for v in rounds if isinstance(v, int | float) and not isinstance(v, bool)]
    if all(isinstance(v, int) for v in numbers):
        return statistics.median_low(numbers)  # counts stay whole numbers
    return round(statistics.median(numbers), 3)


def _sum(values: list[Any]) -> Any:
    if all(isinstance(v, dict) for v in values):
        keys = {k for v in values for k in v}
        return {k: _sum([v.get(k, 0) for v in values]) for k in sorted(keys)}
    if all(isinstance(v, int | float) for v in values):
        return sum(values)
    return values[0]


# ---------------------------------------------------------------- the rows


def _latency(entry: dict[str, Any], key: str) -> float | None:
    value = (entry.get("latency_ms") or {}).get(key)
    return float(value) if isinstance(value, int | float) else None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _errors(entry: dict[str, Any]) -> int:
    errors = entry.get("errors")
    if isinstance(errors, dict):
        return int(sum(v for v in errors.values() if isinstance(v, int)))
    return int(entry.get("failed", 0) or 0)


def table_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Scenario rows with their ceilings and ratios, then the ceilings themselves."""
    scenarios: dict[str, Any] = result.get("scenarios", {})
    ceilings: dict[str, Any] = result.get("ceilings", {})
    twohop_rps = (ceilings.get("twohop") or {}).get("rps")
    rows: list[dict[str, Any]] = []
    for key, label, ceiling, p99_ceiling in SCENARIOS:
        entry = scenarios.get(key)
        if entry is None:
            continue
        ceiling_rps = (ceilings.get(ceiling) or {}).get("rps")
        p99 = _latency(entry, "p99")
        against = _latency(ceilings.get(p99_ceiling or "", {}), "p99")
        rows.append(
            {
                "scenario": key,
                "label": label + (f" [{entry['via']}]" if entry.get("via") else ""),
                "rps": entry.get("rps"),
                "p50_ms": _latency(entry, "p50"),
                "p99_ms": p99,
                "ceiling": ceiling,
                "ceiling_rps": ceiling_rps,
                "ratio": _ratio(entry.get("rps"), ceiling_rps),
                "ratio_twohop": _ratio(entry.get("rps"), twohop_rps) if key in READS else None,
                "p99_ceiling": p99_ceiling,
                "p99_vs_ceiling": _ratio(p99, against) if p99_ceiling else None,
                "errors": _errors(entry),
            }
        )
    for key, label in CEILINGS.items():
        entry = ceilings.get(key)
        if entry is None:
            continue
        detail = entry.get("detail")
        rows.append(
            {
                "scenario": key,
                "label": label + (f" [{detail}]" if detail else ""),
                "rps": entry.get("rps"),
                "p50_ms": _latency(entry, "p50"),
                "p99_ms": _latency(entry, "p99"),
                "ceiling": None,
                "ceiling_rps": None,
                "ratio": None,
                "ratio_twohop": None,
                "p99_ceiling": None,
                "p99_vs_ceiling": None,
                "errors": _errors(entry),
            }
        )
    return rows


# ---------------------------------------------------------------- text


def _num(value: Any, *, digits: int = 1) -> str:
    if value is None or not isinstance(value, int | float):
        return "-"
    if value != value:  # NaN
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.{digits}f}"
    return f"{value:.{digits + 1}f}"


def _times(value: Any) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.2f}x"


COLUMNS = (
    ("scenario", 44, "<"),
    ("rps", 7, ">"),
    ("p50 ms", 7, ">"),
    ("p99 ms", 7, ">"),
    ("ceiling rps", 14, ">"),
    ("ratio", 6, ">"),
    ("/2-hop", 6, ">"),
    ("p99 vs", 13, ">"),
    ("errors", 6, ">"),
)
LABEL = COLUMNS[0][1]


def _line(cells: list[str]) -> str:
    parts = []
    for (_, width, align), cell in zip(COLUMNS, cells, strict=True):
        parts.append(f"{cell:{align}{width}}")
    return "| " + " | ".join(parts) + " |"


def render_table(report: dict[str, Any]) -> str:
    width = sum(w for _, w, _ in COLUMNS) + 3 * len(COLUMNS) + 1
    rule = "+" + "-" * (width - 2) + "+"

    def wide(text: str, indent: str = "") -> list[str]:
        lines = textwrap.wrap(text, width - 4, subsequent_indent=indent) or [""]
        return ["| " + f"{line:<{width - 4}}" + " |" for line in lines]

    result: dict[str, Any] = report["result"]
    out = [rule]
    machine = report.get("machine", {})
    title = (
        f"finledger bench {report.get('timestamp', '')}  git {report.get('git', {}).get('short')}"
        f"  {machine.get('cores')}x {machine.get('cpu_model')}, {machine.get('memory_gib')} GiB"
    )
    out += wide(title)
    out += wide(_settings_line(report), "  ")
    out.append(rule)
    out.append(_line([name for name, _, _ in COLUMNS]))
    out.append(rule)
    rows = report.get("rows") or table_rows(result)
    in_ceilings = False
    for row in rows:
        if row["ceiling"] is None and not in_ceilings:
            out.append(rule)
            in_ceilings = True
        out.append(
            _line(
                [
                    row["label"][:LABEL],
                    _num(row["rps"]),
                    _num(row["p50_ms"]),
                    _num(row["p99_ms"]),
                    (f"{row['ceiling']} " if row["ceiling"] else "") + _num(row["ceiling_rps"]),
                    _num(row["ratio"], digits=2) if row["ratio"] is not None else "-",
                    _num(row["ratio_twohop"], digits=2) if row["ratio_twohop"] else "-",
                    (
                        f"{_times(row['p99_vs_ceiling'])} {row['p99_ceiling']}"
                        if row["p99_ceiling"]
                        else "-"
                    ),
                    str(row["errors"]),
                ]
            )
        )
    out.append(rule)
    out += _history_lines(result, _line, wide)
    for key, label in (
        ("readyz_during_login", "auth /readyz during (e)"),
        ("readyz_idle", "auth /readyz idle"),
    ):
        entry = result.get(key) or report.get(key)
        if entry:
            out.append(
                _line(
                    [
                        f"{label} ({entry.get('probes')} probes)",
                        "",
                        _num(_latency(entry, "p50")),
                        _num(_latency(entry, "p99")),
                        "",
                        "",
                        "",
                        "",
                        str(entry.get("failures", 0)),
                    ]
                )
            )
    out.append(rule)
    out += wide(_rss_line(report.get("idle_rss_mib") or {}), "  ")
    for note in report.get("notes", []):
        out += wide("note: " + note, "      ")
    out.append(rule)
    return "\n".join(out)


def _history_lines(result: dict[str, Any], line: Any, wide: Any) -> list[str]:
    """The same pages for the user with 1k transactions and the one with 100k."""
    scenarios: dict[str, Any] = result.get("scenarios", {})
    out: list[str] = []
    for suffix in ("", "_low"):
        small, big = scenarios.get("history_1k" + suffix), scenarios.get("history_100k" + suffix)
        for label, entry in (("1k", small), ("100k", big)):
            if entry is None:
                continue
            conns = entry.get("connections")
            text = f"history: pages, user with {label} tx" + (
                f" ({int(conns)} conns)" if isinstance(conns, int | float) else ""
            )
            out.append(
                line(
                    [
                        text,
                        _num(entry.get("rps")),
                        _num(_latency(entry, "p50")),
                        _num(_latency(entry, "p99")),
                        "",
                        "",
                        "",
                        "",
                        str(_errors(entry)),
                    ]
                )
            )
        if small and big:
            p50 = _ratio(_latency(big, "p50"), _latency(small, "p50"))
            p99 = _ratio(_latency(big, "p99"), _latency(small, "p99"))
            out += wide(f"  100k vs 1k: p50 {_times(p50)}, p99 {_times(p99)} (1.00x = no slowdown)")
    for name in FILTERS:
        small = scenarios.get(filter_file(name, "1k"))
        big = scenarios.get(filter_file(name, "100k"))
        if small and big:
            p50 = _ratio(_latency(big, "p50"), _latency(small, "p50"))
            out += wide(
                f"  filter {FILTERS[name].split('=')[0]} ({name}), p50 1k vs 100k:"
                f" {_num(_latency(small, 'p50'))} vs {_num(_latency(big, 'p50'))} ms"
                f" ({_times(p50)})"
            )
    sql = result.get("history_sql_ms") or {}
    if "history_1k" in sql and "history_100k" in sql:
        parts = []
        for mode, meaning in (
            ("generic", "generic plan, as a warmed-up connection runs it"),
            ("custom", "custom plan, as the first 5 runs on a new connection get"),
        ):
            a = sql["history_1k"].get(mode, {}).get("mean_ms")
            b = sql["history_100k"].get(mode, {}).get("mean_ms")
            parts.append(f"{meaning}: {_num(a)} vs {_num(b)} ms ({_times(_ratio(b, a))})")
        out += wide(
            "  the page SQL alone, 1k vs 100k (EXPLAIN ANALYZE): " + "; ".join(parts), "    "
        )
    return out


def _settings_line(report: dict[str, Any]) -> str:
    options = report.get("options", {})
    stack = report.get("stack", {})
    return (
        f"{options.get('duration')}s per scenario after {options.get('warmup')}s warm-up,"
        f" {options.get('connections')} connections, {options.get('threads')} wrk thread(s),"
        f" repeat {options.get('repeat')} (medians); workers {stack.get('workers')},"
        f" replicas {stack.get('replicas') or 'auth=1,ledger=1'};"
        f" load avg at start {report.get('machine', {}).get('loadavg_start')}"
    )


def _rss_line(rss: dict[str, dict[str, float]]) -> str:
    parts = []
    for name, per_pid in rss.items():
        values = list(per_pid.values())
        if not values:
            parts.append(f"{name} ?")
        elif len(values) == 1:
            parts.append(f"{name} {values[0]:.0f}")
        else:
            parts.append(f"{name} {sum(values):.0f} ({len(values)} processes)")
    return "idle RSS MiB, before load: " + (", ".join(parts) or "-")


# ---------------------------------------------------------------- machine and files


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def git_commit() -> dict[str, Any]:
    """Read-only: HEAD and whether the work tree differs from it."""

    def git(*args: str) -> str:
        done = subprocess.run(  # noqa: S603
            ["git", "--no-optional-locks", *args],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    return {
        "commit": commit or None,
        "short": commit[:10] if commit else None,
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def utc_stamp(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")


def write_json(report: dict[str, Any], directory: Path = RESULTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, sort_keys=False, default=str) + "\n"
    path = directory / f"{report['timestamp']}.json"
    path.write_text(text)
    (directory / "latest.json").write_text(text)
    return path
