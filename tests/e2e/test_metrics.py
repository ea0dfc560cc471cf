"""/metrics of the real services while real traffic goes through the ingress:
the counters an operator relies on move when they should, and every label
value comes from a small known set (no ids, emails or raw paths)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from db_gateway.config import Settings as DbGatewaySettings
from servicekit import metrics
from tests.conftest import StackInfo
from tests.e2e.conftest import PASSWORD, User, assert_problem, client_at, register_and_login
from tests.waiting import wait_until

SERVICES = ("auth", "ledger", "db-gateway")
DOCS_PREFIX = {"auth": "/auth", "ledger": "/services", "db-gateway": "/internal"}
UUID_LIKE = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)


@dataclass(frozen=True)
class Scrape:
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return (name, frozenset(labels.items())) in self.samples


def instances(stack: StackInfo, service: str) -> list[str]:
    """The URLs of a service's replicas (the stack may run several of one)."""
    found = [
        url for name, url in stack.services.items() if re.fullmatch(rf"{service}(-\d+)?", name)
    ]
    assert found, (service, stack.services)
    return found


def scrape(stack: StackInfo, service: str) -> Scrape:
    """Every replica's /metrics, summed, as a dashboard's sum() sees them."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for url in instances(stack, service):
        response = httpx.get(f"{url}/metrics", timeout=5)
        assert response.status_code == 200
        for family in text_string_to_metric_families(response.text):
            for s in family.samples:
                key = (s.name, frozenset(s.labels.items()))
                samples[key] = samples.get(key, 0.0) + s.value
    return Scrape(samples)


def _account(api: httpx.Client, user: User) -> str:
    created = api.post(
        "/services/accounts",
        headers=user.headers,
        json={"name": "Checking", "type": "checking", "currency": "USD", "opening_balance": "50"},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _expense(api: httpx.Client, user: User, account: str, **headers: str) -> httpx.Response:
    return api.post(
        "/services/transactions",
        headers={**user.headers, **headers},
        json={"type": "expense", "account_id": account, "amount": "1.25", "date": "2026-11-02"},
    )


def test_metrics_are_served_on_the_service_ports_not_through_the_ingress(
    api: httpx.Client, stack: StackInfo
) -> None:
    for service in SERVICES:
        for url in instances(stack, service):
            response = httpx.get(f"{url}/metrics", timeout=5)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain")
            # declared even in a replica that has not served a request yet
            assert "# TYPE http_server_request_duration_seconds histogram" in response.text
    assert_problem(api.get("/metrics"), 404)


def test_login_outcomes_refreshes_and_revocations_are_counted(
    api: httpx.Client, stack: StackInfo
) -> None:
    before = scrape(stack, "auth")
    user = register_and_login(api)  # one success
    refreshed = api.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert refreshed.status_code == 200
    reused = api.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert_problem(reused, 401, "refresh_token_reused")
    assert_problem(api.post("/auth/refresh", json={"refresh_token": "not-a-token"}), 401)
    again = api.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert again.status_code == 200
    logout = api.post("/auth/logout", json={"refresh_token": again.json()["refresh_token"]})
    assert logout.status_code == 204

    statuses = []
    with client_at(stack, "127.0.23.50") as guesser:  # its own address: no per-IP spill-over
        for _ in range(8):
            attempt = guesser.post("/auth/login", json={"email": user.email, "password": "nope!"})
            statuses.append(attempt.status_code)
            if attempt.status_code == 429:
                break
    assert statuses[-1] == 429, statuses

    after = scrape(stack, "auth")

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("auth_logins_total", outcome="success") == 2
    assert moved("auth_logins_total", outcome="failure") == statuses.count(401) == 5
    assert moved("auth_logins_total", outcome="throttled") == 1
    assert moved("auth_refreshes_total", outcome="success") == 1
    assert moved("auth_refreshes_total", outcome="reused") == 1
    assert moved("auth_refreshes_total", outcome="invalid") == 1
    assert moved("auth_sessions_revoked_total", reason="refresh_reuse") >= 1
    assert moved("auth_sessions_revoked_total", reason="logout") == 1
    login = {"method": "POST", "route": "/auth/login"}
    assert moved("http_server_requests_total", status="429", **login) == 1
    assert moved("http_server_requests_total", status="401", **login) == 5
    assert moved("http_server_request_duration_seconds_count", status="200", **login) == 2


def test_cache_hits_misses_and_idempotent_replays_are_counted(
    api: httpx.Client, stack: StackInfo
) -> None:
    user = register_and_login(api)
    account = _account(api, user)
    user_id = api.get("/profile", headers=user.headers).json()["id"]
    before = scrape(stack, "ledger")

    for _ in range(2):  # written through at creation: both are hits
        assert api.get(f"/services/accounts/{account}/balance", headers=user.headers).is_success
    cache = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        cache.delete(f"bal:{user_id}:{account}")
    finally:
        cache.close()
    assert api.get(f"/services/accounts/{account}/balance", headers=user.headers).is_success
    for _ in range(2):  # the first computes and fills it, the second is served from Redis
        assert api.get("/services/dashboard", headers=user.headers).is_success
    key = {"Idempotency-Key": f"metrics-{uuid.uuid4()}"}
    assert _expense(api, user, account, **key).status_code == 201
    replay = _expense(api, user, account, **key)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"

    after = scrape(stack, "ledger")

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("ledger_cache_lookups_total", cache="balance", result="hit") == 2
    assert moved("ledger_cache_lookups_total", cache="balance", result="miss") == 1
    assert moved("ledger_cache_lookups_total", cache="dashboard", result="miss") == 1
    assert moved("ledger_cache_lookups_total", cache="dashboard", result="hit") == 1
    assert moved("ledger_cache_lookups_total", cache="balance", result="fallback") == 0
    assert moved("ledger_idempotent_replays_total") == 1
    # the first POST's cache updates: its balance, and the dashboard's floor; and
    # the replay's again (the first attempt's may have been lost with its replica)
    assert moved("ledger_cache_updates_total", cache="balance", outcome="written") == 2
    assert moved("ledger_cache_updates_total", cache="dashboard", outcome="written") == 2
    balance = {"method": "GET", "route": "/services/accounts/{account_id}/balance"}
    assert moved("http_server_requests_total", status="200", **balance) == 3


def test_without_redis_reads_fall_back_and_failed_updates_are_repaired(
    api: httpx.Client, stack: StackInfo
) -> None:
    user = register_and_login(api)
    account = _account(api, user)
    before = scrape(stack, "ledger")

    stack.control("stop", "redis")
    try:
        assert api.get(f"/services/accounts/{account}/balance", headers=user.headers).is_success
        assert _expense(api, user, account).status_code == 201  # its cache update fails
    finally:
        stack.control("start", "redis")

    def moved(scraped: Scrape, name: str, **labels: str) -> float:
        return scraped.value(name, **labels) - before.value(name, **labels)

    down = scrape(stack, "ledger")
    assert moved(down, "ledger_cache_lookups_total", cache="balance", result="fallback") >= 1
    assert moved(down, "ledger_cache_updates_total", cache="balance", outcome="failed") == 1
    assert moved(down, "ledger_cache_updates_total", cache="dashboard", outcome="failed") == 1
    # the background repair applies them once Redis is back
    wait_until(
        lambda: (
            moved(
                scrape(stack, "ledger"),
                "ledger_cache_updates_total",
                cache="balance",
                outcome="repaired",
            )
            >= 1
        ),
        "the failed cache update was never repaired",
        every=0.1,
    )
    body = api.get(f"/services/accounts/{account}/balance", headers=user.headers).json()
    assert body["balance"] == "48.75"


def test_peer_latency_and_the_database_pool_are_exported(
    api: httpx.Client, stack: StackInfo
) -> None:
    before = {service: scrape(stack, service) for service in ("auth", "ledger")}
    user = register_and_login(api)
    _account(api, user)

    for service in ("auth", "ledger"):
        after = scrape(stack, service)
        labels = {"peer": "db-gateway", "outcome": "success"}
        name = "http_client_request_duration_seconds"
        calls = after.value(f"{name}_count", **labels) - before[service].value(
            f"{name}_count", **labels
        )
        assert calls >= 1, service
        assert after.value(f"{name}_sum", **labels) > before[service].value(f"{name}_sum", **labels)
        for outcome in metrics.PEER_OUTCOMES:  # every outcome exported, at zero if need be
            assert after.has(f"{name}_count", peer="db-gateway", outcome=outcome)

    pool = scrape(stack, "db-gateway")
    states = {
        state: pool.value("db_pool_connections", state=state)
        for state in ("in_use", "idle", "overflow")
    }
    assert all(pool.has("db_pool_connections", state=state) for state in states)
    assert states["idle"] + states["in_use"] >= 1, states  # the pool holds what it opened
    defaults = DbGatewaySettings.model_fields
    pool_max = defaults["db_pool_size"].default + defaults["db_max_overflow"].default
    assert pool.value("db_pool_connections_max") == pool_max == 16
    assert pool.has("db_pool_timeouts_total")
    served = pool.value(
        "http_server_requests_total",
        method="POST",
        route="/internal/users/{user_id}/accounts",
        status="201",
    )
    assert served >= 1


# --- bounded labels ------------------------------------------------------------------


def _routes(stack: StackInfo, service: str) -> set[str]:
    prefix = DOCS_PREFIX[service]
    url = instances(stack, service)[0]
    # db-gateway's document is behind its internal token, like the rest of /internal
    token = {"X-Internal-Token": stack.secrets["INTERNAL_TOKEN"]}
    document = httpx.get(f"{url}{prefix}/openapi.json", headers=token, timeout=5)
    paths = document.json()["paths"]
    docs = {f"{prefix}/docs", f"{prefix}/openapi.json", f"{prefix}/docs/oauth2-redirect"}
    return set(paths) | docs | {metrics.UNMATCHED_ROUTE}


KNOWN_VALUES: dict[str, set[str]] = {
    "method": set(metrics.METHODS) | {metrics.OTHER_METHOD},
    "peer": {"db-gateway"},
    "outcome": {
        *metrics.PEER_OUTCOMES,
        *("success", "failure", "throttled", "error"),  # logins
        *("success", "invalid", "reused", "error"),  # refreshes
        *("written", "failed", "repaired", "dropped"),  # cache updates
    },
    "reason": {"logout", "logout_all", "session_end", "password_change", "refresh_reuse"},
    "cache": {"balance", "dashboard"},
    "result": {"hit", "miss", "fallback"},
    "state": {"in_use", "idle", "overflow"},
}
OURS = ("http_server_", "http_client_", "auth_", "ledger_", "db_pool_", "password_")
RUNTIME = ("python_", "process_")  # prometheus-client's own: constant per process


def test_every_label_value_comes_from_a_small_known_set(
    api: httpx.Client, stack: StackInfo
) -> None:
    """After traffic full of ids, emails and odd paths, no label carries one."""
    user = register_and_login(api)
    account = _account(api, user)
    for path in (
        f"/services/accounts/{account}",
        f"/services/accounts/{account}/balance",
        f"/services/accounts/{uuid.uuid4()}",
        f"/services/transactions?account_id={account}&q={user.email}",
        f"/services/nothing/{uuid.uuid4()}",
        f"/auth/sessions/{uuid.uuid4()}",
    ):
        api.get(path, headers={**user.headers, "X-Request-ID": str(uuid.uuid4())})
    api.post("/auth/login", json={"email": user.email, "password": "wrong password"})

    for service, url in [(s, url) for s in SERVICES for url in instances(stack, s)]:
        response = httpx.get(f"{url}/metrics", timeout=5)
        routes = _routes(stack, service)
        labelled = 0
        for family in text_string_to_metric_families(response.text):
            assert family.name.startswith(OURS + RUNTIME), family.name
            for sample in family.samples:
                for label, value in sample.labels.items():
                    where = f"{service} {sample.name} {label}={value!r}"
                    assert not UUID_LIKE.search(value), where
                    assert "@" not in value, where
                    if family.name.startswith(RUNTIME):
                        continue
                    labelled += 1
                    if label == "route":  # a template; with its converter, if any
                        assert re.sub(r"\{(\w+):\w+\}", r"{\1}", value) in routes, where
                    elif label == "status":
                        assert re.fullmatch(r"[1-5]\d\d", value), where
                    elif label == "le":
                        assert value == "+Inf" or float(value) in metrics.LATENCY_BUCKETS, where
                    else:
                        assert value in KNOWN_VALUES[label], where
        assert labelled > 50, service


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_s_own_metrics_are_there_from_the_start(stack: StackInfo, service: str) -> None:
    """Pre-resolved children: a rate over a series that does not exist yet is
    no rate, so every fixed label value is exported at zero from the start."""
    scraped = scrape(stack, service)
    expected = {
        "auth": [
            ("auth_logins_total", {"outcome": "throttled"}),
            ("auth_refreshes_total", {"outcome": "reused"}),
            ("auth_sessions_revoked_total", {"reason": "password_change"}),
        ],
        "ledger": [
            ("ledger_cache_lookups_total", {"cache": "dashboard", "result": "fallback"}),
            ("ledger_cache_updates_total", {"cache": "balance", "outcome": "dropped"}),
            ("ledger_idempotent_replays_total", {}),
        ],
        "db-gateway": [
            ("db_pool_connections", {"state": "overflow"}),
            ("db_pool_timeouts_total", {}),
        ],
    }[service]
    for name, labels in expected:
        assert scraped.has(name, **labels), (name, labels)
    assert scraped.has("http_server_requests_in_flight")
