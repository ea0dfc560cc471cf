"""Limits and confusion: oversized and slow requests, ambiguous JSON, paths
that mean something else once decoded, and the internal token of db-gateway.

Which part of the stack answered is read from nginx's access log: each line
names the upstream that served the request id, or none when nginx answered
itself (tests/e2e/test_limits.py::test_the_access_log_tells_who_answered shows
the method works).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import StackInfo
from tests.e2e.conftest import User, assert_problem, complete_lines
from tests.e2e.ledger_checks import ledger_rows, open_account, user_id_of
from tests.waiting import wait_until

# ---------------------------------------------------------------- helpers


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def served_by(stack: StackInfo, request_id: str) -> str:
    """ "ingress" when nginx answered itself, else the service whose replica did
    ("auth", "ledger", "db-gateway"), from nginx's access log line."""
    ports = {_address(url)[1]: name for name, url in stack.services.items()}
    log = stack.logs / "nginx-access.log"

    def service_of(upstream: str) -> str:
        # the replica that answered is the last nginx tried: `unix:/…/ledger-2.sock`
        # (how the ingress reaches replicas) or `127.0.0.1:<port>`
        answered = upstream.split(",")[-1].strip()
        if answered.startswith("unix:"):
            replica = Path(answered.removeprefix("unix:")).stem
        else:
            replica = ports[int(answered.rsplit(":", 1)[1])]
        return re.sub(r"-\d+$", "", replica)

    def line_of_the_request() -> dict[str, Any] | None:
        # nginx writes the line as it finishes the request, right after the response
        for line in reversed(complete_lines(log)):
            entry: dict[str, Any] = json.loads(line)
            if entry["request_id"] == request_id:
                return entry
        return None

    upstream = wait_until(line_of_the_request, f"no access log line for {request_id}")["upstream"]
    return "ingress" if not upstream else service_of(upstream)


def fresh_id() -> str:
    return f"limits-{uuid.uuid4().hex}"


def client_timeout(stack: StackInfo) -> int:
    """nginx's client header/body timeout on this stack (tests/conftest.py sets it short)."""
    seconds: int = json.loads((stack.state / "stack.json").read_text())["client_timeout_s"]
    return seconds


def raw_exchange(address: tuple[str, int], data: bytes, timeout: float = 10) -> bytes:
    """Send bytes as they are and read until the server closes the connection."""
    with socket.create_connection(address, timeout=timeout) as sock:
        # answered and closed before reading everything: read the answer
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        return received


def parse_response(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(body)))
    return int(status_line.split()[1]), headers, json.loads(body[:length])


def assert_raw_problem(raw: bytes, status: int, code: str) -> None:
    got, headers, body = parse_response(raw)
    assert got == status, raw[:500]
    assert headers["content-type"].startswith("application/problem+json")
    assert body["status"] == status
    assert body["code"] == code, body
    assert {"type", "title", "detail", "request_id"} <= body.keys()


# ---------------------------------------------------------------- the method


def test_the_access_log_tells_who_answered(stack: StackInfo, api: httpx.Client, user: User) -> None:
    cases = [
        ("/auth/sessions", "auth"),
        ("/profile", "ledger"),
        ("/services/accounts", "ledger"),
        ("/nowhere", "ingress"),
    ]
    for path, part in cases:
        request_id = fresh_id()
        api.get(path, headers={**user.headers, "X-Request-ID": request_id})
        assert served_by(stack, request_id) == part, path


# ---------------------------------------------------------------- body size


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b"{"
    sent = 1
    while sent < total - 1:
        piece = min(size, total - 1 - sent)
        yield b" " * piece
        sent += piece
    yield b"}"


