"""Forged, tampered, expired and misused bearer tokens are refused with a 401
problem, by auth and by the ledger alike, through the ingress.

Every forged token starts from the same valid claims that the positive control
shows are accepted when signed properly, so each refusal is down to the attack
and not to a broken helper."""

from __future__ import annotations

import base64
import enum
import json
import secrets
import string
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from jose import jwt

from tests.conftest import StackInfo
from tests.e2e.conftest import User, assert_problem, bearer, register_and_login

KID = "k1"
ISSUER = "finledger-auth"
AUDIENCE = "finledger"
REQUIRED_CLAIMS = ("exp", "aud", "iss", "sub", "sid", "iat", "jti")

# One endpoint of auth and two of the ledger that all need an access token.
ENDPOINTS = ("/auth/sessions", "/services/accounts", "/profile")


class _Drop(enum.Enum):
    DROP = enum.auto()


_DROP = _Drop.DROP
"""Pass as a claim's value to `Forger` to leave that claim out."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def compact_json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def real_claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.get_unverified_claims(token)
    return claims


@dataclass(frozen=True)
class Forger:
    """Builds tokens for one user's session; valid unless told otherwise."""

    key: str
    sub: str
    sid: str

    def claims(
        self, overrides: Mapping[str, object] | None = None, /, **more: object
    ) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": self.sub,
            "sid": self.sid,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        for name, value in {**(overrides or {}), **more}.items():
            if value is _DROP:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def __call__(
        self,
        overrides: Mapping[str, object] | None = None,
        /,
        *,
        signing_key: str | None = None,
        kid: str = KID,
        algorithm: str = "HS256",
        **more: object,
    ) -> str:
        """Sign the valid claims, changed by `overrides` and `more` (`_DROP`
        removes a claim), with the real key unless `signing_key` is given."""
        token: str = jwt.encode(
            self.claims(overrides, **more),
            self.key if signing_key is None else signing_key,
            algorithm=algorithm,
            headers={"kid": kid},
        )
        return token

    def unsigned(self, alg: str) -> str:
        """An `alg: none`-style token: valid claims, empty signature."""
        header = {"alg": alg, "typ": "JWT", "kid": KID}
        return (
            f"{b64url_encode(compact_json(header))}.{b64url_encode(compact_json(self.claims()))}."
        )


@pytest.fixture
def forge(stack: StackInfo, user: User) -> Forger:
    claims = real_claims(user.access_token)
    return Forger(key=stack.secrets["JWT_SECRET"], sub=claims["sub"], sid=claims["sid"])


@pytest.fixture(params=ENDPOINTS)
def endpoint(request: pytest.FixtureRequest) -> str:
    path: str = request.param
    return path


def assert_refused(
    api: httpx.Client, endpoint: str, token: str, code: str = "invalid_token"
) -> None:
    assert_problem(api.get(endpoint, headers=bearer(token)), 401, code)


# --- positive control ------------------------------------------------------------------


def test_a_token_forged_with_the_real_key_and_valid_claims_is_accepted(
    api: httpx.Client, endpoint: str, user: User, forge: Forger
) -> None:
    assert api.get(endpoint, headers=user.headers).status_code == 200
    response = api.get(endpoint, headers=bearer(forge()))
    assert response.status_code == 200, response.text


# --- forged signatures and algorithms --------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_unsigned_alg_none_tokens_are_refused(
    api: httpx.Client, endpoint: str, forge: Forger, alg: str
) -> None:
    token = forge.unsigned(alg)
    assert token.endswith(".")
    assert_refused(api, endpoint, token)


def test_a_token_signed_with_a_wrong_key_is_refused(
    api: httpx.Client, endpoint: str, forge: Forger
) -> None:
    alphabet = string.ascii_letters + string.digits
    wrong_key = "".join(secrets.choice(alphabet) for _ in range(48))
    assert wrong_key != forge.key
    assert_refused(api, endpoint, forge(signing_key=wrong_key))


def test_a_token_with_an_unknown_kid_is_refused(
    api: httpx.Client, endpoint: str, forge: Forger
) -> None:
    assert_refused(api, endpoint, forge(kid="k9"))


