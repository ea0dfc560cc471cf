"""The real stack for integration and e2e tests: the same `python -m devstack run`
that `make run` uses, on its own ports and in its own fresh state directory, so
it never touches a developer's running stack or data."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import control

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class StackInfo:
    ingress: str
    services: dict[str, str]
    database_url: str
    redis_url: str
    logs: Path
    secrets: dict[str, str]
    state: Path

    def control(self, verb: control.Verb, part: str) -> None:
        """Stop, kill, start or restart one part of the running stack."""
        control.send(self.state, verb, part)


@contextmanager
def running_stack(
    state: Path, args: list[str], *, env: dict[str, str] | None = None, name: str = "local stack"
) -> Iterator[None]:
    """`python -m devstack run --fresh --environment test --state-dir STATE ARGS`,
    until it says it is ready; its output is read all along (a full pipe would
    block it); SIGTERM (that process only) at the end."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack",
            "run",
            "--fresh",
            "--environment",
            "test",
            "--state-dir",
            str(state),
            *args,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    reader = wait_until_ready(proc, name)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def wait_until_ready(
    proc: subprocess.Popen[str], name: str = "local stack", within: float = 180
) -> threading.Thread:
    """Read a starting `devstack run`'s output until it says "stack ready"; fail
    (stopping it) if it exits first or is not ready `within` seconds. The output
    is read on a thread that goes on until the process ends (a full pipe would
    block it), so the deadline holds even while the stack prints nothing."""
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    output: list[str] = []
    deadline = time.monotonic() + within
    while not output or "stack ready" not in output[-1]:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = f"(not ready within {within:.0f} s)\n"
        if line is None or line.startswith("(not ready"):
            proc.kill()
            proc.wait()
            pytest.fail(f"the {name} did not start:\n" + "".join(output[-40:]) + (line or ""))
        output.append(line)
    return reader


@pytest.fixture(scope="session")
def stack() -> Iterator[StackInfo]:
    base = int(os.environ.get("TEST_STACK_PORT_BASE", "18000"))
    state = ROOT / ".devstack" / f"test-{base}"  # one per port base: runs can overlap
    args = [
        "--port-base",
        str(base),
        "--ingress-port",
        str(base + 80),
        # two of each public service, as in the cluster: restarts and
        # crashes of one replica are part of the tests
        "--replicas",
        "auth=2,ledger=2",
        # slow clients are cut off after 3 s rather than the cluster's 10 s,
        # so tests/e2e/test_limits.py shows it quickly
        "--client-timeout",
        "3",
    ]
    with running_stack(state, args):
        described = json.loads((state / "stack.json").read_text())
        secrets = dict(
            line.split("=", 1)
            for line in (state / "secrets.env").read_text().splitlines()
            if "=" in line
        )
        info = StackInfo(
            ingress=described["ingress"],
            services=described["services"],
            database_url=described["database_url"],
            redis_url=described["redis_url"],
            logs=Path(described["logs"]),
            secrets=secrets,
            state=state,
        )
        yield info
    # once the stack has stopped: every process has written its last line
    _assert_no_secret_was_logged(info)


JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}")
# the password the e2e helpers register users with (tests/e2e/conftest.py)
SHARED_PASSWORD = "correct horse battery staple"


def _assert_no_secret_was_logged(stack: StackInfo) -> None:
    """Once every test has run: no log line of any part of the stack holds an
    access token, the password the tests use, or one of the stack's secrets."""
    sensitive = {SHARED_PASSWORD, *stack.secrets.values()}
    leaks = [
        f"{log.name}:{number}"
        for log in sorted(stack.logs.glob("*.log"))
        for number, line in enumerate(log.read_text(errors="replace").splitlines(), 1)
        if JWT.search(line) or any(secret in line for secret in sensitive)
    ]
    if leaks:
        pytest.fail(f"secrets in the logs of the test run: {leaks[:20]}")
