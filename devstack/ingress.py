"""nginx configuration generated from deploy/ingress/ingress.yaml.

The local nginx does what the Ingresses (and their ingress-nginx annotations)
ask of the controller in the cluster: the same routes with Prefix semantics,
body-size limits, per-address rate limits, CORS for the SPA origins of
settings.yaml, and problem+json for every error it makes itself. Routes to
`ingress-errors` (the cluster's error backend) are answered by nginx directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

ERRORS_SERVICE = "ingress-errors"
ANNOTATION = "nginx.ingress.kubernetes.io/"
# ingress-nginx's defaults for what the annotations leave out
BURST_MULTIPLIER = 5
LIMIT_STATUS = 503


@dataclass(frozen=True)
class Cors:
    origins: tuple[str, ...]
    methods: str
    headers: str
    expose: str
    max_age: str


@dataclass(frozen=True)
class Route:
    path: str
    service: str
    max_body: str = "1m"
    rate_limit_rps: int | None = None
    cors: Cors | None = field(default=None, compare=False)


def _settings(settings_file: Path | None) -> dict[str, str]:
    if settings_file is None or not settings_file.exists():
        return {}
    data: dict[str, str] = yaml.safe_load(settings_file.read_text()).get("data") or {}
    return data


def _cors(annotations: dict[str, str], settings: dict[str, str]) -> Cors | None:
    if annotations.get(ANNOTATION + "enable-cors") != "true":
        return None
    # kustomize copies settings.yaml's value over the annotation; do the same
    raw = settings.get("cors-allow-origin") or annotations.get(ANNOTATION + "cors-allow-origin", "")
    return Cors(
        origins=tuple(o.strip() for o in raw.split(",") if o.strip()),
        methods=annotations.get(ANNOTATION + "cors-allow-methods", "GET, POST, OPTIONS"),
        headers=annotations.get(ANNOTATION + "cors-allow-headers", "Authorization, Content-Type"),
        expose=annotations.get(ANNOTATION + "cors-expose-headers", ""),
        max_age=annotations.get(ANNOTATION + "cors-max-age", "1728000"),
    )


@dataclass(frozen=True)
class ControllerSettings:
    """What the ingress-nginx controller's own ConfigMap sets for every route
    (settings.yaml holds the values; the keys are the controller's)."""

    header_timeout_s: int = 60
    body_timeout_s: int = 60
    large_header_buffers: str = "4 8k"
    # how long an idle connection to a service stays open; shorter than any
    # service's keep-alive and drain, so the ingress closes first
    upstream_keepalive_s: int = 60

    def with_timeout(self, seconds: int | None) -> ControllerSettings:
        """The same settings with both client timeouts replaced (the test
        stack's short ones), or unchanged for None."""
        if seconds is None:
            return self
        return replace(self, header_timeout_s=seconds, body_timeout_s=seconds)


def load_controller_settings(settings_file: Path | None) -> ControllerSettings:
    settings = _settings(settings_file)
    defaults = ControllerSettings()
    buffers = settings.get("large-client-header-buffers", defaults.large_header_buffers)
    count, _, size = buffers.partition(" ")
    if not count.isdigit() or not size:
        raise ValueError(f"large-client-header-buffers: not 'N size': {buffers!r}")
    _size_bytes(size)
    return ControllerSettings(
        header_timeout_s=int(settings.get("client-header-timeout", defaults.header_timeout_s)),
        body_timeout_s=int(settings.get("client-body-timeout", defaults.body_timeout_s)),
        large_header_buffers=buffers,
        upstream_keepalive_s=int(
            settings.get("upstream-keepalive-timeout", defaults.upstream_keepalive_s)
        ),
    )


def load_routes(ingress_file: Path, settings_file: Path | None = None) -> list[Route]:
    settings = _settings(settings_file)
    routes: list[Route] = []
    for doc in yaml.safe_load_all(ingress_file.read_text()):
        if not doc or doc.get("kind") != "Ingress":
            continue
        annotations: dict[str, str] = (doc.get("metadata") or {}).get("annotations") or {}
        rps = annotations.get(ANNOTATION + "limit-rps")
        for rule in doc["spec"]["rules"]:
            for item in rule["http"]["paths"]:
                if item.get("pathType") != "Prefix":
                    raise ValueError(f"only Prefix paths are supported, got {item!r}")
                routes.append(
                    Route(
                        path=item["path"].rstrip("/") or "/",
                        service=item["backend"]["service"]["name"],
                        max_body=annotations.get(ANNOTATION + "proxy-body-size", "1m"),
                        rate_limit_rps=int(rps) if rps else None,
                        cors=_cors(annotations, settings),
                    )
                )
    if not routes:
        raise ValueError(f"{ingress_file} defines no routes")
    return routes


def _problem_body(status: int, title: str, code: str, detail: str) -> str:
    return json.dumps(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            "request_id": "$req_id",  # nginx fills it in
        },
        separators=(",", ":"),
    )


