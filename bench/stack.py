"""The bench's own stack: `python -m devstack run` as a child process, the
addresses it wrote to stack.json, and the processes behind each service."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PORT_BASE = 32000
STATE = ROOT / ".devstack" / "bench"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class StackInfo:
    state: Path
    ingress: str
    services: dict[str, str]  # part name (auth, auth-1, ...) -> base URL
    database_url: str
    redis_url: str

    @classmethod
    def load(cls, state: Path) -> StackInfo:
        described = json.loads((state / "stack.json").read_text())
        return cls(
            state=state,
            ingress=described["ingress"],
            services=dict(described["services"]),
            database_url=described["database_url"],
            redis_url=described["redis_url"],
        )

    def instances(self, service: str) -> dict[str, str]:
        """`auth` -> {"auth": url} or {"auth-1": url, "auth-2": url}."""
        return {
            name: url
            for name, url in self.services.items()
            if name == service or (name.startswith(service + "-") and name[-1].isdigit())
        }


class DevStack:
    """One `python -m devstack run`, started and stopped by us (and only it)."""

    def __init__(
        self,
        *,
        state: Path = STATE,
        port_base: int = PORT_BASE,
        fresh: bool,
        workers: int,
        replicas: str,
    ) -> None:
        self.state = state
        self.argv = [
            sys.executable,
            "-m",
            "devstack",
            "run",
            "--state-dir",
            str(state),
            "--port-base",
            str(port_base),
            "--ingress-port",
            str(port_base + 80),
            "--environment",
            "test",
            "--workers",
            str(workers),
            *(["--replicas", replicas] if replicas else []),
            *(["--fresh"] if fresh else []),
        ]
        self.proc: subprocess.Popen[str] | None = None
        self.output: deque[str] = deque(maxlen=200)
        self._drain: threading.Thread | None = None

    def start(self, timeout: float = 240) -> StackInfo:
        log("starting the stack: " + " ".join(self.argv[1:]))
        # Keep our environment's STACK_REPLICAS etc. from overriding the flags.
        env = {k: v for k, v in os.environ.items() if k != "STACK_REPLICAS"}
        self.proc = subprocess.Popen(  # noqa: S603 (our own argv)
            self.argv,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        for line in self.proc.stdout:
            self.output.append(line)
            if "stack ready" in line:
                break
            if time.monotonic() > deadline:
                break
        if self.proc.poll() is not None or not any("stack ready" in x for x in self.output):
            self.stop()
            raise RuntimeError("the stack did not start:\n" + "".join(self.output))
        # Keep reading its output, so a full pipe can never block it.
        self._drain = threading.Thread(target=self._read_rest, daemon=True)
        self._drain.start()
        return StackInfo.load(self.state)

    def _read_rest(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def stop(self) -> None:
        """SIGTERM to the devstack process we started: it stops all of its parts."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            log("stopping the stack")
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._drain is not None:
            self._drain.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


# ---------------------------------------------------------------- processes


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def pids_listening(port: int) -> list[int]:
    """Every process holding the listening socket of `port` (a uvicorn parent
    and its workers share one)."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    found: list[int] = []
    if not wanted:
        return found
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in wanted:
                    found.append(int(proc.name))
                    break
            except OSError:
                continue
    return sorted(found)


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def service_rss(info: StackInfo) -> dict[str, dict[str, float]]:
    """RSS in MiB of each process of each service instance, keyed by pid."""
    result: dict[str, dict[str, float]] = {}
    for name, url in sorted(info.services.items()):
        per_pid: dict[str, float] = {}
        for pid in pids_listening(port_of(url)):
            rss = rss_mib(pid)
            if rss is not None:
                per_pid[str(pid)] = round(rss, 1)
        result[name] = per_pid
    return result
