"""The manifests and the code agree: each service gets every setting it requires
(and settings that validate), every reference resolves, ports and selectors
line up, no setting is dead, peers are addressed by their Services, the
database's connection budget holds, and the cluster runs the parts as the
local stack (devstack) does."""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import typing
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from auth.config import Settings as AuthSettings
from db_gateway.config import Settings as GatewaySettings
from devstack.__main__ import DB_NAME, DB_USER, SECRET_KEYS
from ledger.config import Settings as LedgerSettings
from tests.deploy.conftest import (
    CONFIG_NAME,
    ROOT,
    SECRET_NAME,
    SERVICES,
    Doc,
    Rendered,
    containers,
    d_name,
    example_keys,
)

SETTINGS: dict[str, type[BaseSettings]] = {
    "auth": AuthSettings,
    "ledger": LedgerSettings,
    "db-gateway": GatewaySettings,
}
# Variables a service container gets that are no setting of the service:
# uvicorn's trusted proxies, and the password DATABASE_URL is composed from.
NOT_SETTINGS = {"auth": {"FORWARDED_ALLOW_IPS"}, "ledger": {"FORWARDED_ALLOW_IPS"}}
COMPOSED_FROM = {"db-gateway": {"POSTGRES_PASSWORD"}}
SUPERUSER_RESERVED_CONNECTIONS = 3  # Postgres's default
DEVSTACK = ROOT / "devstack" / "__main__.py"
REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _service_container(rendered: Rendered, name: str) -> Doc:
    pod = rendered.one("Deployment", name)["spec"]["template"]["spec"]
    container: Doc
    (container,) = [c for c in pod["containers"] if c["name"] == name]
    return container


def _only_container(rendered: Rendered, name: str) -> Doc:
    container: Doc
    (container,) = rendered.one("Deployment", name)["spec"]["template"]["spec"]["containers"]
    return container


def _data(rendered: Rendered, kind: str, name: str) -> dict[str, str]:
    """A generated object's data, decoded; the name is the hashed one a
    reference carries after kustomize rewrote it."""
    doc = rendered.one(kind, name)
    data: dict[str, str] = doc.get("data", {})
    if kind == "Secret":
        return {k: base64.b64decode(v).decode() for k, v in data.items()}
    return data


def _resolve(rendered: Rendered, container: Doc) -> tuple[dict[str, str], set[str]]:
    """The environment the container starts with, as the kubelet builds it, and
    which of its variables hold secret material."""
    env: dict[str, str] = {}
    secret: set[str] = set()
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, source
        env.update(_data(rendered, "ConfigMap", source["configMapRef"]["name"]))
    for item in container.get("env", []):
        name = item["name"]
        if "value" in item:
            refs = REFERENCE.findall(item["value"])
            env[name] = REFERENCE.sub(lambda m: env[m.group(1)], item["value"])
            if set(refs) & secret:
                secret.add(name)
            continue
        source = item["valueFrom"]
        kind, ref = (
            ("Secret", source["secretKeyRef"])
            if "secretKeyRef" in source
            else ("ConfigMap", source["configMapKeyRef"])
        )
        data = _data(rendered, kind, ref["name"])
        if ref["key"] in data:
            env[name] = data[ref["key"]]
            if kind == "Secret":
                secret.add(name)
        else:
            assert ref.get("optional") is True, f"{name}: {kind} has no key {ref['key']}"
    return env, secret


def _is_secret_setting(annotation: object) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


@pytest.mark.parametrize("service", SERVICES)
def test_every_required_setting_is_supplied_and_secrets_come_from_the_secret(
    rendered: Rendered, service: str
) -> None:
    env, secret = _resolve(rendered, _service_container(rendered, service))
    fields = SETTINGS[service].model_fields
    required = {name.upper() for name, field in fields.items() if field.is_required()}
    assert required, "every service requires some secret"
    missing = required - set(env)
    assert not missing, f"{service} requires {sorted(missing)} and does not get them"
    for name, field in fields.items():
        if _is_secret_setting(field.annotation) and name.upper() in env:
            assert name.upper() in secret, f"{service}: {name.upper()} must come from the Secret"


@pytest.mark.parametrize("rotating", [False, True], ids=["steady", "rotating-jwt-key"])
@pytest.mark.parametrize("service", SERVICES)
def test_the_settings_a_pod_gets_are_valid(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    service: str,
    rotating: bool,
) -> None:
    rendered: Rendered = request.getfixturevalue(
        "rendered_rotating" if rotating else "rendered_base"
    )
    env, _ = _resolve(rendered, _service_container(rendered, service))
    settings_class = SETTINGS[service]
    for key in list(os.environ):
        if key.lower() in settings_class.model_fields:
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = settings_class()  # refuses weak secrets, bad values, half a rotation
    assert settings.model_dump()["environment"] == "production"
    if service != "db-gateway":
        assert (settings.model_dump()["jwt_previous_kid"] is not None) is rotating


