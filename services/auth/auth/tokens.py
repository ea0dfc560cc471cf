"""Access tokens (short-lived JWTs) and refresh tokens (opaque, stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid

from jose import jwt

from auth.config import Settings
from servicekit.jwt import ALGORITHM


def issue_access_token(settings: Settings, *, user_id: uuid.UUID, session_id: uuid.UUID) -> str:
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user_id),
        "sid": str(session_id),
        "iat": now,
        "exp": now + settings.access_token_ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return str(
        jwt.encode(
            claims,
            settings.jwt_secret.get_secret_value(),
            algorithm=ALGORITHM,
            headers={"kid": settings.jwt_kid},
        )
    )


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def refresh_token_hash(token: str) -> str:
    # A fast hash is right here: the token is 256 random bits, not a password.
    return hashlib.sha256(token.encode()).hexdigest()
