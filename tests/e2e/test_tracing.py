"""Tracing, for real: a second local stack exports OTLP/HTTP to a receiver in
this test, and one request through the ingress becomes one trace across
ledger, db-gateway, Postgres and Redis. And with tracing not configured,
none of the SDK is imported and no thread is started."""

from __future__ import annotations

import gzip
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.conftest import ROOT, running_stack
from tests.e2e.conftest import bearer, register_and_login
from tests.waiting import EVENT_WITHIN

# Beside the main test stack (tests/conftest.py), on ports of its own derived
# from the same TEST_STACK_PORT_BASE, so that runs with different bases never
# share a port or a state directory.
MAIN_PORT_BASE = int(os.environ.get("TEST_STACK_PORT_BASE", "18000"))
PORT_BASE = MAIN_PORT_BASE + 500  # the main stack uses its base up to base + 80
INGRESS_PORT = PORT_BASE + 80
STATE = ROOT / ".devstack" / f"test-tracing-{MAIN_PORT_BASE}"


@dataclass(frozen=True)
class Exported:
    service: str
    span: Span

    def attribute(self, key: str) -> str | None:
        return _attribute(self.span.attributes, key)


def _attribute(attributes: Iterable[KeyValue], key: str) -> str | None:
    for item in attributes:
        if item.key == key:
            value = item.value
            kind = value.WhichOneof("value")
            return str(getattr(value, kind)) if kind else None
    return None


class Receiver:
    """A plain OTLP/HTTP trace receiver: what the services POST to /v1/traces."""

    def __init__(self) -> None:
        self.spans: list[Exported] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.add(self.path, request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, path: str, request: ExportTraceServiceRequest) -> None:
        with self._lock:
            self.paths.append(path)
            for resource_spans in request.resource_spans:
                service = _attribute(resource_spans.resource.attributes, "service.name") or "?"
                for scope_spans in resource_spans.scope_spans:
                    self.spans += [Exported(service, span) for span in scope_spans.spans]

    def trace(self, trace_id: bytes) -> list[Exported]:
        with self._lock:
            return [s for s in self.spans if s.span.trace_id == trace_id]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.fixture(scope="module")
