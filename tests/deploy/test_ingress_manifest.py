"""The Ingresses as kubectl renders deploy/ingress: the routes the product
promises and nothing more, the controller-specific settings in one place, and
the optional components."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import (
    DeployTree,
    Doc,
    Rendered,
    d_name,
    render,
    render_with_component,
)

CONTROLLER = "nginx.ingress.kubernetes.io/"
CREDENTIALS = {"/auth/login", "/auth/token", "/auth/register", "/auth/refresh", "/auth/password"}
SETTINGS = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "deploy/ingress/settings.yaml").read_text()
)["data"]


@pytest.fixture(scope="module")
def product(deploy_tree: DeployTree) -> Rendered:
    return Rendered(render(deploy_tree.path, "ingress"), deploy_tree.secrets)


def _routes(ingress: Doc) -> set[tuple[str, str, str, int]]:
    return {
        (
            p["path"],
            p["pathType"],
            p["backend"]["service"]["name"],
            p["backend"]["service"]["port"]["number"],
        )
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }


def test_the_public_prefixes_are_routed_and_db_gateway_never(product: Rendered) -> None:
    ingresses = {d_name(d): d for d in product.of_kind("Ingress")}
    assert set(ingresses) == {"finledger", "finledger-credentials"}
    assert _routes(ingresses["finledger"]) == {
        ("/auth", "Prefix", "auth", 8000),
        ("/services", "Prefix", "ledger", 8000),
        ("/profile", "Prefix", "ledger", 8000),
        ("/", "Prefix", "ingress-errors", 8000),
    }
    assert _routes(ingresses["finledger-credentials"]) == {
        (path, "Prefix", "auth", 8000) for path in CREDENTIALS
    }
    for ingress in ingresses.values():
        assert ingress["spec"]["ingressClassName"] == "nginx"
        assert "db-gateway" not in str(ingress["spec"])


def test_every_backend_is_a_service_of_the_product_on_its_port(product: Rendered) -> None:
    services = {d_name(s): s for s in product.of_kind("Service")}
    for ingress in product.of_kind("Ingress"):
        for _, _, name, port in _routes(ingress):
            assert port in {p["port"] for p in services[name]["spec"]["ports"]}, name


def test_controller_specific_settings_are_annotations_only(product: Rendered) -> None:
    for ingress in product.of_kind("Ingress"):
        annotations = ingress["metadata"]["annotations"]
        assert all(key.startswith(CONTROLLER) for key in annotations), annotations
        assert annotations[CONTROLLER + "proxy-body-size"]
        assert annotations[CONTROLLER + "custom-http-errors"] == "413,502,503,504"
        assert annotations[CONTROLLER + "default-backend"] == "ingress-errors"
        # settings.yaml's origins, copied in by kustomize
        assert annotations[CONTROLLER + "cors-allow-origin"] == SETTINGS["cors-allow-origin"]
        assert "snippet" not in str(annotations)


def test_only_the_credential_endpoints_are_rate_limited(product: Rendered) -> None:
    limits = {
        d_name(i): i["metadata"]["annotations"].get(CONTROLLER + "limit-rps")
        for i in product.of_kind("Ingress")
    }
    assert limits == {"finledger": None, "finledger-credentials": "20"}


def test_the_tls_component_serves_the_host_of_the_settings(deploy_tree: DeployTree) -> None:
    docs = render_with_component(deploy_tree, "tls")
    for ingress in (d for d in docs if d["kind"] == "Ingress"):
        spec = ingress["spec"]
        assert spec["rules"][0]["host"] == SETTINGS["host"]
        assert spec["tls"] == [{"hosts": [SETTINGS["host"]], "secretName": "finledger-tls"}]
        annotations = ingress["metadata"]["annotations"]
        assert annotations["cert-manager.io/cluster-issuer"] == SETTINGS["cluster-issuer"]
        assert annotations[CONTROLLER + "ssl-redirect"] == "true"


def test_the_gateway_api_component_routes_the_same_prefixes(deploy_tree: DeployTree) -> None:
    docs = render_with_component(deploy_tree, "gateway-api")
    assert not [d for d in docs if d["kind"] == "Ingress"]
    (gateway,) = [d for d in docs if d["kind"] == "Gateway"]
    assert gateway["spec"]["gatewayClassName"] == SETTINGS["gateway-class"]
    (route,) = [d for d in docs if d["kind"] == "HTTPRoute"]
    assert route["spec"]["parentRefs"] == [{"name": d_name(gateway)}]
    routed = {
        (match["path"]["type"], match["path"]["value"], backend["name"], backend["port"])
        for rule in route["spec"]["rules"]
        for match in rule["matches"]
        for backend in rule["backendRefs"]
    }
    assert routed == {
        ("PathPrefix", "/auth", "auth", 8000),
        ("PathPrefix", "/services", "ledger", 8000),
        ("PathPrefix", "/profile", "ledger", 8000),
        ("PathPrefix", "/", "ingress-errors", 8000),
    }


def test_with_the_gateway_api_its_data_plane_reaches_the_public_services(
    deploy_tree: DeployTree,
) -> None:
    docs = render_with_component(deploy_tree, "gateway-api")
    policies = {d_name(d): d for d in docs if d["kind"] == "NetworkPolicy"}
    for name in ("auth", "ledger", "ingress-errors"):
        (allowed,) = policies[name]["spec"]["ingress"][0]["from"]
        labels = allowed["namespaceSelector"]["matchLabels"]
        assert labels == {"kubernetes.io/metadata.name": SETTINGS["gateway-namespace"]}
    assert "ingress-nginx" not in str(policies["auth"]["spec"]["ingress"])


def test_the_minikube_component_only_shrinks_requests(
    deploy_tree: DeployTree, product: Rendered
) -> None:
    small = {
        (d["kind"], d_name(d)): d
        for d in render_with_component(deploy_tree, "minikube")
        if d["kind"] == "Deployment"
    }
    for deployment in product.of_kind("Deployment"):
        name = d_name(deployment)
        before = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
        after = small[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0][
            "resources"
        ]
        assert after["limits"] == before["limits"], name
        for resource in ("cpu", "memory"):
            assert _quantity(after["requests"][resource]) <= _quantity(
                before["requests"][resource]
            ), name


def _quantity(value: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return float(value.removesuffix(suffix)) * factor
    return float(value)
