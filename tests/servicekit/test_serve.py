"""servicekit.serve's drain, against a real server process: SIGTERM refuses new
connections at once, answers every request still arriving on an open
connection (with `Connection: close`), never closes a connection its peer may
be sending on, and exits once its peers are gone."""

from __future__ import annotations

import asyncio
import errno
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI, Request

from devstack.ingress import load_controller_settings
from servicekit.http import KEEPALIVE_EXPIRY_SECONDS
from servicekit.serve import parse_args
from tests.waiting import EVENT_WITHIN, wait_until

ROOT = Path(__file__).resolve().parents[2]
# how a drained server ends: uvicorn raises the SIGTERM it caught again once it
# is done; the supervisor of several workers exits 0 (never 1 or 3: a failure)
CLEAN_EXIT = {0, -signal.SIGTERM}


def drain_app() -> FastAPI:
    """The factory the tests serve: `/hello`, and `/hold?name=` which answers
    only once the file `name` exists in HOLD_DIR (so a request is in flight for
    exactly as long as the test wants)."""
    app = FastAPI()
    hold_dir = Path(os.environ["HOLD_DIR"])

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    @app.get("/client")
    async def client(request: Request) -> dict[str, str]:
        return {"host": request.client.host if request.client else ""}

    @app.get("/hold")
    async def hold(name: str) -> dict[str, str]:
        (hold_dir / f"{name}.started").touch()
        while not (hold_dir / name).exists():  # noqa: ASYNC110 (set by another process)
            await asyncio.sleep(0.01)
        return {"held": name}

    return app


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=EVENT_WITHIN)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(EVENT_WITHIN)
        try:
            sock.connect(str(self.socket_path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    uds: Path
    hold_dir: Path

    def get(self, connection: http.client.HTTPConnection, path: str) -> http.client.HTTPResponse:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _refused(connect: Callable[[], object]) -> bool:
    try:
        connect()
    except ConnectionRefusedError:
        return True
    except OSError as exc:
        return exc.errno == errno.ECONNREFUSED
    return False


def _connect_unix(path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))


def _connect_tcp(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=EVENT_WITHIN):
        pass


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # a Unix socket's path has at most 107 bytes: pytest's tmp_path can be longer
    path = Path(tempfile.mkdtemp(prefix="serve-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _serve(
    directory: Path,
    *,
    drain_seconds: int,
    idle_seconds: float = 60,
    workers: int = 1,
    trusted: str = "127.0.0.1",
) -> Served:
    port = _free_port()
    uds = directory / "app.sock"
    argv = [sys.executable, "-m", "servicekit.serve", "--factory"]
    argv += ["tests.servicekit.test_serve:drain_app", "--port", str(port), "--uds", str(uds)]
    argv += ["--timeout-graceful-shutdown", str(drain_seconds), "--workers", str(workers)]
    argv += ["--drain-idle-timeout", str(idle_seconds), "--proxy-headers"]
    argv += ["--forwarded-allow-ips", trusted]
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, "HOLD_DIR": str(directory)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    served = Served(proc, port, uds, directory)

    def ready() -> bool:
        assert proc.poll() is None, "the server exited"
        try:
            connection = UnixConnection(uds)
            status = served.get(connection, "/hello").status
            connection.close()
        except OSError:
            return False
        return status == 200

    wait_until(ready, "the server did not start")
    return served


@pytest.fixture
def stop_all() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_sigterm_refuses_new_connections_and_answers_every_open_one(
    short_dir: Path, stop_all: list[subprocess.Popen[bytes]]
) -> None:
    served = _serve(short_dir, drain_seconds=60)
    stop_all.append(served.proc)
    idle = UnixConnection(served.uds)
    assert served.get(idle, "/hello").getheader("connection") != "close"  # kept alive, idle
    held: dict[str, http.client.HTTPResponse] = {}
    busy = UnixConnection(served.uds)
    in_flight = threading.Thread(target=lambda: held.update(r=served.get(busy, "/hold?name=b")))
    in_flight.start()
    wait_until(lambda: (short_dir / "b.started").exists(), "the held request never arrived")

    served.proc.send_signal(signal.SIGTERM)

    # no new connection, on either socket, from the moment the drain starts
    wait_until(lambda: _refused(lambda: _connect_unix(served.uds)), "the Unix socket still accepts")
    wait_until(lambda: _refused(lambda: _connect_tcp(served.port)), "the TCP port still accepts")
    # a request on a connection that was idle when the drain began is answered
    # (uvicorn alone closes that connection as the drain starts), and the
    # answer tells the peer to drop the connection
    late = served.get(idle, "/hello")
    assert late.status == 200
    assert late.getheader("connection") == "close"
    # the request in flight is answered too, and its connection closed after it
    assert served.proc.poll() is None, "it exited with a request in flight"
    (short_dir / "b").touch()
    in_flight.join(timeout=EVENT_WITHIN)
    assert held["r"].status == 200
    assert held["r"].getheader("connection") == "close"
    idle.close()
    busy.close()
    # with every connection gone it exits at once, long before its 60 s drain ends
    assert served.proc.wait(timeout=EVENT_WITHIN) in CLEAN_EXIT


def test_a_connection_idle_longer_than_peers_keep_one_is_closed_by_the_drain(
    short_dir: Path, stop_all: list[subprocess.Popen[bytes]]
) -> None:
    served = _serve(short_dir, drain_seconds=60, idle_seconds=1)
    stop_all.append(served.proc)
    idle = UnixConnection(served.uds)
    assert served.get(idle, "/hello").status == 200  # read whole: the connection is idle

    served.proc.send_signal(signal.SIGTERM)

    # closed by the server once idle for 1 s, and then the drain is over (it
    # would have waited 60 s for a busy connection)
    assert served.proc.wait(timeout=EVENT_WITHIN) in CLEAN_EXIT
    assert idle.sock is not None
    assert idle.sock.recv(1) == b""
    idle.close()


def test_a_crashed_servers_socket_refuses_and_the_next_start_replaces_it(
    short_dir: Path, stop_all: list[subprocess.Popen[bytes]]
) -> None:
    crashed = _serve(short_dir, drain_seconds=1)
    stop_all.append(crashed.proc)
    os.killpg(crashed.proc.pid, signal.SIGKILL)
    crashed.proc.wait()
    assert _refused(lambda: _connect_unix(crashed.uds))

    again = _serve(short_dir, drain_seconds=1)
    stop_all.append(again.proc)
    connection = UnixConnection(again.uds)
    assert again.get(connection, "/hello").status == 200
    connection.close()


def test_an_idle_connection_is_closed_when_the_graceful_time_is_over(
    short_dir: Path, stop_all: list[subprocess.Popen[bytes]]
) -> None:
    served = _serve(short_dir, drain_seconds=1, idle_seconds=60)
    stop_all.append(served.proc)
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    idle.settimeout(EVENT_WITHIN)
    idle.connect(str(served.uds))

    served.proc.send_signal(signal.SIGTERM)

    assert served.proc.wait(timeout=EVENT_WITHIN) in CLEAN_EXIT
    assert idle.recv(4096) == b""
    idle.close()


def test_several_workers_share_the_sockets_and_all_drain(
    short_dir: Path, stop_all: list[subprocess.Popen[bytes]]
) -> None:
    served = _serve(short_dir, drain_seconds=60, workers=2)
    stop_all.append(served.proc)
    idle = UnixConnection(served.uds)
    assert served.get(idle, "/hello").status == 200

    served.proc.send_signal(signal.SIGTERM)

    wait_until(lambda: _refused(lambda: _connect_unix(served.uds)), "the Unix socket still accepts")
    # every request on the open connection is answered, until the worker that
    # holds it has the signal too and says it closes the connection
    answers = []

    def told_to_close() -> bool:
        answers.append(served.get(idle, "/hello"))
        return answers[-1].getheader("connection") == "close"

    wait_until(told_to_close, "the connection was never closed")
    assert {a.status for a in answers} == {200}
    idle.close()
    assert served.proc.wait(timeout=EVENT_WITHIN) in CLEAN_EXIT


def test_every_peer_drops_an_idle_connection_before_a_draining_server_closes_it() -> None:
    drain_idle = parse_args(["app:app"]).drain_idle_timeout
    # servicekit.http's pool (ledger and auth calling db-gateway)
    assert drain_idle > KEEPALIVE_EXPIRY_SECONDS
    # the ingress (the local nginx, and what settings.yaml asks of the controller)
    settings = load_controller_settings(ROOT / "deploy/ingress/settings.yaml")
    assert drain_idle > settings.upstream_keepalive_s


@pytest.mark.parametrize(
    ("trusted", "seen"), [("127.0.0.1,unix", "10.1.2.3"), ("127.0.0.1", "unix")]
)
def test_a_proxy_on_the_unix_socket_names_the_client_only_when_trusted(
    short_dir: Path, stop_all: list[subprocess.Popen[bytes]], trusted: str, seen: str
) -> None:
    served = _serve(short_dir, drain_seconds=1, trusted=trusted)
    stop_all.append(served.proc)
    connection = UnixConnection(served.uds)
    connection.request("GET", "/client", headers={"X-Forwarded-For": "10.1.2.3"})
    response = connection.getresponse()
    assert json.loads(response.read()) == {"host": seen}
    connection.close()