@pytest.mark.parametrize(
    ("path", "size"),
    [("/services/transactions", 1024 * 1024 + 1), ("/auth/login", 16 * 1024 + 1)],
)
def test_a_chunked_body_over_the_edge_limit_is_a_problem_413(
    stack: StackInfo, api: httpx.Client, path: str, size: int
) -> None:
    request_id = fresh_id()
    # a generator body goes out chunked: no Content-Length to refuse it by
    response = api.post(
        path,
        content=_chunks(size),
        headers={"Content-Type": "application/json", "X-Request-ID": request_id},
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload_too_large")
    assert served_by(stack, request_id) == "ingress"


SERVICE_LIMIT = 2 * 1024 * 1024  # servicekit.strictjson.DEFAULT_MAX_BODY_BYTES


@pytest.mark.parametrize("part", ["auth-1", "ledger-1", "db-gateway"])
def test_services_refuse_a_body_over_their_own_limit(stack: StackInfo, part: str) -> None:
    """Behind the edge, a service buffers at most 2 MiB of JSON: declared or
    chunked, one byte more is a 413 problem+json."""
    address = _address(stack.services[part])
    path = {"auth-1": "/auth/login", "ledger-1": "/services/accounts"}.get(part, "/internal/x")
    head = (f"POST {path} HTTP/1.1\r\nHost: service\r\nContent-Type: application/json\r\n").encode()
    if part == "db-gateway":  # past its token guard, which answers before any body is read
        head += f"X-Internal-Token: {stack.secrets['INTERNAL_TOKEN']}\r\n".encode()
    # declared: refused on the header alone, before a byte of the body
    declared = raw_exchange(address, head + f"Content-Length: {SERVICE_LIMIT + 1}\r\n\r\n".encode())
    assert_raw_problem(declared, 413, "payload_too_large")
    # chunked: refused once the bytes read pass the limit
    body = b"{" + b" " * (SERVICE_LIMIT - 1) + b"}"
    chunked = raw_exchange(
        address,
        head
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + f"{len(body):x}\r\n".encode()
        + body
        + b"\r\n0\r\n\r\n",
    )
    assert_raw_problem(chunked, 413, "payload_too_large")


def test_a_body_at_the_edge_limit_still_reaches_the_service(
    stack: StackInfo, api: httpx.Client, user: User
) -> None:
    request_id = fresh_id()
    body = json.dumps({"name": "Padded", "type": "cash", "currency": "USD"}).encode()
    padded = body[:-1] + b" " * (1024 * 1024 - len(body)) + b"}"
    response = api.post(
        "/services/accounts",
        content=padded,
        headers={**user.headers, "Content-Type": "application/json", "X-Request-ID": request_id},
    )
    assert response.status_code == 201, response.text
    assert served_by(stack, request_id) == "ledger"


# ---------------------------------------------------------------- headers and URIs


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Huge": "x" * 64 * 1024},
        {"X-Just-Over": "x" * 8 * 1024},
        {f"X-Many-{i}": "y" * 100 for i in range(1000)},
    ],
    ids=["one-64KiB-header", "one-8KiB-header", "1000-headers"],
)
def test_oversized_headers_are_a_problem_431_from_the_edge(
    stack: StackInfo, api: httpx.Client, user: User, headers: dict[str, str]
) -> None:
    response = api.get("/profile", headers={**user.headers, **headers})
    body = assert_problem(response, 431, "headers_too_large")
    # the services never saw it: nginx answered, no upstream
    assert served_by(stack, body["request_id"]) == "ingress"


@pytest.mark.parametrize(
    "path",
    ["/services/transactions?q=" + "a" * 100 * 1024, "/services/" + "a" * 100 * 1024],
    ids=["100KiB-query", "100KiB-path"],
)
def test_a_very_long_uri_is_a_problem_414_from_the_edge(
    stack: StackInfo, api: httpx.Client, user: User, path: str
) -> None:
    # raw: httpx refuses to send a URL this long
    raw = raw_exchange(
        _address(stack.ingress),
        f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Authorization: {user.headers['Authorization']}\r\n\r\n".encode(),
    )
    assert_raw_problem(raw, 414, "uri_too_long")
    assert served_by(stack, parse_response(raw)[2]["request_id"]) == "ingress"


def test_a_malformed_request_line_is_a_problem_400(stack: StackInfo) -> None:
    raw = raw_exchange(_address(stack.ingress), b"GET /auth/login%00 HTTP/1.1\r\nHost: x\r\n\r\n")
    got, _, body = parse_response(raw)
    assert got == 400, raw[:300]
    assert body["code"] in {"bad_request", "invalid_path"}
    assert_raw_problem(raw, 400, body["code"])


