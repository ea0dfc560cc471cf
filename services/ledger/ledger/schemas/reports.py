from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import Field

from ledger.schemas.accounts import AccountType
from ledger.schemas.common import Currency, Money
from ledger.schemas.transactions import TransactionRead
from servicekit.schemas import ApiSchema

ReportType = Literal["expense", "income"]
YearMonth = str  # "YYYY-MM"


class Totals(ApiSchema):
    currency: Currency
    income: Money
    expense: Money
    net: Money = Field(description="income - expense")


class SummaryItem(Totals):
    transactions: int = Field(description="how many expenses and incomes")


class SummaryReport(ApiSchema):
    date_from: dt.date = Field(alias="from", description="first day, included")
    date_to: dt.date = Field(alias="to", description="last day, included")
    items: list[SummaryItem] = Field(description="one per currency with activity")


class CategoryItem(ApiSchema):
    currency: Currency
    category_id: uuid.UUID | None = Field(description="null: uncategorised")
    name: str | None = Field(description="null when uncategorised")
    parent_id: uuid.UUID | None = Field(
        description="the parent category, to roll subcategories up; null at the top level"
    )
    amount: Money
    transactions: int = Field(description="transactions with an amount in this category")


class CategoryReport(ApiSchema):
    date_from: dt.date = Field(alias="from")
    date_to: dt.date = Field(alias="to")
    type: ReportType
    items: list[CategoryItem] = Field(description="by currency, then largest amount first")


class MonthlyItem(ApiSchema):
    month: YearMonth = Field(examples=["2026-11"])
    currency: Currency
    income: Money
    expense: Money
    net: Money


class MonthlyReport(ApiSchema):
    month_from: YearMonth = Field(alias="from", examples=["2025-12"])
    month_to: YearMonth = Field(alias="to", examples=["2026-11"])
    items: list[MonthlyItem] = Field(
        description="by month, then currency; only months with activity in that currency"
    )


class NetWorthItem(ApiSchema):
    currency: Currency
    assets: Money = Field(description="sum of the positive balances")
    liabilities: Money = Field(description="sum of the negative balances, as an amount owed (≥ 0)")
    net_worth: Money = Field(description="assets - liabilities")


class NetWorthReport(ApiSchema):
    items: list[NetWorthItem] = Field(description="one per currency you hold an account in")


class BudgetStatusItem(ApiSchema):
    budget_id: uuid.UUID
    category_id: uuid.UUID
    name: str = Field(description="the category's name")
    currency: Currency
    amount: Money = Field(description="the monthly budget")
    spent: Money = Field(description="expenses in the category and its subcategories")
    remaining: Money = Field(description="amount - spent; negative when over budget")
    percent: str = Field(
        description="spent / amount * 100, one decimal place", examples=["42.5", "112.0"]
    )


class BudgetStatus(ApiSchema):
    month: YearMonth = Field(examples=["2026-11"])
    items: list[BudgetStatusItem]


class DashboardAccount(ApiSchema):
    id: uuid.UUID
    name: str
    type: AccountType
    currency: Currency
    balance: Money
    archived: bool


class TopCategory(ApiSchema):
    category_id: uuid.UUID | None = Field(
        description="a top-level category (its subcategories included); null: uncategorised"
    )
    name: str | None
    currency: Currency
    amount: Money


class Dashboard(ApiSchema):
    month: YearMonth = Field(description='"this month" in your time zone', examples=["2026-11"])
    timezone: str = Field(description="your time zone, which decides the month")
    as_of: dt.datetime = Field(description="when these figures were read")
    accounts: list[DashboardAccount] = Field(description="your accounts, archived ones left out")
    net_worth: list[NetWorthItem] = Field(description="as GET /services/reports/net-worth")
    this_month: list[Totals] = Field(description="this month's income and expense per currency")
    top_categories: list[TopCategory] = Field(
        description="this month's five largest expense categories per currency"
    )
    budgets: list[BudgetStatusItem] = Field(description="this month's budget status")
    recent_transactions: list[TransactionRead] = Field(description="your 10 newest transactions")
