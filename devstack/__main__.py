"""`python -m devstack run`: the whole product on loopback, as `make run` starts it.

Postgres (a private cluster in the state directory, kept between runs like the
PVC in the cluster), Redis (a cache: no persistence), Alembic migrations, the
three services under uvicorn and nginx as the ingress with routes generated
from deploy/ingress/ingress.yaml. Ctrl-C (or SIGTERM) stops everything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devstack import control
from devstack.ingress import load_controller_settings, load_routes, render_nginx_conf

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("db-gateway", "auth", "ledger")  # start order: dependencies first
ROUTED = ("auth", "ledger")  # what the ingress routes to
SECRET_KEYS = ("JWT_SECRET", "INTERNAL_TOKEN", "POSTGRES_PASSWORD", "POSTGRES_ADMIN_PASSWORD")
DB_NAME = DB_USER = "finledger"


@dataclass
class Ports:
    ingress: int
    base: int

    def service(self, name: str, replica: int = 0) -> int:
        """base+1..3 for the first replica of each service, +10 per further one."""
        return self.base + 1 + SERVICES.index(name) + 10 * replica

    @property
    def postgres(self) -> int:
        return self.base + 32

    @property
    def redis(self) -> int:
        return self.base + 79


@dataclass(frozen=True)
class Spec:
    """How to (re)start one part of the stack and tell that it is ready."""

    argv: list[str]
    env: dict[str, str] | None
    ready: Callable[[], bool]
    # SIGINT is Postgres's "fast" shutdown; SIGTERM lets uvicorn drain requests.
    stop_signal: signal.Signals = signal.SIGTERM


@dataclass
class Stack:
    state: Path
    ports: Ports
    environment: str
    workers: int
    replicas: dict[str, int] = field(default_factory=dict)
    specs: dict[str, Spec] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    nginx_run_as: str | None = None
    # nginx's client header/body timeouts, when not settings.yaml's (tests)
    client_timeout_s: int | None = None

    def instances(self, service: str) -> list[tuple[str, int]]:
        """(part name, port) of each replica: `ledger`, or `ledger-1`, `ledger-2`."""
        count = self.replicas.get(service, 1)
        if count == 1:
            return [(service, self.ports.service(service))]
        return [(f"{service}-{i + 1}", self.ports.service(service, i)) for i in range(count)]

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def runtime(self) -> Path:
        return runtime_dir(self.state)

    def socket(self, name: str) -> Path:
        """The Unix socket the ingress reaches replica `name` on."""
        return self.runtime / "sockets" / f"{name}.sock"


def log(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


def pg_bindir() -> Path:
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for path in candidates:
        if (path / "initdb").exists() and (path / "postgres").exists():
            return path
    sys.exit("Postgres server binaries not found; run scripts/install-system-deps.sh")


def pg_os_user() -> str | None:
    """Postgres refuses to run as root: run it as the `postgres` user then."""
    return "postgres" if os.geteuid() == 0 else None


def as_user(user: str | None, argv: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *argv] if user else argv


def postgres_home(state: Path, user: str | None) -> Path:
    """Where the cluster lives: <state>/postgres, unless the Postgres OS user
    cannot reach it (a checkout under /root or a private temp directory). Then
    the cluster goes under that user's home, one per state directory, and a
    symlink in <state> points at it, so it is still found, kept and removed
    with the state directory's name."""
    home = state / "postgres"
    if user is None or home.is_symlink():
        return home.resolve()
    reachable = (
        subprocess.run(
            ["runuser", "-u", user, "--", "test", "-x", str(state)], check=False
        ).returncode
        == 0
    )
    if reachable:
        return home
    digest = hashlib.sha256(str(state).encode()).hexdigest()[:12]
    outside = Path(pwd.getpwnam(user).pw_dir) / "finledger-devstack" / digest
    if outside.exists() and not home.exists():
        shutil.rmtree(outside)  # left over from a state directory since deleted
    outside.mkdir(parents=True, exist_ok=True)
    shutil.chown(outside.parent, user)
    if not home.exists():
        home.symlink_to(outside)
    log(f"{state} is not reachable by the {user} OS user; Postgres data is in {outside}")
    return outside


