"""nginx configuration generated from deploy/ingress/ingress.yaml.

Only what the Ingress says is routed; everything else gets a problem+json 404
from nginx itself, as ingress-generated errors do in the cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Route:
    path: str
    service: str


def load_routes(ingress_file: Path) -> list[Route]:
    routes: list[Route] = []
    for doc in yaml.safe_load_all(ingress_file.read_text()):
        if not doc or doc.get("kind") != "Ingress":
            continue
        for rule in doc["spec"]["rules"]:
            for item in rule["http"]["paths"]:
                if item.get("pathType") != "Prefix":
                    raise ValueError(f"only Prefix paths are supported, got {item!r}")
                routes.append(
                    Route(item["path"].rstrip("/") or "/", item["backend"]["service"]["name"])
                )
    if not routes:
        raise ValueError(f"{ingress_file} defines no routes")
    return routes


def _problem(status: int, title: str, code: str, detail: str) -> str:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            "request_id": "$req_id",
        },  # nginx fills in $req_id
        separators=(",", ":"),
    )
    return (
        "default_type application/problem+json;\n"
        "            add_header X-Request-ID $req_id always;\n"
        f"            return {status} '{body}';"
    )


_INGRESS_ERRORS = [
    (404, "Not Found", "not_found", "No route for this path."),
    (413, "Content Too Large", "payload_too_large", "The request body is too large."),
    (429, "Too Many Requests", "too_many_requests", "Slow down and retry later."),
    (502, "Bad Gateway", "bad_gateway", "The service behind this route is not answering."),
    (503, "Service Unavailable", "service_unavailable", "Try again shortly."),
    (504, "Gateway Timeout", "gateway_timeout", "The service took too long to answer."),
]


def render_nginx_conf(
    *,
    routes: list[Route],
    upstreams: dict[str, int],
    listen_port: int,
    prefix: Path,
    run_as: str | None,
    max_body: str = "1m",
) -> str:
    tmp = prefix / "tmp"
    logs = prefix.parent / "logs"
    lines: list[str] = []
    if run_as:
        lines.append(f"user {run_as};")
    lines += [
        "worker_processes auto;",
        "daemon off;",
        f"pid {prefix}/nginx.pid;",
        f"error_log {logs}/nginx-error.log warn;",
        "events { worker_connections 1024; }",
        "http {",
        "    server_tokens off;",
        f"    client_max_body_size {max_body};",
        "    client_header_timeout 10s;",
        "    client_body_timeout 10s;",
        "    send_timeout 30s;",
        "    keepalive_timeout 60s;",
        # Bodies and responses stay in memory: the workers run as an unprivileged
        # user that may not be able to reach temp files under the checkout.
        f"    client_body_buffer_size {max_body};",
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
        '    log_format main escape=json \'{"ts":"$time_iso8601","service":"ingress",'
        '"request_id":"$req_id","method":"$request_method","uri":"$uri",'
        '"status":$status,"duration_s":$request_time,"upstream":"$upstream_addr"}\';',
        f"    access_log {logs}/nginx-access.log main;",
    ]
    for name in sorted({r.service for r in routes}):
        lines += [
            f"    upstream {name} {{",
            f"        server 127.0.0.1:{upstreams[name]} max_fails=0;",
            "        keepalive 32;",
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
        "        proxy_connect_timeout 2s;",
        "        proxy_read_timeout 30s;",
        "        proxy_send_timeout 30s;",
    ]
    for status, *_ in _INGRESS_ERRORS:
        if status != 404:
            lines.append(f"        error_page {status} @problem_{status};")
    for route in routes:
        # Prefix semantics of the Ingress: /auth matches /auth and /auth/..., not /authx.
        for location in [f"= {route.path}", f"{route.path}/"] if route.path != "/" else ["/"]:
            lines += [
                f"        location {location} {{",
                f"            proxy_pass http://{route.service};",
                "        }",
            ]
    not_found = _INGRESS_ERRORS[0]
    lines += ["        location / {", "            " + _problem(*not_found), "        }"]
    for status, title, code, detail in _INGRESS_ERRORS[1:]:
        lines += [
            f"        location @problem_{status} {{",
            "            " + _problem(status, title, code, detail),
            "        }",
        ]
    lines += ["    }", "}"]
    return "\n".join(lines) + "\n"
