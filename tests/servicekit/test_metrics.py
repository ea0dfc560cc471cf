"""servicekit.metrics: requests counted by route template, method and status;
in-flight requests; peer-call latency by outcome; probes not counted; only
bounded label values; and one sum across server workers in multiprocess mode."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from fastapi import FastAPI
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from servicekit import app as app_module
from servicekit import metrics
from servicekit.app import build_app
from servicekit.errors import ProblemError, ServiceUnavailable
from servicekit.http import PeerClient, create_http_client, create_internal_client, send
from servicekit.settings import ServiceSettings
from tests.servicekit.peers import Handler, answering, peer
from tests.waiting import EVENT_WITHIN, wait_until

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = "http_server_requests_total"
DURATION = "http_server_request_duration_seconds"
IN_FLIGHT = "http_server_requests_in_flight"
PEER = "http_client_request_duration_seconds"
UUID_LIKE = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def requests(route: str, status: int, method: str = "GET") -> float:
    return value(REQUESTS, method=method, route=route, status=str(status))


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def make_app() -> FastAPI:
    application = build_app(
        ServiceSettings(service_name="metrics-test", environment="test"),
        title="metrics-test",
        description="test app",
        lifespan=_lifespan,
        readiness=lambda _app: {},
        docs_prefix=None,
    )
    gate = asyncio.Event()
    application.state.gate = gate

    @application.get("/things/{thing_id}")
    async def get_thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @application.post("/things/{thing_id}/parts/{part_id}", status_code=201)
    async def add_part(thing_id: str, part_id: str) -> dict[str, str]:
        return {"id": part_id}

    @application.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unhandled")

    @application.get("/slow")
    async def slow() -> dict[str, bool]:
        await gate.wait()
        return {"done": True}

    @application.get("/worker")
    async def worker() -> dict[str, int]:
        return {"pid": os.getpid()}

    return application


@pytest.fixture
def quiet_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "configure_logging", lambda *_args, **_kwargs: None)


@pytest.fixture
async def client(quiet_logging: None) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as c:
        yield c


# --- requests ----------------------------------------------------------------------


async def test_requests_are_counted_by_route_template_not_by_path(
    client: httpx.AsyncClient,
) -> None:
    route = "/things/{thing_id}"
    before, timed = (
        requests(route, 200),
        value(f"{DURATION}_count", method="GET", route=route, status="200"),
    )
    ids = [str(uuid.uuid4()) for _ in range(3)]

    for thing in ids:
        assert (await client.get(f"/things/{thing}")).status_code == 200

    assert requests(route, 200) == before + 3
    assert value(f"{DURATION}_count", method="GET", route=route, status="200") == timed + 3
    for thing in ids:
        assert requests(f"/things/{thing}", 200) == 0


async def test_method_and_status_are_labels(client: httpx.AsyncClient) -> None:
    route = "/things/{thing_id}/parts/{part_id}"
    created, not_allowed = requests(route, 201, "POST"), requests(route, 405, "GET")

    assert (await client.post("/things/a/parts/b")).status_code == 201
    assert (await client.get("/things/a/parts/b")).status_code == 405

    assert requests(route, 201, "POST") == created + 1
    assert requests(route, 405, "GET") == not_allowed + 1


async def test_latency_lands_in_the_histogram_buckets(client: httpx.AsyncClient) -> None:
    labels = {"method": "GET", "route": "/things/{thing_id}", "status": "200"}
    total = value(f"{DURATION}_sum", **labels)
    slowest = value(f"{DURATION}_bucket", le="+Inf", **labels)

    await client.get("/things/x")

    assert value(f"{DURATION}_sum", **labels) > total
    assert value(f"{DURATION}_bucket", le="+Inf", **labels) == slowest + 1
    buckets = [value(f"{DURATION}_bucket", le=str(b), **labels) for b in metrics.LATENCY_BUCKETS]
    assert buckets == sorted(buckets)  # cumulative


async def test_unmatched_paths_share_one_route_value(client: httpx.AsyncClient) -> None:
    before = requests(metrics.UNMATCHED_ROUTE, 404)

    for path in ("/nowhere", f"/users/{uuid.uuid4()}", "/a/b/c?email=x@example.com"):
        assert (await client.get(path)).status_code == 404

    assert requests(metrics.UNMATCHED_ROUTE, 404) == before + 3


async def test_unknown_methods_share_one_method_value(client: httpx.AsyncClient) -> None:
    before = sum(
        requests("/things/{thing_id}", status, metrics.OTHER_METHOD) for status in (405, 400, 501)
    )

    await client.request("BREW", "/things/x")
    await client.request("X-" + uuid.uuid4().hex, "/things/x")

    after = sum(
        requests("/things/{thing_id}", status, metrics.OTHER_METHOD) for status in (405, 400, 501)
    )
    assert after == before + 2


async def test_an_unhandled_error_counts_as_a_500(client: httpx.AsyncClient) -> None:
    before = requests("/boom", 500)

    assert (await client.get("/boom")).status_code == 500

    assert requests("/boom", 500) == before + 1


async def test_requests_in_flight_go_up_and_back_down(quiet_logging: None) -> None:
    application = make_app()
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        idle = value(IN_FLIGHT)
        pending = [asyncio.create_task(client.get("/slow")) for _ in range(3)]
        for _ in range(500):  # until the three are inside the handler
            if value(IN_FLIGHT) >= idle + 3:
                break
            await asyncio.sleep(0.01)
        assert value(IN_FLIGHT) == idle + 3

        application.state.gate.set()
        for response in await asyncio.gather(*pending):
            assert response.status_code == 200
        assert value(IN_FLIGHT) == idle


@pytest.mark.parametrize("probe", ["/healthz", "/readyz", "/metrics"])
async def test_probes_and_scrapes_are_not_counted(client: httpx.AsyncClient, probe: str) -> None:
    before = (value(IN_FLIGHT), sum(requests(probe, s) for s in (200, 503)))

    assert (await client.get(probe)).status_code == 200

    assert (value(IN_FLIGHT), sum(requests(probe, s) for s in (200, 503))) == before


async def test_metrics_endpoint_serves_the_prometheus_text_format(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/things/y")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert families["http_server_requests"].type == "counter"
    assert families[DURATION].type == "histogram"
    assert families[IN_FLIGHT].type == "gauge"
    assert families[PEER].type == "histogram"
    # no _created series: they double the output and nothing reads them
    assert "_created" not in response.text


async def test_metrics_is_not_in_the_openapi_document(quiet_logging: None) -> None:
    paths = make_app().openapi()["paths"]
    assert "/metrics" not in paths


def _series(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        if family.name.startswith(("http_server_", "http_client_"))
        for sample in family.samples
    }


TEMPLATE = re.compile(r"(/([A-Za-z0-9_.-]*|\{\w+(:\w+)?\}))+")


async def test_no_label_value_is_unbounded(client: httpx.AsyncClient) -> None:
    """Whatever clients send (ids, emails, odd methods, query strings), the
    label values stay in a small known set: 20 requests, at most 4 new series."""
    before = _series((await client.get("/metrics")).text)
    total = sum(value(REQUESTS, **dict(labels)) for name, labels in before if name == REQUESTS)
    for _ in range(5):
        thing = uuid.uuid4()
        await client.get(f"/things/{thing}?email=someone@example.com&request_id={uuid.uuid4()}")
        await client.post(f"/things/{thing}/parts/{uuid.uuid4()}")
        await client.get(f"/unknown/{thing}", headers={"X-Request-ID": str(uuid.uuid4())})
        await client.request(f"M{thing.hex[:6].upper()}", f"/things/{thing}")

    after = _series((await client.get("/metrics")).text)
    counted = sum(value(REQUESTS, **dict(labels)) for name, labels in after if name == REQUESTS)
    assert counted == total + 20
    assert len({s for s in after - before if s[0] == REQUESTS}) <= 4
    allowed: dict[str, Callable[[str], bool]] = {
        "route": lambda v: v == metrics.UNMATCHED_ROUTE or TEMPLATE.fullmatch(v) is not None,
        "method": lambda v: v in metrics.METHODS | {metrics.OTHER_METHOD},
        "status": lambda v: re.fullmatch(r"[1-5]\d\d", v) is not None,
        "le": lambda v: v == "+Inf" or float(v) in metrics.LATENCY_BUCKETS,
        "peer": lambda v: re.fullmatch(r"[a-z][a-z0-9.-]*", v) is not None,
        "outcome": lambda v: v in metrics.PEER_OUTCOMES,
    }
    for name, labels in after:  # every series of the process, not only the new ones
        for label, label_value in labels:
            where = (name, label, label_value)
            assert label in allowed, where
            assert allowed[label](label_value), where
            assert not UUID_LIKE.search(label_value), where
            assert "@" not in label_value, where


# --- calls to peers ----------------------------------------------------------------


def peer_calls(peer: str, outcome: str) -> float:
    return value(f"{PEER}_count", peer=peer, outcome=outcome)


@pytest.mark.parametrize(
    ("answer", "outcome", "raised"),
    [
        (answering(200, {}), "success", None),
        (answering(404, {"code": "not_found", "detail": "x"}), "client_error", ProblemError),
        (answering(503), "server_error", ServiceUnavailable),
    ],
)
async def test_peer_calls_are_timed_by_outcome(
    answer: Handler, outcome: str, raised: type[Exception] | None
) -> None:
    name = f"peer-{outcome.replace('_', '-')}"
    async with peer(answer, peer=name) as client:
        before = peer_calls(name, outcome)
        if raised is None:
            await send(client, "GET", f"/users/{uuid.uuid4()}")
        else:
            with pytest.raises(raised):
                await send(client, "GET", f"/users/{uuid.uuid4()}")
    assert peer_calls(name, outcome) == before + 1
    # the other outcomes of this peer exist from the start, at zero
    for other in metrics.PEER_OUTCOMES:
        assert (
            REGISTRY.get_sample_value(f"{PEER}_count", {"peer": name, "outcome": other}) is not None
        )


async def test_a_peer_that_is_too_slow_or_not_there_is_timed_too() -> None:
    never = asyncio.Event()

    async def silent(_: web.Request) -> web.StreamResponse:
        await never.wait()
        return web.Response()

    async with peer(silent, peer="failing-timeout", read_timeout=0.2) as client:
        before = peer_calls("failing-timeout", "timeout")
        with pytest.raises(ServiceUnavailable):
            await send(client, "GET", "/anything")
    assert peer_calls("failing-timeout", "timeout") == before + 1

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    async with create_http_client(f"http://127.0.0.1:{port}", peer="failing-unreachable") as gone:
        before = peer_calls("failing-unreachable", "unreachable")
        with pytest.raises(ServiceUnavailable):
            await send(gone, "GET", "/anything")
    assert peer_calls("failing-unreachable", "unreachable") == before + 1


async def test_the_internal_client_is_labelled_db_gateway_and_others_by_host() -> None:
    from pydantic import SecretStr

    internal = create_internal_client("http://127.0.0.1:9", SecretStr("t" * 32))
    other = create_http_client("http://payments.internal:8000")
    try:
        assert isinstance(internal, PeerClient)
        assert internal.peer_metrics.peer == "db-gateway"
        assert isinstance(other, PeerClient)
        assert other.peer_metrics.peer == "payments.internal"
    finally:
        await internal.aclose()
        await other.aclose()


# --- several server workers ------------------------------------------------------


def multiprocess_app() -> FastAPI:
    """The factory the multiprocess test serves with `servicekit.serve --workers 2`."""
    return make_app()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env[metrics.MULTIPROCESS_DIR_ENV] = str(tmp_path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "servicekit.serve",
            "--factory",
            "tests.servicekit.test_metrics:multiprocess_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _scrape(url: str) -> dict[str, Any]:
    families = text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=5).text)
    return {s.name + repr(sorted(s.labels.items())): s.value for f in families for s in f.samples}


def test_workers_report_one_sum_in_multiprocess_mode(two_workers: str) -> None:
    pids: set[int] = set()
    deadline = time.monotonic() + EVENT_WITHIN
    sent = 0
    # a new connection per request, so both workers get some
    while len(pids) < 2 or sent < 20:
        pids.add(httpx.get(f"{two_workers}/worker", timeout=5).json()["pid"])
        sent += 1
        assert time.monotonic() < deadline, "one worker took every connection"

    key = REQUESTS + repr(sorted({"method": "GET", "route": "/worker", "status": "200"}.items()))
    # a request is counted as its middleware finishes, just after the answer left
    wait_until(
        lambda: _scrape(two_workers).get(key) == sent, "every request counted in some scrape"
    )
    # then whichever worker answers the scrape reports every worker's requests
    for _ in range(4):
        scraped = _scrape(two_workers)
        assert scraped[key] == sent
        assert scraped[IN_FLIGHT + "[]"] == 0  # summed over live workers, no pid label
