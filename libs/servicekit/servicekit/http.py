"""httpx clients for service-to-service calls: explicit timeouts, bounded pools,
the request id forwarded, every call's latency measured per peer, and peer
problems turned back into our own errors."""

from __future__ import annotations

import logging
import time

import httpx
from pydantic import SecretStr

from servicekit.context import request_id_var
from servicekit.errors import ProblemError, ServiceUnavailable, problem_from
from servicekit.metrics import PeerMetrics, outcome_of_status

log = logging.getLogger("servicekit.http")


async def _forward_request_id(request: httpx.Request) -> None:
    request_id = request_id_var.get()
    if request_id:
        request.headers["X-Request-ID"] = request_id


class PeerClient(httpx.AsyncClient):
    """An httpx client that knows which peer it calls, for the latency metric
    (`peer` is a name given in code, so a bounded label value)."""

    def __init__(self, *, peer: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.peer_metrics = PeerMetrics(peer)


_other_peer: list[PeerMetrics] = []  # made on first use: no idle series in every service


def _peer_metrics_of(client: httpx.AsyncClient) -> PeerMetrics:
    if isinstance(client, PeerClient):
        return client.peer_metrics
    # a client made elsewhere (tests, ad-hoc scripts)
    if not _other_peer:
        _other_peer.append(PeerMetrics("other"))
    return _other_peer[0]


KEEPALIVE_EXPIRY_SECONDS = 4.0


def create_http_client(
    base_url: str,
    *,
    peer: str | None = None,
    headers: dict[str, str] | None = None,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
    pool_timeout: float = 2.0,
    max_connections: int = 16,
) -> httpx.AsyncClient:
    """`peer` names the service called in the latency metric (default: the
    host of `base_url`, which is configuration, not input).

    The pool is small on purpose: db-gateway serves each request on one of its
    own 15 database connections, so more HTTP connections would only wait
    there, and httpcore checks every pooled connection on every request (a
    syscall each): at 100 that was a quarter of the ledger's CPU on writes."""
    return PeerClient(
        peer=peer or httpx.URL(base_url).host or "other",
        base_url=base_url,
        headers=headers,
        timeout=httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=pool_timeout
        ),
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            # shorter than a draining peer waits before it closes an idle
            # connection (servicekit.serve): a request is never sent on one
            # it is closing
            keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
        ),
        event_hooks={"request": [_forward_request_id]},
    )


INTERNAL_TOKEN_HEADER = "X-Internal-Token"  # noqa: S105 (a header name, not a secret)


def create_internal_client(base_url: str, token: SecretStr) -> httpx.AsyncClient:
    """A client for db-gateway's /internal API, authenticated with the shared token."""
    return create_http_client(
        base_url, peer="db-gateway", headers={INTERNAL_TOKEN_HEADER: token.get_secret_value()}
    )


# Statuses a peer may answer with that mean something to our own client. A 4xx
# that says our call itself was wrong (bad shape, bad internal token) is our bug
# and becomes a 500; a 5xx or no answer means "unavailable, retry".
PASSTHROUGH_STATUSES = frozenset({401, 404, 409, 412, 422})
# e.g. the current ETag with a 412, so the client can retry against it
PASSTHROUGH_HEADERS = ("ETag", "Retry-After")
BAD_INTERNAL_REQUEST = "bad_internal_request"  # what db-gateway calls a malformed call
CALLER_BUG_CODES = frozenset({BAD_INTERNAL_REQUEST, "invalid_internal_token"})


async def send(
    client: httpx.AsyncClient, method: str, url: str, **kwargs: object
) -> httpx.Response:
    """Call a peer; raise a ProblemError for anything but a 2xx."""
    peer = _peer_metrics_of(client)
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.TimeoutException as exc:
        peer.observe("timeout", time.perf_counter() - started)
        log.warning("peer timed out", extra={"peer": str(client.base_url), "error": repr(exc)})
        raise ServiceUnavailable(
            "a backing service timed out; retry shortly", headers={"Retry-After": "1"}
        ) from exc
    except httpx.TransportError as exc:
        peer.observe("unreachable", time.perf_counter() - started)
        log.warning("peer unreachable", extra={"peer": str(client.base_url), "error": repr(exc)})
        raise ServiceUnavailable(
            "a backing service is unreachable; retry shortly", headers={"Retry-After": "1"}
        ) from exc
    peer.observe(outcome_of_status(response.status_code), time.perf_counter() - started)
    if response.is_success:
        return response
    problem = _problem_of(response)
    if response.status_code in PASSTHROUGH_STATUSES and problem.code not in CALLER_BUG_CODES:
        problem.headers.update(
            {
                name: response.headers[name]
                for name in PASSTHROUGH_HEADERS
                if name in response.headers
            }
        )
        raise problem
    if response.status_code >= 500:
        raise ServiceUnavailable(
            "a backing service failed; retry shortly", headers={"Retry-After": "1"}
        )
    log.error(
        "peer rejected our call",
        extra={
            "peer": str(client.base_url),
            "status": response.status_code,
            "detail": problem.detail,
        },
    )
    raise ProblemError()


def _problem_of(response: httpx.Response) -> ProblemError:
    try:
        body = response.json()
        return problem_from(
            response.status_code,
            code=str(body["code"]),
            detail=str(body["detail"]),
            errors=body.get("errors"),
        )
    except (ValueError, KeyError, TypeError):
        return problem_from(response.status_code, code="peer_error", detail="peer error")