def test_a_token_signed_with_hs512_and_the_real_key_is_refused(
    api: httpx.Client, endpoint: str, forge: Forger
) -> None:
    token = forge(algorithm="HS512")
    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    assert_refused(api, endpoint, token)


def test_a_real_token_whose_subject_was_swapped_is_refused(
    api: httpx.Client, endpoint: str, user: User
) -> None:
    other = real_claims(register_and_login(api).access_token)["sub"]
    header, payload, signature = user.access_token.split(".")
    claims = json.loads(b64url_decode(payload))
    assert claims["sub"] != other
    claims["sub"] = other
    tampered = f"{header}.{b64url_encode(compact_json(claims))}.{signature}"
    assert real_claims(tampered)["sub"] == other
    assert api.get(endpoint, headers=user.headers).status_code == 200  # the original works
    assert_refused(api, endpoint, tampered)


# --- claims, signed with the real key --------------------------------------------------


def test_an_expired_token_is_refused(api: httpx.Client, endpoint: str, forge: Forger) -> None:
    now = int(time.time())
    assert_refused(api, endpoint, forge(exp=now - 60, iat=now - 1000))


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_a_token_not_valid_yet_is_refused(
    api: httpx.Client, endpoint: str, forge: Forger, claim: str
) -> None:
    future = int(time.time()) + 3600
    assert_refused(api, endpoint, forge({claim: future}))


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_a_token_missing_a_required_claim_is_refused(
    api: httpx.Client, endpoint: str, forge: Forger, claim: str
) -> None:
    token = forge({claim: _DROP})
    assert claim not in real_claims(token)
    assert_refused(api, endpoint, token)


@pytest.mark.parametrize(
    ("claim", "value"),
    [("aud", "someone-else"), ("iss", "evil-auth")],
    ids=["wrong-aud", "wrong-iss"],
)
def test_a_token_for_another_audience_or_issuer_is_refused(
    api: httpx.Client, endpoint: str, forge: Forger, claim: str, value: str
) -> None:
    assert_refused(api, endpoint, forge({claim: value}))


def test_a_valid_token_of_an_ended_session_is_refused_as_revoked(
    api: httpx.Client, endpoint: str, user: User, forge: Forger
) -> None:
    assert api.post("/auth/logout", json={"refresh_token": user.refresh_token}).status_code == 204
    token = forge()
    deadline = time.monotonic() + 2
    while (response := api.get(endpoint, headers=bearer(token))).status_code == 200:
        assert time.monotonic() < deadline, "still accepted 2s after logout"
        time.sleep(0.05)
    assert_problem(response, 401, "token_revoked")


# --- tokens used in the wrong place ----------------------------------------------------


def test_a_refresh_token_is_not_a_bearer_token(
    api: httpx.Client, endpoint: str, user: User
) -> None:
    assert_refused(api, endpoint, user.refresh_token)


def test_an_access_token_is_not_a_refresh_token(api: httpx.Client, user: User) -> None:
    response = api.post("/auth/refresh", json={"refresh_token": user.access_token})
    assert_problem(response, 401, "invalid_refresh_token")
    # nor does logging out with it end the session
    assert api.post("/auth/logout", json={"refresh_token": user.access_token}).status_code == 204
    assert api.get("/auth/sessions", headers=user.headers).status_code == 200


# --- the Authorization header itself ---------------------------------------------------


def test_no_authorization_header_is_a_missing_token(api: httpx.Client, endpoint: str) -> None:
    assert_problem(api.get(endpoint), 401, "missing_token")


# "Bearer" alone is the empty token: httpx (h11) refuses to send the trailing
# space of "Bearer ", and HTTP strips it from header values anyway.
@pytest.mark.parametrize("value", ["Basic abc", "Bearer"], ids=["basic", "empty-token"])
def test_a_malformed_authorization_header_is_refused(
    api: httpx.Client, endpoint: str, value: str
) -> None:
    assert_problem(api.get(endpoint, headers={"Authorization": value}), 401, "missing_token")
