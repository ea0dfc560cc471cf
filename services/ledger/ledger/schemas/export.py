from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import Field

from ledger.schemas.accounts import AccountRead
from ledger.schemas.common import Currency, Money
from ledger.schemas.profile import ProfileRead
from ledger.schemas.transactions import TransactionRead
from servicekit.schemas import ApiSchema

ExportFormat = Literal["json", "csv"]


class ExportCategory(ApiSchema):
    id: uuid.UUID
    name: str
    kind: Literal["expense", "income"]
    parent_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ExportBudget(ApiSchema):
    id: uuid.UUID
    category_id: uuid.UUID
    amount: Money
    currency: Currency
    period: Literal["monthly"]
    created_at: dt.datetime
    updated_at: dt.datetime


class ProfileExport(ApiSchema):
    """Everything of yours, in the shapes the rest of the API uses."""

    profile: ProfileRead
    accounts: list[AccountRead] = Field(description="archived ones included, oldest first")
    categories: list[ExportCategory] = Field(description="oldest first")
    budgets: list[ExportBudget] = Field(description="oldest first")
    exported_at: dt.datetime = Field(description="when the export started")
    transactions: list[TransactionRead] = Field(
        description="every one, newest first (by date, then by entry order)"
    )
