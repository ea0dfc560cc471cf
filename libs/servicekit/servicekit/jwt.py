"""Access-token verification, shared by every service that accepts bearer tokens.

The algorithm is pinned to HS256 (so `alg: none` or an RS/HS confusion cannot
slip through), the key is chosen by the header's `kid` among the configured
keys (current and, during a rotation, previous), and every claim the product
relies on must be present.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from jose import jwt
from jose.exceptions import JOSEError

from servicekit.context import user_id_var
from servicekit.errors import Unauthorized
from servicekit.revocation import RedisCommand, RevocationList

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("exp", "aud", "iss", "sub", "sid", "iat", "jti")
# Clock skew tolerated between the issuing and verifying pods.
LEEWAY_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    session_id: uuid.UUID
    token_id: str
    expires_at: int


class InvalidToken(Unauthorized):
    default_code = "invalid_token"


class TokenVerifier:
    # Clients send the same token for its whole lifetime: a verified token is
    # remembered (bounded, oldest first out) so the signature and the claims are
    # checked once, not on every request. Expiry is still checked every time;
    # revocation is not this class's business (see current_principal).
    REMEMBERED = 4096

    def __init__(self, keys: dict[str, str], *, issuer: str, audience: str) -> None:
        if not keys:
            raise ValueError("at least one verification key is required")
        self._keys = dict(keys)
        self.issuer = issuer
        self.audience = audience
        self._verified: dict[str, Principal] = {}

    def verify(self, token: str) -> Principal:
        principal = self._verified.get(token)
        if principal is not None:
            if principal.expires_at + LEEWAY_SECONDS > time.time():
                return principal
            del self._verified[token]
            raise InvalidToken("token is invalid or expired")
        principal = self._verify(token)
        if len(self._verified) >= self.REMEMBERED:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = principal
        return principal

    @property
    def remembered(self) -> int:
        return len(self._verified)

    def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except JOSEError as exc:
            raise InvalidToken("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("unsupported token algorithm")
        if "crit" in header:  # RFC 7515: unknown critical extensions must be refused
            raise InvalidToken("unsupported critical header")
        key = self._keys.get(str(header.get("kid")))
        if key is None:
            raise InvalidToken("unknown signing key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    **{f"require_{c}": True for c in REQUIRED_CLAIMS if c != "sid"},
                    "leeway": LEEWAY_SECONDS,
                },
            )
        except JOSEError as exc:
            raise InvalidToken("token is invalid or expired") from exc
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if isinstance(iat, bool) or not isinstance(iat, int) or iat > now + LEEWAY_SECONDS:
            raise InvalidToken("token is not valid yet")
        # checked by jose too; again here on the clock `verify` also uses, so a
        # remembered token and a fresh one expire at the same moment
        if isinstance(exp, bool) or not isinstance(exp, int) or exp + LEEWAY_SECONDS <= now:
            raise InvalidToken("token is invalid or expired")
        try:
            return Principal(
                user_id=uuid.UUID(str(claims["sub"])),
                session_id=uuid.UUID(str(claims["sid"])),
                token_id=str(claims["jti"]),
                expires_at=int(claims["exp"]),
            )
        except (KeyError, ValueError) as exc:
            raise InvalidToken("token claims are malformed") from exc


# OAuth 2 password flow against auth's form endpoint: the API docs of every
# service (same origin behind the ingress) get a working Authorize button.
_bearer = OAuth2PasswordBearer(
    tokenUrl="/auth/token",
    auto_error=False,
    description="Log in with your email as username, or paste an access token from "
    "POST /auth/login.",
)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class PendingPrincipal:
    """A principal whose token verified but whose session is not checked yet:
    `confirm` checks it, together with the caller's own Redis commands in one
    round trip, and raises if the session has ended. A route that takes this
    instead of `CurrentUser` must call `confirm` before using the principal."""

    principal: Principal
    revocations: RevocationList

    async def confirm(self, *also: RedisCommand) -> list[Any] | None:
        """The results of `also` (None when Redis failed)."""
        revoked, results = await self.revocations.is_revoked_with(self.principal.session_id, also)
        if revoked:
            raise InvalidToken(
                "this session has ended; log in again", code="token_revoked", headers=_CHALLENGE
            )
        return results


def pending_principal(state: Any, token: str) -> PendingPrincipal:
    """The principal of a bearer token, verified with the app's TokenVerifier
    (`state.token_verifier`), its session still to be checked against
    `state.revocations`; InvalidToken (a 401 with its challenge) if it is not."""
    verifier: TokenVerifier = state.token_verifier
    try:
        principal = verifier.verify(token)
    except InvalidToken as exc:
        exc.headers.update(_CHALLENGE)
        raise
    user_id_var.set(str(principal.user_id))
    return PendingPrincipal(principal, state.revocations)


async def verified_token(
    request: Request, token: Annotated[str | None, Depends(_bearer)]
) -> PendingPrincipal:
    if not token:
        raise Unauthorized(
            "a bearer access token is required", code="missing_token", headers=_CHALLENGE
        )
    return pending_principal(request.app.state, token)


async def current_principal(
    pending: Annotated[PendingPrincipal, Depends(verified_token)],
) -> Principal:
    await pending.confirm()
    return pending.principal


CurrentUser = Annotated[Principal, Depends(current_principal)]
UserPendingRevocation = Annotated[PendingPrincipal, Depends(verified_token)]
