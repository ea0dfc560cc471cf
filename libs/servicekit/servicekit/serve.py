"""`python -m servicekit.serve`: uvicorn, with a shutdown that loses no request.

uvicorn's own shutdown closes every idle keep-alive connection at once. A peer
(the ingress, another service's connection pool) that sends a request on one
of them at that instant gets no answer, and must not resend it if it was a
POST. Here SIGTERM starts a drain instead:

1. No new connections. A Unix socket's path is replaced first by one nobody
   listens on, so a peer's connect is refused at once (nginx passes that
   request to another replica, safe for every method: nothing was sent); the
   listener itself stays open, so a connect that raced the swap is still
   served. TCP listeners close (in the cluster the pod left its Service's
   endpoints during preStop, so nothing new arrives there).
2. Every request on a connection that is still open is answered, with
   `Connection: close`, so the peer drops that connection after the answer.
3. An idle connection is closed only once it has been idle for
   `--drain-idle-timeout` (6 s): longer than any peer keeps one (the
   ingress's upstream keep-alive and servicekit.http's pool, 4 s), so its peer
   has closed it or will never send on it again. After
   `--timeout-graceful-shutdown` whatever is left is closed, unfinished
   requests are cancelled, and the process exits.

It takes uvicorn's flags of the same names, plus `--uds` to listen on a Unix
socket as well as on TCP: the local ingress reaches replicas that way, so a
replica leaves the rotation by its path going away, as a pod leaves its
Service's endpoints before it is stopped. A peer on the Unix socket has no
address; it shows up as the client `unix`, so `--forwarded-allow-ips unix`
trusts the proxy there to name the real client (X-Forwarded-For).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Sequence
from multiprocessing.connection import wait
from types import FrameType

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

STARTUP_FAILURE = 3
UNIX_PEER = ("unix", 0)  # the client address of a connection on the Unix socket
# Any local user may connect to the socket file itself; the directory it is in
# decides who can reach it (devstack: root and nginx's worker user only).
SOCKET_MODE = 0o666


class DrainState(ServerState):
    """uvicorn's state shared by every connection, plus: are we draining?"""

    def __init__(self) -> None:
        super().__init__()
        self.draining = False


class DrainingProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol that never closes a connection its peer may
    be sending on: while draining, each request is answered with
    `Connection: close` instead."""

    idle_since = 0.0  # the loop's time of the last byte received or answer sent

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.idle_since = self.loop.time()
        if self.client is None:  # a Unix socket's peer has no address
            self.client = UNIX_PEER

    def data_received(self, data: bytes) -> None:
        self.idle_since = self.loop.time()
        super().data_received(data)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.idle_since = self.loop.time()

    def idle_for(self, now: float) -> float:
        """Seconds without a byte either way and without a request (0: busy)."""
        if self.cycle is not None and not self.cycle.response_complete:
            return 0.0
        return now - self.idle_since

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if _draining(self.server_state):
            self.cycle.keep_alive = False

    def shutdown(self) -> None:
        # uvicorn closes an idle connection here; it is left to its peer instead
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False


def _draining(state: ServerState) -> bool:
    return isinstance(state, DrainState) and state.draining


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, drain_idle_timeout: float) -> None:
        super().__init__(config)
        self.server_state = DrainState()
        self.drain_idle_timeout = drain_idle_timeout

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = self.server_state
        assert isinstance(state, DrainState)
        state.draining = True
        unix: list[asyncio.Server] = []
        tcp: list[asyncio.Server] = []
        for server in self.servers:
            is_unix = any(s.family == socket.AF_UNIX for s in server.sockets)
            (unix if is_unix else tcp).append(server)
        for server in unix:
            for sock in server.sockets:
                _refuse_new_connections(sock.getsockname())
        for server in tcp:
            server.close()
        for connection in list(state.connections):
            connection.shutdown()

        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 0)
        while (state.connections or state.tasks) and not self.force_exit:
            now = loop.time()
            if now >= deadline:
                break
            for connection in list(state.connections):
                idle = isinstance(connection, DrainingProtocol) and connection.idle_for(now)
                if idle and idle >= self.drain_idle_timeout:
                    connection.transport.close()
            await asyncio.sleep(0.05)
        for connection in list(state.connections):
            connection.transport.close()
        for task in state.tasks:
            task.cancel(msg="the graceful drain ran out of time")
        for server in unix:
            server.close()
        if not self.force_exit:
            await self.lifespan.shutdown()


def _refuse_new_connections(path: str) -> None:
    """Swap the socket file at `path` for one that nobody listens on: connects
    are refused from now on (a missing path would do too, but nginx logs that
    as critical). The listening socket keeps its own inode and stays open."""
    if not path:
        return
    spare = f"{path}.draining"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(spare)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as refused:
        refused.bind(spare)
        os.chmod(spare, SOCKET_MODE)
        os.replace(spare, path)


def bind_unix(path: str) -> socket.socket:
    """A Unix socket at `path` for any local user to connect to (the directory
    decides who can reach it), replacing what a previous run left behind."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, SOCKET_MODE)
    sock.set_inheritable(True)
    return sock


def _serve_one(config: uvicorn.Config, sockets: list[socket.socket], drain_idle: float) -> None:
    config.configure_logging()
    DrainingServer(config, drain_idle_timeout=drain_idle).run(sockets=sockets)


def _supervise(config: uvicorn.Config, sockets: list[socket.socket], drain_idle: float) -> int:
    """`--workers N`: N processes on the same sockets. SIGTERM or SIGINT is passed
    on to each (they drain); one dying alone stops the others too."""
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_serve_one, args=(config, sockets, drain_idle))
        for _ in range(config.workers)
    ]
    for worker in workers:
        worker.start()
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while any(worker.is_alive() for worker in workers):
        wait([worker.sentinel for worker in workers if worker.is_alive()], timeout=1)
        if not stopping and any(not worker.is_alive() for worker in workers):
            stop(signal.SIGTERM, None)
    return 0 if stopping else 1


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m servicekit.serve", description=__doc__)
    parser.add_argument("app", help="module:attribute of the ASGI app (or factory)")
    parser.add_argument("--factory", action="store_true", help="app is a function making it")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--uds", help="also listen on this Unix socket")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--proxy-headers", action="store_true")
    parser.add_argument(
        "--forwarded-allow-ips",
        help="peers trusted for X-Forwarded-* (default: FORWARDED_ALLOW_IPS)",
    )
    parser.add_argument("--timeout-keep-alive", type=int, default=5)
    parser.add_argument("--timeout-graceful-shutdown", type=int, default=20)
    parser.add_argument(
        "--drain-idle-timeout",
        type=float,
        default=6.0,
        help="while draining, close a connection idle this long (longer than peers keep one)",
    )
    parser.add_argument("--no-access-log", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    config = uvicorn.Config(
        args.app,
        factory=args.factory,
        host=args.host,
        port=args.port,
        workers=args.workers,
        http=DrainingProtocol,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        timeout_keep_alive=args.timeout_keep_alive,
        timeout_graceful_shutdown=args.timeout_graceful_shutdown,
        access_log=not args.no_access_log,
    )
    sockets = [config.bind_socket()]
    if args.uds:
        # left in place at exit: refusing connects, until the next start replaces it
        sockets.append(bind_unix(args.uds))
    if config.workers > 1:
        return _supervise(config, sockets, args.drain_idle_timeout)
    server = DrainingServer(config, drain_idle_timeout=args.drain_idle_timeout)
    server.run(sockets=sockets)
    return 0 if server.started else STARTUP_FAILURE


if __name__ == "__main__":
    sys.exit(main())
