"""The service images, checked without a Docker engine: each Dockerfile's shape,
and that each service runs on exactly what its image holds (its locked
requirements, servicekit and its own package)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from devstack.ingress import load_controller_settings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"auth": "auth", "ledger": "ledger", "db-gateway": "db_gateway"}
# ingress-nginx's upstream-keepalive-timeout: its default, and what settings.yaml sets
INGRESS_UPSTREAM_KEEPALIVE_SECONDS = max(
    60, load_controller_settings(ROOT / "deploy/ingress/settings.yaml").upstream_keepalive_s
)


def _dockerfile(service: str) -> str:
    return (ROOT / "services" / service / "Dockerfile").read_text()


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in (raw.strip() for raw in joined.splitlines())
        if line and not line.startswith("#")
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_the_dockerfile_is_multi_stage_slim_pinned_and_non_root(service: str) -> None:
    steps = _instructions(_dockerfile(service))
    froms = [arg for op, arg in steps if op == "FROM"]
    assert len(froms) >= 2, "multi-stage: dependencies are built apart from the image that runs"
    base = next(arg for op, arg in steps if op == "ARG" and arg.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm", base), base
    users = [arg for op, arg in steps if op == "USER"]
    assert users, "the image must not run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), users[-1]
    assert int(uid) >= 10000, users[-1]
    assert gid.isdigit(), users[-1]
    # the last stage installs nothing from the network: only the build stage does
    last_stage = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    assert not any(op == "RUN" and "pip install" in arg for op, arg in last_stage)
    assert any(op == "RUN" and "--require-hashes" in arg for op, arg in steps)


@pytest.mark.parametrize("service", SERVICES)
def test_the_start_command_is_exec_form_behind_the_ingress(service: str) -> None:
    steps = _instructions(_dockerfile(service))
    cmd = json.loads(next(arg for op, arg in steps if op == "CMD"))
    # uvicorn with a drain that loses no request (servicekit.serve)
    assert cmd[:3] == ["python", "-m", "servicekit.serve"]
    assert f"{SERVICES[service]}.main:app_from_env" in cmd
    assert "--proxy-headers" in cmd
    keep_alive = int(cmd[cmd.index("--timeout-keep-alive") + 1])
    assert keep_alive > INGRESS_UPSTREAM_KEEPALIVE_SECONDS
    assert "--timeout-graceful-shutdown" in cmd


@pytest.mark.parametrize("service", SERVICES)
def test_only_servicekit_and_the_service_itself_go_into_the_image(service: str) -> None:
    copied = [arg.split()[0] for op, arg in _instructions(_dockerfile(service)) if op == "COPY"]
    sources = [c for c in copied if not c.startswith("--from")]
    allowed = (
        f"requirements/{service}.txt",
        "libs/servicekit/servicekit",
        f"services/{service}/",
    )
    assert all(src.startswith(allowed) for src in sources), sources
    others = [s for s in SERVICES if s != service]
    ignored = (ROOT / ".dockerignore").read_text()
    assert ignored.splitlines()[ignored.splitlines().index("*") :][0] == "*"  # deny by default
    for other in others:
        assert not any(other in src for src in sources)


def _venv_with_only(service: str) -> Path:
    """A virtualenv holding exactly requirements/<service>.txt, as the image does
    (kept between runs under .devstack/, rebuilt when the lock changes)."""
    lock = ROOT / "requirements" / f"{service}.txt"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    venv = ROOT / ".devstack" / "image-venvs" / f"{service}-{digest}"
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        shutil.rmtree(venv, ignore_errors=True)
        uv = Path(sys.executable).with_name("uv")
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, venv], check=True)
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", python, "--require-hashes", "-r", lock],
            check=True,
        )
        (venv / ".complete").touch()
    return venv


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_command_serves_with_nothing_but_the_image_contents(service: str) -> None:
    """Runs the Dockerfile's own CMD in a virtualenv that holds only the
    service's locked requirements, with only servicekit and the service's
    package on the path, as the image lays them out: a missing dependency or an
    import of another service's code fails here, not in the cluster."""
    venv = _venv_with_only(service)
    steps = _instructions(_dockerfile(service))
    cmd = json.loads(next(arg for op, arg in steps if op == "CMD"))
    port = _free_port()
    cmd[cmd.index("--port") + 1] = str(port)
    cmd[cmd.index("--host") + 1] = "127.0.0.1"
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT / 'libs/servicekit'}:{ROOT / 'services' / service}",
        "ENVIRONMENT": "test",
        "JWT_SECRET": "x" * 40,
        "INTERNAL_TOKEN": "y" * 40,
        # nothing answers there: /healthz must not need it
        "DATABASE_URL": "postgresql+asyncpg://u:p@127.0.0.1:9/db",
        "DB_GATEWAY_URL": "http://127.0.0.1:9",
        "REDIS_URL": "redis://127.0.0.1:9/0",
    }
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.2)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert "ModuleNotFoundError" not in output, output
