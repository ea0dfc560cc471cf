"""The Ingress as kubectl renders it: the routes the product promises, nothing more."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _render() -> list[dict[str, object]]:
    if shutil.which("kubectl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kubectl is required in CI")
        pytest.skip("kubectl not installed")
    out = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "deploy/ingress")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def test_ingress_routes_the_public_prefixes_and_never_db_gateway() -> None:
    (ingress,) = [d for d in _render() if d["kind"] == "Ingress"]
    spec = ingress["spec"]
    assert isinstance(spec, dict)
    assert spec["ingressClassName"] == "nginx"
    routes = {
        (p["path"], p["pathType"], p["backend"]["service"]["name"])
        for rule in spec["rules"]
        for p in rule["http"]["paths"]
    }
    assert routes == {
        ("/auth", "Prefix", "auth"),
        ("/services", "Prefix", "ledger"),
        ("/profile", "Prefix", "ledger"),
    }
