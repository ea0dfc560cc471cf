"""What an operator must be able to trust in deploy/base without reading it:
locked-down pods, probes and resources everywhere, autoscaling and disruption
budgets, pinned images, least-privilege secrets, a deny-by-default network
with exactly the connections the product makes, and no secret in git."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from servicekit.settings import KNOWN_DEFAULT_SECRETS
from tests.deploy.conftest import (
    BASE,
    CONFIG_NAME,
    DEPLOY,
    NAMESPACE,
    OPTIONAL_SECRET_KEYS,
    ROOT,
    SECRET_NAME,
    SERVICES,
    Doc,
    Rendered,
    containers,
    d_name,
    example_keys,
)

SERVICE_UID = 10001  # the user the service images run as
UVICORN_GRACEFUL_SECONDS = 20
PRE_STOP = ["sleep", "5"]
SECRET_KEYS_PER_CONTAINER = {
    ("auth", "auth"): {"JWT_SECRET", "INTERNAL_TOKEN", *OPTIONAL_SECRET_KEYS},
    ("ledger", "ledger"): {"JWT_SECRET", "INTERNAL_TOKEN", *OPTIONAL_SECRET_KEYS},
    ("db-gateway", "db-gateway"): {"INTERNAL_TOKEN", "POSTGRES_PASSWORD"},
    ("db-gateway", "migrate"): {"POSTGRES_PASSWORD"},
    ("postgres", "postgres"): {"POSTGRES_PASSWORD", "POSTGRES_ADMIN_PASSWORD"},
    ("postgres-backup", "pg-dump"): {"POSTGRES_PASSWORD"},
    ("postgres-restore", "pg-restore"): {"POSTGRES_PASSWORD"},
    ("redis", "redis"): set(),
}
# Every connection the product makes: (client, server, port). Nothing else.
EDGES = {
    ("ingress-nginx/ingress-nginx", "auth", 8000),
    ("ingress-nginx/ingress-nginx", "ledger", 8000),
    # Prometheus scraping /metrics
    ("monitoring/prometheus", "auth", 8000),
    ("monitoring/prometheus", "ledger", 8000),
    ("monitoring/prometheus", "db-gateway", 8000),
    ("auth", "db-gateway", 8000),
    ("ledger", "db-gateway", 8000),
    ("auth", "redis", 6379),
    ("ledger", "redis", 6379),
    ("db-gateway", "postgres", 5432),
    ("postgres-backup", "postgres", 5432),
    ("postgres-restore", "postgres", 5432),
}
# deploy/ingress adds the controller's error backend: it only receives
INGRESS_EDGES = {("ingress-nginx/ingress-nginx", "ingress-errors", 8000)}
DNS = "kube-system/kube-dns"
TMP = "/tmp"  # noqa: S108 (the emptyDir every container writes to)


def _has_error_backend(rendered: Rendered) -> bool:
    return any(d_name(d) == "ingress-errors" for d in rendered.of_kind("Deployment"))


def _workload_containers(rendered: Rendered) -> Iterator[tuple[str, Doc, Doc, bool]]:
    """(workload name, pod spec, container, long-running) for every container."""
    for owner, pod in rendered.workloads():
        init = {c["name"] for c in pod.get("initContainers", [])}
        for container in containers(pod):
            long_running = owner["kind"] == "Deployment" and container["name"] not in init
            yield d_name(owner), pod, container, long_running


# --- pods and containers ---------------------------------------------------------


def test_every_pod_and_container_runs_restricted(rendered: Rendered) -> None:
    for owner, pod in rendered.workloads():
        where = d_name(owner)
        pod_sc = pod["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, where
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert pod_sc["runAsUser"] > 0, where
        assert pod_sc["runAsGroup"] > 0, where
        writable = {v["name"] for v in pod.get("volumes", [])}
        for container in containers(pod):
            at = f"{where}/{container['name']}"
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True, at
            assert sc["runAsUser"] == pod_sc["runAsUser"], at
            assert sc["runAsGroup"] == pod_sc["runAsGroup"], at
            assert sc["readOnlyRootFilesystem"] is True, at
            assert sc["allowPrivilegeEscalation"] is False, at
            assert sc["capabilities"] == {"drop": ["ALL"]}, at
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, at
            assert "privileged" not in sc or sc["privileged"] is False, at
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert mounts.get(TMP) in writable, f"{at}: an emptyDir at /tmp"
        for host_namespace in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(host_namespace), where
        for volume in pod.get("volumes", []):
            # volume types Pod Security "restricted" allows (no hostPath)
            assert set(volume) - {"name"} <= {"emptyDir", "persistentVolumeClaim", "configMap"}


def test_the_service_images_run_as_their_numeric_user(rendered: Rendered) -> None:
    for name in SERVICES:
        pod = rendered.one("Deployment", name)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == SERVICE_UID
        assert pod["securityContext"]["runAsGroup"] == SERVICE_UID


def _quantity(value: str | int | float) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value))
    assert match, value
    return float(match.group(1)) * units.get(match.group(2), 1)


def test_every_container_has_requests_and_limits(rendered: Rendered) -> None:
    for name, _, container, long_running in _workload_containers(rendered):
        at = f"{name}/{container['name']}"
        resources = container["resources"]
        for resource in ("cpu", "memory"):
            request = _quantity(resources["requests"][resource])
            limit = _quantity(resources["limits"][resource])
            assert 0 < request <= limit, f"{at}: {resource} request {request} > limit {limit}"
        if name in SERVICES and long_running:
            assert _quantity(resources["limits"]["memory"]) >= 256 * 2**20, at


def test_every_long_running_container_has_three_probes(rendered: Rendered) -> None:
    for name, _, container, long_running in _workload_containers(rendered):
        at = f"{name}/{container['name']}"
        probes = {p for p in ("startupProbe", "readinessProbe", "livenessProbe") if p in container}
        if not long_running:
            assert not probes, f"{at}: init and job containers run to completion"
            continue
        assert len(probes) == 3, f"{at} has only {sorted(probes)}"
        if name in SERVICES:
            assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


def test_no_pod_gets_a_service_account_token(rendered: Rendered) -> None:
    accounts = {d_name(sa): sa for sa in rendered.of_kind("ServiceAccount")}
    for sa in accounts.values():
        assert sa["automountServiceAccountToken"] is False, d_name(sa)
    for owner, pod in rendered.workloads():
        assert pod["automountServiceAccountToken"] is False, d_name(owner)
        # its own account, never the namespace's default one
        assert pod["serviceAccountName"] == d_name(owner), d_name(owner)
        assert pod["serviceAccountName"] in accounts, d_name(owner)


def test_the_services_roll_and_stop_without_dropping_requests(rendered: Rendered) -> None:
    for name in SERVICES:
        deployment = rendered.one("Deployment", name)
        spec = deployment["spec"]
        pod = spec["template"]["spec"]
        (container,) = [c for c in pod["containers"] if c["name"] == name]
        assert spec["replicas"] == 2, name
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, name
        assert container["lifecycle"]["preStop"]["exec"]["command"] == PRE_STOP, name
        drain = int(PRE_STOP[1]) + UVICORN_GRACEFUL_SECONDS
        assert pod["terminationGracePeriodSeconds"] > drain, name
        (spread,) = pod["topologySpreadConstraints"]
        assert spread["topologyKey"] == "kubernetes.io/hostname", name
        assert spread["whenUnsatisfiable"] == "ScheduleAnyway", name
        assert spread["labelSelector"] == {"matchLabels": {"app.kubernetes.io/name": name}}


def test_only_the_public_services_trust_forwarded_addresses(rendered: Rendered) -> None:
    # auth and ledger count login failures per client address, which uvicorn
    # takes from X-Forwarded-For; only the ingress controller reaches them
    # (test_the_network_allows_exactly_the_product_s_connections)
    for name in SERVICES:
        pod = rendered.one("Deployment", name)["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value") for c in pod["containers"] for e in c.get("env", [])}
        expected = "*" if name in ("auth", "ledger") else None
        assert env.get("FORWARDED_ALLOW_IPS") == expected, name


def test_each_service_has_one_autoscaler_and_one_disruption_budget(rendered: Rendered) -> None:
    for name in SERVICES:
        pod_labels = rendered.pod_labels(rendered.one("Deployment", name))
        hpas = [
            h
            for h in rendered.of_kind("HorizontalPodAutoscaler")
            if h["spec"]["scaleTargetRef"]
            == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        ]
        assert len(hpas) == 1, f"{name}: {len(hpas)} HPAs"
        hpa = hpas[0]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["minReplicas"] == 2 < hpa["spec"]["maxReplicas"]
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
        pdbs = [
            p
            for p in rendered.of_kind("PodDisruptionBudget")
            if p["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        ]
        assert len(pdbs) == 1, f"{name}: {len(pdbs)} PDBs"
        assert pdbs[0]["apiVersion"] == "policy/v1"
        assert pdbs[0]["spec"]["minAvailable"] == 1


def test_every_image_is_pinned(rendered: Rendered) -> None:
    for name, _, container, _ in _workload_containers(rendered):
        image: str = container["image"]
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: {image} has no tag"
        assert "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image}"
        assert container["imagePullPolicy"] == "IfNotPresent", name
        if name in SERVICES:
            assert image == f"finledger/{name}:0.1.0", image
    images = {c["image"] for _, _, c, _ in _workload_containers(rendered)}
    assert {"postgres:15.10-bookworm", "redis:7.4.1-alpine"} <= images


def test_the_namespace_enforces_pod_security_restricted(rendered: Rendered) -> None:
    labels = rendered.one("Namespace", NAMESPACE)["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "latest"


def test_every_object_is_labelled_and_selects_by_name_only(rendered: Rendered) -> None:
    for doc in rendered.docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "finledger", d_name(doc)
    for owner, _ in rendered.workloads():
        assert rendered.pod_labels(owner)["app.kubernetes.io/name"] == d_name(owner)
        assert rendered.pod_labels(owner)["app.kubernetes.io/part-of"] == "finledger"
        if owner["kind"] == "Deployment":
            selector = owner["spec"]["selector"]
            assert selector == {"matchLabels": {"app.kubernetes.io/name": d_name(owner)}}


# --- stateful parts ----------------------------------------------------------------


def _args_after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_postgres_keeps_its_data_and_restarts_cleanly(rendered: Rendered) -> None:
    deployment = rendered.one("Deployment", "postgres")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    # the image's superuser is `postgres`, with its own password; the application
    # role is made by the init script with no privilege beyond its database
    assert env["POSTGRES_USER"]["value"] == "postgres"
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "POSTGRES_ADMIN_PASSWORD"
    assert env["FINLEDGER_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "POSTGRES_PASSWORD"
    (init,) = [
        m for m in container["volumeMounts"] if m["mountPath"] == "/docker-entrypoint-initdb.d"
    ]
    (init_volume,) = [v for v in pod["volumes"] if v["name"] == init["name"]]
    script = "\n".join(rendered.one("ConfigMap", init_volume["configMap"]["name"])["data"].values())
    assert "CREATE ROLE finledger LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE" in script
    assert "CREATE DATABASE finledger OWNER finledger" in script
    (data,) = [m for m in container["volumeMounts"] if m["name"] == "data"]
    assert env["PGDATA"]["value"].startswith(data["mountPath"].rstrip("/") + "/")
    (volume,) = [v for v in pod["volumes"] if v["name"] == "data"]
    claim = rendered.one("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/var/run/postgresql", TMP} <= mounts
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"][0] == "pg_isready", probe
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"] == 999
    assert any(a.startswith("max_connections=") for a in container["args"])


def test_redis_is_a_cache_without_persistence(rendered: Rendered) -> None:
    pod = rendered.one("Deployment", "redis")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert _args_after(args, "--maxmemory") == "128mb"
    assert _args_after(args, "--maxmemory-policy") == "allkeys-lru"
    assert _args_after(args, "--save") == ""
    assert _args_after(args, "--appendonly") == "no"
    assert all("persistentVolumeClaim" not in v for v in pod["volumes"])
    assert not [c for c in rendered.of_kind("PersistentVolumeClaim") if "redis" in json.dumps(c)]


def test_postgres_is_backed_up_nightly_keeping_seven(rendered: Rendered) -> None:
    cronjob = rendered.one("CronJob", "postgres-backup")
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    minute, hour, *every_day = spec["schedule"].split()
    assert minute.isdigit(), "once a night"
    assert hour.isdigit(), "once a night"
    assert every_day == ["*", "*", "*"]
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    script = " ".join(container["command"])
    assert container["image"].startswith("postgres:")
    assert re.search(r"pg_dump .*-Fc", script), script
    assert "$(date" in script, "dated file names"
    assert "tail -n +8" in script, "the newest 7 are kept"
    (password,) = [e for e in container["env"] if e["name"] == "PGPASSWORD"]
    assert password["valueFrom"]["secretKeyRef"]["key"] == "POSTGRES_PASSWORD"
    (volume,) = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert volume["persistentVolumeClaim"]["claimName"] == "postgres-backups"
    rendered.one("PersistentVolumeClaim", "postgres-backups")


def test_a_restore_shell_is_at_hand_but_never_runs_by_itself(rendered: Rendered) -> None:
    spec = rendered.one("CronJob", "postgres-restore")["spec"]
    assert spec["suspend"] is True
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] <= 3600
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/backups"]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["persistentVolumeClaim"]["claimName"] == "postgres-backups"
    env = {e["name"]: e for e in container["env"]}
    assert env["PGUSER"]["value"] == "finledger"  # the application role, not the superuser


# --- secrets ---------------------------------------------------------------------


def _secret_keys(container: Doc) -> set[str]:
    return {
        e["valueFrom"]["secretKeyRef"]["key"]
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def test_each_container_gets_only_the_secret_keys_it_needs(rendered: Rendered) -> None:
    seen = {}
    for name, _, container, _ in _workload_containers(rendered):
        for source in container.get("envFrom", []):
            assert "secretRef" not in source, f"{name}: never the whole Secret"
        seen[(name, container["name"])] = _secret_keys(container)
    expected = dict(SECRET_KEYS_PER_CONTAINER)
    if _has_error_backend(rendered):
        expected[("ingress-errors", "ingress-errors")] = set()
    assert seen == expected
    for _, _, container, _ in _workload_containers(rendered):
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                assert ref["name"].startswith(f"{SECRET_NAME}-")
                assert ref.get("optional", False) is (ref["key"] in OPTIONAL_SECRET_KEYS)


def test_secret_values_appear_only_in_the_secret(rendered: Rendered) -> None:
    for doc in rendered.docs:
        if doc["kind"] == "Secret":
            continue
        text = json.dumps(doc)
        for key, value in rendered.secrets.items():
            encoded = base64.b64encode(value.encode()).decode()
            assert value not in text, f"{key} leaks into {d_name(doc)}"
            assert encoded not in text, f"{key} leaks into {d_name(doc)}"
    config = rendered.generated("ConfigMap", CONFIG_NAME)
    assert not set(config["data"]) & {*example_keys(), *OPTIONAL_SECRET_KEYS}


def test_env_example_documents_every_secret_key_without_values() -> None:
    referenced = set().union(*SECRET_KEYS_PER_CONTAINER.values())
    required, optional = example_keys(), example_keys(optional=True)
    assert set(required) | set(optional) == referenced
    assert set(optional) - set(required) == set(OPTIONAL_SECRET_KEYS)
    lines = (BASE / ".env.example").read_text().splitlines()
    for index, line in enumerate(lines):
        match = re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            assert match.group(2) == "", f".env.example holds a value for {match.group(1)}"
            assert lines[index - 1].startswith("#"), f"{match.group(1)} needs a comment"


def _tracked_deploy_files() -> list[Path]:
    """What git carries (or would, once added): tracked plus untracked but not
    ignored. Without git, every file except secrets.env."""
    git = shutil.which("git")
    if git is not None and (ROOT / ".git").exists():
        out = subprocess.run(
            [git, "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "deploy"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return [ROOT / p for p in out.split("\0") if p and (ROOT / p).is_file()]
    return [p for p in DEPLOY.rglob("*") if p.is_file() and p.name != "secrets.env"]


SECRET_ASSIGNMENT = re.compile(
    r"\b(JWT_SECRET|JWT_PREVIOUS_SECRET|JWT_PREVIOUS_KID|INTERNAL_TOKEN|POSTGRES_PASSWORD|"
    r"PGPASSWORD|DATABASE_URL)[ \t]*[=:][ \t]*(\S+)"
)
# a random-looking run: long, with upper- and lower-case letters and digits
HIGH_ENTROPY = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{24,}={0,2}")
BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{8,}={0,2}(?![A-Za-z0-9+/=])")


def _scalars(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _scalars(value)
    elif isinstance(node, list):
        for value in node:
            yield from _scalars(value)
    elif isinstance(node, str):
        yield node


def _plaintext_secrets(path: Path) -> list[str]:
    text = path.read_text()
    found = []
    for match in SECRET_ASSIGNMENT.finditer(text):
        value = match.group(2)
        # a reference to the Secret, or composed from one, is fine; a value is not
        if not value.startswith(("postgresql+asyncpg://finledger:$(POSTGRES_PASSWORD)@",)):
            found.append(f"{match.group(1)} has a value")
    for token in HIGH_ENTROPY.findall(text):
        if re.search(r"[a-z]", token) and re.search(r"[A-Z]", token) and re.search(r"\d", token):
            found.append(f"random-looking {token[:6]}...")
    for token in BASE64.findall(text):
        try:
            decoded = base64.b64decode(token, validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            continue
        if decoded.strip().lower() in KNOWN_DEFAULT_SECRETS:
            found.append(f"base64 of a published default: {token}")
    lowered = text.lower()
    found += [
        f"published default {d!r}" for d in KNOWN_DEFAULT_SECRETS if len(d) > 16 and d in lowered
    ]
    if path.suffix in (".yaml", ".yml"):
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                found.append(f"a Secret manifest {doc['metadata']['name']}")
            found += [
                f"published default {s!r}"
                for s in _scalars(doc)
                if s.lower() in KNOWN_DEFAULT_SECRETS
            ]
    else:
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if (
                sep
                and not key.lstrip().startswith("#")
                and value.strip().lower() in KNOWN_DEFAULT_SECRETS
            ):
                found.append(f"published default for {key}")
    return found


def test_no_secret_value_is_in_the_deploy_tree() -> None:
    files = _tracked_deploy_files()
    assert BASE / "kustomization.yaml" in files
    problems = {str(p.relative_to(ROOT)): _plaintext_secrets(p) for p in files}
    assert not {p: found for p, found in problems.items() if found}
    assert not [p for p in files if p.name == "secrets.env"], "secrets.env must never be committed"


@pytest.mark.parametrize("ignored", [True, False])
def test_git_ignores_secrets_env_and_keeps_config_env(ignored: bool) -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs on a git checkout: git and .git are required")
        pytest.skip("not a git checkout")
    path = "deploy/base/secrets.env" if ignored else "deploy/base/config.env"
    result = subprocess.run([git, "check-ignore", "-q", path], cwd=ROOT, check=False)
    assert (result.returncode == 0) is ignored, f"{path} must {'' if ignored else 'not '}be ignored"


# --- network -----------------------------------------------------------------------


def _pod_names(rendered: Rendered) -> dict[str, dict[str, str]]:
    return {d_name(owner): rendered.pod_labels(owner) for owner, _ in rendered.workloads()}


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    if not selector:
        return True
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", expression
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def _peers(rendered: Rendered, peer: Doc) -> set[str]:
    """Who a `from`/`to` entry names: pods of this namespace by workload name,
    or `namespace/name` outside it."""
    assert "ipBlock" not in peer, "no address ranges: peers are named by labels"
    if "namespaceSelector" not in peer:
        pods = _pod_names(rendered)
        return {name for name, labels in pods.items() if _selects(peer["podSelector"], labels)}
    (namespace,) = peer["namespaceSelector"]["matchLabels"].values()
    assert list(peer["namespaceSelector"]["matchLabels"]) == ["kubernetes.io/metadata.name"]
    assert namespace != NAMESPACE
    (pod,) = peer["podSelector"]["matchLabels"].values()
    return {f"{namespace}/{pod}"}


def _allowed(rendered: Rendered, direction: str) -> set[tuple[str, str, int]]:
    """(client, server, port) that the policies allow on the client's egress
    side (direction "egress") or on the server's ingress side ("ingress")."""
    key, peers_key = ("egress", "to") if direction == "egress" else ("ingress", "from")
    edges = set()
    for policy in rendered.of_kind("NetworkPolicy"):
        spec = policy["spec"]
        selected = {
            name
            for name, labels in _pod_names(rendered).items()
            if _selects(spec["podSelector"], labels)
        }
        for rule in spec.get(key, []):
            ports = [p["port"] for p in rule["ports"]]
            for peer in rule[peers_key]:
                for other in _peers(rendered, peer):
                    for pod in selected:
                        for port in ports:
                            edges.add((pod, other, port) if key == "egress" else (other, pod, port))
    return edges


