"""deploy/base renders, holds every object the product needs, and every object
is valid against the Kubernetes API schemas (strict: no unknown fields), for
the oldest Kubernetes we support and the newest kubernetes-validate knows."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import (
    NAMESPACE,
    SERVICES,
    DeployTree,
    Doc,
    Rendered,
    d_name,
    render_with_component,
)

OLDEST_KUBERNETES = "1.30"

EXPECTED = {
    ("Namespace", NAMESPACE),
    *(
        (kind, name)
        for name in SERVICES
        for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget")
    ),
    *(
        (kind, name)
        for name in (*SERVICES, "postgres", "redis")
        for kind in ("ServiceAccount", "Deployment", "Service")
    ),
    ("PersistentVolumeClaim", "postgres-data"),
    ("PersistentVolumeClaim", "postgres-backups"),
    ("ServiceAccount", "postgres-backup"),
    ("CronJob", "postgres-backup"),
    ("NetworkPolicy", "default-deny-all"),
}


def test_the_base_renders_every_object_of_the_product(rendered: Rendered) -> None:
    present = {(d["kind"], d_name(d)) for d in rendered.docs}
    missing = EXPECTED - present
    assert not missing, f"missing from deploy/base: {sorted(missing)}"
    rendered.generated("Secret", "finledger-secrets")
    rendered.generated("ConfigMap", "finledger-config")
    names = [(d["kind"], d_name(d)) for d in rendered.docs]
    assert len(names) == len(set(names)), "an object is defined twice"


def test_every_namespaced_object_lands_in_the_namespace(rendered: Rendered) -> None:
    for doc in rendered.docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, (doc["kind"], d_name(doc))


def _validator() -> list[str]:
    if importlib.util.find_spec("kubernetes_validate") is None:
        reason = "kubernetes-validate is not installed (it is in the dev extra)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; it is required in CI")
        pytest.skip(reason)
    return [sys.executable, "-m", "kubernetes_validate"]


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, "newest"])
def test_every_object_is_valid_for_kubernetes(
    rendered: Rendered, tmp_path: Path, version: str
) -> None:
    _assert_valid(rendered.docs, tmp_path, version)


# The Gateway API component's kinds are CRDs, which kubernetes-validate has no
# schema for: tests/deploy/test_ingress_manifest.py checks their shape instead.
@pytest.mark.parametrize("component", ["tls", "minikube"])
@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, "newest"])
def test_every_object_with_a_component_is_valid_for_kubernetes(
    deploy_tree: DeployTree, tmp_path: Path, component: str, version: str
) -> None:
    _assert_valid(render_with_component(deploy_tree, component), tmp_path, version)


def _assert_valid(docs: list[Doc], tmp_path: Path, version: str) -> None:
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    # without -k, kubernetes-validate checks against the newest version it knows
    pinned = ["-k", f"{version}.0"] if version != "newest" else []
    result = subprocess.run(
        [*_validator(), "--strict", *pinned, str(manifest)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    lines = result.stdout.splitlines()
    # Any WARN (e.g. a kind or apiVersion it has no schema for: never checked),
    # ERROR or FATAL fails, and so does anything on stderr (Python warnings).
    problems = [line for line in lines if not line.startswith("INFO ")]
    assert result.returncode == 0, result.stdout + result.stderr
    assert not problems, "\n".join(problems)
    assert not result.stderr.strip(), result.stderr
    passed = [line for line in lines if " passed for resource " in line]
    assert len(passed) == len(docs), "every object must have been checked"
    checked = {re.sub(r".* against version ", "", line) for line in passed}
    if version != "newest":
        assert checked == {version}, checked


def test_only_stable_apis_are_used(rendered: Rendered) -> None:
    versions = {(d["apiVersion"], d["kind"]) for d in rendered.docs}
    assert not [v for v in versions if re.search(r"/v\d+(alpha|beta)\d+$", v[0])], versions
