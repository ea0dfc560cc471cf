"""httpx clients for service-to-service calls: explicit timeouts, bounded pools,
the request id forwarded, and peer problems turned back into our own errors."""

from __future__ import annotations

import logging

import httpx
from pydantic import SecretStr

from servicekit.context import request_id_var
from servicekit.errors import ProblemError, ServiceUnavailable, problem_from

log = logging.getLogger("servicekit.http")


async def _forward_request_id(request: httpx.Request) -> None:
    request_id = request_id_var.get()
    if request_id:
        request.headers["X-Request-ID"] = request_id


def create_http_client(
    base_url: str,
    *,
    headers: dict[str, str] | None = None,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
    pool_timeout: float = 2.0,
    max_connections: int = 100,
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=pool_timeout
        ),
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30,
        ),
        event_hooks={"request": [_forward_request_id]},
    )


INTERNAL_TOKEN_HEADER = "X-Internal-Token"  # noqa: S105 (a header name, not a secret)


def create_internal_client(base_url: str, token: SecretStr) -> httpx.AsyncClient:
    """A client for db-gateway's /internal API, authenticated with the shared token."""
    return create_http_client(base_url, headers={INTERNAL_TOKEN_HEADER: token.get_secret_value()})


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
    try:
        response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.TimeoutException as exc:
        log.warning("peer timed out", extra={"peer": str(client.base_url), "error": repr(exc)})
        raise ServiceUnavailable(
            "a backing service timed out; retry shortly", headers={"Retry-After": "1"}
        ) from exc
    except httpx.TransportError as exc:
        log.warning("peer unreachable", extra={"peer": str(client.base_url), "error": repr(exc)})
        raise ServiceUnavailable(
            "a backing service is unreachable; retry shortly", headers={"Retry-After": "1"}
        ) from exc
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