def _problem(status: int, title: str, code: str, detail: str) -> list[str]:
    lines = [
        "default_type application/problem+json;",
        "add_header X-Request-ID $req_id always;",
    ]
    if status in (429, 503):
        lines.append("add_header Retry-After 1 always;")
    lines.append(f"return {status} '{_problem_body(status, title, code, detail)}';")
    return lines


# Errors nginx makes while it still reads the request line or headers: the
# request has no URI yet, so a named location cannot answer them; internal
# locations under /.problem/ do (no public path starts with a dot segment).
_EARLY_ERRORS = [
    # a path the edge refuses ($confusing_path), or a request nginx cannot parse
    (400, "Bad Request", "$bad_request_code", "$bad_request_detail"),
    (408, "Request Timeout", "request_timeout", "The request was not sent in time."),
    (414, "URI Too Long", "uri_too_long", "The request line is too long."),
    (431, "Request Header Fields Too Large", "headers_too_large", "A header is too large."),
]
EARLY_ERROR_PREFIX = "/.problem/"

_INGRESS_ERRORS = [
    (404, "Not Found", "not_found", "No route for this path."),
    (413, "Content Too Large", "payload_too_large", "The request body is too large."),
    (429, "Too Many Requests", "too_many_requests", "Slow down and retry later."),
    (502, "Bad Gateway", "bad_gateway", "The service behind this route is not answering."),
    (503, "Service Unavailable", "service_unavailable", "Try again shortly."),
    (504, "Gateway Timeout", "gateway_timeout", "The service took too long to answer."),
]


def _zone(rps: int) -> str:
    return f"limit_{rps}rps"


def _cors_lines(cors: Cors, indent: str) -> list[str]:
    """ingress-nginx's CORS: allowed origins get the headers; a preflight from
    one is answered 204 by the edge itself."""
    allow = [
        "add_header Access-Control-Allow-Origin $cors_origin always;",
        "add_header Vary Origin always;",
    ]
    if cors.expose:
        allow.append("add_header Access-Control-Expose-Headers $cors_expose always;")
    preflight = [
        "add_header Access-Control-Allow-Origin $cors_origin always;",
        f"add_header Access-Control-Allow-Methods '{cors.methods}' always;",
        f"add_header Access-Control-Allow-Headers '{cors.headers}' always;",
        f"add_header Access-Control-Max-Age {cors.max_age} always;",
        "add_header Vary Origin always;",
        "return 204;",
    ]
    lines = ['if ($preflight = "yes") {', *("    " + p for p in preflight), "}", *allow]
    return [indent + line for line in lines]


def _location(route: Route, location: str) -> list[str]:
    inner = " " * 12
    lines = [f"        location {location} {{"]
    if route.service == ERRORS_SERVICE:
        lines += [inner + line for line in _problem(*_INGRESS_ERRORS[0])]
    else:
        lines.append(f"{inner}client_max_body_size {route.max_body};")
        lines.append(f"{inner}client_body_buffer_size {route.max_body};")
        if route.rate_limit_rps:
            burst = route.rate_limit_rps * BURST_MULTIPLIER
            lines.append(
                f"{inner}limit_req zone={_zone(route.rate_limit_rps)} burst={burst} nodelay;"
            )
            lines.append(f"{inner}limit_req_status {LIMIT_STATUS};")
        if route.cors is not None:
            lines += _cors_lines(route.cors, inner)
        lines.append(f"{inner}proxy_pass http://{route.service};")
    lines.append("        }")
    return lines


