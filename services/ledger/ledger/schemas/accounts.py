from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from ledger.schemas.common import Currency, Money, Page
from servicekit.money import SignedAmount, is_bookable_currency
from servicekit.schemas import ApiSchema

AccountType = Literal["checking", "savings", "cash", "credit_card", "loan", "investment", "other"]


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


class AccountCreate(ApiSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "Everyday", "type": "checking", "currency": "USD"},
                {
                    "name": "Visa",
                    "type": "credit_card",
                    "currency": "EUR",
                    "opening_balance": "-250.00",
                },
            ]
        },
    )

    name: str = Field(min_length=1, max_length=100)
    type: AccountType
    currency: str = Field(
        description="ISO 4217 code, e.g. USD, EUR, JPY; fixed for life",
        min_length=3,
        max_length=3,
    )
    opening_balance: SignedAmount = Field(
        default=Decimal(0),
        description="what the account held when you started tracking it; negative = owed",
    )

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        return _name(value)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if not is_bookable_currency(value):
            raise ValueError("must be an ISO 4217 currency code such as USD")
        return value


class AccountUpdate(ApiSchema):
    """Send only what changes. The currency is fixed: open a new account instead."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Old savings", "archived": True}]}
    )

    name: str | None = Field(default=None, min_length=1, max_length=100)
    type: AccountType | None = None
    archived: bool | None = Field(
        default=None, description="archived accounts are read-only and kept for history"
    )
    opening_balance: SignedAmount | None = None

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str | None) -> str | None:
        return None if value is None else _name(value)


class AccountRead(ApiSchema):
    id: uuid.UUID
    name: str
    type: AccountType
    currency: Currency
    balance: Money = Field(description="positive = money held, negative = owed")
    opening_balance: Money
    archived: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class AccountPage(Page):
    items: list[AccountRead]


class BalanceRead(ApiSchema):
    account_id: uuid.UUID
    currency: Currency
    balance: Money
    version: int = Field(description="grows with every change to this account")
    as_of: dt.datetime
