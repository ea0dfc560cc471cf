from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from ledger.schemas.common import Currency, Money, Page
from servicekit.money import PositiveAmount, is_bookable_currency
from servicekit.schemas import ApiSchema

Period = Literal["monthly"]


class BudgetCreate(ApiSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"category_id": "5d2a8c3e-1f4b-4c6d-8e9f-a0b1c2d3e4f5", "amount": "400.00"},
                {
                    "category_id": "5d2a8c3e-1f4b-4c6d-8e9f-a0b1c2d3e4f5",
                    "amount": "350.00",
                    "currency": "EUR",
                    "period": "monthly",
                },
            ]
        }
    )

    category_id: uuid.UUID = Field(description="one of your expense categories")
    amount: PositiveAmount = Field(description="per month, with the currency's decimal places")
    currency: str | None = Field(
        default=None,
        min_length=3,
        max_length=3,
        description="ISO 4217 code; your profile's default_currency when left out. "
        "One budget per category and currency.",
    )
    period: Period = "monthly"

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str | None) -> str | None:
        if value is not None and not is_bookable_currency(value):
            raise ValueError("must be an ISO 4217 currency code such as USD")
        return value


class BudgetUpdate(ApiSchema):
    """Send the new amount. A budget's category and currency are fixed: delete
    it and create another instead."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"amount": "450.00"}]})

    amount: PositiveAmount | None = None
    period: Period | None = None
    # Not fields a client may change, but named in the 422 when sent, rather
    # than refused as merely unknown.
    category_id: SkipJsonSchema[Any] = Field(default=None, exclude=True)
    currency: SkipJsonSchema[Any] = Field(default=None, exclude=True)

    @field_validator("category_id", "currency")
    @classmethod
    def _fixed(cls, value: Any) -> Any:
        raise ValueError("cannot change: delete the budget and create a new one instead")


class BudgetRead(ApiSchema):
    id: uuid.UUID
    category_id: uuid.UUID
    amount: Money
    currency: Currency
    period: Period
    created_at: dt.datetime
    updated_at: dt.datetime


class BudgetPage(Page):
    items: list[BudgetRead]