def traced_ingress(receiver: Receiver) -> Iterator[str]:
    """A second stack, with tracing on; stopped (that process only) at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds: export at once
    }
    with running_stack(
        STATE,
        ["--port-base", str(PORT_BASE), "--ingress-port", str(INGRESS_PORT)],
        env=env,
        name="tracing stack",
    ):
        yield json.loads((STATE / "stack.json").read_text())["ingress"]


def _wait_for(
    receiver: Receiver,
    trace_id: bytes,
    done: Callable[[list[Exported]], bool],
    timeout: float = 15,
) -> list[Exported]:
    deadline = time.monotonic() + timeout
    while True:
        spans = receiver.trace(trace_id)
        if done(spans) or time.monotonic() > deadline:
            return spans
        time.sleep(0.1)


def _ancestors(span: Exported, by_id: dict[bytes, Exported]) -> list[bytes]:
    chain, parent = [], span.span.parent_span_id
    while parent in by_id:
        chain.append(parent)
        parent = by_id[parent].span.parent_span_id
    return chain


def test_one_request_through_the_ingress_is_one_trace_down_to_postgres(
    receiver: Receiver, traced_ingress: str
) -> None:
    with httpx.Client(base_url=traced_ingress, timeout=10) as api:
        user = register_and_login(api)
        trace_id, caller_span = secrets.token_bytes(16), secrets.token_bytes(8)
        response = api.get(
            "/services/accounts",
            headers={
                **bearer(user.access_token),
                "traceparent": f"00-{trace_id.hex()}-{caller_span.hex()}-01",
                "X-Request-ID": f"traced-{trace_id.hex()[:12]}",
            },
        )
        assert response.status_code == 200, response.text

    def kinds(spans: list[Exported]) -> set[tuple[str, int]]:
        return {(s.service, s.span.kind) for s in spans}

    wanted = {
        ("ledger", Span.SPAN_KIND_SERVER),
        ("ledger", Span.SPAN_KIND_CLIENT),
        ("db-gateway", Span.SPAN_KIND_SERVER),
        ("db-gateway", Span.SPAN_KIND_CLIENT),
    }
    spans = _wait_for(
        receiver,
        trace_id,
        lambda found: (
            wanted <= kinds(found) and any(s.attribute("db.system") == "redis" for s in found)
        ),
    )
    assert wanted <= kinds(spans), [(s.service, s.span.name) for s in spans]
    assert all(path == "/v1/traces" for path in receiver.paths)
    by_id = {s.span.span_id: s for s in spans}

    # the ledger continues the caller's trace: nginx passed traceparent on
    (server,) = [s for s in spans if s.service == "ledger" and s.span.kind == Span.SPAN_KIND_SERVER]
    assert server.span.parent_span_id == caller_span
    assert server.span.name == "GET /services/accounts"  # the route template

    # its call to db-gateway is a child of it ...
    calls = [
        s
        for s in spans
        if s.service == "ledger"
        and s.span.kind == Span.SPAN_KIND_CLIENT
        and s.attribute("db.system") is None
    ]
    assert calls, [s.span.name for s in spans]
    assert all(c.span.parent_span_id == server.span.span_id for c in calls)

    # ... and db-gateway's server span a child of that call
    (gateway,) = [
        s for s in spans if s.service == "db-gateway" and s.span.kind == Span.SPAN_KIND_SERVER
    ]
    assert gateway.span.parent_span_id in {c.span.span_id for c in calls}
    assert gateway.span.name.startswith("GET /internal/users/{user_id}/accounts")

    # the request id the client sent is on both server spans: a request quoted
    # by its id (an error body, a log line) is found in the tracing backend
    request_id = f"traced-{trace_id.hex()[:12]}"
    assert response.headers["x-request-id"] == request_id
    assert server.attribute("request.id") == gateway.attribute("request.id") == request_id

    # the SQL it ran, inside its request, without the parameters' values
    queries = [s for s in spans if s.service == "db-gateway" and s.attribute("db.system")]
    assert queries
    for query in queries:
        assert query.attribute("db.system") == "postgresql"
        assert gateway.span.span_id in _ancestors(query, by_id)
    statements = [query.attribute("db.statement") or "" for query in queries]
    assert any("SELECT" in statement for statement in statements), statements
    assert not any(user.email in statement for statement in statements)

    # the ledger's Redis commands (the revocation check) belong to its request
    commands = [s for s in spans if s.service == "ledger" and s.attribute("db.system") == "redis"]
    assert commands
    assert all(server.span.span_id in _ancestors(c, by_id) for c in commands)

    # every span of the trace hangs off the caller's span: one tree, no orphan
    for span in spans:
        assert _ancestors(span, by_id)[-1:] == [server.span.span_id] or span is server


def test_probes_and_scrapes_are_not_traced(receiver: Receiver, traced_ingress: str) -> None:
    info = json.loads((STATE / "stack.json").read_text())
    before = len(receiver.spans)
    for url in info["services"].values():
        with httpx.Client(base_url=url, timeout=10) as client:  # one connection, one process
            for path in ("/healthz", "/readyz", "/metrics"):
                assert client.get(path).status_code == 200
            # then a request that is traced: a process exports its spans in the
            # order they ended, so once this one has arrived, a span of a probe
            # would have arrived before it
            marker = secrets.token_bytes(16)
            client.get(
                f"/not-a-probe-{marker.hex()}",
                headers={"traceparent": f"00-{marker.hex()}-{secrets.token_bytes(8).hex()}-01"},
            )
            _wait_for(receiver, marker, bool, timeout=EVENT_WITHIN)
            assert receiver.trace(marker), f"{url}: the span of a traced request never arrived"
    names = {s.span.name for s in receiver.spans[before:] if s.span.kind == Span.SPAN_KIND_SERVER}
    assert not [n for n in names if n.endswith(("/healthz", "/readyz", "/metrics"))], names


# --- off unless configured -------------------------------------------------------

_PROBE = """
import json, os, sys, threading
before = threading.active_count()
{imports}
print(json.dumps({{
    "modules": sorted(m for m in sys.modules if m.startswith("opentelemetry")),
    "threads": threading.active_count() - before,
}}))
"""
_APP = """
from {package}.main import create_app
from {package}.config import Settings
app = create_app(Settings(**json.loads(os.environ["SETTINGS"])))
"""
# What each service's own libraries import on their own: fastapi imports the
# OpenTelemetry API, and redis-py 8 its metrics SDK when installed.
_LIBRARIES = {
    "auth": "import fastapi, httpx, prometheus_client, redis.asyncio",
    "ledger": "import fastapi, httpx, prometheus_client, redis.asyncio",
    "db_gateway": "import fastapi, httpx, prometheus_client, sqlalchemy.ext.asyncio",
}
TRACING_MODULES = (
    "opentelemetry.sdk.trace",
    "opentelemetry.exporter",
    "opentelemetry.instrumentation",
)
SETTINGS = {
    "auth": {"jwt_secret": "x" * 32, "internal_token": "y" * 32, "environment": "local"},
    "ledger": {"jwt_secret": "x" * 32, "internal_token": "y" * 32, "environment": "local"},
    "db_gateway": {
        "internal_token": "y" * 32,
        "database_url": "postgresql+asyncpg://u:p@127.0.0.1:1/db",
        "environment": "local",
    },
}


@dataclass(frozen=True)
class Probe:
    modules: list[str]
    threads: int

    def tracing_modules(self) -> list[str]:
        return [m for m in self.modules if m.startswith(TRACING_MODULES)]


def _probe(package: str, imports: str, **env: str) -> Probe:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(imports=imports)],
        env={**base, **env, "SETTINGS": json.dumps(SETTINGS[package])},
        cwd=Path(ROOT),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return Probe(**json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("package", ["auth", "ledger", "db_gateway"])
def test_without_an_endpoint_nothing_of_the_sdk_is_imported_or_started(package: str) -> None:
    app = _APP.format(package=package)
    off = _probe(package, app)
    assert off.tracing_modules() == []
    assert off.threads == 0
    # not one OpenTelemetry module more than the service's libraries import alone
    libraries = _probe(package, _LIBRARIES[package])
    assert set(off.modules) - set(libraries.modules) == set()
    # the same probe sees it all when tracing is on: the check is real
    on = _probe(package, app, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert "opentelemetry.sdk.trace" in on.modules
    assert "opentelemetry.exporter.otlp.proto.http.trace_exporter" in on.modules
    assert on.threads == 1  # the batch span processor's export thread
    disabled = _probe(
        package, app, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_SDK_DISABLED="true"
    )
    assert (disabled.tracing_modules(), disabled.threads) == ([], 0)
