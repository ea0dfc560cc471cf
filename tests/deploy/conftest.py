"""deploy/ as `kubectl kustomize` renders it, offline.

The base needs deploy/base/secrets.env, which is never committed (`make secrets`
writes it). So the tests render a throwaway copy of the deploy/ tree with a
secrets.env of fresh random values, the way `make secrets` fills it from
.env.example; a developer's real secrets.env is never read. `deploy_tree` is
that copy, for rendering any kustomization that includes the base.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"
NAMESPACE = "finledger"
SECRET_NAME = "finledger-secrets"
CONFIG_NAME = "finledger-config"
SERVICES = ("auth", "ledger", "db-gateway")
# the rotation-only keys .env.example lists commented out
OPTIONAL_SECRET_KEYS = ("JWT_PREVIOUS_SECRET", "JWT_PREVIOUS_KID")

Doc = dict[str, Any]


def require_tool(name: str) -> str:
    """The tool's path; without it the deploy tests skip, except in CI."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed: the deploy/ manifests cannot be rendered"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (it is required in CI)")
        pytest.skip(reason)
    return path


def example_keys(*, optional: bool = False) -> list[str]:
    """The secret keys .env.example documents: uncommented ones (`make secrets`
    fills them), or with `optional` the commented-out rotation-only ones."""
    keys = []
    for raw in (BASE / ".env.example").read_text().splitlines():
        line = raw.strip()
        if optional:
            line = line.removeprefix("#").strip()
        elif line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            keys.append(match.group(1))
    return keys


@dataclass(frozen=True)
class Rendered:
    docs: list[Doc]
    secrets: dict[str, str]  # what secrets.env held for this render

    def of_kind(self, kind: str) -> list[Doc]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str) -> Doc:
        (doc,) = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        return doc

    def generated(self, kind: str, prefix: str) -> Doc:
        """The Secret or ConfigMap a generator made (its name carries a hash)."""
        (doc,) = [
            d for d in self.of_kind(kind) if re.fullmatch(rf"{prefix}-[a-z0-9]{{10}}", d_name(d))
        ]
        return doc

    def workloads(self) -> Iterator[tuple[Doc, Doc]]:
        """(owner, pod spec) for every Deployment and CronJob."""
        for doc in self.docs:
            if doc["kind"] == "Deployment":
                yield doc, doc["spec"]["template"]["spec"]
            elif doc["kind"] == "CronJob":
                yield doc, doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]

    def pod_labels(self, owner: Doc) -> dict[str, str]:
        template = (
            owner["spec"]["jobTemplate"]["spec"]["template"]
            if owner["kind"] == "CronJob"
            else owner["spec"]["template"]
        )
        labels: dict[str, str] = template["metadata"]["labels"]
        return labels


def d_name(doc: Doc) -> str:
    name: str = doc["metadata"]["name"]
    return name


def containers(pod: Doc, *, init: bool = True) -> list[Doc]:
    found: list[Doc] = list(pod.get("initContainers", [])) if init else []
    return found + list(pod["containers"])


def render(tree: Path, kustomization: str = "base") -> list[Doc]:
    """`kubectl kustomize` of one directory of a deploy/ tree, as documents."""
    kubectl = require_tool("kubectl")
    result = subprocess.run(
        [kubectl, "kustomize", str(tree / kustomization)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"kubectl kustomize deploy/{kustomization}:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_with_component(tree: DeployTree, component: str) -> list[Doc]:
    """deploy/ingress with one of deploy/components enabled, as an operator
    enables it (listing it under `components:`), in a throwaway overlay."""
    overlay = tree.path / f"with-{component}"
    overlay.mkdir(exist_ok=True)
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "resources: [../ingress]\n"
        f"components: [../components/{component}]\n"
    )
    return render(tree.path, overlay.name)


def _copy_with_secrets(dest: Path, values: dict[str, str]) -> Path:
    tree = dest / "deploy"
    shutil.copytree(DEPLOY, tree, ignore=shutil.ignore_patterns("secrets.env"))
    env = tree / "base" / "secrets.env"
    env.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    env.chmod(0o600)
    return tree


@dataclass(frozen=True)
class DeployTree:
    path: Path  # a copy of deploy/, with base/secrets.env written
    secrets: dict[str, str]  # what that secrets.env holds


@pytest.fixture(scope="session")
def deploy_tree(tmp_path_factory: pytest.TempPathFactory) -> DeployTree:
    """deploy/ with what `make secrets` writes: every required key, random."""
    values = {key: secrets.token_urlsafe(48) for key in example_keys()}
    return DeployTree(_copy_with_secrets(tmp_path_factory.mktemp("render"), values), values)


@pytest.fixture(scope="session", params=["base", "ingress"])
def rendered(request: pytest.FixtureRequest, deploy_tree: DeployTree) -> Rendered:
    """The base alone, and the whole product as `kubectl apply -k deploy/ingress`
    applies it: every policy holds for both."""
    kustomization: str = request.param
    return Rendered(render(deploy_tree.path, kustomization), deploy_tree.secrets)


@pytest.fixture(scope="session")
def rendered_base(deploy_tree: DeployTree) -> Rendered:
    return Rendered(render(deploy_tree.path), deploy_tree.secrets)


@pytest.fixture(scope="session")
def rendered_rotating(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """The base during a JWT key rotation: the optional keys are present too."""
    values = {key: secrets.token_urlsafe(48) for key in example_keys()}
    values["JWT_PREVIOUS_SECRET"] = secrets.token_urlsafe(48)
    values["JWT_PREVIOUS_KID"] = "k0"
    tree = _copy_with_secrets(tmp_path_factory.mktemp("render-rotating"), values)
    return Rendered(render(tree), values)
