"""Password checks that cannot be used to guess passwords: every attempt is
counted in the database (per account and per client address) before the
password is verified, and too many failures are answered with 429.

Used by every endpoint that takes a password: login, password change and
account deletion, so a stolen access token is no oracle for the password.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from servicekit.errors import TooManyRequests
from servicekit.http import PeerClient, send
from servicekit.passwords import PasswordHasher
from servicekit.settings import LoginThrottleSettings


async def _client_ip(request: Request) -> str:
    # The ingress's address is trusted to tell us the client's (uvicorn
    # --proxy-headers with --forwarded-allow-ips), so this is the real client.
    return request.client.host if request.client else "unknown"


ClientIp = Annotated[str, Depends(_client_ip)]
"""The address failed password checks are counted against."""


class LoginThrottled(TooManyRequests):
    default_code = "login_throttled"


@dataclass(frozen=True, slots=True)
class Verified:
    user_id: uuid.UUID
    password_hash: str


async def check_password(
    *,
    gateway: PeerClient,
    hasher: PasswordHasher,
    policy: LoginThrottleSettings,
    client_ip: str,
    password: str,
    email: str | None = None,
    user_id: uuid.UUID | None = None,
) -> Verified | None:
    """Count the attempt, then check the password: the user when it matches,
    None when it does not (or the account does not exist); raises
    `LoginThrottled` when the account or the address has failed too often."""
    attempt = (
        await send(
            gateway,
            "POST",
            "/internal/login-attempts",
            json={
                "email": email,
                "user_id": str(user_id) if user_id else None,
                "client_ip": client_ip,
                "policy": {
                    "max_per_account": policy.login_max_failures_per_account,
                    "max_per_ip": policy.login_max_failures_per_ip,
                    "window_seconds": policy.login_failure_window_seconds,
                },
            },
        )
    ).json()
    if attempt["retry_after"] is not None:
        raise LoginThrottled(
            "too many failed attempts; try again later",
            headers={"Retry-After": str(attempt["retry_after"])},
        )
    # Verify even when the account is unknown (against a dummy hash), so the
    # answer takes the same time and does not reveal which emails exist.
    if not await hasher.verify(attempt["password_hash"], password):
        return None
    if attempt["user_id"] is None:
        return None
    return Verified(user_id=uuid.UUID(attempt["user_id"]), password_hash=attempt["password_hash"])
