"""Public request and response bodies of /auth."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import ConfigDict, EmailStr, Field

from servicekit.schemas import ApiSchema

NewPassword = Annotated[
    str,
    Field(
        min_length=8,
        max_length=1024,
        description="8 to 1024 characters; used exactly as given, never truncated",
    ),
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
    refresh_token: str = Field(min_length=1, max_length=256)


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
