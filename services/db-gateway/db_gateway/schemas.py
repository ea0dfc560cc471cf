"""Internal API shapes (db-gateway <-> auth, ledger). Money is Decimal, sent as a string."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from servicekit.schemas import ApiSchema
from servicekit.settings import MAX_LOGIN_FAILURES, MAX_LOGIN_WINDOW_SECONDS

AccountType = Literal["checking", "savings", "cash", "credit_card", "loan", "investment", "other"]
TransactionType = Literal["expense", "income", "transfer"]
CategoryKind = Literal["expense", "income"]
HexDigest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
# 15 digits before the point and 4 after: what the public API accepts, and
# what NUMERIC(28, 4) holds with room to add up.
Money = Annotated[Decimal, Field(max_digits=19, decimal_places=4)]
PositiveMoney = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


def _in_utc(value: dt.datetime) -> dt.datetime:
    # The database driver sends it in UTC: 0001-01-01T00:00+01:00 has no UTC
    # year to send, and was a 500. Naive times are taken as UTC, as the driver does.
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("is out of range in UTC") from None


Timestamp = Annotated[dt.datetime, AfterValidator(_in_utc)]


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

    max_per_account: int = Field(ge=1, le=MAX_LOGIN_FAILURES)
    max_per_ip: int = Field(ge=1, le=MAX_LOGIN_FAILURES)
    window_seconds: int = Field(ge=1, le=MAX_LOGIN_WINDOW_SECONDS)


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
    expires_at: Timestamp
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
    expires_at: Timestamp


class TokenHash(Schema):
    token_hash: HexDigest


class SessionRead(Schema):
    id: uuid.UUID
    user_id: uuid.UUID
    created_at: dt.datetime
    expires_at: dt.datetime


# ---------------------------------------------------------------- profile


class ProfileUpdate(Schema):
    display_name: str | None = Field(default=None, max_length=100)
    default_currency: Currency | None = None
    timezone: str | None = Field(default=None, max_length=64)


class ProfileRead(Schema):
    id: uuid.UUID
    email: str
    display_name: str | None
    default_currency: str
    timezone: str
    ledger_version: int
    created_at: dt.datetime


class LedgerVersion(Schema):
    """What a write that changes no balance returns: the user's new ledger version."""

    ledger_version: int


# ---------------------------------------------------------------- accounts


class AccountCreate(Schema):
    name: str = Field(min_length=1, max_length=100)
    type: AccountType
    currency: Currency
    opening_balance: Money = Decimal(0)


