"""Public request and response bodies of /auth."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, EmailStr, Field

from auth.passwords import is_common
from servicekit.schemas import ApiSchema


def _not_common(password: str) -> str:
    if is_common(password):
        raise ValueError("is one of the most common passwords; choose another")
    return password


NewPassword = Annotated[
    str,
    Field(
        min_length=8,
        max_length=1024,
        description="8 to 1024 characters, used exactly as given (never truncated); "
        "the most common passwords are refused",
    ),
    AfterValidator(_not_common),
]


class RegisterRequest(ApiSchema):
    email: EmailStr
    password: NewPassword
    display_name: str | None = Field(default=None, min_length=1, max_length=100)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": "ada@example.com",
                    "password": "correct horse battery staple",
                    "display_name": "Ada",
                }
            ]
        },
    )


class LoginRequest(ApiSchema):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"email": "ada@example.com", "password": "correct horse battery staple"}]
        },
    )


class RefreshRequest(ApiSchema):
    # Generous on purpose: anything that is not a live refresh token, an access
    # token pasted by mistake included, is a 401 from the lookup, not a 422.
    refresh_token: str = Field(min_length=1, max_length=4096)


class UserRead(ApiSchema):
    id: uuid.UUID
    email: str
    display_name: str | None
    created_at: dt.datetime


class TokenPair(ApiSchema):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (OAuth 2 token type, not a secret)
    expires_in: int = Field(description="access token lifetime in seconds")


class PasswordChange(ApiSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "current_password": "correct horse battery staple",
                    "new_password": "a much longer passphrase of mine",
                }
            ]
        }
    )

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: NewPassword


class SessionRead(ApiSchema):
    id: uuid.UUID
    created_at: dt.datetime
    last_used_at: dt.datetime
    user_agent: str | None
    current: bool = Field(description="the session of the token making this request")


class SessionList(ApiSchema):
    items: list[SessionRead]
