"""Scraping and dashboards: the pods announce /metrics, Prometheus in namespace
monitoring may reach it (and nothing else), the prometheus-operator component
selects exactly the three Services, and the Grafana dashboard only queries
metric and label names the running services really expose."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import StackInfo
from tests.deploy.conftest import (
    DEPLOY,
    NAMESPACE,
    SERVICES,
    DeployTree,
    Doc,
    Rendered,
    d_name,
    render,
    render_with_component,
)
from tests.e2e.conftest import register_and_login
from tests.e2e.test_metrics import instances

DASHBOARD = DEPLOY / "observability" / "grafana-dashboard.json"
PROMETHEUS = ("monitoring", "prometheus")  # namespace, app.kubernetes.io/name of its pods
# labels Prometheus adds to every scraped series (job, instance; and with the
# Prometheus Operator's ServiceMonitor: namespace, service, pod, endpoint, container)
TARGET_LABELS = {"job", "instance", "namespace", "service", "pod", "endpoint", "container"}
HISTOGRAM_LABELS = {"le"}


# --- scraping --------------------------------------------------------------------


def test_the_service_pods_announce_their_metrics_endpoint(rendered: Rendered) -> None:
    for name in SERVICES:
        template = rendered.one("Deployment", name)["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        (container,) = [c for c in template["spec"]["containers"] if c["name"] == name]
        (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == "http"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/port"] == str(port) == "8000", name
        assert annotations["prometheus.io/path"] == "/metrics", name
    others = [d for d in rendered.of_kind("Deployment") if d_name(d) not in SERVICES]
    for other in others:  # Postgres, Redis, the error backend serve no /metrics
        annotations = other["spec"]["template"]["metadata"].get("annotations", {})
        assert "prometheus.io/scrape" not in annotations, d_name(other)


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", expression
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def test_prometheus_in_monitoring_reaches_the_services_port_and_nothing_else(
    rendered: Rendered,
) -> None:
    namespace, name = PROMETHEUS
    reached = set()
    for policy in rendered.of_kind("NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            for peer in rule["from"]:
                labels = peer.get("namespaceSelector", {}).get("matchLabels", {})
                if labels != {"kubernetes.io/metadata.name": namespace}:
                    continue
                assert peer["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": name}}
                pods = {
                    d_name(owner)
                    for owner, _ in rendered.workloads()
                    if _selects(policy["spec"]["podSelector"], rendered.pod_labels(owner))
                }
                reached |= {(pod, p["protocol"], p["port"]) for pod in pods for p in rule["ports"]}
    assert reached == {(service, "TCP", 8000) for service in SERVICES}


@pytest.fixture(scope="module")
def with_operator(deploy_tree: DeployTree) -> list[Doc]:
    return render_with_component(deploy_tree, "prometheus-operator")


def test_the_service_monitor_scrapes_exactly_the_three_services(
    with_operator: list[Doc],
) -> None:
    (monitor,) = [d for d in with_operator if d["kind"] == "ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["app.kubernetes.io/part-of"] == "finledger"
    spec = monitor["spec"]
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    services = [d for d in with_operator if d["kind"] == "Service"]
    selected = {
        d_name(s): s for s in services if _selects(spec["selector"], s["metadata"]["labels"])
    }
    assert set(selected) == set(SERVICES)
    (endpoint,) = spec["endpoints"]
    assert endpoint["path"] == "/metrics"
    for service in selected.values():
        (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
        assert port["port"] == 8000, d_name(service)
    assert float(endpoint["scrapeTimeout"].rstrip("s")) < float(endpoint["interval"].rstrip("s"))


def test_the_component_adds_the_service_monitor_and_changes_nothing_else(
    with_operator: list[Doc], deploy_tree: DeployTree
) -> None:
    without = render(deploy_tree.path, "ingress")
    added = [d for d in with_operator if d not in without]
    assert [(d["kind"], d_name(d)) for d in added] == [("ServiceMonitor", "finledger")]
    assert len(with_operator) == len(without) + 1


# --- the dashboard ---------------------------------------------------------------

PROMQL_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$job": ".+"}


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _queries(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in _panels(dashboard) for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query["query"])
            assert match, query
            exprs.append(f"count by ({match.group(2)}) ({match.group(1)})")
    return exprs


def parse_promql(expr: str) -> tuple[set[str], set[str], set[tuple[str, str]]]:
    """(metric names, label names, (label, value) of its exact matchers)."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"an unknown Grafana variable in {expr}"
    labels, exact = set(), set()
    for block in re.findall(r"\{([^}]*)\}", expr):
        for label, operator, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', block):
            labels.add(label)
            if operator in ("=", "!="):
                exact.add((label, value))
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    for clause in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
        labels |= {label.strip() for label in clause.split(",") if label.strip()}
    expr = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # range selectors
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word, rest = match.group(0), expr[match.end() :].lstrip()
        if rest.startswith("(") or word.lower() in PROMQL_KEYWORDS:
            continue  # a function or a keyword
        if re.fullmatch(r"\d*e\d+", word):
            continue
        names.add(word)
    return names, labels, exact


