"""Clients for service-to-service calls: explicit timeouts, bounded keep-alive
pools, the request id forwarded, every call's latency measured per peer, and
peer problems turned back into our own errors.

Underneath is aiohttp's client. httpx cost ~550 µs of CPU per call on the
machines this runs on (its models, URL parsing and anyio-based transport,
which checks every pooled connection with a syscall on every request), more
than the work of a cached read or a page; aiohttp's, with its C parser, ~140
µs. Callers see only `PeerClient` and `send`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from pydantic import SecretStr

from servicekit.context import request_id_var
from servicekit.errors import ProblemError, ServiceUnavailable, problem_from
from servicekit.jsonutil import dumps, loads
from servicekit.metrics import PeerMetrics, outcome_of_status

log = logging.getLogger("servicekit.http")

# How long a pooled connection may stay idle: shorter than a draining peer
# waits before it closes an idle connection (servicekit.serve), so a request
# is never sent on one it is closing.
KEEPALIVE_EXPIRY_SECONDS = 4.0
INTERNAL_TOKEN_HEADER = "X-Internal-Token"  # noqa: S105 (a header name, not a secret)
Params = Mapping[str, str | int | bool]


class PeerResponse:
    """What a caller reads of a peer's answer: it is read whole before `send`
    returns, so the connection is back in the pool already."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: CIMultiDictProxy[str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        return loads(self.content)


class PeerClient:
    """A keep-alive client for one peer. `peer` names it in the latency metric
    (a name given in code, so a bounded label value)."""

    def __init__(
        self,
        base_url: str,
        *,
        peer: str,
        headers: Mapping[str, str] | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        pool_timeout: float = 2.0,
        max_connections: int = 16,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.peer_metrics = PeerMetrics(peer)
        self._headers = dict(headers or {})
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            # waiting for a pooled connection and making one
            connect=pool_timeout + connect_timeout,
            sock_connect=connect_timeout,
            sock_read=read_timeout,
        )
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # made on first use, inside the running event loop (as aiohttp requires)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections,
                    limit_per_host=self._max_connections,
                    keepalive_timeout=KEEPALIVE_EXPIRY_SECONDS,
                    ttl_dns_cache=None,
                ),
                timeout=self._timeout,
                headers=self._headers,
                skip_auto_headers=("User-Agent",),
                raise_for_status=False,
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: object = None,
    ) -> PeerResponse:
        headers = {}
        request_id = request_id_var.get()
        if request_id:
            headers["X-Request-ID"] = request_id
        data = None
        if json is not None:
            data = dumps(json)
            headers["Content-Type"] = "application/json"
        query = {k: _query_value(v) for k, v in params.items()} if params else None
        async with self._client().request(
            method, self.base_url + path, params=query, data=data, headers=headers
        ) as response:
            return PeerResponse(response.status, response.headers, await response.read())

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> PeerClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def _query_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def create_http_client(
    base_url: str,
    *,
    peer: str | None = None,
    headers: dict[str, str] | None = None,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
    pool_timeout: float = 2.0,
    max_connections: int = 16,
) -> PeerClient:
    """`peer` names the service called in the latency metric (default: the
    host of `base_url`, which is configuration, not input).

    The pool is small on purpose: db-gateway serves each request on one of its
    own 15 database connections, so more HTTP connections would only wait
    there."""
    host = base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return PeerClient(
        base_url,
        peer=peer or host or "other",
        headers=headers,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        pool_timeout=pool_timeout,
        max_connections=max_connections,
    )


def create_internal_client(base_url: str, token: SecretStr) -> PeerClient:
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
    client: PeerClient,
    method: str,
    path: str,
    *,
    params: Params | None = None,
    json: object = None,
) -> PeerResponse:
    """Call a peer; raise a ProblemError for anything but a 2xx."""
    peer = client.peer_metrics
    started = time.perf_counter()
    try:
        response = await client.request(method, path, params=params, json=json)
    except TimeoutError as exc:
        peer.observe("timeout", time.perf_counter() - started)
        log.warning("peer timed out", extra={"peer": client.base_url, "error": repr(exc)})
        raise ServiceUnavailable(
            "a backing service timed out; retry shortly", headers={"Retry-After": "1"}
        ) from exc
    except (aiohttp.ClientError, OSError) as exc:
        peer.observe("unreachable", time.perf_counter() - started)
        log.warning("peer unreachable", extra={"peer": client.base_url, "error": repr(exc)})
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
            "peer": client.base_url,
            "status": response.status_code,
            "detail": problem.detail,
        },
    )
    raise ProblemError()


def _problem_of(response: PeerResponse) -> ProblemError:
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
