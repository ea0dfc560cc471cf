"""Public request and response bodies of /services and /profile."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from ledger.money import PositiveAmount, is_bookable_currency
from servicekit.schemas import ApiSchema

AccountType = Literal["checking", "savings", "cash", "credit_card", "loan", "investment", "other"]
TransactionType = Literal["expense", "income", "transfer"]
Money = str  # rendered with the currency's decimal places, e.g. "12.30"


class AccountCreate(ApiSchema):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Everyday", "type": "checking", "currency": "USD"}]
        },
    )

    name: str = Field(min_length=1, max_length=100)
    type: AccountType
    currency: str = Field(
        description="ISO 4217 code, e.g. USD, EUR, JPY", min_length=3, max_length=3
    )

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if not is_bookable_currency(value):
            raise ValueError("must be an ISO 4217 currency code such as USD")
        return value


class AccountRead(ApiSchema):
    id: uuid.UUID
    name: str
    type: AccountType
    currency: str
    balance: Money = Field(description="positive = money held, negative = owed")
    archived: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class AccountPage(ApiSchema):
    items: list[AccountRead]
    next_cursor: str | None


class BalanceRead(ApiSchema):
    account_id: uuid.UUID
    currency: str
    balance: Money
    version: int = Field(description="grows with every change to this account")
    as_of: dt.datetime


class TransactionCreate(ApiSchema):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": "expense",
                    "account_id": "7f1c0e1a-3d0b-4a53-9a57-0c2d0d1e9b11",
                    "amount": "12.30",
                    "date": "2026-11-22",
                    "description": "Lunch",
                },
                {
                    "type": "transfer",
                    "account_id": "7f1c0e1a-3d0b-4a53-9a57-0c2d0d1e9b11",
                    "to_account_id": "0b3f5c1e-8e55-4d8e-b3f8-5f0a6b1f2c22",
                    "amount": "100.00",
                    "date": "2026-11-22",
                    "description": "To savings",
                },
            ]
        },
    )

    type: TransactionType
    account_id: uuid.UUID = Field(
        description="the account money leaves (expense, transfer) or arrives in (income)"
    )
    to_account_id: uuid.UUID | None = Field(
        default=None, description="transfers only", validate_default=True
    )
    amount: PositiveAmount
    date: dt.date
    description: str = Field(default="", max_length=500)

    @field_validator("to_account_id")
    @classmethod
    def _transfer_needs_target(
        cls, value: uuid.UUID | None, info: ValidationInfo
    ) -> uuid.UUID | None:
        kind = info.data.get("type")
        if kind == "transfer":
            if value is None:
                raise ValueError("is required for a transfer")
            if value == info.data.get("account_id"):
                raise ValueError("must differ from account_id")
        elif value is not None:
            raise ValueError("is only allowed for a transfer")
        return value


class TransactionRead(ApiSchema):
    id: uuid.UUID
    type: TransactionType
    account_id: uuid.UUID
    to_account_id: uuid.UUID | None
    amount: Money
    currency: str
    date: dt.date
    description: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class TransactionPage(ApiSchema):
    items: list[TransactionRead]
    next_cursor: str | None


class ProfileRead(ApiSchema):
    id: uuid.UUID
    email: str
    display_name: str | None
    default_currency: str
    timezone: str
    created_at: dt.datetime


class ProfileDelete(ApiSchema):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"password": "correct horse battery staple"}]},
    )

    password: str = Field(min_length=1, max_length=1024, description="your current password")