def load_secrets(state: Path) -> dict[str, str]:
    """Strong random secrets, made once per state directory and never committed."""
    path = state / "secrets.env"
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                values[key] = value
    missing = [k for k in SECRET_KEYS if k not in values]
    if missing:
        for key in missing:
            values[key] = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text("".join(f"{k}={values[k]}\n" for k in SECRET_KEYS))
    return values


def start_postgres(stack: Stack, password: str, admin_password: str) -> None:
    bindir = pg_bindir()
    user = pg_os_user()
    pg = postgres_home(stack.state, user)
    data, run = pg / "data", pg / "run"
    for path in (pg, run):
        path.mkdir(parents=True, exist_ok=True)
        if user:
            shutil.chown(path, user)
    run.chmod(0o700)  # the socket directory: only the Postgres OS user may connect
    if not (data / "PG_VERSION").exists():
        log(f"initialising a Postgres cluster in {data}")
        subprocess.run(
            as_user(
                user,
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def pg_ready() -> bool:
        return (
            subprocess.run(
                [
                    str(bindir / "pg_isready"),
                    "-q",
                    "-U",
                    "postgres",
                    "-h",
                    str(run),
                    "-p",
                    str(stack.ports.postgres),
                ],
                check=False,
            ).returncode
            == 0
        )

    spawn(
        stack,
        "postgres",
        as_user(
            user,
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-k",
                str(run),
                "-p",
                str(stack.ports.postgres),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_permissions=0700",
                "-c",
                "max_connections=200",
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
            ],
        ),
        ready=pg_ready,
        stop_signal=signal.SIGINT,
    )

    psql = as_user(
        user,
        [
            str(bindir / "psql"),
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(run),
            "-p",
            str(stack.ports.postgres),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ],
    )
    # As in the cluster (deploy/base/postgres.yaml): the application role owns its
    # database (it runs the migrations) and nothing else; the superuser has a
    # password of its own. Passwords go through stdin, never a command line
    # others can read.
    bootstrap = """
        SELECT 'CREATE ROLE finledger LOGIN'
            WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'finledger') \\gexec
        ALTER ROLE finledger WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pw';
        ALTER ROLE postgres WITH PASSWORD :'admin_pw';
        SELECT 'CREATE DATABASE finledger OWNER finledger'
            WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'finledger') \\gexec
    """
    sql = f"\\set pw {password}\n\\set admin_pw {admin_password}\n{bootstrap}"
    subprocess.run(psql, input=sql.encode(), check=True)


def start_redis(stack: Stack) -> None:
    server = shutil.which("redis-server")
    if not server:
        sys.exit("redis-server not found; run scripts/install-system-deps.sh")
    (stack.state / "redis").mkdir(exist_ok=True)
    spawn(
        stack,
        "redis",
        [
            server,
            "--bind",
            "127.0.0.1",
            "--port",
            str(stack.ports.redis),
            "--dir",
            str(stack.state / "redis"),
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory",
            "128mb",
            "--maxmemory-policy",
            "allkeys-lru",
        ],
        ready=lambda: port_open(stack.ports.redis),
    )


def service_env(stack: Stack, values: dict[str, str]) -> dict[str, str]:
    database_url = (
        f"postgresql+asyncpg://{DB_USER}:{values['POSTGRES_PASSWORD']}"
        f"@127.0.0.1:{stack.ports.postgres}/{DB_NAME}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "INTERNAL_"))}
    env.update(
        {
            "ENVIRONMENT": stack.environment,
            "JWT_SECRET": values["JWT_SECRET"],
            "INTERNAL_TOKEN": values["INTERNAL_TOKEN"],
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{stack.ports.redis}/0",
            "DB_GATEWAY_URL": f"http://127.0.0.1:{stack.ports.service('db-gateway')}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run_migrations(env: dict[str, str]) -> None:
    log("applying database migrations")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(ROOT / "services/db-gateway/alembic.ini"),
            "upgrade",
            "head",
        ],
        env=env,
        check=True,
        cwd=ROOT,
    )


def start_service(stack: Stack, service: str, env: dict[str, str]) -> None:
    for name, port in stack.instances(service):
        _start_instance(stack, service, name, port, env)


# The server's flags for every service (and for the benchmark's ceilings). The
# keep-alive is longer than the ingress's upstream keep-alive (settings.yaml),
# so nginx closes idle connections first and never reuses one the server is
# closing; the drain (see servicekit.serve) is as long as in the cluster.
SERVE_FLAGS = (
    "--no-access-log",
    "--proxy-headers",
    # the ingress names the client in X-Forwarded-For; it reaches the replicas
    # on their Unix sockets (servicekit.serve's client `unix`)
    "--forwarded-allow-ips",
    "127.0.0.1,unix",
    "--timeout-keep-alive",
    "75",
    "--timeout-graceful-shutdown",
    "20",
)


def serve_argv(app: str, port: int, *, workers: int, uds: Path | None = None) -> list[str]:
    """`python -m servicekit.serve` for the factory `app` on 127.0.0.1:`port`,
    and on the Unix socket `uds` for the ingress."""
    return [
        sys.executable,
        "-m",
        "servicekit.serve",
        "--factory",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *(["--uds", str(uds)] if uds else []),
        "--workers",
        str(workers),
        *SERVE_FLAGS,
    ]


def _start_instance(stack: Stack, service: str, name: str, port: int, env: dict[str, str]) -> None:
    package = service.replace("-", "_")
    spawn(
        stack,
        name,
        serve_argv(
            f"{package}.main:app_from_env",
            port,
            workers=stack.workers,
            uds=stack.socket(name) if service in ROUTED else None,
        ),
        env=env,
        ready=lambda: http_ok(f"http://127.0.0.1:{port}/readyz"),
    )


def runtime_dir(state: Path) -> Path:
    """What nginx's workers must reach: their temp files and the replicas'
    Unix sockets. They run as an unprivileged user when we are root, and a
    clone under a 0700 directory is out of its reach, so this lives under the
    system's /tmp, one per state directory (and short: a Unix socket's path
    has at most 107 bytes)."""
    digest = hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"finledger-{digest}"


def make_runtime(runtime: Path) -> str | None:
    """Make the runtime directory, owned by nginx's worker user; return that
    user and group for nginx's `user` directive (None: not root, no switch)."""
    worker = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
    for sub in ("", "sockets", "body", "proxy", "fastcgi", "uwsgi", "scgi"):
        path = runtime / sub
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if worker:
            os.chown(path, worker.pw_uid, worker.pw_gid)
    return f"{worker.pw_name} {grp.getgrgid(worker.pw_gid).gr_name}" if worker else None


def start_nginx(stack: Stack) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        sys.exit("nginx not found; run scripts/install-system-deps.sh")
    prefix = stack.state / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    write_nginx_conf(stack)
    spawn(
        stack,
        "nginx",
        [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
        ready=lambda: port_open(stack.ports.ingress),
    )


def write_nginx_conf(stack: Stack) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    prefix = stack.state / "nginx"
    conf = render_nginx_conf(
        routes=load_routes(
            ROOT / "deploy/ingress/ingress.yaml", ROOT / "deploy/ingress/settings.yaml"
        ),
        # Every replica, always: one that is draining or down refuses the
        # connection, and nginx passes the request to the next. Nothing is
        # reloaded to take a replica out, as the cluster's ingress follows its
        # Service's endpoints without dropping a client's connection.
        upstreams={
            service: [f"unix:{stack.socket(name)}" for name, _ in stack.instances(service)]
            for service in ROUTED
        },
        listen_port=stack.ports.ingress,
        prefix=prefix,
        run_as=stack.nginx_run_as,
        temp=stack.runtime,
        limits=load_controller_settings(ROOT / "deploy/ingress/settings.yaml").with_timeout(
            stack.client_timeout_s
        ),
    )
    (prefix / "nginx.conf").write_text(conf)
    subprocess.run(
        [nginx, "-t", "-q", "-p", str(prefix), "-c", str(prefix / "nginx.conf")], check=True
    )


def spawn(
    stack: Stack,
    name: str,
    argv: list[str],
    *,
    ready: Callable[[], bool],
    env: dict[str, str] | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
) -> None:
    """Start a part of the stack and wait until it is ready."""
    stack.specs[name] = Spec(argv=argv, env=env, ready=ready, stop_signal=stop_signal)
    start(stack, name)


def start(stack: Stack, name: str) -> None:
    spec = stack.specs[name]
    out = (stack.logs / f"{name}.log").open("ab")
    stack.procs[name] = subprocess.Popen(
        spec.argv,
        stdout=out,
        stderr=subprocess.STDOUT,
        env=spec.env,
        cwd=ROOT,
        start_new_session=True,
    )
    out.close()  # the child has its own copy
    wait_for(spec.ready, name, stack)


def stop(stack: Stack, name: str, *, kill: bool = False) -> None:
    """Stop one part (SIGKILL to its whole process group when `kill`)."""
    proc = stack.procs.pop(name, None)
    if proc is None:
        return
    if proc.poll() is None:
        sig = signal.SIGKILL if kill else stack.specs[name].stop_signal
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def obey(stack: Stack) -> None:
    """Carry out the commands `python -m devstack ctl` left for us."""
    for command, verb, name in control.pending(stack.state):
        if name not in stack.specs or verb not in control.VERBS:
            control.answer(command, ok=False, error=f"unknown part or verb: {verb} {name}")
            continue
        log(f"control: {verb} {name}")
        # A stopped service drains itself (servicekit.serve): its socket
        # refuses new connections at once, so nginx sends those requests to
        # another replica, and it answers what it has before it exits. A kill
        # is a crash: no warning.
        try:
            if verb in ("stop", "kill", "restart"):
                stop(stack, name, kill=verb == "kill")
            if verb in ("start", "restart") and name not in stack.procs:
                start(stack, name)
        except RuntimeError as exc:
            control.answer(command, ok=False, error=str(exc))
        else:
            control.answer(command, ok=True)


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_for(check: Callable[[], bool], name: str, stack: Stack, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc_name, proc in stack.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{proc_name} exited with {proc.returncode}; "
                    f"see {stack.logs / (proc_name + '.log')}"
                )
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not become ready in {timeout:.0f}s; see {stack.logs}")


def stop_all(stack: Stack) -> None:
    for name in reversed(list(stack.procs)):
        stop(stack, name)


def parse_replicas(text: str) -> dict[str, int]:
    """ "auth=2,ledger=2" -> {"auth": 2, "ledger": 2}. db-gateway stays single:
    locally nothing plays the Service that would balance between its replicas."""
    replicas: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        service, _, count = item.partition("=")
        if service not in ("auth", "ledger") or not count.isdigit() or not 1 <= int(count) <= 9:
            raise argparse.ArgumentTypeError(f"--replicas: {item!r} is not auth=N or ledger=N")
        replicas[service] = int(count)
    return replicas


def run(args: argparse.Namespace) -> int:
    state = Path(args.state_dir).resolve()
    if args.fresh and state.exists():
        pg = state / "postgres"
        if pg.is_symlink():
            shutil.rmtree(pg.resolve(), ignore_errors=True)
        shutil.rmtree(state)
    (state / "logs").mkdir(parents=True, exist_ok=True)
    shutil.rmtree(control.control_dir(state), ignore_errors=True)
    state.chmod(0o755)  # the Postgres OS user must reach its data directory
    stack = Stack(
        state=state,
        ports=Ports(args.ingress_port, args.port_base),
        environment=args.environment,
        workers=args.workers,
        replicas=parse_replicas(args.replicas),
        client_timeout_s=args.client_timeout,
    )

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a shell that starts us in the background leaves
    # SIGINT ignored, and Ctrl-C must still stop everything.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        values = load_secrets(state)
        start_postgres(stack, values["POSTGRES_PASSWORD"], values["POSTGRES_ADMIN_PASSWORD"])
        start_redis(stack)
        env = service_env(stack, values)
        run_migrations(env)
        stack.nginx_run_as = make_runtime(stack.runtime)
        for name in SERVICES:
            start_service(stack, name, env)
        start_nginx(stack)
        ingress = f"http://127.0.0.1:{stack.ports.ingress}"
        services = {
            name: f"http://127.0.0.1:{port}"
            for service in SERVICES
            for name, port in stack.instances(service)
        }
        # What tests (and curious developers) need to reach the parts directly.
        (state / "stack.json").write_text(
            json.dumps(
                {
                    "ingress": ingress,
                    "services": services,
                    "database_url": env["DATABASE_URL"],
                    "redis_url": env["REDIS_URL"],
                    "logs": str(stack.logs),
                    "client_timeout_s": load_controller_settings(
                        ROOT / "deploy/ingress/settings.yaml"
                    )
                    .with_timeout(stack.client_timeout_s)
                    .header_timeout_s,
                },
                indent=2,
            )
        )
        log(f"ingress    {ingress}  (docs: {ingress}/auth/docs, {ingress}/services/docs)")
        for name, url in services.items():
            log(f"{name:<11}{url}  (/healthz, /readyz)")
        log(f"logs       {stack.logs}/")
        control.control_dir(state).mkdir()
        log("stack ready; Ctrl-C stops it")
        while True:
            for name, proc in stack.procs.items():
                if proc.poll() is not None:
                    log(f"{name} exited with {proc.returncode}; stopping the stack")
                    return 1
            obey(stack)
            time.sleep(0.1)
    except KeyboardInterrupt:
        log("stopping")
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        log(f"failed: {exc}")
        return 1
    finally:
        stop_all(stack)


def main() -> int:
    parser = argparse.ArgumentParser(prog="devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="start the whole stack in the foreground")
    run_parser.add_argument("--state-dir", default=str(ROOT / ".devstack"))
    run_parser.add_argument(
        "--ingress-port", type=int, default=int(os.environ.get("INGRESS_PORT", "8080"))
    )
    run_parser.add_argument(
        "--port-base",
        type=int,
        default=int(os.environ.get("STACK_PORT_BASE", "8000")),
        help="services on base+1..3, Postgres on base+32, Redis on base+79",
    )
    run_parser.add_argument(
        "--environment", default="local", choices=["local", "test", "production"]
    )
    run_parser.add_argument("--workers", type=int, default=1)
    run_parser.add_argument(
        "--replicas",
        default=os.environ.get("STACK_REPLICAS", ""),
        help="processes per service behind nginx, e.g. auth=2,ledger=2 (default 1 each)",
    )
    run_parser.add_argument(
        "--client-timeout",
        type=int,
        default=None,
        help="nginx's client header and body timeouts in seconds "
        "(default: deploy/ingress/settings.yaml's, as in the cluster)",
    )
    run_parser.add_argument("--fresh", action="store_true", help="discard the stored data first")
    ctl_parser = sub.add_parser(
        "ctl", help="stop, kill, start or restart a part of a running stack"
    )
    ctl_parser.add_argument("verb", choices=control.VERBS)
    ctl_parser.add_argument("name", help="postgres, redis, db-gateway, auth, ledger or nginx")
    ctl_parser.add_argument("--state-dir", default=str(ROOT / ".devstack"))
    args = parser.parse_args()
    if args.command == "ctl":
        try:
            control.send(Path(args.state_dir).resolve(), args.verb, args.name)
        except control.ControlError as exc:
            print(exc, file=sys.stderr)
            return 1
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
