"""db-gateway as the ledger uses it: every `/internal/...` path the ledger
knows, the rows each one returns, and the one door every write goes through.

The rows are TypedDicts mirroring db-gateway's schemas (`db_gateway.schemas`)
as they arrive in JSON (ids, amounts, dates and times are strings), so mypy
checks every key the ledger reads.

Writes: `Gateway._write` sends the write and, before returning its result,
updates the cache from it (the new balances, deleted accounts, the dashboard's
floor). No caller can answer a client about a write that readers cannot see
yet: read-your-writes is the structure of this class, not a habit of each
area module.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, TypedDict

from ledger.cache import CachedBalance, LedgerCache
from servicekit.http import PeerClient, send
from servicekit.jsonutil import loads

# ---------------------------------------------------------------- rows


class AccountRow(TypedDict):
    id: str
    name: str
    type: str
    currency: str
    balance: str
    opening_balance: str
    version: int
    archived: bool
    seq: int
    created_at: str
    updated_at: str


class BalanceRow(TypedDict):
    account_id: str
    currency: str
    balance: str
    version: int
    updated_at: str


class SplitRow(TypedDict):
    category_id: str
    amount: str
    description: str


class TransactionRow(TypedDict):
    id: str
    type: Literal["expense", "income", "transfer"]
    account_id: str
    to_account_id: str | None
    amount: str
    currency: str
    to_amount: str | None
    to_currency: str | None
    category_id: str | None
    splits: list[SplitRow]
    date: str
    description: str
    notes: str
    tags: list[str]
    version: int
    seq: int
    created_at: str
    updated_at: str


class CategoryRow(TypedDict):
    id: str
    name: str
    kind: Literal["expense", "income"]
    parent_id: str | None
    seq: int
    created_at: str
    updated_at: str


class BudgetRow(TypedDict):
    id: str
    category_id: str
    amount: str
    currency: str
    period: Literal["monthly"]
    seq: int
    created_at: str
    updated_at: str


class ProfileRow(TypedDict):
    id: str
    email: str
    display_name: str | None
    default_currency: str
    timezone: str
    ledger_version: int
    created_at: str


class TotalsRow(TypedDict):
    currency: str
    income: str
    expense: str
    net: str
    transactions: int


class SummaryRow(TypedDict):
    date_from: str
    date_to: str
    items: list[TotalsRow]


class CategoryTotalRow(TypedDict):
    currency: str
    category_id: str | None
    name: str | None
    parent_id: str | None
    amount: str
    transactions: int


class CategoryReportRow(TypedDict):
    date_from: str
    date_to: str
    type: Literal["expense", "income"]
    items: list[CategoryTotalRow]


class MonthTotalsRow(TypedDict):
    month: str
    currency: str
    income: str
    expense: str
    net: str


class MonthlyRow(TypedDict):
    month_from: str
    month_to: str
    items: list[MonthTotalsRow]


class NetWorthRow(TypedDict):
    currency: str
    assets: str
    liabilities: str
    net_worth: str


class BudgetStatusRow(TypedDict):
    budget_id: str
    category_id: str
    name: str
    currency: str
    amount: str
    spent: str
    remaining: str
    percent: str


class BudgetStatusReportRow(TypedDict):
    month: str
    items: list[BudgetStatusRow]


class DashboardAccountRow(TypedDict):
    id: str
    name: str
    type: str
    currency: str
    balance: str
    archived: bool


class TopCategoryRow(TypedDict):
    category_id: str | None
    name: str | None
    currency: str
    amount: str


class DashboardRow(TypedDict):
    ledger_version: int
    month: str
    timezone: str
    as_of: str
    accounts: list[DashboardAccountRow]
    net_worth: list[NetWorthRow]
    this_month: list[TotalsRow]
    top_categories: list[TopCategoryRow]
    budgets: list[BudgetStatusRow]
    recent_transactions: list[TransactionRow]


class ExportCategoryRow(TypedDict):
    id: str
    name: str
    kind: Literal["expense", "income"]
    parent_id: str | None
    created_at: str
    updated_at: str


class ExportBudgetRow(TypedDict):
    id: str
    category_id: str
    amount: str
    currency: str
    period: Literal["monthly"]
    created_at: str
    updated_at: str


class ExportReferenceRow(TypedDict):
    accounts: list[AccountRow]
    categories: list[ExportCategoryRow]
    budgets: list[ExportBudgetRow]


class Written(TypedDict):
    """What every write returns: the user's new ledger version (and, in the
    shapes below, the balances it moved: a transaction's accounts, or the
    account written)."""

    ledger_version: int


class TransactionWritten(Written):
    transaction: TransactionRow | None
    balances: list[BalanceRow]
    replayed: bool


class AccountWritten(Written):
    account: AccountRow


class CategoryWritten(Written):
    category: CategoryRow


class BudgetWritten(Written):
    budget: BudgetRow


class ProfileWritten(ProfileRow, Written):
    pass


def account_balance(row: AccountRow) -> BalanceRow:
    return {
        "account_id": row["id"],
        "currency": row["currency"],
        "balance": row["balance"],
        "version": row["version"],
        "updated_at": row["updated_at"],
    }


def cached_balance(row: BalanceRow) -> CachedBalance:
    """A balance db-gateway returned (from a write or an account read)."""
    return CachedBalance(
        account_id=uuid.UUID(row["account_id"]),
        currency=row["currency"],
        balance=Decimal(row["balance"]),
        version=row["version"],
        as_of=row["updated_at"],
    )


@dataclass(frozen=True, slots=True)
class TransactionPage:
    items: bytes  # a JSON array of transactions in the public API's shape
    next: tuple[str, int] | None  # (date, seq) of the last item, when more follow


# ---------------------------------------------------------------- the client

Params = Mapping[str, str | int | bool]


class Gateway:
    """One user's objects in db-gateway, and the cache every write updates."""

    def __init__(self, client: PeerClient, cache: LedgerCache) -> None:
        self.client = client
        self.cache = cache

    @staticmethod
    def _user(user_id: uuid.UUID) -> str:
        return f"/internal/users/{user_id}"

    async def _read(self, path: str, params: Params | None = None) -> Any:
        return loads((await send(self.client, "GET", path, params=params)).content)

    async def _write(
        self,
        user_id: uuid.UUID,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Params | None = None,
        deleted_accounts: Iterable[uuid.UUID] = (),
    ) -> Any:
        """Send a write; update the cache from its result; only then return it.
        A replayed transaction carries its accounts' current balances and the
        first write's ledger version (db_gateway.transactions), so a replay
        repairs what a replica that died after the write could not store."""
        result: dict[str, Any] = loads(
            (await send(self.client, method, path, json=json, params=params)).content
        )
        balances: list[BalanceRow] = result.get("balances") or (
            [account_balance(result["account"])] if "account" in result else []
        )
        await self.cache.written(
            user_id,
            [cached_balance(b) for b in balances],
            result["ledger_version"],
            deleted_accounts=deleted_accounts,
        )
        return result

    # --- profile

    async def profile(self, user_id: uuid.UUID) -> ProfileRow:
        row: ProfileRow = await self._read(self._user(user_id))
        return row

    async def update_profile(self, user_id: uuid.UUID, change: object) -> ProfileWritten:
        # "this month" of the dashboard may move with the time zone
        row: ProfileWritten = await self._write(user_id, "PATCH", self._user(user_id), json=change)
        return row

    async def erase_user(self, user_id: uuid.UUID) -> list[uuid.UUID]:
        """Erase the user; the ids of the sessions that ended with them."""
        result = loads((await send(self.client, "DELETE", self._user(user_id))).content)
        await self.cache.forget_user(user_id)
        return [uuid.UUID(s) for s in result["session_ids"]]

    # --- accounts

    async def accounts(self, user_id: uuid.UUID, params: Params) -> list[AccountRow]:
        rows: list[AccountRow] = (await self._read(f"{self._user(user_id)}/accounts", params))[
            "items"
        ]
        return rows

    async def account(self, user_id: uuid.UUID, account_id: uuid.UUID) -> AccountRow:
        row: AccountRow = await self._read(f"{self._user(user_id)}/accounts/{account_id}")
        return row

    async def create_account(self, user_id: uuid.UUID, draft: object) -> AccountWritten:
        result: AccountWritten = await self._write(
            user_id, "POST", f"{self._user(user_id)}/accounts", json=draft
        )
        return result

    async def update_account(
        self, user_id: uuid.UUID, account_id: uuid.UUID, change: object
    ) -> AccountWritten:
        result: AccountWritten = await self._write(
            user_id, "PATCH", f"{self._user(user_id)}/accounts/{account_id}", json=change
        )
        return result

    async def delete_account(self, user_id: uuid.UUID, account_id: uuid.UUID) -> None:
        await self._write(
            user_id,
            "DELETE",
            f"{self._user(user_id)}/accounts/{account_id}",
            deleted_accounts=[account_id],
        )

    # --- transactions

    async def transaction_page(self, user_id: uuid.UUID, params: Params) -> TransactionPage:
        """One page (`limit` items), as the public API shows its items: the
        JSON array as db-gateway (and Postgres) wrote it, never parsed here."""
        response = await send(
            self.client, "GET", f"{self._user(user_id)}/transactions", params=params
        )
        date, seq = response.headers.get("x-next-date"), response.headers.get("x-next-seq")
        after = (date, int(seq)) if date is not None and seq is not None else None
        return TransactionPage(items=response.content, next=after)

    async def transaction(self, user_id: uuid.UUID, transaction_id: uuid.UUID) -> TransactionRow:
        row: TransactionRow = await self._read(
            f"{self._user(user_id)}/transactions/{transaction_id}"
        )
        return row

    async def post_transaction(self, user_id: uuid.UUID, draft: object) -> TransactionWritten:
        result: TransactionWritten = await self._write(
            user_id, "POST", f"{self._user(user_id)}/transactions", json=draft
        )
        return result

    async def update_transaction(
        self, user_id: uuid.UUID, transaction_id: uuid.UUID, change: object
    ) -> TransactionWritten:
        result: TransactionWritten = await self._write(
            user_id, "PATCH", f"{self._user(user_id)}/transactions/{transaction_id}", json=change
        )
        return result

    async def delete_transaction(
        self, user_id: uuid.UUID, transaction_id: uuid.UUID, params: Params
    ) -> None:
        await self._write(
            user_id,
            "DELETE",
            f"{self._user(user_id)}/transactions/{transaction_id}",
            params=params,
        )

    # --- categories

    async def categories(self, user_id: uuid.UUID, params: Params) -> list[CategoryRow]:
        rows: list[CategoryRow] = (await self._read(f"{self._user(user_id)}/categories", params))[
            "items"
        ]
        return rows

    async def category(self, user_id: uuid.UUID, category_id: uuid.UUID) -> CategoryRow:
        row: CategoryRow = await self._read(f"{self._user(user_id)}/categories/{category_id}")
        return row

    async def create_category(self, user_id: uuid.UUID, draft: object) -> CategoryWritten:
        result: CategoryWritten = await self._write(
            user_id, "POST", f"{self._user(user_id)}/categories", json=draft
        )
        return result

    async def update_category(
        self, user_id: uuid.UUID, category_id: uuid.UUID, change: object
    ) -> CategoryWritten:
        result: CategoryWritten = await self._write(
            user_id, "PATCH", f"{self._user(user_id)}/categories/{category_id}", json=change
        )
        return result

    async def delete_category(self, user_id: uuid.UUID, category_id: uuid.UUID) -> None:
        await self._write(user_id, "DELETE", f"{self._user(user_id)}/categories/{category_id}")

    # --- budgets

    async def budgets(self, user_id: uuid.UUID, params: Params) -> list[BudgetRow]:
        rows: list[BudgetRow] = (await self._read(f"{self._user(user_id)}/budgets", params))[
            "items"
        ]
        return rows

    async def budget(self, user_id: uuid.UUID, budget_id: uuid.UUID) -> BudgetRow:
        row: BudgetRow = await self._read(f"{self._user(user_id)}/budgets/{budget_id}")
        return row

    async def create_budget(self, user_id: uuid.UUID, draft: object) -> BudgetWritten:
        result: BudgetWritten = await self._write(
            user_id, "POST", f"{self._user(user_id)}/budgets", json=draft
        )
        return result

    async def update_budget(
        self, user_id: uuid.UUID, budget_id: uuid.UUID, change: object
    ) -> BudgetWritten:
        result: BudgetWritten = await self._write(
            user_id, "PATCH", f"{self._user(user_id)}/budgets/{budget_id}", json=change
        )
        return result

    async def delete_budget(self, user_id: uuid.UUID, budget_id: uuid.UUID) -> None:
        await self._write(user_id, "DELETE", f"{self._user(user_id)}/budgets/{budget_id}")

    # --- reports and the dashboard

    async def summary(self, user_id: uuid.UUID, params: Params) -> SummaryRow:
        row: SummaryRow = await self._read(f"{self._user(user_id)}/reports/summary", params)
        return row

    async def category_report(self, user_id: uuid.UUID, params: Params) -> CategoryReportRow:
        row: CategoryReportRow = await self._read(
            f"{self._user(user_id)}/reports/categories", params
        )
        return row

    async def monthly(self, user_id: uuid.UUID, params: Params) -> MonthlyRow:
        row: MonthlyRow = await self._read(f"{self._user(user_id)}/reports/monthly", params)
        return row

    async def net_worth(self, user_id: uuid.UUID) -> list[NetWorthRow]:
        rows: list[NetWorthRow] = (await self._read(f"{self._user(user_id)}/reports/net-worth"))[
            "items"
        ]
        return rows

    async def budget_status(self, user_id: uuid.UUID, params: Params) -> BudgetStatusReportRow:
        row: BudgetStatusReportRow = await self._read(
            f"{self._user(user_id)}/reports/budget-status", params
        )
        return row

    async def dashboard(self, user_id: uuid.UUID) -> DashboardRow:
        row: DashboardRow = await self._read(f"{self._user(user_id)}/dashboard")
        return row

    # --- the export

    async def export_reference(self, user_id: uuid.UUID) -> ExportReferenceRow:
        row: ExportReferenceRow = await self._read(f"{self._user(user_id)}/export/reference")
        return row

    async def export_transactions(self, user_id: uuid.UUID, params: Params) -> list[TransactionRow]:
        rows: list[TransactionRow] = (
            await self._read(f"{self._user(user_id)}/export/transactions", params)
        )["items"]
        return rows
