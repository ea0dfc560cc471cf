"""The key-rotation procedure in the README, phase by phase: while a rollout
moves pods from one phase to the next, every token any pod issues verifies on
every pod. So the shared secret rotates with zero failed requests."""

from __future__ import annotations

import itertools
import uuid

import pytest

from auth.config import Settings
from auth.tokens import issue_access_token
from servicekit.jwt import InvalidToken, TokenVerifier

OLD, NEW = "o" * 48, "n" * 48
COMMON = {"environment": "test", "internal_token": "i" * 48}

PHASES = [
    {"jwt_secret": OLD, "jwt_kid": "k1"},  # 0: before
    {"jwt_secret": OLD, "jwt_kid": "k1", "jwt_previous_secret": NEW, "jwt_previous_kid": "k2"},
    {"jwt_secret": NEW, "jwt_kid": "k2", "jwt_previous_secret": OLD, "jwt_previous_kid": "k1"},
    {"jwt_secret": NEW, "jwt_kid": "k2"},  # 3: after the last old token expired
]


def _settings(phase: int) -> Settings:
    return Settings(**COMMON, **PHASES[phase])  # type: ignore[arg-type]


def _verifier(settings: Settings) -> TokenVerifier:
    return TokenVerifier(
        settings.verification_keys(), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )


def _token(settings: Settings) -> str:
    return issue_access_token(settings, user_id=uuid.uuid4(), session_id=uuid.uuid4())


@pytest.mark.parametrize("step", [0, 1])
def test_during_a_rollout_every_pod_accepts_every_pods_tokens(step: int) -> None:
    pods = [_settings(step), _settings(step + 1)]
    for issuer, verifier in itertools.product(pods, pods):
        _verifier(verifier).verify(_token(issuer))


def test_retiring_the_old_key_only_drops_tokens_no_pod_issues_any_more() -> None:
    # phase 2 pods issue with the new key only, which phase 3 pods accept
    for issuer, verifier in itertools.product([_settings(2)], [_settings(2), _settings(3)]):
        _verifier(verifier).verify(_token(issuer))
    with pytest.raises(InvalidToken):
        _verifier(_settings(3)).verify(_token(_settings(0)))


def test_skipping_phase_one_would_fail_requests() -> None:
    """Why phase 1 exists: a pod still at phase 0 refuses a phase 2 pod's token."""
    with pytest.raises(InvalidToken):
        _verifier(_settings(0)).verify(_token(_settings(2)))