class AccountUpdate(Schema):
    """Only the fields sent are changed."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    type: AccountType | None = None
    archived: bool | None = None
    opening_balance: Money | None = None


class AccountRead(Schema):
    id: uuid.UUID
    name: str
    type: AccountType
    currency: str
    balance: Decimal
    opening_balance: Decimal
    version: int
    archived: bool
    seq: int
    created_at: dt.datetime
    updated_at: dt.datetime


class AccountPage(Schema):
    items: list[AccountRead]


class AccountWritten(Schema):
    account: AccountRead
    ledger_version: int


class BalanceRead(Schema):
    account_id: uuid.UUID
    currency: str
    balance: Decimal
    version: int
    updated_at: dt.datetime


# ---------------------------------------------------------------- transactions


class SplitDraft(Schema):
    category_id: uuid.UUID
    amount: PositiveMoney
    description: str = Field(default="", max_length=500)


Tag = Annotated[str, StringConstraints(min_length=1, max_length=50)]


class TransactionDraft(Schema):
    """A whole transaction as the client wants it: checked against the accounts
    and categories in the same database transaction that writes it."""

    type: TransactionType
    account_id: uuid.UUID
    to_account_id: uuid.UUID | None = None
    amount: PositiveMoney
    to_amount: PositiveMoney | None = None
    date: dt.date
    description: str = Field(default="", max_length=500)
    notes: str = Field(default="", max_length=2000)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    category_id: uuid.UUID | None = None
    splits: list[SplitDraft] = Field(default_factory=list, max_length=50)


class TransactionPost(TransactionDraft):
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)
    request_hash: HexDigest | None = None


class TransactionPatch(Schema):
    """Only the fields sent are changed; `if_match` is the version the client saw."""

    if_match: int | None = None
    type: TransactionType | None = None
    account_id: uuid.UUID | None = None
    to_account_id: uuid.UUID | None = None
    amount: PositiveMoney | None = None
    to_amount: PositiveMoney | None = None
    date: dt.date | None = None
    description: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=2000)
    tags: list[Tag] | None = Field(default=None, max_length=20)
    category_id: uuid.UUID | None = None
    splits: list[SplitDraft] | None = Field(default=None, max_length=50)


class SplitRead(Schema):
    category_id: uuid.UUID
    amount: Decimal
    description: str


class TransactionRead(Schema):
    id: uuid.UUID
    type: TransactionType
    account_id: uuid.UUID
    to_account_id: uuid.UUID | None
    amount: Decimal
    currency: str
    to_amount: Decimal | None
    to_currency: str | None
    category_id: uuid.UUID | None
    splits: list[SplitRead]
    date: dt.date
    description: str
    notes: str
    tags: list[str]
    version: int
    seq: int
    created_at: dt.datetime
    updated_at: dt.datetime


class PublicSplit(Schema):
    category_id: uuid.UUID
    amount: str
    description: str


class PublicTransaction(Schema):
    """A transaction as the public API shows it (the ledger's TransactionRead):
    amounts as strings with the currency's decimal places, times in UTC."""

    id: uuid.UUID
    type: TransactionType
    account_id: uuid.UUID
    to_account_id: uuid.UUID | None
    amount: str
    currency: str
    to_amount: str | None
    to_currency: str | None
    category_id: uuid.UUID | None
    splits: list[PublicSplit]
    date: dt.date
    description: str
    notes: str
    tags: list[str]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class TransactionWritten(Schema):
    """A posted, edited or deleted transaction (None once deleted), the new
    balances of the accounts it touched, and the user's new ledger version."""

    transaction: TransactionRead | None
    balances: list[BalanceRead]
    ledger_version: int
    replayed: bool = False


class TransactionPage(Schema):
    items: list[TransactionRead]


# ---------------------------------------------------------------- categories

CategoryName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class CategoryCreate(Schema):
    name: CategoryName
    kind: CategoryKind
    parent_id: uuid.UUID | None = Field(default=None, description="a top-level category")


class CategoryUpdate(Schema):
    """Only the fields sent are changed; `parent_id: null` makes it top-level.
    The kind never changes: transactions were checked against it."""

    name: CategoryName | None = None
    parent_id: uuid.UUID | None = None


class CategoryRead(Schema):
    id: uuid.UUID
    name: str
    kind: CategoryKind
    parent_id: uuid.UUID | None
    seq: int
    created_at: dt.datetime
    updated_at: dt.datetime


class CategoryPage(Schema):
    items: list[CategoryRead]


class CategoryWritten(Schema):
    category: CategoryRead
    ledger_version: int


# ---------------------------------------------------------------- budgets


class BudgetCreate(Schema):
    category_id: uuid.UUID
    amount: PositiveMoney
    currency: Currency | None = Field(
        default=None, description="the user's default_currency when left out"
    )


class BudgetUpdate(Schema):
    """Only the amount changes; a budget's category and currency are fixed."""

    amount: PositiveMoney | None = None


class BudgetRead(Schema):
    id: uuid.UUID
    category_id: uuid.UUID
    amount: Decimal
    currency: str
    period: Literal["monthly"]
    seq: int
    created_at: dt.datetime
    updated_at: dt.datetime


class BudgetPage(Schema):
    items: list[BudgetRead]


class BudgetWritten(Schema):
    budget: BudgetRead
    ledger_version: int


# ---------------------------------------------------------------- reports, budget status, dashboard
# Sums per currency, never across currencies; the ledger formats the amounts.

ReportMonth = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$")]


class CurrencyTotals(Schema):
    """Income and expense of one currency (transfers and opening balances left out)."""

    currency: str
    income: Decimal
    expense: Decimal
    net: Decimal
    transactions: int


class SummaryReport(Schema):
    date_from: dt.date
    date_to: dt.date
    items: list[CurrencyTotals]


class CategoryTotal(Schema):
    currency: str
    category_id: uuid.UUID | None
    name: str | None
    parent_id: uuid.UUID | None
    amount: Decimal
    transactions: int


class CategoryReport(Schema):
    date_from: dt.date
    date_to: dt.date
    type: CategoryKind
    items: list[CategoryTotal]


class MonthTotals(Schema):
    month: str
    currency: str
    income: Decimal
    expense: Decimal
    net: Decimal


class MonthlyReport(Schema):
    month_from: str
    month_to: str
    items: list[MonthTotals]


class NetWorthItem(Schema):
    currency: str
    assets: Decimal
    liabilities: Decimal
    net_worth: Decimal


class NetWorthReport(Schema):
    items: list[NetWorthItem]


class BudgetStatusItem(Schema):
    budget_id: uuid.UUID
    category_id: uuid.UUID
    name: str
    currency: str
    amount: Decimal
    spent: Decimal
    remaining: Decimal
    percent: Decimal


class BudgetStatusReport(Schema):
    month: str
    items: list[BudgetStatusItem]


class DashboardAccount(Schema):
    id: uuid.UUID
    name: str
    type: AccountType
    currency: str
    balance: Decimal
    archived: bool


class TopCategory(Schema):
    category_id: uuid.UUID | None
    name: str | None
    currency: str
    amount: Decimal


class DashboardRead(Schema):
    """Everything the dashboard shows, read in one snapshot together with the
    ledger version it reflects."""

    ledger_version: int
    month: str
    timezone: str
    as_of: dt.datetime
    accounts: list[DashboardAccount]
    net_worth: list[NetWorthItem]
    this_month: list[CurrencyTotals]
    top_categories: list[TopCategory]
    budgets: list[BudgetStatusItem]
    recent_transactions: list[TransactionRead]
