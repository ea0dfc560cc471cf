"""Internal API shapes (db-gateway <-> auth, ledger). Money is Decimal, sent as a string."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from servicekit.schemas import ApiSchema

AccountType = Literal["checking", "savings", "cash", "credit_card", "loan", "investment", "other"]
TransactionType = Literal["expense", "income", "transfer"]
HexDigest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Schema(ApiSchema):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class UserCreate(Schema):
    email: str = Field(max_length=320)
    password_hash: str = Field(max_length=512)
    display_name: str | None = Field(default=None, max_length=100)


class UserRead(Schema):
    id: uuid.UUID
    email: str
    display_name: str | None
    default_currency: str
    timezone: str
    created_at: dt.datetime


class ThrottlePolicy(Schema):
    """Set by auth, which owns the policy; db-gateway only counts."""

    max_per_account: int = Field(ge=1)
    max_per_ip: int = Field(ge=1)
    window_seconds: int = Field(ge=1)


class LoginAttempt(Schema):
    """Either the email typed at login, or the user (for a password change)."""

    email: str | None = Field(default=None, max_length=320)
    user_id: uuid.UUID | None = None
    client_ip: str = Field(max_length=64)
    policy: ThrottlePolicy


class LoginAttemptResult(Schema):
    retry_after: int | None = Field(description="seconds; set when throttled")
    user_id: uuid.UUID | None
    password_hash: str | None


class SessionCreate(Schema):
    user_id: uuid.UUID
    token_hash: HexDigest
    user_agent: str | None = Field(default=None, max_length=512)
    expires_at: dt.datetime
    client_ip: str = Field(max_length=64)
    new_password_hash: str | None = Field(
        default=None, max_length=512, description="set when the stored hash needs an upgrade"
    )


class SessionInfo(Schema):
    id: uuid.UUID
    created_at: dt.datetime
    last_used_at: dt.datetime
    user_agent: str | None


class SessionList(Schema):
    items: list[SessionInfo]


class Revoked(Schema):
    session_ids: list[uuid.UUID]


class RevokedSince(Schema):
    session_ids: list[uuid.UUID]
    as_of: dt.datetime = Field(description="database time the list is complete up to")


class SessionStatus(Schema):
    revoked: bool


class PasswordChange(Schema):
    password_hash: str = Field(max_length=512)
    keep_session_id: uuid.UUID
    client_ip: str = Field(max_length=64)


class RefreshRotate(Schema):
    token_hash: HexDigest
    new_token_hash: HexDigest
    expires_at: dt.datetime


class TokenHash(Schema):
    token_hash: HexDigest


class SessionRead(Schema):
    id: uuid.UUID
    user_id: uuid.UUID
    created_at: dt.datetime
    expires_at: dt.datetime


class AccountCreate(Schema):
    name: str = Field(min_length=1, max_length=100)
    type: AccountType
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class AccountRead(Schema):
    id: uuid.UUID
    name: str
    type: AccountType
    currency: str
    balance: Decimal
    version: int
    archived: bool
    seq: int
    created_at: dt.datetime
    updated_at: dt.datetime


class AccountPage(Schema):
    items: list[AccountRead]


class BalanceRead(Schema):
    account_id: uuid.UUID
    currency: str
    balance: Decimal
    version: int


class TransactionPost(Schema):
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)
    request_hash: HexDigest | None = None
    type: TransactionType
    account_id: uuid.UUID
    to_account_id: uuid.UUID | None = None
    amount: Decimal = Field(gt=0, max_digits=28, decimal_places=4)
    date: dt.date
    description: str = Field(default="", max_length=500)


class TransactionRead(Schema):
    id: uuid.UUID
    type: TransactionType
    account_id: uuid.UUID
    to_account_id: uuid.UUID | None
    amount: Decimal
    currency: str
    date: dt.date
    description: str
    version: int
    seq: int
    created_at: dt.datetime
    updated_at: dt.datetime


class PostResult(Schema):
    transaction: TransactionRead
    balances: list[BalanceRead]
    replayed: bool


class TransactionPage(Schema):
    items: list[TransactionRead]