# ---------------------------------------------------------------- slow clients


def test_slow_clients_are_cut_off_while_others_are_served(
    stack: StackInfo, api: httpx.Client, user: User
) -> None:
    """Slowloris: headers dripped a byte at a time, or a body that stalls. nginx
    drops each within its client timeout (408 or a plain close); meanwhile
    everyone else is served."""
    timeout = client_timeout(stack)
    address = _address(stack.ingress)
    dripping = [socket.create_connection(address) for _ in range(20)]
    stalled = [socket.create_connection(address) for _ in range(20)]
    slow = dripping + stalled
    try:
        for sock in dripping:
            sock.sendall(b"GET /profile HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        for sock in stalled:
            sock.sendall(
                b"POST /services/accounts HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
            )
        for sock in slow:
            sock.setblocking(False)
        started = time.monotonic()
        # far beyond the timeout: only an ingress that never cuts them off gets here
        bound = started + timeout * 3 + 5
        open_ = set(slow)
        dripped = dict.fromkeys(dripping, 0)
        answers: list[bytes] = []
        served = 0
        while open_ and time.monotonic() < bound:
            for sock in list(open_):
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    if sock in dripping and dripped[sock] < 500:  # within one header buffer
                        try:
                            sock.send(b"a")  # one more header byte
                            dripped[sock] += 1
                        except OSError:
                            open_.discard(sock)
                    continue
                except ConnectionResetError:
                    data = b""
                if data:
                    answers.append(data)
                open_.discard(sock)
            # everyone else meanwhile: served as usual
            assert api.get("/profile", headers=user.headers).status_code == 200
            served += 1
        assert not open_, f"{len(open_)} slow connections still open after {bound - started:.0f}s"
        assert served > 0
        for data in answers:
            assert data.startswith(b"HTTP/1.1 408"), data[:200]
    finally:
        for sock in slow:
            sock.close()


# ---------------------------------------------------------------- strict JSON


def raw_object(*pairs: tuple[str, str]) -> str:
    """A JSON object written out as given: keys may repeat, values are raw JSON."""
    return "{" + ",".join(f"{json.dumps(key)}:{value}" for key, value in pairs) + "}"


def _post_raw(api: httpx.Client, user: User, path: str, body: bytes | str) -> httpx.Response:
    return api.post(
        path,
        content=body.encode() if isinstance(body, str) else body,
        headers={**user.headers, "Content-Type": "application/json"},
    )


def test_duplicate_keys_are_refused_naming_the_key(
    stack: StackInfo, api: httpx.Client, user: User
) -> None:
    account = open_account(api, user, "Checking", opening_balance="100.00")
    user_id = user_id_of(api, user)
    before = ledger_rows(stack, user_id)
    body = raw_object(
        ("type", '"expense"'),
        ("account_id", json.dumps(account)),
        ("amount", '"1.00"'),
        ("amount", '"99.00"'),
        ("date", '"2026-11-02"'),
    )
    response = _post_raw(api, user, "/services/transactions", body)
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"] == [{"field": "amount", "message": "duplicate key"}]
    # nested objects too
    split = raw_object(
        ("category_id", json.dumps(str(uuid.uuid4()))), ("amount", '"1.00"'), ("amount", '"2.00"')
    )
    nested = raw_object(
        ("type", '"expense"'),
        ("account_id", json.dumps(account)),
        ("amount", '"2.00"'),
        ("date", '"2026-11-02"'),
        ("splits", f"[{split}]"),
    )
    problem = assert_problem(
        _post_raw(api, user, "/services/transactions", nested), 422, "validation_failed"
    )
    assert problem["errors"][0]["field"] == "amount"
    # and the credentials: which email would a login be for?
    twice = '{"email":"a@example.com","email":"b@example.com","password":"x"}'
    assert_problem(
        api.post("/auth/login", content=twice, headers={"Content-Type": "application/json"}),
        422,
        "validation_failed",
    )
    assert ledger_rows(stack, user_id) == before


@pytest.mark.parametrize(
    "amount",
    [
        '"1234567890123456.00"',  # 16 integer digits
        '"1.00001"',  # more decimals than any currency
        '"12.345"',  # more decimals than USD
        '"1e3"',
        '"NaN"',
        '"Infinity"',
        '"-5.00"',
        '"0.00"',
        '" 12.30"',
        '"\\u0661\\u0662"',  # Arabic-Indic digits
        "12.3",
        "1e400",
        "NaN",
        "Infinity",
        "-Infinity",
        "9" * 400,
    ],
)
def test_amounts_out_of_bounds_are_refused_without_a_trace(
    stack: StackInfo, api: httpx.Client, user: User, amount: str
) -> None:
    account = open_account(api, user, "Checking", opening_balance="100.00")
    user_id = user_id_of(api, user)
    before = ledger_rows(stack, user_id)
    body = raw_object(
        ("type", '"expense"'),
        ("account_id", json.dumps(account)),
        ("amount", amount),
        ("date", '"2026-11-02"'),
    )
    response = _post_raw(api, user, "/services/transactions", body)
    assert_problem(response, 422, "validation_failed")
    assert ledger_rows(stack, user_id) == before


@pytest.mark.parametrize(
    "body",
    ["[" * 10_000 + "]" * 10_000, '{"a":' * 10_000 + "1" + "}" * 10_000, "[" * 100_000],
    ids=["10000-arrays", "10000-objects", "100000-unclosed"],
)
def test_deeply_nested_json_is_a_problem_422(api: httpx.Client, user: User, body: str) -> None:
    response = _post_raw(api, user, "/services/transactions", body)
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"] == [{"field": "body", "message": "is nested too deeply"}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"name":"\xff\xfe"}', "is not valid UTF-8"),
        (b'{"name":', "is not valid JSON"),
        (b'{"name":"x"} trailing', "is not valid JSON"),
    ],
)
def test_malformed_json_is_a_problem_422(
    api: httpx.Client, user: User, body: bytes, message: str
) -> None:
    problem = assert_problem(_post_raw(api, user, "/services/accounts", body), 422)
    assert problem["errors"] == [{"field": "body", "message": message}]


