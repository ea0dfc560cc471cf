"""Every operation of every service, fuzzed from its own OpenAPI document.

For each generated request (valid and invalid ones, with a valid token and
without): no 5xx, the status is one the document lists for that operation,
the body matches the documented schema and content type, and every error is
problem+json.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.e2e.conftest import User, login
from tests.fuzz.conftest import FUZZ_PASSWORD, SpreadSession

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}


@schemathesis.check
def errors_are_problems(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """Every 4xx and 5xx is RFC 9457 problem+json with the fields clients rely on."""
    if response.status_code < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.startswith("application/problem+json"), (
        f"{response.status_code} answered as {content_type!r}, not application/problem+json"
    )
    body = json.loads(response.content)
    missing = PROBLEM_FIELDS - body.keys()
    assert not missing, f"problem without {sorted(missing)}: {body}"
    assert body["status"] == response.status_code, body
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    errors_are_problems,
]

# Per operation and test, so the whole directory stays near a minute on two
# cores; FUZZ_EXAMPLES=200 for a deeper run by hand.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
STATEFUL_SCENARIOS = 10
# Reproducible (derandomize: the same cases on every run, in CI too) and
# nothing written to a database of examples in the repository.
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def fuzz(
    schema: OpenApiSchema,
    subtests: pytest.Subtests,
    send: Callable[[Case[Any]], Response],
    *,
    examples: int,
) -> None:
    """Every operation of the schema, as one subtest each: valid and invalid
    requests (`send` makes the call), each response put through CHECKS.

    (schemathesis's own lazy pytest loader, `from_fixture`, fails on pytest 9,
    and the documents exist only once the stack runs: hence this loop.)"""
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    assert operations
    for operation in operations:
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @settings(FUZZ, max_examples=examples)
        @given(cases)
        def run(case: Case[Any]) -> None:
            case.validate_response(send(case), checks=CHECKS)

        with subtests.test(msg=operation.label):
            run()


def test_auth(
    auth_schema: OpenApiSchema,
    auth_user: User,
    logout_user: User,
    api: httpx.Client,
    fuzz_session: SpreadSession,
    subtests: pytest.Subtests,
) -> None:
    def send(case: Case[Any]) -> Response:
        user = auth_user
        if case.path == "/auth/logout-all":
            # it ends every session of its user: a new session of another user each time
            user = login(api, logout_user.email, FUZZ_PASSWORD)
        return case.call(session=fuzz_session, headers=user.headers)

    fuzz(auth_schema, subtests, send, examples=EXAMPLES)


def test_auth_without_token(
    auth_schema: OpenApiSchema, fuzz_session: SpreadSession, subtests: pytest.Subtests
) -> None:
    fuzz(auth_schema, subtests, lambda case: case.call(session=fuzz_session), examples=3)


def test_ledger(
    ledger_schema: OpenApiSchema,
    fuzz_user: User,
    fuzz_session: SpreadSession,
    subtests: pytest.Subtests,
) -> None:
    def send(case: Case[Any]) -> Response:
        return case.call(session=fuzz_session, headers=fuzz_user.headers)

    fuzz(ledger_schema, subtests, send, examples=EXAMPLES)


def test_ledger_without_token(
    ledger_schema: OpenApiSchema, fuzz_session: SpreadSession, subtests: pytest.Subtests
) -> None:
    fuzz(ledger_schema, subtests, lambda case: case.call(session=fuzz_session), examples=3)


def test_db_gateway(
    gateway_schema: OpenApiSchema,
    internal_headers: dict[str, str],
    fuzz_session: SpreadSession,
    subtests: pytest.Subtests,
) -> None:
    def send(case: Case[Any]) -> Response:
        return case.call(session=fuzz_session, headers=internal_headers)

    fuzz(gateway_schema, subtests, send, examples=EXAMPLES)


def test_db_gateway_without_token(
    gateway_schema: OpenApiSchema, fuzz_session: SpreadSession, subtests: pytest.Subtests
) -> None:
    fuzz(gateway_schema, subtests, lambda case: case.call(session=fuzz_session), examples=3)


def test_ledger_stateful(
    ledger_schema: OpenApiSchema, fuzz_user: User, fuzz_session: SpreadSession
) -> None:
    """Sequences along the links schemathesis infers between operations (create
    an account, then read, change or delete it; the same for transactions,
    categories, budgets), every response put through CHECKS."""
    reached: set[str] = set()

    class Ledger(ledger_schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            return {"session": fuzz_session, "headers": fuzz_user.headers}

        def validate_response(
            self, response: Response, case: Case[Any], additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS, recorder=self.recorder)
            if "{" in case.path and response.status_code < 300:
                reached.add(f"{case.method} {case.path}")

    Ledger.run(settings=settings(FUZZ, max_examples=STATEFUL_SCENARIOS, stateful_step_count=10))
    # the links were followed: an object one step created was then found by its id
    assert reached, "no operation on an object created earlier in the scenario succeeded"