def test_the_promql_parser_finds_names_labels_and_values() -> None:
    names, labels, exact = parse_promql(
        'histogram_quantile(0.95, sum by (job, le) (rate(x_bucket{job=~"$job", a="b"}[5m])))'
        ' / on (job) group_left sum(y_total{c!="d"}) > bool 1e3'
    )
    assert names == {"x_bucket", "y_total"}
    assert labels == {"job", "le", "a", "c"}
    assert exact == {("a", "b"), ("c", "d")}


@pytest.fixture(scope="module")
def exposed(stack: StackInfo) -> tuple[set[str], dict[str, set[str]]]:
    """Sample names and label values of the running services, after a little
    traffic (labelled series exist once something was counted)."""
    with httpx.Client(base_url=stack.ingress, timeout=10) as api:
        user = register_and_login(api)
        api.post(
            "/services/accounts",
            headers=user.headers,
            json={"name": "A", "type": "cash", "currency": "EUR"},
        )
        api.get("/services/dashboard", headers=user.headers)
    names: set[str] = set()
    values: dict[str, set[str]] = {}
    for service in SERVICES:
        for url in instances(stack, service):
            text = httpx.get(f"{url}/metrics", timeout=5).text
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    names.add(sample.name)
                    for label, value in sample.labels.items():
                        values.setdefault(label, set()).add(value)
    return names, values


def test_the_dashboard_is_valid_grafana_json_with_queries() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"]
    assert dashboard["title"] == "finledger"
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_the_dashboard_only_queries_what_the_services_expose(
    exposed: tuple[set[str], dict[str, set[str]]],
) -> None:
    names, values = exposed
    dashboard = json.loads(DASHBOARD.read_text())
    for expr in _queries(dashboard):
        used_names, used_labels, exact = parse_promql(expr)
        assert used_names, expr
        assert used_names <= names, f"not exposed: {used_names - names} in {expr}"
        known_labels = set(values) | TARGET_LABELS | HISTOGRAM_LABELS
        assert used_labels <= known_labels, f"no such label: {used_labels - known_labels}"
        for label, value in exact:
            assert value in values.get(label, set()), f"{label}={value!r} never exported"


def test_the_dashboard_covers_what_operators_watch() -> None:
    """Request rate, error rate, p50/p95/p99 per service and route, cache hit
    ratio, DB pool usage, login throttles, peer call latency."""
    queries = _queries(json.loads(DASHBOARD.read_text()))
    text = "\n".join(queries)

    def some(pattern: str) -> bool:
        return any(re.search(pattern, q) for q in queries)

    assert some(r"sum by \(job\) \(rate\(http_server_requests_total")
    assert some(r'status=~"5\.\."\}.*/ sum by \(job\) \(rate\(http_server_requests_total')
    for quantile in ("0.5", "0.95", "0.99"):
        assert some(rf"histogram_quantile\({quantile}, sum by \(job, le\) \(rate\(http_server_")
    assert some(r"histogram_quantile\(0\.95, sum by \(job, method, route, le\)")
    assert some(r'ledger_cache_lookups_total\{result="hit"\}.*/ sum by \(cache\)')
    assert "db_pool_connections" in text
    assert "db_pool_timeouts_total" in text
    assert some(r'auth_logins_total\{outcome="throttled"\}')
    assert some(r"histogram_quantile\(0\.\d+, sum by \(job, peer, le\) \(rate\(http_client_")


def test_the_dashboard_and_its_note_are_in_the_repository() -> None:
    note = Path(DASHBOARD.parent / "README.md").read_text()
    assert DASHBOARD.name in note
    assert "job" in note
