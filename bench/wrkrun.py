"""Run wrk with one of the Lua scripts in bench/wrk/ and read its results.

Each script's done() prints one `WRK_JSON {...}` line with exact numbers
(microseconds); wrk's own text summary is parsed too, as a fallback and a
cross-check.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent / "wrk"
ERROR_KINDS = ("connect", "read", "write", "status", "timeout")


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    latency_ms: dict[str, float]  # p50 p75 p90 p99 p99_9 mean max (and min, stdev)
    errors: dict[str, int] = field(default_factory=dict)  # status = non-2xx/3xx answers

    @property
    def ok_requests(self) -> int:
        return self.requests - self.errors.get("status", 0)

    @property
    def rps(self) -> float:
        """Successful (2xx/3xx) responses per second."""
        return self.ok_requests / self.duration_s if self.duration_s else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "duration_s": round(self.duration_s, 3),
            "rps": round(self.rps, 1),
            "latency_ms": {k: round(v, 3) for k, v in self.latency_ms.items()},
            "errors": dict(self.errors),
        }


class WrkOutputError(ValueError):
    pass


_UNITS_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_SUFFIX = {"": 1.0, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if match is None:
        raise WrkOutputError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_S[match.group(2)] * 1000


def _count(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)([kKmMgG]?)", text.strip())
    if match is None:
        raise WrkOutputError(f"not a wrk count: {text!r}")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def _from_json(line: str) -> WrkResult:
    data = json.loads(line.split(" ", 1)[1])
    latency = {k: float(v) / 1000 for k, v in data["latency_us"].items()}
    return WrkResult(
        requests=int(data["requests"]),
        duration_s=int(data["duration_us"]) / 1e6,
        latency_ms=latency,
        errors={k: int(data["errors"].get(k, 0)) for k in ERROR_KINDS},
    )


def _from_text(text: str) -> WrkResult:
    total = re.search(r"(\d+) requests in ([\d.]+(?:us|ms|s|m|h))", text)
    if total is None:
        raise WrkOutputError("no 'N requests in T' line in wrk's output")
    latency: dict[str, float] = {}
    for percent, value in re.findall(r"^\s+(50|75|90|99|99\.9)%\s+(\S+)$", text, re.M):
        latency["p" + percent.replace(".", "_")] = _duration_ms(value)
    stats = re.search(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    if stats is not None:
        latency["mean"] = _duration_ms(stats.group(1))
        latency["stdev"] = _duration_ms(stats.group(2))
        latency["max"] = _duration_ms(stats.group(3))
    errors = dict.fromkeys(ERROR_KINDS, 0)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if socket is not None:
        for kind, value in zip(
            ("connect", "read", "write", "timeout"), socket.groups(), strict=True
        ):
            errors[kind] = int(value)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non_2xx is not None:
        errors["status"] = int(non_2xx.group(1))
    return WrkResult(
        requests=int(total.group(1)),
        duration_s=_duration_ms(total.group(2)) / 1000,
        latency_ms=latency,
        errors=errors,
    )


def parse_wrk_output(text: str) -> WrkResult:
    """The WRK_JSON line when there is one (exact), else wrk's text summary."""
    for line in text.splitlines():
        if line.startswith("WRK_JSON "):
            return _from_json(line)
    return _from_text(text)


def requests_per_second_line(text: str) -> float | None:
    """wrk's own `Requests/sec:` figure (all answers, errors included)."""
    match = re.search(r"Requests/sec:\s+([\d.]+[kKmMgG]?)", text)
    return _count(match.group(1)) if match else None


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed: `make bench` installs it (apt-get install wrk)")
    return found


def run_wrk(
    *,
    url: str,
    script: str,
    args: list[str],
    connections: int,
    threads: int,
    duration: int,
    targets: list[str] | None = None,
    timeout_s: int = 10,
) -> tuple[WrkResult, str]:
    """One wrk run; `targets` ("host:port") spreads its threads over several
    servers (thread i -> target i mod n). Returns the result and wrk's output."""
    threads = max(1, min(threads, connections))
    argv = [
        wrk_binary(),
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{duration}s",
        "--timeout",
        f"{timeout_s}s",
        "--latency",
        "-s",
        str(SCRIPTS / script),
        url,
        "--",
        *args,
    ]
    env = {**os.environ, "WRK_TARGETS": ",".join(targets or [])}
    done = subprocess.run(  # noqa: S603 (our own argv)
        argv, capture_output=True, text=True, env=env, timeout=duration + 120, check=False
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {output[-2000:]}")
    return parse_wrk_output(output), output
