"""TokenVerifier: HS256 only, key chosen by kid, every claim required and checked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest
from jose import jwt

from servicekit.jwt import InvalidToken, TokenVerifier

CURRENT_KID, CURRENT_KEY = "k2", "current-signing-key-0123456789abcdef"
PREVIOUS_KID, PREVIOUS_KEY = "k1", "previous-signing-key-0123456789abcdef"
ISSUER, AUDIENCE = "finledger-auth", "finledger"
USER_ID, SESSION_ID = uuid.uuid4(), uuid.uuid4()


@pytest.fixture
def verifier() -> TokenVerifier:
    return TokenVerifier(
        {CURRENT_KID: CURRENT_KEY, PREVIOUS_KID: PREVIOUS_KEY}, issuer=ISSUER, audience=AUDIENCE
    )


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "sub": str(USER_ID),
        "sid": str(SESSION_ID),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 300,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    values.update(overrides)
    return values


def sign(
    payload: dict[str, Any],
    *,
    key: str = CURRENT_KEY,
    kid: str | None = CURRENT_KID,
    algorithm: str = "HS256",
) -> str:
    headers = {"kid": kid} if kid is not None else None
    token: str = jwt.encode(payload, key, algorithm=algorithm, headers=headers)
    return token


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def test_valid_token_gives_the_principal(verifier: TokenVerifier) -> None:
    payload = claims()

    principal = verifier.verify(sign(payload))

    assert principal.user_id == USER_ID
    assert principal.session_id == SESSION_ID
    assert principal.token_id == payload["jti"]
    assert principal.expires_at == payload["exp"]


def test_token_signed_with_the_previous_key_is_accepted(verifier: TokenVerifier) -> None:
    principal = verifier.verify(sign(claims(), key=PREVIOUS_KEY, kid=PREVIOUS_KID))

    assert principal.user_id == USER_ID


def test_small_clock_skew_is_tolerated(verifier: TokenVerifier) -> None:
    principal = verifier.verify(sign(claims(iat=int(time.time()) + 2)))

    assert principal.session_id == SESSION_ID


def test_verifier_needs_at_least_one_key() -> None:
    with pytest.raises(ValueError, match="at least one verification key"):
        TokenVerifier({}, issuer=ISSUER, audience=AUDIENCE)


def test_alg_none_token_is_rejected(verifier: TokenVerifier) -> None:
    token = b64json({"alg": "none", "typ": "JWT", "kid": CURRENT_KID}) + "."
    token += b64json(claims()) + "."

    with pytest.raises(InvalidToken):
        verifier.verify(token)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_variants_with_a_signature_are_rejected(verifier: TokenVerifier, alg: str) -> None:
    signing_input = b64json({"alg": alg, "kid": CURRENT_KID}) + "." + b64json(claims())
    signature = hmac.new(CURRENT_KEY.encode(), signing_input.encode(), hashlib.sha256).digest()

    with pytest.raises(InvalidToken):
        verifier.verify(signing_input + "." + b64url(signature))


def test_rs256_header_is_rejected_even_when_hmac_signed_with_the_key(
    verifier: TokenVerifier,
) -> None:
    # The classic algorithm-confusion token: claims RS256, signed with HMAC.
    signing_input = b64json({"alg": "RS256", "kid": CURRENT_KID}) + "." + b64json(claims())
    signature = hmac.new(CURRENT_KEY.encode(), signing_input.encode(), hashlib.sha256).digest()

    with pytest.raises(InvalidToken, match="unsupported token algorithm"):
        verifier.verify(signing_input + "." + b64url(signature))


def test_hs512_token_is_rejected(verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken, match="unsupported token algorithm"):
        verifier.verify(sign(claims(), algorithm="HS512"))


def test_token_signed_with_a_wrong_key_is_rejected(verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken):
        verifier.verify(sign(claims(), key="some-other-key-0123456789abcdefghij"))


def test_previous_key_under_the_current_kid_is_rejected(verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken):
        verifier.verify(sign(claims(), key=PREVIOUS_KEY, kid=CURRENT_KID))


def test_unknown_kid_is_rejected(verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken, match="unknown signing key"):
        verifier.verify(sign(claims(), kid="k9"))


def test_token_without_kid_is_rejected(verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken, match="unknown signing key"):
        verifier.verify(sign(claims(), kid=None))


def test_tampered_payload_is_rejected(verifier: TokenVerifier) -> None:
    header, _, signature = sign(claims()).split(".")
    forged = b64json(claims(sub=str(uuid.uuid4())))

    with pytest.raises(InvalidToken):
        verifier.verify(f"{header}.{forged}.{signature}")


def test_expired_token_is_rejected(verifier: TokenVerifier) -> None:
    now = int(time.time())

    with pytest.raises(InvalidToken):
        verifier.verify(sign(claims(iat=now - 600, exp=now - 60)))


def test_token_issued_in_the_future_is_rejected(verifier: TokenVerifier) -> None:
    now = int(time.time())

    with pytest.raises(InvalidToken, match="not valid yet"):
        verifier.verify(sign(claims(iat=now + 3600, exp=now + 7200)))


@pytest.mark.parametrize("iat", ["1700000000", 1700000000.5, True])
def test_non_integer_iat_is_rejected(verifier: TokenVerifier, iat: object) -> None:
    with pytest.raises(InvalidToken):
        verifier.verify(sign(claims(iat=iat)))


@pytest.mark.parametrize("claim", ["exp", "aud", "iss", "sub", "sid", "iat", "jti"])
def test_token_missing_a_required_claim_is_rejected(verifier: TokenVerifier, claim: str) -> None:
    payload = claims()
    del payload[claim]

    with pytest.raises(InvalidToken):
        verifier.verify(sign(payload))


def test_wrong_audience_is_rejected(verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken):
        verifier.verify(sign(claims(aud="another-product")))


def test_wrong_issuer_is_rejected(verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken):
        verifier.verify(sign(claims(iss="someone-else")))


@pytest.mark.parametrize("claim", ["sub", "sid"])
def test_non_uuid_subject_or_session_is_rejected(verifier: TokenVerifier, claim: str) -> None:
    with pytest.raises(InvalidToken, match="malformed"):
        verifier.verify(sign(claims(**{claim: "not-a-uuid"})))


@pytest.mark.parametrize("garbage", ["", "not-a-jwt", "a.b.c", "Bearer x.y.z", "...."])
def test_non_jwt_string_is_rejected(verifier: TokenVerifier, garbage: str) -> None:
    with pytest.raises(InvalidToken):
        verifier.verify(garbage)


def test_invalid_token_is_a_401_with_its_own_code(verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify("not-a-jwt")

    assert caught.value.status == 401
    assert caught.value.code == "invalid_token"


def test_unknown_critical_header_is_rejected(verifier: TokenVerifier) -> None:
    token = jwt.encode(
        claims(),
        CURRENT_KEY,
        algorithm="HS256",
        headers={"kid": CURRENT_KID, "crit": ["exp-ext"], "exp-ext": 1},
    )
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_a_remembered_token_still_expires(
    verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = sign(claims(exp=int(time.time()) + 60))
    first = verifier.verify(token)
    assert verifier.verify(token) == first  # remembered
    later = time.time() + 60 + 6  # past exp and the leeway
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(InvalidToken):
        verifier.verify(token)
    with pytest.raises(InvalidToken):  # and stays refused
        verifier.verify(token)


def test_only_verified_tokens_are_remembered(verifier: TokenVerifier) -> None:
    good = sign(claims())
    header, _, signature = good.split(".")
    forged = f"{header}.{b64json(claims(sub=str(uuid.uuid4())))}.{signature}"
    verifier.verify(good)
    for _ in range(2):  # a refused token is refused again, not remembered
        with pytest.raises(InvalidToken):
            verifier.verify(forged)


def test_the_memory_of_verified_tokens_is_bounded(
    verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(TokenVerifier, "REMEMBERED", 3)
    tokens = [sign(claims()) for _ in range(5)]
    for token in tokens:
        assert verifier.verify(token).user_id == USER_ID
    assert verifier.remembered == 3
