"""Prometheus metrics every service shares, served on `/metrics` of its own port.

What is measured here (service-specific counters live next to the code they
count: auth.service, ledger.cache, ledger.services.transactions, db_gateway.db):

- `http_server_requests_total{method,route,status}` and
  `http_server_request_duration_seconds{method,route,status}` (histogram), one
  observation per request, from `servicekit.middleware`;
- `http_server_requests_in_flight`;
- `http_client_request_duration_seconds{peer,outcome}` (histogram) for every
  call made through `servicekit.http.send`.

Every label value comes from a small, fixed set: `route` is the route
template (`/services/accounts/{account_id}`, never the path a client sent;
`<unmatched>` when no route matched), `method` one of the HTTP methods or
`OTHER`, `status` the status code, `peer` a name given in code and `outcome`
one of `PEER_OUTCOMES`. User ids, emails, request ids and raw paths never
become labels: each distinct value is a time series that Prometheus keeps.
The probes and `/metrics` itself are not counted (they are not traffic).

Several uvicorn workers (`--workers N`) each count on their own; set
`PROMETHEUS_MULTIPROC_DIR` to an empty directory writable by the service, a
fresh one each time the server starts, and every worker writes its values
there and any worker's `/metrics` reports their sum (prometheus-client's
multiprocess mode). Without it, values live in the process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

from fastapi import APIRouter
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.responses import Response

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED_ROUTE = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"
# From a Redis hit (~1 ms) to a request that ran into the 5 s statement timeout.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PEER_OUTCOMES = ("success", "client_error", "server_error", "timeout", "unreachable")

# `_created` series double the output and no dashboard reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]


def multiprocess_mode() -> bool:
    """Whether values are shared through PROMETHEUS_MULTIPROC_DIR.

    prometheus-client decides this when it is imported, from the same variable.
    """
    return MULTIPROCESS_DIR_ENV in os.environ or MULTIPROCESS_DIR_ENV.lower() in os.environ


_requests = Counter(
    "http_server_requests",
    "Requests answered, by route template, method and status.",
    ("method", "route", "status"),
)
_duration = Histogram(
    "http_server_request_duration_seconds",
    "Time from the request reaching the service to the end of its response.",
    ("method", "route", "status"),
    buckets=LATENCY_BUCKETS,
)
_peer_duration = Histogram(
    "http_client_request_duration_seconds",
    "Calls to another service (servicekit.http.send), by peer and outcome; "
    "the _count is the number of calls.",
    ("peer", "outcome"),
    buckets=LATENCY_BUCKETS,
)

# The labelled children, resolved once per label combination: a request then
# costs a dict look-up, a counter and a histogram update, nothing else.
_request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

IN_FLIGHT_NAME = "http_server_requests_in_flight"
_IN_FLIGHT_HELP = "Requests being handled right now."


class _InFlight:
    """Requests in flight as a plain integer, read when Prometheus scrapes: a
    Gauge would take a lock twice per request. The middleware runs on the
    event loop's one thread, so the integer needs none."""

    def __init__(self) -> None:
        self.count = 0

    def started(self) -> None:
        self.count += 1

    def ended(self) -> None:
        self.count -= 1

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(IN_FLIGHT_NAME, _IN_FLIGHT_HELP, value=self.count)


request_started: Callable[[], None]
request_ended: Callable[[], None]
if multiprocess_mode():
    # each worker's value in its file, summed over the live workers
    _in_flight_gauge = Gauge(IN_FLIGHT_NAME, _IN_FLIGHT_HELP, multiprocess_mode="livesum")
    request_started, request_ended = _in_flight_gauge.inc, _in_flight_gauge.dec
else:
    _in_flight = _InFlight()
    REGISTRY.register(_in_flight)
    request_started, request_ended = _in_flight.started, _in_flight.ended


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request. `route` must be a route template or
    UNMATCHED_ROUTE, never a path a client sent."""
    if method not in METHODS:
        method = OTHER_METHOD  # clients may send any token as a method
    key = (method, route, status)
    children = _request_children.get(key)
    if children is None:
        labels = (method, route, str(status))
        children = _request_children[key] = (
            _requests.labels(*labels),
            _duration.labels(*labels),
        )
    children[0].inc()
    children[1].observe(seconds)


class PeerMetrics:
    """Latency of the calls to one peer, its children resolved up front (so
    every outcome is exported, at zero, before the first call)."""

    __slots__ = ("_by_outcome", "peer")

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self._by_outcome = {o: _peer_duration.labels(peer, o) for o in PEER_OUTCOMES}

    def observe(self, outcome: str, seconds: float) -> None:
        self._by_outcome[outcome].observe(seconds)


def outcome_of_status(status: int) -> str:
    if status < 400:
        return "success"
    return "client_error" if status < 500 else "server_error"


def children(metric: Counter, values: Iterable[str]) -> dict[str, Counter]:
    """One pre-resolved child per value of a single-label counter, so each is
    exported at zero from the start (a rate over a missing series is no rate)."""
    return {value: metric.labels(value) for value in values}


def exposition() -> bytes:
    """The text a scrape receives: this process's registry, or in
    multiprocess mode the sum over every worker's files."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def process_exiting() -> None:
    """In multiprocess mode, drop this worker's live gauges (requests in
    flight, pool connections) so the sum no longer counts them."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def metrics_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
