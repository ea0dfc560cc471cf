"""`make run` semantics: Ctrl-C stops everything it started; a second run keeps the data."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx

from tests.conftest import wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
# its own ports and state, apart from the session's test stack (which can run at once)
BASE = int(os.environ.get("TEST_STACK_PORT_BASE", "18000")) + 1000
INGRESS = BASE + 80
PORTS = [INGRESS, BASE + 1, BASE + 2, BASE + 3, BASE + 32, BASE + 79]


def _start(state: Path) -> tuple[subprocess.Popen[str], threading.Thread]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack",
            "run",
            "--state-dir",
            str(state),
            "--port-base",
            str(BASE),
            "--ingress-port",
            str(INGRESS),
            "--environment",
            "test",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, wait_until_ready(proc, "lifecycle stack")


def _stop_with_ctrl_c(started: tuple[subprocess.Popen[str], threading.Thread]) -> None:
    proc, reader = started
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    reader.join(timeout=10)
    assert proc.stdout is not None
    proc.stdout.close()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_ctrl_c_stops_everything_and_a_second_run_keeps_the_data() -> None:
    # under the repository like the real one: the Postgres OS user must reach it
    state = ROOT / ".devstack" / f"lifecycle-test-{BASE}"
    shutil.rmtree(state, ignore_errors=True)
    email = f"keep-{uuid.uuid4().hex[:8]}@example.com"
    credentials = {"email": email, "password": "correct horse battery staple"}

    first = _start(state)
    try:
        response = httpx.post(f"http://127.0.0.1:{INGRESS}/auth/register", json=credentials)
        assert response.status_code == 201, response.text
    finally:
        _stop_with_ctrl_c(first)
    assert [p for p in PORTS if _listening(p)] == []

    second = _start(state)
    try:
        login = httpx.post(f"http://127.0.0.1:{INGRESS}/auth/login", json=credentials)
        assert login.status_code == 200, login.text
    finally:
        _stop_with_ctrl_c(second)
    assert [p for p in PORTS if _listening(p)] == []