def _cors_maps(routes: list[Route]) -> list[str]:
    cors = next((r.cors for r in routes if r.cors is not None), None)
    if cors is None:
        return []
    if any(r.cors is not None and r.cors != cors for r in routes):
        raise ValueError("the Ingresses disagree on CORS; the local stack needs one setting")
    allowed = "\n".join(f"        {json.dumps(o)} $http_origin;" for o in cors.origins)
    return [
        "    # CORS: the origin is echoed only when it is one of settings.yaml's",
        "    map $http_origin $cors_origin {",
        '        default "";',
        *([allowed] if allowed else []),
        "    }",
        "    map $cors_origin $cors_expose {",
        '        "" "";',
        f'        default "{cors.expose}";',
        "    }",
        '    map "$request_method:$cors_origin" $preflight {',
        '        default "no";',
        '        "~^OPTIONS:." "yes";',
        "    }",
    ]


def render_nginx_conf(
    *,
    routes: list[Route],
    upstreams: Mapping[str, Sequence[str]],
    listen_port: int,
    prefix: Path,
    run_as: str | None,
    limits: ControllerSettings | None = None,
    temp: Path | None = None,
) -> str:
    """`upstreams`: each service's replicas as nginx addresses
    (`127.0.0.1:8001`, `unix:/path/to/ledger-1.sock`)."""
    limits = limits or ControllerSettings()
    tmp = temp or prefix / "tmp"
    logs = prefix.parent / "logs"
    lines: list[str] = []
    if run_as:
        lines.append(f"user {run_as};")
    largest_body = max((r.max_body for r in routes), key=_size_bytes, default="1m")
    lines += [
        "worker_processes auto;",
        "daemon off;",
        f"pid {prefix}/nginx.pid;",
        f"error_log {logs}/nginx-error.log warn;",
        "events { worker_connections 1024; }",
        "http {",
        "    server_tokens off;",
        f"    client_max_body_size {largest_body};",
        # slow clients (slowloris) are cut off; headers are bounded in size
        f"    client_header_timeout {limits.header_timeout_s}s;",
        f"    client_body_timeout {limits.body_timeout_s}s;",
        f"    large_client_header_buffers {limits.large_header_buffers};",
        "    send_timeout 30s;",
        "    keepalive_timeout 60s;",
        # Responses stay in memory; request bodies over the in-memory buffer go
        # to `temp`, a directory the unprivileged workers own (devstack makes it).
        "    proxy_max_temp_file_size 0;",
        f"    client_body_temp_path {tmp}/body;",
        f"    proxy_temp_path {tmp}/proxy;",
        f"    fastcgi_temp_path {tmp}/fastcgi;",
        f"    uwsgi_temp_path {tmp}/uwsgi;",
        f"    scgi_temp_path {tmp}/scgi;",
        "    # A caller's X-Request-ID is kept only if it is short and inert (it is",
        "    # echoed into JSON bodies and log lines); otherwise nginx makes one.",
        "    map $http_x_request_id $req_id {",
        '        "~^[A-Za-z0-9._:-]{1,128}$" $http_x_request_id;',
        "        default $request_id;",
        "    }",
        *_cors_maps(routes),
        *_path_maps(),
        '    log_format main escape=json \'{"ts":"$time_iso8601","service":"ingress",'
        '"request_id":"$req_id","method":"$request_method","uri":"$uri",'
        '"status":$status,"duration_s":$request_time,"upstream":"$upstream_addr"}\';',
        f"    access_log {logs}/nginx-access.log main;",
    ]
    for rps in sorted({r.rate_limit_rps for r in routes if r.rate_limit_rps}):
        lines.append(f"    limit_req_zone $binary_remote_addr zone={_zone(rps)}:10m rate={rps}r/s;")
    for name in sorted({r.service for r in routes if r.service != ERRORS_SERVICE}):
        servers = upstreams[name]
        if not servers:
            raise ValueError(f"no replica of {name} to route to")
        lines.append(f"    upstream {name} {{")
        # A replica that refuses the connection (draining, restarting,
        # crashed) gets the request passed to the next one: safe for every
        # method, since nothing was sent. None is ever marked down
        # (max_fails=0, ingress-nginx's default): a replica that just came
        # back may have refused a probe a moment ago, and marking both of two
        # replicas down in a rolling restart would fail requests that either
        # could serve. A refused connect on a Unix socket costs microseconds.
        lines += [f"        server {address} max_fails=0;" for address in servers]
        lines += [
            "        keepalive 32;",
            f"        keepalive_timeout {limits.upstream_keepalive_s}s;",
            "    }",
        ]
    lines += [
        "    server {",
        f"        listen 127.0.0.1:{listen_port};",
        "        proxy_http_version 1.1;",
        '        proxy_set_header Connection "";',
        "        proxy_set_header Host $host;",
        "        proxy_set_header X-Real-IP $remote_addr;",
        # the client address as nginx saw it: a client-sent X-Forwarded-For
        # must not let anyone pick the address that login throttling counts
        "        proxy_set_header X-Forwarded-For $remote_addr;",
        "        proxy_set_header X-Forwarded-Proto $scheme;",
        "        proxy_set_header X-Request-ID $req_id;",
        # ingress-nginx's defaults: a request whose connection failed, or a
        # GET that timed out, is tried on the next replica (a POST that was
        # sent never is: it may have been carried out)
        "        proxy_next_upstream error timeout;",
        "        proxy_next_upstream_tries 3;",
        "        proxy_connect_timeout 2s;",
        "        proxy_read_timeout 30s;",
        "        proxy_send_timeout 30s;",
    ]
    for status, *_ in _INGRESS_ERRORS[1:]:
        lines.append(f"        error_page {status} @problem_{status};")
    for status, *_ in _EARLY_ERRORS:
        lines.append(f"        error_page {status} {EARLY_ERROR_PREFIX}{status};")
    # nginx's own code for a header larger than large_client_header_buffers
    lines.append(f"        error_page 494 =431 {EARLY_ERROR_PREFIX}431;")
    lines += [
        "        if ($confusing_path) {",
        f"            rewrite ^ {EARLY_ERROR_PREFIX}400 last;",
        "        }",
    ]
    has_catch_all = False
    for route in routes:
        if route.path == "/":
            has_catch_all = True
            lines += _location(route, "/")
            continue
        # Prefix semantics of the Ingress: /auth matches /auth and /auth/..., not /authx.
        for location in (f"= {route.path}", f"{route.path}/"):
            lines += _location(route, location)
    if not has_catch_all:
        lines += _location(Route("/", ERRORS_SERVICE), "/")
    for status, title, code, detail in _EARLY_ERRORS:
        lines += [
            f"        location = {EARLY_ERROR_PREFIX}{status} {{",
            "            internal;",
            *("            " + line for line in _problem(status, title, code, detail)),
            "        }",
        ]
    for status, title, code, detail in _INGRESS_ERRORS[1:]:
        lines += [
            f"        location @problem_{status} {{",
            *("            " + line for line in _problem(status, title, code, detail)),
            "        }",
        ]
    lines += ["    }", "}"]
    return "\n".join(lines) + "\n"


def _path_maps() -> list[str]:
    """Paths that mean something else once decoded or normalised: a segment
    starting with a dot (`.`, `..`, `.env`), double slashes, encoded dots,
    slashes, backslashes, percent signs or NUL, a backslash. nginx would route
    them by their normalised form but pass the raw form on; they are refused at
    the edge instead (400 invalid_path), so no service ever sees one."""
    return [
        "    map $request_uri $confusing_path {",
        '        default "";',
        '        "~*^[^?]*(//|/\\.|%(2e|2f|5c|25|00)|\\x5c)" "1";',
        "    }",
        "    map $confusing_path $bad_request_code {",
        '        "1" "invalid_path";',
        '        default "bad_request";',
        "    }",
        "    map $confusing_path $bad_request_detail {",
        '        "1" "The path has dot segments, double slashes or encoded separators.";',
        '        default "The request is malformed.";',
        "    }",
    ]


def _size_bytes(size: str) -> int:
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", size.strip())
    if match is None:
        raise ValueError(f"not an nginx size: {size!r}")
    number, unit = int(match.group(1)), match.group(2).lower()
    return number * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]