def test_everything_is_denied_unless_allowed(rendered: Rendered) -> None:
    deny = [
        p
        for p in rendered.of_kind("NetworkPolicy")
        if p["spec"]["podSelector"] == {}
        and sorted(p["spec"]["policyTypes"]) == ["Egress", "Ingress"]
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert len(deny) == 1, "one default-deny policy for ingress and egress"


def test_the_network_allows_exactly_the_product_s_connections(rendered: Rendered) -> None:
    egress, ingress = _allowed(rendered, "egress"), _allowed(rendered, "ingress")
    dns = {(client, server, port) for client, server, port in egress if server == DNS}
    assert {port for _, _, port in dns} == {53}
    egress -= dns
    edges = EDGES | (INGRESS_EDGES if _has_error_backend(rendered) else set())
    local = {edge for edge in edges if "/" not in edge[0]}
    assert egress == local, "egress: what each client may open"
    assert ingress == edges, "ingress: who each server accepts"


def test_every_pod_that_connects_can_resolve_names(rendered: Rendered) -> None:
    egress = _allowed(rendered, "egress")
    clients = {client for client, server, _ in egress if server != DNS}
    with_dns = {client for client, server, _ in egress if server == DNS}
    assert clients <= with_dns
    protocols = {
        p["protocol"]
        for policy in rendered.of_kind("NetworkPolicy")
        for rule in policy["spec"].get("egress", [])
        for p in rule["ports"]
        if p["port"] == 53
    }
    assert protocols == {"UDP", "TCP"}