def test_every_reference_resolves(rendered: Rendered) -> None:
    secret = rendered.generated("Secret", SECRET_NAME)
    config = rendered.generated("ConfigMap", CONFIG_NAME)
    for owner, pod in rendered.workloads():
        for container in containers(pod):
            at = f"{d_name(owner)}/{container['name']}"
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] == d_name(config), at
            for item in container.get("env", []):
                for kind, doc in (("secretKeyRef", secret), ("configMapKeyRef", config)):
                    ref = item.get("valueFrom", {}).get(kind)
                    if ref is None:
                        continue
                    assert ref["name"] == d_name(doc), f"{at}: {ref['name']}"
                    if not ref.get("optional"):
                        assert ref["key"] in doc["data"], f"{at}: no key {ref['key']}"


def test_a_composed_variable_refers_to_ones_declared_before_it(rendered: Rendered) -> None:
    composed = 0
    for owner, pod in rendered.workloads():
        for container in containers(pod):
            declared: set[str] = set()
            for item in container.get("env", []):
                for ref in REFERENCE.findall(item.get("value", "")):
                    composed += 1
                    assert ref in declared, f"{d_name(owner)}: $({ref}) before it is declared"
                declared.add(item["name"])
    assert composed, "DATABASE_URL is composed from POSTGRES_PASSWORD"


def _selected(rendered: Rendered, selector: dict[str, str]) -> list[Doc]:
    return [
        owner
        for owner, _ in rendered.workloads()
        if selector.items() <= rendered.pod_labels(owner).items()
    ]


def test_each_service_selects_exactly_its_workload(rendered: Rendered) -> None:
    for service in rendered.of_kind("Service"):
        selected = _selected(rendered, service["spec"]["selector"])
        assert [d_name(o) for o in selected] == [d_name(service)], d_name(service)
        assert selected[0]["kind"] == "Deployment"


