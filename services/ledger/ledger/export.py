"""The data export: every object of the user's, streamed as JSON or CSV while
transactions are read from db-gateway in keyset batches, so neither service
holds more than one batch at a time, whatever the size of the ledger."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
import zoneinfo
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from ledger import views
from ledger.gateway import Gateway, TransactionRow
from ledger.profile import get_profile
from ledger.schemas.accounts import AccountRead
from ledger.schemas.export import ExportBudget, ExportCategory, ProfileExport
from ledger.schemas.profile import ProfileRead
from ledger.schemas.transactions import TransactionRead

BATCH_SIZE = 1000
CSV_COLUMNS = (
    "id",
    "date",
    "type",
    "account_id",
    "account_name",
    "amount",
    "currency",
    "to_account_id",
    "to_account_name",
    "to_amount",
    "to_currency",
    "category_id",
    "category_name",
    "description",
    "notes",
    "tags",
    "created_at",
    "updated_at",
    "splits",
)
# Plain decimals, which a spreadsheet must read as numbers: never prefixed.
_AMOUNT_COLUMNS = frozenset({"amount", "to_amount"})
# What makes a spreadsheet read a cell as a formula (OWASP, CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Export:
    """What is read before the response starts. Until then a failure is an
    ordinary problem+json answer; once the body streams, it can only be cut
    short (the connection closes without the final chunk)."""

    gateway: Gateway
    user_id: uuid.UUID
    profile: ProfileRead
    accounts: list[AccountRead]
    categories: list[ExportCategory]
    budgets: list[ExportBudget]
    first_batch: list[TransactionRow]
    exported_at: dt.datetime

    def filename(self, stem: str, extension: str) -> str:
        """Dated in the user's time zone: the day they see on their calendar."""
        try:
            zone: dt.tzinfo = zoneinfo.ZoneInfo(self.profile.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = dt.UTC
        return f"{stem}-{self.exported_at.astimezone(zone).date().isoformat()}.{extension}"


async def _batch(
    gateway: Gateway, user_id: uuid.UUID, before: tuple[str, int] | None
) -> list[TransactionRow]:
    params: dict[str, str | int | bool] = {"limit": BATCH_SIZE}
    if before is not None:
        params["before_date"], params["before_seq"] = before
    return await gateway.export_transactions(user_id, params)


async def start_export(*, gateway: Gateway, user_id: uuid.UUID) -> Export:
    exported_at = dt.datetime.now(dt.UTC)
    profile = await get_profile(gateway=gateway, user_id=user_id)
    reference = await gateway.export_reference(user_id)
    budgets = [
        ExportBudget.model_validate({**row, "amount": views.money(row["amount"], row["currency"])})
        for row in reference["budgets"]
    ]
    return Export(
        gateway=gateway,
        user_id=user_id,
        profile=profile,
        accounts=[views.account_read(row) for row in reference["accounts"]],
        categories=[ExportCategory.model_validate(row) for row in reference["categories"]],
        budgets=budgets,
        first_batch=await _batch(gateway, user_id, None),
        exported_at=exported_at,
    )


async def _transactions(export: Export) -> AsyncIterator[list[TransactionRead]]:
    """Every transaction, newest first, one batch at a time: each next batch
    starts after the last (date, seq) seen, so none is skipped or repeated
    even when dates repeat across a batch boundary."""
    batch = export.first_batch
    while True:
        yield [views.transaction_read(row) for row in batch]
        if len(batch) < BATCH_SIZE:
            return
        last = batch[-1]
        batch = await _batch(export.gateway, export.user_id, (last["date"], last["seq"]))


async def json_body(export: Export) -> AsyncIterator[bytes]:
    head = ProfileExport(
        profile=export.profile,
        accounts=export.accounts,
        categories=export.categories,
        budgets=export.budgets,
        exported_at=export.exported_at,
        transactions=[],
    ).model_dump_json()
    # `transactions` is the last field: its empty list is left open, and
    # filled with each batch as it arrives.
    assert head.endswith('"transactions":[]}')
    yield head[: -len("]}")].encode()
    separator = b""
    async for batch in _transactions(export):
        for transaction in batch:
            yield separator + transaction.model_dump_json().encode()
            separator = b","
    yield b"]}"


def neutralise(value: str) -> str:
    """A text cell a spreadsheet would run as a formula, quoted so it shows as text."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _csv_row(
    transaction: TransactionRead, accounts: dict[str, str], categories: dict[str, str]
) -> list[str]:
    data = transaction.model_dump(mode="json")
    cells = {
        **{column: data.get(column) or "" for column in CSV_COLUMNS},
        "account_name": accounts.get(data["account_id"], ""),
        "to_account_name": accounts.get(data["to_account_id"] or "", ""),
        "category_name": categories.get(data["category_id"] or "", ""),
        "tags": ";".join(transaction.tags),
        "splits": ";".join(
            f"{categories.get(str(split.category_id), '')}:{split.amount}"
            for split in transaction.splits
        ),
    }
    return [
        cells[column] if column in _AMOUNT_COLUMNS else neutralise(cells[column])
        for column in CSV_COLUMNS
    ]


def _names(items: Iterable[AccountRead | ExportCategory]) -> dict[str, str]:
    return {str(item.id): item.name for item in items}


async def csv_body(export: Export) -> AsyncIterator[bytes]:
    accounts, categories = _names(export.accounts), _names(export.categories)
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # RFC 4180: quoted as needed, CRLF line ends
    writer.writerow(CSV_COLUMNS)
    async for batch in _transactions(export):
        writer.writerows(_csv_row(t, accounts, categories) for t in batch)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
