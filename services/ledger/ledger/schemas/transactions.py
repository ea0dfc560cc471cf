from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from ledger.schemas.common import Currency, Money, Page
from servicekit.money import PositiveAmount
from servicekit.schemas import ApiSchema

TransactionType = Literal["expense", "income", "transfer"]

EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2999, 12, 31)


def _sane_date(value: dt.date) -> dt.date:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"must be between {EARLIEST} and {LATEST}")
    return value


def _tags(values: list[str]) -> list[str]:
    """Trimmed, lower-cased, each once, in the order given."""
    seen: dict[str, None] = {}
    for raw in values:
        tag = raw.strip().lower()
        if not 1 <= len(tag) <= 50:
            raise ValueError("each tag has 1 to 50 characters")
        if any(ch.isspace() and ch != " " for ch in tag) or not tag.isprintable():
            raise ValueError("tags are single-line printable text")
        seen.setdefault(tag, None)
    return list(seen)


def _date_text(value: object) -> object:
    # Only "YYYY-MM-DD": a number would otherwise be read as a Unix time, and a
    # timestamp would silently lose its time of day.
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError('must be a date written as "YYYY-MM-DD"')
    return value


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
TxDate = Annotated[dt.date, BeforeValidator(_date_text), AfterValidator(_sane_date)]
Tags = Annotated[
    list[str],
    Field(max_length=20, description="up to 20 labels; stored trimmed and lower-cased"),
    AfterValidator(_tags),
]
Description = Annotated[str, Field(max_length=500)]
Notes = Annotated[str, Field(max_length=2000)]

_ACCOUNT = "7f1c0e1a-3d0b-4a53-9a57-0c2d0d1e9b11"
_OTHER_ACCOUNT = "0b3f5c1e-8e55-4d8e-b3f8-5f0a6b1f2c22"
_CATEGORY = "5d2a8c3e-1f4b-4c6d-8e9f-a0b1c2d3e4f5"


class SplitCreate(ApiSchema):
    category_id: uuid.UUID = Field(description="a category of the transaction's kind")
    amount: PositiveAmount
    description: Description = ""


class TransactionCreate(ApiSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "expense",
                    "account_id": _ACCOUNT,
                    "amount": "12.30",
                    "date": "2026-11-22",
                    "description": "Lunch",
                    "category_id": _CATEGORY,
                    "tags": ["work"],
                },
                {
                    "type": "transfer",
                    "account_id": _ACCOUNT,
                    "to_account_id": _OTHER_ACCOUNT,
                    "amount": "100.00",
                    "to_amount": "92.35",
                    "date": "2026-11-22",
                    "description": "USD to my EUR account",
                },
                {
                    "type": "expense",
                    "account_id": _ACCOUNT,
                    "amount": "80.00",
                    "date": "2026-11-22",
                    "description": "Supermarket",
                    "splits": [
                        {"category_id": _CATEGORY, "amount": "60.00"},
                        {
                            "category_id": "6e3b9d4f-2a5c-4d7e-9fa0-b1c2d3e4f5a6",
                            "amount": "20.00",
                            "description": "Batteries",
                        },
                    ],
                },
            ]
        },
    )

    type: TransactionType
    account_id: uuid.UUID = Field(
        description="the account money leaves (expense, transfer) or arrives in (income)"
    )
    amount: PositiveAmount
    date: TxDate
    description: Description = ""
    category_id: uuid.UUID | None = Field(
        default=None, description="expense and income only; a category of the same kind"
    )
    to_account_id: uuid.UUID | None = Field(default=None, description="transfers only")
    to_amount: PositiveAmount | None = Field(
        default=None,
        description="transfers between currencies: what arrives, in the target's currency",
    )
    splits: list[SplitCreate] = Field(
        default_factory=list,
        max_length=50,
        description="divide an expense or income among categories; amounts sum to `amount`",
    )
    tags: Tags = Field(default_factory=list)
    notes: Notes = ""


class TransactionUpdate(ApiSchema):
    """Send only what changes; the result is checked as a whole, like a new
    transaction. Changing the type drops the category and splits (and, from a
    transfer, the target) unless sent too; sending a category drops splits and
    sending splits drops the category."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"amount": "13.10", "description": "Lunch with Ana"}]}
    )

    type: TransactionType | None = None
    account_id: uuid.UUID | None = None
    amount: PositiveAmount | None = None
    date: TxDate | None = None
    description: Description | None = None
    category_id: uuid.UUID | None = None
    to_account_id: uuid.UUID | None = None
    to_amount: PositiveAmount | None = None
    splits: list[SplitCreate] | None = Field(default=None, max_length=50)
    tags: Tags | None = None
    notes: Notes | None = None


class SplitRead(ApiSchema):
    category_id: uuid.UUID
    amount: Money
    description: str


class TransactionRead(ApiSchema):
    id: uuid.UUID
    type: TransactionType
    account_id: uuid.UUID
    to_account_id: uuid.UUID | None
    amount: Money
    currency: Currency
    to_amount: Money | None = Field(description="transfers: what arrived, in `to_currency`")
    to_currency: Currency | None
    category_id: uuid.UUID | None
    splits: list[SplitRead]
    date: dt.date
    description: str
    notes: str
    tags: list[str]
    version: int = Field(description="grows with every edit; send it back as If-Match")
    created_at: dt.datetime
    updated_at: dt.datetime


class TransactionPage(Page):
    items: list[TransactionRead]