def test_db_gateway_parses_strictly_too(stack: StackInfo) -> None:
    with httpx.Client(base_url=stack.services["db-gateway"], timeout=10) as gateway:
        response = gateway.post(
            f"/internal/users/{uuid.uuid4()}/accounts",
            content=b'{"name":"a","name":"b","type":"cash","currency":"USD"}',
            headers={
                "Content-Type": "application/json",
                "X-Internal-Token": stack.secrets["INTERNAL_TOKEN"],
            },
        )
    body = assert_problem(response, 422, "bad_internal_request")
    assert body["errors"] == [{"field": "name", "message": "duplicate key"}]


# ---------------------------------------------------------------- path confusion

CONFUSING = [
    "/services/../auth/login",
    "/services/%2e%2e/auth/login",
    "/services/%2E%2E%2Fauth/login",
    "/services%2F..%2Fauth",
    "/auth/..%2fservices/accounts",
    "/auth/%2e%2e/services/accounts",
    "/services/%252e%252e/auth/login",
    "/services/%252e%252e%252fauth/login",
    "//auth/login",
    "/auth//login",
    "/auth/./login",
    "/auth/login/.",
    "/profile/..",
    "/auth\\..\\services/accounts",
    "/services/accounts%5c..%5c..%5cauth",
    "/auth/login%00",
    "/profile/..%2f..%2fservices/accounts",
    "/services/..%2f..%2finternal/users",
    "/.env",
    "/.problem/400",
]
UNROUTED = [
    "/authx",
    "/authx/login",
    "/Auth/login",
    "/AUTH/login",
    "/profilex",
    "/profile-admin",
    "/servicesx/accounts",
    "/internal/users",
    "/internal/openapi.json",
    "/internal/docs",
    "/healthz",
    "/metrics",
]


