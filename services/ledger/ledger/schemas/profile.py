from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

from pydantic import ConfigDict, Field, field_validator

from servicekit.money import is_bookable_currency
from servicekit.schemas import ApiSchema


class ProfileRead(ApiSchema):
    id: uuid.UUID
    email: str
    display_name: str | None
    default_currency: str
    timezone: str
    created_at: dt.datetime


class ProfileUpdate(ApiSchema):
    """Send only what changes."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"display_name": "Ada", "default_currency": "EUR", "timezone": "Europe/Paris"}
            ]
        }
    )

    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    default_currency: str | None = Field(
        default=None, description="ISO 4217 code; budgets default to it", min_length=3, max_length=3
    )
    timezone: str | None = Field(
        default=None,
        description='IANA time zone, e.g. Europe/Paris; decides what "this month" is',
        max_length=64,
    )

    @field_validator("default_currency")
    @classmethod
    def _known_currency(cls, value: str | None) -> str | None:
        # runs only for a value sent: an explicit null is refused, not stored
        if value is None:
            raise ValueError("cannot be null")
        if not is_bookable_currency(value):
            raise ValueError("must be an ISO 4217 currency code such as USD")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("cannot be null")
        if value not in zoneinfo.available_timezones():
            raise ValueError("must be an IANA time zone such as Europe/Paris")
        return value


class ProfileDelete(ApiSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"password": "correct horse battery staple"}]},
    )

    password: str = Field(min_length=1, max_length=1024, description="your current password")
