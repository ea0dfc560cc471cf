"""The local ingress: nginx routes generated from the Kubernetes Ingress manifest."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from devstack.__main__ import SERVE_FLAGS
from devstack.ingress import (
    ControllerSettings,
    Route,
    load_controller_settings,
    load_routes,
    render_nginx_conf,
)

ROOT = Path(__file__).resolve().parents[2]
INGRESS_YAML = ROOT / "deploy" / "ingress" / "ingress.yaml"
SETTINGS_YAML = ROOT / "deploy" / "ingress" / "settings.yaml"
CREDENTIALS = ["/auth/login", "/auth/token", "/auth/register", "/auth/refresh", "/auth/password"]
UPSTREAMS = {
    "auth": ["unix:/run/t/auth-1.sock", "unix:/run/t/auth-2.sock"],
    "ledger": ["127.0.0.1:18002"],
    "db-gateway": ["127.0.0.1:18003"],
}


def render(
    prefix: Path, routes: list[Route] | None = None, limits: ControllerSettings | None = None
) -> str:
    return render_nginx_conf(
        routes=routes if routes is not None else load_routes(INGRESS_YAML, SETTINGS_YAML),
        upstreams=UPSTREAMS,
        listen_port=18080,
        prefix=prefix,
        run_as=None,
        limits=limits,
    )


def ingress_yaml(path_type: str | None, path: str = "/auth") -> str:
    path_type_line = f"            pathType: {path_type}\n" if path_type else ""
    return (
        "apiVersion: networking.k8s.io/v1\n"
        "kind: Ingress\n"
        "metadata:\n"
        "  name: t\n"
        "spec:\n"
        "  rules:\n"
        "    - http:\n"
        "        paths:\n"
        f"          - path: {path}\n"
        f"{path_type_line}"
        "            backend:\n"
        "              service:\n"
        "                name: auth\n"
        "                port:\n"
        "                  number: 8000\n"
    )


def test_manifest_routes_the_public_prefixes() -> None:
    routes = load_routes(INGRESS_YAML)
    assert [(r.path, r.service) for r in routes] == [
        ("/auth", "auth"),
        ("/services", "ledger"),
        ("/profile", "ledger"),
        ("/", "ingress-errors"),
        *((path, "auth") for path in CREDENTIALS),
    ]


def test_only_the_credential_endpoints_are_rate_limited() -> None:
    limited = {r.path: r.rate_limit_rps for r in load_routes(INGRESS_YAML) if r.rate_limit_rps}
    assert limited == dict.fromkeys(CREDENTIALS, 20)


@pytest.mark.parametrize("path", CREDENTIALS)
def test_credential_endpoints_are_limited_in_nginx_too(tmp_path: Path, path: str) -> None:
    conf = render(tmp_path)
    block = re.search(rf"location = {re.escape(path)} \{{\n(.*?)\n        \}}", conf, re.DOTALL)
    assert block is not None
    assert "limit_req zone=limit_20rps burst=100 nodelay;" in block.group(1)
    assert "limit_req_status 503;" in block.group(1)
    assert "client_max_body_size 16k;" in block.group(1)
    assert "limit_req_zone $binary_remote_addr zone=limit_20rps:10m rate=20r/s;" in conf


def test_cors_allows_exactly_the_origins_of_the_settings(tmp_path: Path) -> None:
    conf = render(tmp_path)
    origins = re.search(r"map \$http_origin \$cors_origin \{\n(.*?)\n    \}", conf, re.DOTALL)
    assert origins is not None
    assert origins.group(1).splitlines() == [
        '        default "";',
        '        "http://localhost:5173" $http_origin;',
        '        "http://127.0.0.1:5173" $http_origin;',
    ]


def test_manifest_never_routes_to_db_gateway() -> None:
    assert "db-gateway" not in {route.service for route in load_routes(INGRESS_YAML)}


def test_rendered_conf_has_no_db_gateway_upstream(tmp_path: Path) -> None:
    conf = render(tmp_path)

    assert "db-gateway" not in conf
    assert "18003" not in conf


def test_upstreams_point_at_every_replica(tmp_path: Path) -> None:
    conf = render(tmp_path)

    auth = re.search(r"upstream auth \{\n(.*?)\n    \}", conf, re.DOTALL)
    assert auth is not None
    servers = re.findall(r"server (\S+) max_fails=0;", auth.group(1))
    assert servers == UPSTREAMS["auth"]
    assert "upstream ledger {\n        server 127.0.0.1:18002 " in conf
    assert "listen 127.0.0.1:18080;" in conf


def test_a_refused_connection_goes_to_the_next_replica_but_a_sent_post_never(
    tmp_path: Path,
) -> None:
    conf = render(tmp_path)

    # nginx's "error": connecting, sending or reading the header failed; a
    # POST or PATCH that was sent is never passed on (no `non_idempotent`)
    assert "proxy_next_upstream error timeout;" in conf
    assert "non_idempotent" not in conf


def test_idle_upstream_connections_are_closed_by_nginx_before_a_replica_drains(
    tmp_path: Path,
) -> None:
    settings = load_controller_settings(SETTINGS_YAML)
    conf = render(tmp_path, limits=settings)

    assert f"keepalive_timeout {settings.upstream_keepalive_s}s;" in conf
    # shorter than the drain devstack runs the services with
    drain = SERVE_FLAGS[SERVE_FLAGS.index("--timeout-graceful-shutdown") + 1]
    assert settings.upstream_keepalive_s < int(drain)


@pytest.mark.parametrize("path", ["/auth", "/services", "/profile"])
def test_routes_use_prefix_semantics(tmp_path: Path, path: str) -> None:
    conf = render(tmp_path)

    assert f"location = {path} {{" in conf
    assert f"location {path}/ {{" in conf
    # A bare `location /auth` would also match /authx and /auth-admin.
    assert re.search(rf"location\s+{re.escape(path)}(?![/\w-])", conf) is None


def test_each_location_proxies_to_its_service(tmp_path: Path) -> None:
    conf = render(tmp_path)

    services = re.search(r"location /services/ \{\n(.*?)\n        \}", conf, re.DOTALL)
    auth = re.search(r"location = /auth \{\n(.*?)\n        \}", conf, re.DOTALL)
    assert services is not None
    assert auth is not None
    assert services.group(1).endswith("proxy_pass http://ledger;")
    assert auth.group(1).endswith("proxy_pass http://auth;")


def test_trailing_slash_in_manifest_path_is_normalised(tmp_path: Path) -> None:
    manifest = tmp_path / "ingress.yaml"
    manifest.write_text(ingress_yaml("Prefix", path="/auth/"))

    assert [(r.path, r.service) for r in load_routes(manifest)] == [("/auth", "auth")]


def test_unrouted_paths_get_a_problem_json_404(tmp_path: Path) -> None:
    conf = render(tmp_path)
    block = re.search(r"location / \{\n(.*?)\n        \}", conf, re.DOTALL)

    assert block is not None
    assert "default_type application/problem+json;" in block.group(1)
    assert "add_header X-Request-ID $req_id always;" in block.group(1)
    body = re.search(r"return 404 '(.*)';", block.group(1))
    assert body is not None
    problem = json.loads(body.group(1))
    assert problem["status"] == 404
    assert problem["code"] == "not_found"
    assert problem["request_id"] == "$req_id"


@pytest.mark.parametrize("status", [413, 502, 503, 504])
def test_ingress_errors_are_problem_json(tmp_path: Path, status: int) -> None:
    conf = render(tmp_path)

    assert re.search(rf"^\s*error_page {status} @problem_{status};$", conf, re.MULTILINE)
    block = re.search(rf"location @problem_{status} \{{\n(.*?)\n        \}}", conf, re.DOTALL)
    assert block is not None
    assert "default_type application/problem+json;" in block.group(1)
    body = re.search(rf"return {status} '(.*)';", block.group(1))
    assert body is not None
    assert json.loads(body.group(1))["status"] == status


def test_caller_request_id_is_kept_only_when_inert(tmp_path: Path) -> None:
    conf = render(tmp_path)

    assert '"~^[A-Za-z0-9._:-]{1,128}$" $http_x_request_id;' in conf
    assert "proxy_set_header X-Request-ID $req_id;" in conf


@pytest.mark.parametrize("path_type", ["Exact", "ImplementationSpecific", None])
def test_non_prefix_path_type_is_refused(tmp_path: Path, path_type: str | None) -> None:
    manifest = tmp_path / "ingress.yaml"
    manifest.write_text(ingress_yaml(path_type))

    with pytest.raises(ValueError, match="only Prefix paths are supported"):
        load_routes(manifest)


def test_manifest_without_routes_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "ingress.yaml"
    manifest.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n")

    with pytest.raises(ValueError, match="defines no routes"):
        load_routes(manifest)


def test_rendered_conf_passes_nginx_t(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        if os.environ.get("CI") != "true":
            pytest.skip("nginx is not installed")
        pytest.fail("nginx is required in CI")
    prefix = tmp_path / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    (tmp_path / "logs").mkdir()
    conf_file = prefix / "nginx.conf"
    conf_file.write_text(render(prefix))

    result = subprocess.run(
        [
            nginx,
            "-t",
            "-p",
            str(prefix),
            "-e",
            str(tmp_path / "logs" / "startup.log"),
            "-c",
            str(conf_file),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- client limits


def test_client_limits_come_from_the_settings_shared_with_the_controller(tmp_path: Path) -> None:
    settings = yaml.safe_load(SETTINGS_YAML.read_text())["data"]
    limits = load_controller_settings(SETTINGS_YAML)
    conf = render(tmp_path, limits=limits)

    # the ingress-nginx ConfigMap keys, as the cluster's controller reads them
    assert f"client_header_timeout {settings['client-header-timeout']}s;" in conf
    assert f"client_body_timeout {settings['client-body-timeout']}s;" in conf
    assert f"large_client_header_buffers {settings['large-client-header-buffers']};" in conf
    assert limits.header_timeout_s == limits.body_timeout_s == 10


def test_the_test_stack_may_shorten_the_client_timeouts_only(tmp_path: Path) -> None:
    limits = load_controller_settings(SETTINGS_YAML).with_timeout(3)
    conf = render(tmp_path, limits=limits)

    assert "client_header_timeout 3s;" in conf
    assert "client_body_timeout 3s;" in conf
    assert "large_client_header_buffers 4 8k;" in conf
    assert load_controller_settings(SETTINGS_YAML).with_timeout(None) == load_controller_settings(
        SETTINGS_YAML
    )


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "$bad_request_code"),
        (408, "request_timeout"),
        (414, "uri_too_long"),
        (431, "headers_too_large"),
    ],
)
def test_errors_before_routing_are_problem_json(tmp_path: Path, status: int, code: str) -> None:
    conf = render(tmp_path)

    # a URI, not a named location: nginx has no URI yet when it refuses a request line
    assert f"        error_page {status} /.problem/{status};" in conf
    block = re.search(rf"location = /\.problem/{status} \{{\n(.*?)\n        \}}", conf, re.DOTALL)
    assert block is not None
    assert block.group(1).lstrip().startswith("internal;")
    assert "default_type application/problem+json;" in block.group(1)
    body = re.search(rf"return {status} '(.*)';", block.group(1))
    assert body is not None
    assert json.loads(body.group(1))["code"] == code


def test_an_oversized_header_is_a_431(tmp_path: Path) -> None:
    assert "        error_page 494 =431 /.problem/431;" in render(tmp_path)


CONFUSING = [
    "/services/../auth/login",
    "/services/%2e%2e/auth/login",
    "/services/%2E%2E%2Fauth/login",
    "/services%2F..%2Fauth",
    "/auth/..%2fservices/accounts",
    "/services/%252e%252e/auth/login",
    "//auth/login",
    "/auth//login",
    "/auth/./login",
    "/profile/..",
    "/profile/.",
    "/auth\\..\\services",
    "/auth/%5C",
    "/auth/login%00",
    "/.env",
    "/.problem/400",
    "/services/..?x=1",
]
CANONICAL = [
    "/auth/login",
    "/services/accounts/4f0c2a4e-9b1f-4c58-8f5e-2f7f7d1f0a11/balance",
    "/profile",
    "/services/transactions?q=50%25+off&tag=a.b",
    "/services/transactions?q=../..//%2e%2f",
    "/auth/docs",
    "/services/openapi.json",
]


def _confusing_path_pattern(conf: str) -> re.Pattern[str]:
    block = re.search(r"map \$request_uri \$confusing_path \{\n(.*?)\n    \}", conf, re.DOTALL)
    assert block is not None
    match = re.search(r'"~\*(.*)" "1";', block.group(1))
    assert match is not None
    return re.compile(match.group(1), re.IGNORECASE)  # ~* is case-insensitive


def test_confusing_paths_are_sent_to_the_400_page(tmp_path: Path) -> None:
    conf = render(tmp_path)
    pattern = _confusing_path_pattern(conf)

    assert [p for p in CONFUSING if not pattern.search(p)] == []
    assert [p for p in CANONICAL if pattern.search(p)] == []
    assert "        if ($confusing_path) {\n            rewrite ^ /.problem/400 last;" in conf