@pytest.mark.parametrize("path", CONFUSING)
def test_confusing_paths_are_refused_at_the_edge(
    stack: StackInfo, api: httpx.Client, user: User, path: str
) -> None:
    request_id = fresh_id()
    # sent as written: httpx would normalise dot segments and backslashes
    raw = raw_exchange(
        _address(stack.ingress),
        (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Authorization: {user.headers['Authorization']}\r\n"
            f"X-Request-ID: {request_id}\r\nContent-Type: application/json\r\n"
            "Content-Length: 2\r\n\r\n{}"
        ).encode(),
    )
    got, _, body = parse_response(raw)
    assert got == 400, raw[:300]
    assert body["code"] in {"invalid_path", "bad_request"}
    assert_raw_problem(raw, 400, body["code"])
    answered = served_by(stack, body["request_id"])
    assert answered == "ingress"


@pytest.mark.parametrize("part", ["auth-1", "ledger-1"])
def test_behind_the_edge_confusing_paths_match_no_route(
    stack: StackInfo, user: User, part: str
) -> None:
    """What a controller without the edge's path rule would pass on: the raw
    path matches no route of any service (none has dots or double slashes)."""
    for path in CONFUSING:
        raw = raw_exchange(
            _address(stack.services[part]),
            (
                f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                f"Authorization: {user.headers['Authorization']}\r\n"
                "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
            ).encode(),
        )
        got, _, body = parse_response(raw)
        assert got in {400, 404}, (path, raw[:300])
        assert_raw_problem(raw, got, body["code"])


@pytest.mark.parametrize("path", UNROUTED)
def test_lookalike_paths_are_a_problem_404_from_the_edge(
    stack: StackInfo, api: httpx.Client, user: User, path: str
) -> None:
    request_id = fresh_id()
    response = api.get(
        path,
        headers={
            **user.headers,
            "X-Request-ID": request_id,
            # even with the internal token, the edge never routes to db-gateway
            "X-Internal-Token": stack.secrets["INTERNAL_TOKEN"],
        },
    )
    assert_problem(response, 404, "not_found")
    assert served_by(stack, request_id) == "ingress"


# ---------------------------------------------------------------- db-gateway's token


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for template, item in spec["paths"].items():
        for method in item:
            if method in {"get", "post", "put", "patch", "delete"}:
                path = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), template)
                yield method.upper(), path


def test_every_db_gateway_route_requires_the_internal_token(stack: StackInfo) -> None:
    token = stack.secrets["INTERNAL_TOKEN"]
    near_miss = token[:-1] + ("A" if token[-1] != "A" else "B")  # same length, last byte off
    refusals = [
        {},
        {"X-Internal-Token": ""},
        {"X-Internal-Token": "wrong"},
        {"X-Internal-Token": near_miss},
        {"X-Internal-Token": token + "x"},
        {"X-Internal-Token": token.swapcase()},
        {"Authorization": f"Bearer {token}"},
    ]
    with httpx.Client(base_url=stack.services["db-gateway"], timeout=10) as gateway:
        # the document of the internal API is internal too
        for headers in refusals:
            refused = gateway.get("/internal/openapi.json", headers=headers)
            assert_problem(refused, 401, "invalid_internal_token")
        spec = gateway.get("/internal/openapi.json", headers={"X-Internal-Token": token}).json()
        operations = list(_operations(spec))
        assert len(operations) >= 30, operations
        for method, path in operations:
            for headers in refusals:
                response = gateway.request(method, path, json={}, headers=headers)
                assert_problem(response, 401, "invalid_internal_token")
                # refused before its body is read: malformed JSON is no 422 oracle
                garbled = gateway.request(
                    method,
                    path,
                    content=b'{"a": 1, "a": [',
                    headers={**headers, "Content-Type": "application/json"},
                )
                assert_problem(garbled, 401, "invalid_internal_token")
            # the right token gets past the check (to a 404 or a 422 about the call)
            opened = gateway.request(method, path, json={}, headers={"X-Internal-Token": token})
            assert opened.status_code != 401, (method, path, opened.text)
            assert opened.status_code < 500, (method, path, opened.text)