def test_container_ports_service_target_ports_and_probe_ports_agree(rendered: Rendered) -> None:
    for service in rendered.of_kind("Service"):
        name = d_name(service)
        (owner,) = _selected(rendered, service["spec"]["selector"])
        pod = owner["spec"]["template"]["spec"]
        ports = {p["name"]: p["containerPort"] for c in pod["containers"] for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"{name}: targetPort {port['targetPort']}"
            assert ports[port["targetPort"]] == port["port"], name
        for container in pod["containers"]:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                action = container[probe].get("httpGet") or container[probe].get("tcpSocket")
                if action is not None:
                    assert action["port"] in ports, f"{name} {probe}: port {action['port']}"
    for name in SERVICES:
        pod = rendered.one("Deployment", name)["spec"]["template"]["spec"]
        (port,) = _service_container(rendered, name)["ports"]
        assert (port["name"], port["containerPort"]) == ("http", 8000), name
        assert rendered.one("Service", name)["spec"]["ports"] == [
            {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
        ]
        assert pod["containers"][0]["name"] == name


def test_every_configured_setting_is_read_by_some_service(rendered: Rendered) -> None:
    read = {name.upper() for s in SETTINGS.values() for name in s.model_fields}
    config = rendered.generated("ConfigMap", CONFIG_NAME)["data"]
    dead = set(config) - read
    assert not dead, f"no service reads {sorted(dead)}"
    assert "SERVICE_NAME" not in config, "each service's own name is its default"


@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_a_service_gets_is_one_it_reads(rendered: Rendered, service: str) -> None:
    read = {name.upper() for name in SETTINGS[service].model_fields}
    explicit = {item["name"] for item in _service_container(rendered, service).get("env", [])}
    extra = explicit - read - NOT_SETTINGS.get(service, set()) - COMPOSED_FROM.get(service, set())
    assert not extra, f"{service} does not read {sorted(extra)}"


def _points_at_a_service(rendered: Rendered, url: str, expected: str) -> None:
    parts = urlsplit(url)
    assert parts.hostname == expected, url
    service = rendered.one("Service", parts.hostname)
    assert parts.port in {p["port"] for p in service["spec"]["ports"]}, url


def test_peers_are_addressed_by_their_services(rendered: Rendered) -> None:
    config = rendered.generated("ConfigMap", CONFIG_NAME)["data"]
    _points_at_a_service(rendered, config["DB_GATEWAY_URL"], "db-gateway")
    _points_at_a_service(rendered, config["REDIS_URL"], "redis")
    init_script = "\n".join(rendered.one("ConfigMap", "postgres-init")["data"].values())
    for _, pod in rendered.workloads():
        for container in containers(pod):
            url = next(
                (e["value"] for e in container.get("env", []) if e["name"] == "DATABASE_URL"), None
            )
            if url is None:
                continue
            _points_at_a_service(rendered, url, "postgres")
            parts = urlsplit(url)
            assert parts.username == DB_USER
            assert parts.path == f"/{DB_NAME}"
            # the role and database the URL names are the ones Postgres is set up with
            assert f"CREATE ROLE {DB_USER} " in init_script
            assert f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}" in init_script
    backup = rendered.one("CronJob", "postgres-backup")
    (dumper,) = backup["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    script = " ".join(dumper["command"])
    dump = re.search(r"pg_dump -h (\S+) -p (\d+) -U (\S+) -d (\S+)", script)
    assert dump, script
    _points_at_a_service(
        rendered, f"postgresql://{dump[3]}@{dump[1]}:{dump[2]}/{dump[4]}", "postgres"
    )
    assert (dump[3], dump[4]) == (DB_USER, DB_NAME)


def _postgres_setting(rendered: Rendered, name: str) -> str:
    args = _only_container(rendered, "postgres")["args"]
    value: str
    (value,) = [a.split("=", 1)[1] for a in args if a.startswith(f"{name}=")]
    return value


def test_db_gateway_at_full_scale_fits_in_postgres_connections(rendered: Rendered) -> None:
    config = rendered.generated("ConfigMap", CONFIG_NAME)["data"]
    per_pod = int(config["DB_POOL_SIZE"]) + int(config["DB_MAX_OVERFLOW"])
    hpa = rendered.one("HorizontalPodAutoscaler", "db-gateway")
    surge = rendered.one("Deployment", "db-gateway")["spec"]["strategy"]["rollingUpdate"][
        "maxSurge"
    ]
    pods = hpa["spec"]["maxReplicas"] + int(surge)  # a rollout at full scale
    backups = 1  # concurrencyPolicy Forbid
    migrations = pods  # one connection each, while they start
    needed = per_pod * pods + migrations + backups
    available = int(_postgres_setting(rendered, "max_connections")) - SUPERUSER_RESERVED_CONNECTIONS
    assert needed < available, f"{needed} connections needed, {available} available"


# --- the cluster runs the parts as devstack does -------------------------------------


def _devstack_lists() -> list[list[str]]:
    """Every list or tuple of string literals in devstack: the command lines it runs."""
    tree = ast.parse(DEVSTACK.read_text())
    return [
        [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        for node in ast.walk(tree)
        if isinstance(node, ast.List | ast.Tuple)
    ]


def _devstack_flag(flag: str) -> str:
    (value,) = {argv[argv.index(flag) + 1] for argv in _devstack_lists() if flag in argv}
    return value


def test_redis_runs_with_devstack_s_flags(rendered: Rendered) -> None:
    args = _only_container(rendered, "redis")["args"]
    for flag in ("--maxmemory", "--maxmemory-policy", "--save", "--appendonly"):
        assert args[args.index(flag) + 1] == _devstack_flag(flag), flag


# where devstack's Postgres listens: loopback and its own socket directory
LOCAL_ONLY = ("listen_addresses", "unix_socket_permissions")


def _devstack_option(prefix: str) -> str:
    (value,) = {
        a.removeprefix(prefix) for argv in _devstack_lists() for a in argv if a.startswith(prefix)
    }
    return value


def test_postgres_runs_with_devstack_s_settings(rendered: Rendered) -> None:
    devstack = dict(
        argv[i + 1].split("=", 1)
        for argv in _devstack_lists()
        for i, arg in enumerate(argv[:-1])
        if arg == "-c" and "=" in argv[i + 1] and not argv[i + 1].startswith(LOCAL_ONLY)
    )
    assert "max_connections" in devstack, "devstack passes Postgres settings with -c"
    for name, value in devstack.items():
        assert _postgres_setting(rendered, name) == value, name
    env = {e["name"]: e.get("value", "") for e in _only_container(rendered, "postgres")["env"]}
    initdb = env["POSTGRES_INITDB_ARGS"].split()
    assert f"--encoding={_devstack_flag('-E')}" in initdb
    assert f"--locale={_devstack_option('--locale=')}" in initdb
    assert env["POSTGRES_HOST_AUTH_METHOD"] == _devstack_option("--auth-host=")


def test_secrets_env_has_the_keys_devstack_generates() -> None:
    assert set(example_keys()) == set(SECRET_KEYS)


def _image_command(service: str) -> list[str]:
    dockerfile = (ROOT / "services" / service / "Dockerfile").read_text()
    (cmd,) = re.findall(r"^CMD (\[.*\])$", dockerfile, re.M)
    command: list[str] = json.loads(cmd)
    return command


@pytest.mark.parametrize("service", SERVICES)
def test_the_pod_outlives_uvicorn_s_graceful_drain(rendered: Rendered, service: str) -> None:
    pod = rendered.one("Deployment", service)["spec"]["template"]["spec"]
    container = _service_container(rendered, service)
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    drains = {int(_devstack_flag("--timeout-graceful-shutdown"))}
    if (ROOT / "services" / service / "Dockerfile").exists():
        command = _image_command(service)
        drains.add(int(command[command.index("--timeout-graceful-shutdown") + 1]))
        # the Deployment's FORWARDED_ALLOW_IPS only counts without the flag
        assert "--forwarded-allow-ips" not in command
    assert pod["terminationGracePeriodSeconds"] > pre_stop + max(drains)
