"""Transactions: post, edit and delete them with every balance kept exact, and
read them back with every filter of the public API.

Each public function is one atomic unit: callers pass a fresh session and the
function commits (or raises, and nothing is written).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Date,
    FromClause,
    Integer,
    Numeric,
    Select,
    String,
    Subquery,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID, aggregate_order_by, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from db_gateway import schemas
from db_gateway.accounts import AccountArchived, check_scale
from db_gateway.db import raw_connection
from db_gateway.models import (
    Account,
    Allocation,
    Category,
    Posting,
    Transaction,
    User,
)
from db_gateway.postings import (
    Leg,
    LockedAccount,
    apply,
    begin_write,
    current_legs,
    lock_accounts,
    net_change,
    system_accounts,
    write_legs,
)
from servicekit.errors import NotFound, PreconditionFailed, ProblemError, Unprocessable

OPENING = "opening"
FieldErrors = list[dict[str, str]]
# Core tables for the write path: no ORM state to build and track per statement
_transactions = cast(Table, Transaction.__table__)
_accounts = cast(Table, Account.__table__)
_allocations = cast(Table, Allocation.__table__)


class IdempotencyConflict(Unprocessable):
    default_code = "idempotency_conflict"


class VersionMismatch(PreconditionFailed):
    default_code = "version_mismatch"


@dataclass(frozen=True, slots=True)
class _Checked:
    """A draft that passed every check, with what writing it needs."""

    draft: schemas.TransactionDraft
    source: LockedAccount
    target: LockedAccount | None
    legs: list[Leg]


# ---------------------------------------------------------------- checks


def _shape_errors(draft: schemas.TransactionDraft) -> FieldErrors:
    """Rules between fields, independent of what is stored."""
    errors: FieldErrors = []

    def error(field: str, message: str) -> None:
        errors.append({"field": field, "message": message})

    if draft.type == "transfer":
        if draft.to_account_id is None:
            error("to_account_id", "is required for a transfer")
        elif draft.to_account_id == draft.account_id:
            error("to_account_id", "must differ from account_id")
        if draft.category_id is not None:
            error("category_id", "transfers have no category")
        if draft.splits:
            error("splits", "transfers cannot be split")
    else:
        if draft.to_account_id is not None:
            error("to_account_id", "is only allowed for a transfer")
        if draft.to_amount is not None:
            error("to_amount", "is only allowed for a transfer")
    if draft.splits:
        if draft.category_id is not None:
            error("category_id", "must be left out when the transaction is split")
        total = sum((split.amount for split in draft.splits), Decimal(0))
        if total != draft.amount:
            error("splits", f"amounts add up to {total}, not to the amount {draft.amount}")
    return errors


async def _categories(
    session: AsyncSession, user_id: uuid.UUID, ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Category.id, Category.kind).where(Category.user_id == user_id, Category.id.in_(ids))
    )
    return {r.id: r.kind for r in rows}


async def _check(
    session: AsyncSession, user_id: uuid.UUID, draft: schemas.TransactionDraft
) -> _Checked:
    """Check a whole draft against the user's accounts and categories (locking
    the accounts) and work out its postings. Raises 404 for an account or
    category that is not the user's, 409 for an archived account and 422,
    naming every field at fault, for the rest."""
    errors = _shape_errors(draft)
    if errors:
        raise Unprocessable(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )
    accounts = await lock_accounts(
        session,
        user_id,
        [draft.account_id, *([draft.to_account_id] if draft.to_account_id else [])],
    )
    missing = [
        {"field": field, "message": "account not found"}
        for field in ("account_id", "to_account_id")
        if getattr(draft, field) is not None and getattr(draft, field) not in accounts
    ]
    category_fields = {
        **({"category_id": draft.category_id} if draft.category_id else {}),
        **{f"splits[{i}].category_id": s.category_id for i, s in enumerate(draft.splits)},
    }
    kinds = await _categories(session, user_id, set(category_fields.values()))
    missing += [
        {"field": field, "message": "category not found"}
        for field, category in category_fields.items()
        if category not in kinds
    ]
    if missing:
        raise NotFound("; ".join(f"{e['field']}: {e['message']}" for e in missing), errors=missing)
    archived = [
        {"field": field, "message": "the account is archived"}
        for field in ("account_id", "to_account_id")
        if getattr(draft, field) is not None and accounts[getattr(draft, field)].archived
    ]
    if archived:
        raise AccountArchived(
            "archived accounts are read-only; unarchive the account first", errors=archived
        )
    source = accounts[draft.account_id]
    target = accounts[draft.to_account_id] if draft.to_account_id else None
    errors = [
        {"field": field, "message": f"is a {kind} category; this is an {draft.type}"}
        for field, category in category_fields.items()
        if (kind := kinds[category]) != draft.type
    ]
    errors += [
        e
        for e in (
            check_scale("amount", draft.amount, source.currency),
            *(
                check_scale(f"splits[{i}].amount", s.amount, source.currency)
                for i, s in enumerate(draft.splits)
            ),
        )
        if e
    ]
    if target is not None:
        if target.currency == source.currency:
            if draft.to_amount is not None and draft.to_amount != draft.amount:
                errors.append(
                    {
                        "field": "to_amount",
                        "message": "must equal amount between accounts of one "
                        "currency (or be left out)",
                    }
                )
        elif draft.to_amount is None:
            errors.append(
                {
                    "field": "to_amount",
                    "message": f"is required: the accounts hold {source.currency}"
                    f" and {target.currency}",
                }
            )
        elif problem := check_scale("to_amount", draft.to_amount, target.currency):
            errors.append(problem)
    if errors:
        raise Unprocessable(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )
    return _Checked(
        draft=draft,
        source=source,
        target=target,
        legs=await _legs(session, user_id, draft, source, target),
    )


async def _legs(
    session: AsyncSession,
    user_id: uuid.UUID,
    draft: schemas.TransactionDraft,
    source: LockedAccount,
    target: LockedAccount | None,
) -> list[Leg]:
    """The postings: money leaves one account and arrives in another, and in
    each currency the amounts sum to zero."""
    amount, currency = draft.amount, source.currency
    if target is None:  # expense or income, against the hidden counter-account
        counter = (await system_accounts(session, user_id, [(draft.type, currency)]))[
            (draft.type, currency)
        ]
        sign = Decimal(-1) if draft.type == "expense" else Decimal(1)
        return [Leg(source.id, currency, sign * amount), Leg(counter, currency, -sign * amount)]
    if target.currency == currency:
        return [Leg(source.id, currency, -amount), Leg(target.id, currency, amount)]
    # Across currencies, through the hidden exchange account of each currency.
    to_amount, to_currency = draft.to_amount, target.currency
    assert to_amount is not None
    exchange = await system_accounts(
        session, user_id, [("exchange", currency), ("exchange", to_currency)]
    )
    return [
        Leg(source.id, currency, -amount),
        Leg(exchange[("exchange", currency)], currency, amount),
        Leg(exchange[("exchange", to_currency)], to_currency, -to_amount),
        Leg(target.id, to_currency, to_amount),
    ]


# ---------------------------------------------------------------- writing


def _columns(checked: _Checked) -> dict[str, Any]:
    draft = checked.draft
    target = checked.target
    return {
        "type": draft.type,
        "account_id": draft.account_id,
        "to_account_id": draft.to_account_id,
        "amount": draft.amount,
        "currency": checked.source.currency,
        "to_amount": (draft.to_amount or draft.amount) if target else None,
        "to_currency": target.currency if target else None,
        "category_id": draft.category_id,
        "date": draft.date,
        "description": draft.description,
        "notes": draft.notes,
        "tags": draft.tags,
        "has_splits": bool(draft.splits),
    }


async def _write_allocations(
    session: AsyncSession,
    user_id: uuid.UUID,
    tx_id: uuid.UUID,
    seq: int,
    draft: schemas.TransactionDraft,
) -> None:
    """One allocation per split, or one for the whole; each with the
    transaction's (date, seq), the order category-filtered pages read."""
    if draft.type == "transfer":
        return
    parts: list[schemas.SplitDraft | None] = [*draft.splits] or [None]
    await session.execute(
        insert(_allocations),
        [
            {
                "transaction_id": tx_id,
                "user_id": user_id,
                "kind": draft.type,
                "category_id": split.category_id if split else draft.category_id,
                "amount": split.amount if split else draft.amount,
                "description": split.description if split else "",
                "position": position,
                "date": draft.date,
                "seq": seq,
            }
            for position, split in enumerate(parts)
        ],
    )


# post_transaction (migration 0006) raises these SQLSTATEs, the problem's code
# in HINT when it is not the class's own, and the errors as JSON in DETAIL
_RAISED: dict[str, type[ProblemError]] = {
    "FL404": NotFound,
    "FL409": AccountArchived,
    "FL422": Unprocessable,
}
_POST = "SELECT post_transaction($1, $2::jsonb, $3, $4)::text"


async def post_transaction_json(
    *, session: AsyncSession, user_id: uuid.UUID, draft: schemas.TransactionPost
) -> bytes:
    """Write a transaction, its postings and allocations, the new balances and
    the idempotency record, all at once: one call of the SQL function
    post_transaction (one round trip), after the checks that need no database.
    Returns its TransactionWritten as JSON, as Postgres wrote it (a replay of
    its key has `replayed: true`)."""
    errors = _shape_errors(draft)
    if errors:
        raise Unprocessable(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )
    if draft.idempotency_key is not None and draft.request_hash is None:
        raise Unprocessable("request_hash is required with idempotency_key")
    body = draft.model_dump_json(exclude={"idempotency_key", "request_hash"})
    request_hash = bytes.fromhex(draft.request_hash) if draft.request_hash else None
    try:
        async with raw_connection(session) as driver:
            written: str = await driver.fetchval(
                _POST, user_id, body, draft.idempotency_key, request_hash
            )
    except asyncpg.PostgresError as exc:
        raised = _RAISED.get(exc.sqlstate or "")
        if raised is None:
            raise
        problem = raised(
            exc.message, code=exc.hint or None, errors=json.loads(exc.detail or "[]") or None
        )
        raise problem from None
    await session.commit()  # the function's work, if the session had begun a transaction
    return written.encode()


async def post_transaction(
    *, session: AsyncSession, user_id: uuid.UUID, draft: schemas.TransactionPost
) -> schemas.TransactionWritten:
    """post_transaction_json, as a model."""
    written = await post_transaction_json(session=session, user_id=user_id, draft=draft)
    return schemas.TransactionWritten.model_validate_json(written)


def _own(user_id: uuid.UUID, transaction_id: uuid.UUID) -> Select[Transaction]:
    """One of the user's transactions (opening balances are not transactions to them)."""
    return select(Transaction).where(
        Transaction.user_id == user_id,
        Transaction.id == transaction_id,
        Transaction.type != OPENING,
    )


async def _locked_transaction(
    session: AsyncSession, user_id: uuid.UUID, transaction_id: uuid.UUID, if_match: int | None
) -> Transaction:
    row = (
        await session.execute(_own(user_id, transaction_id).with_for_update())
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("transaction not found")
    if if_match is not None and if_match != row.version:
        raise VersionMismatch(
            f"the transaction changed since you read it (now version {row.version}); "
            "read it again and retry",
            headers={"ETag": f'"{row.version}"'},
        )
    return row


async def _accounts_are_writable(
    session: AsyncSession, user_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> None:
    accounts = await lock_accounts(session, user_id, ids)
    if any(a.archived for a in accounts.values()):
        raise AccountArchived("archived accounts are read-only; unarchive the account first")


_REQUIRED = ("type", "account_id", "amount", "date", "description", "notes", "tags")


def _merge(
    current: schemas.TransactionRead, patch: schemas.TransactionPatch
) -> schemas.TransactionDraft:
    """The stored transaction with the fields sent applied. What only made
    sense for the old values goes, unless it was sent too: a category when
    the type changes or splits arrive, splits when a category arrives, and a
    `to_amount` when either account changes (what arrived was said of those
    two accounts: moving a transfer to an account of another currency asks for
    it again instead of booking the old amount at 1:1), or a derived one when
    its amount changes."""
    sent = patch.model_fields_set - {"if_match"}
    before = current.model_dump(include=set(schemas.TransactionDraft.model_fields))
    merged = {**before, **patch.model_dump(include=sent)}

    def clear(field: str, empty: object) -> None:
        if field not in sent:
            merged[field] = empty

    if merged["type"] != before["type"]:
        clear("category_id", None)
        clear("splits", [])
        if merged["type"] != "transfer":
            clear("to_account_id", None)
            clear("to_amount", None)
    if merged["splits"] is None:
        merged["splits"] = []
    if "splits" in sent and merged["splits"]:
        clear("category_id", None)
    if "category_id" in sent and merged["category_id"] is not None:
        clear("splits", [])
    same_currency = current.to_currency == current.currency
    if sent & {"account_id", "to_account_id"} or ("amount" in sent and same_currency):
        clear("to_amount", None)
    nulls = [{"field": f, "message": "cannot be null"} for f in _REQUIRED if merged[f] is None]
    if nulls:
        raise Unprocessable("; ".join(f"{e['field']}: cannot be null" for e in nulls), errors=nulls)
    return schemas.TransactionDraft.model_validate(merged)


async def update_transaction(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    transaction_id: uuid.UUID,
    patch: schemas.TransactionPatch,
) -> schemas.TransactionWritten:
    """Apply the fields sent to the stored transaction, check the result as a
    whole, and re-post it: each balance moves by the difference only. Nothing
    sent, nothing written: the transaction comes back as it is."""
    if not patch.model_fields_set - {"if_match"}:
        await _locked_transaction(session, user_id, transaction_id, patch.if_match)
        unchanged = await _read_one(session, user_id, transaction_id)
        current_version = (
            await session.execute(select(User.ledger_version).where(User.id == user_id))
        ).scalar_one()
        await session.rollback()
        return schemas.TransactionWritten(
            transaction=unchanged, balances=[], ledger_version=current_version
        )
    version = await begin_write(session, user_id)
    row = await _locked_transaction(session, user_id, transaction_id, patch.if_match)
    seq = row.seq  # the allocations' copy (the update below leaves seq alone)
    merged = _merge(await _read_one(session, user_id, transaction_id), patch)
    old_legs = await current_legs(session, transaction_id)
    await _accounts_are_writable(session, user_id, [leg.account_id for leg in old_legs])
    checked = await _check(session, user_id, merged)
    # allocations first: their key includes the type, which may change
    await session.execute(delete(Allocation).where(Allocation.transaction_id == transaction_id))
    await session.execute(
        update(Transaction)
        .where(Transaction.id == transaction_id)
        .values(**_columns(checked), version=row.version + 1, updated_at=func.now())
    )
    await session.execute(delete(Posting).where(Posting.transaction_id == transaction_id))
    await write_legs(session, user_id, transaction_id, checked.legs)
    await _write_allocations(session, user_id, transaction_id, seq, merged)
    balances = await apply(session, net_change(old_legs, checked.legs))
    written = schemas.TransactionWritten(
        transaction=await _read_one(session, user_id, transaction_id),
        balances=balances,
        ledger_version=version,
    )
    await session.commit()
    return written


async def delete_transaction(
    *, session: AsyncSession, user_id: uuid.UUID, transaction_id: uuid.UUID, if_match: int | None
) -> schemas.TransactionWritten:
    version = await begin_write(session, user_id)
    await _locked_transaction(session, user_id, transaction_id, if_match)
    old_legs = await current_legs(session, transaction_id)
    await _accounts_are_writable(session, user_id, [leg.account_id for leg in old_legs])
    # postings and allocations go with it (ON DELETE CASCADE)
    await session.execute(delete(Transaction).where(Transaction.id == transaction_id))
    balances = await apply(session, net_change(old_legs, []))
    await session.commit()
    return schemas.TransactionWritten(transaction=None, balances=balances, ledger_version=version)


# ---------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class Filters:
    account_id: uuid.UUID | None = None
    category_id: uuid.UUID | None = None
    type: str | None = None
    date_from: Any = None
    date_to: Any = None
    q: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    tag: str | None = None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# The page's SQL takes its values as named parameters (never literals), so the
# same text serves every request with the same filters present: db-gateway
# builds and compiles it once per such shape (see page_json), and Postgres
# plans it as a prepared statement.
_PARAM_TYPES: dict[str, Any] = {
    "user_id": UUID(as_uuid=True),
    "account_id": UUID(as_uuid=True),
    "category_id": UUID(as_uuid=True),
    "type": String(16),
    "date_from": Date(),
    "date_to": Date(),
    "q": String(),
    "min_amount": Numeric(28, 4),
    "max_amount": Numeric(28, 4),
    "tags": ARRAY(String(50)),
    "before_date": Date(),
    "before_seq": BigInteger(),
    "limit": Integer(),
    "opening": String(16),
}


def page_values(
    user_id: uuid.UUID, filters: Filters, limit: int, before: tuple[Any, int] | None
) -> dict[str, Any]:
    """The values of a page's parameters; None for a filter that is absent."""
    f = filters
    return {
        "user_id": user_id,
        "account_id": f.account_id,
        "category_id": f.category_id,
        "type": f.type,
        "date_from": f.date_from,
        "date_to": f.date_to,
        "q": _like(f.q) if f.q else None,
        "min_amount": f.min_amount,
        "max_amount": f.max_amount,
        "tags": [f.tag] if f.tag is not None else None,
        "before_date": before[0] if before is not None else None,
        "before_seq": before[1] if before is not None else None,
        "limit": limit,
        "opening": OPENING,
    }


def _param(values: dict[str, Any], name: str) -> BindParameter[Any]:
    return bindparam(name, values[name], type_=_PARAM_TYPES[name])


def _conditions(table: FromClause, values: dict[str, Any]) -> list[ColumnElement[bool]]:
    """Every filter but the category, on `table` (transactions or an alias)."""
    t, v = table.c, values
    found: list[ColumnElement[bool]] = []
    if v["account_id"] is not None:
        account = _param(v, "account_id")
        found.append(or_(t.account_id == account, t.to_account_id == account))
    if v["type"] is not None:
        found.append(t.type == _param(v, "type"))
    if v["date_from"] is not None:
        found.append(t.date >= _param(v, "date_from"))
    if v["date_to"] is not None:
        found.append(t.date <= _param(v, "date_to"))
    if v["q"] is not None:
        pattern = _param(v, "q")
        found.append(or_(t.description.ilike(pattern), t.notes.ilike(pattern)))
    if v["min_amount"] is not None:
        found.append(t.amount >= _param(v, "min_amount"))
    if v["max_amount"] is not None:
        found.append(t.amount <= _param(v, "max_amount"))
    if v["tags"] is not None:
        found.append(t.tags.contains(_param(v, "tags")))
    return found


# A text search first reads this many of the user's newest transactions.
TEXT_WINDOW = 1000
_ZERO = literal_column("0", Integer())


def _text_page(values: dict[str, Any]) -> Select[Any]:
    """A page filtered by `q` (and maybe other filters, not a category).

    Postgres cannot tell how many rows an `ILIKE '%word%'` keeps (it guesses
    thousands for a word in 0.2% of a 100k history), so the plan is not left
    to it: the page is read from the user's newest TEXT_WINDOW transactions,
    in order, stopping at a full page (a common word fills it in a few
    hundred rows); only when the window holds fewer matches than a page,
    i.e. the word is rare, the trigram indexes of migration 0007 find every
    match (ordering by `date + 0` keeps the planner off the date index) and
    the newest are sorted out. Either way the work is bounded by the window
    plus the matches of a rare word, not by the history."""
    t, v = _transactions, values
    limit = _param(v, "limit")
    mine = [t.c.user_id == _param(v, "user_id"), t.c.type != _param(v, "opening")]
    if v["before_date"] is not None:
        mine.append(
            tuple_(t.c.date, t.c.seq) < tuple_(_param(v, "before_date"), _param(v, "before_seq"))
        )
    newest = (
        select(t)
        .where(*mine)
        .order_by(t.c.date.desc(), t.c.seq.desc())
        .limit(literal_column(str(TEXT_WINDOW), Integer()))
        .subquery("newest")
    )
    columns = (*_READ_COLUMNS, "has_splits")
    in_window = (
        select(*(newest.c[c] for c in columns))
        .where(*_conditions(newest, v))
        .order_by(newest.c.date.desc(), newest.c.seq.desc())
        .limit(limit)
        .cte("in_window")
    )
    window_full = select(func.count()).select_from(in_window).scalar_subquery() >= limit
    everywhere = (
        select(*(t.c[c] for c in columns))
        .where(*mine, *_conditions(t, v), ~window_full)
        .order_by((t.c.date + _ZERO).desc(), (t.c.seq + _ZERO).desc())
        .limit(limit)
    )
    found = union_all(select(in_window).where(window_full), everywhere).subquery("found")
    return select(*(found.c[c].label(c) for c in columns)).order_by(
        found.c.date.desc(), found.c.seq.desc()
    )


def _category_page(values: dict[str, Any]) -> Subquery:
    """(transaction_id, date, seq) of the page when filtering by a category: the
    newest `limit` distinct transactions with an allocation in the category or
    one of its subcategories.

    Each category of the subtree gives its own newest `limit` distinct matching
    transactions, read in order from ix_allocations_user_id_category_id_date_seq
    (allocations carry their transaction's date and seq) and stopped there; the
    page is the newest `limit` of their union, which holds every transaction of
    the true page. The work is bounded by the subtree's size times `limit`,
    not by the history's size, and the shape leaves the planner one sensible
    plan whatever its statistics or plan mode: a LIMITed scan of an index that
    has the page's order and every condition (user, category, dates, cursor).
    The filters that live on the transaction only (account, text, amounts, tag)
    join it inside each category's scan, so its `limit` still counts matching
    transactions (a selective one makes the scan read on, as any filter does)."""
    a, v = _allocations, values
    user_id, limit = _param(v, "user_id"), _param(v, "limit")
    categories = cast(Table, Category.__table__).alias("subtree")
    hits = select(a.c.transaction_id, a.c.date, a.c.seq).where(
        a.c.user_id == user_id, a.c.category_id == categories.c.id
    )
    if v["type"] is not None:
        hits = hits.where(a.c.kind == _param(v, "type"))
    if v["date_from"] is not None:
        hits = hits.where(a.c.date >= _param(v, "date_from"))
    if v["date_to"] is not None:
        hits = hits.where(a.c.date <= _param(v, "date_to"))
    if v["before_date"] is not None:
        before = tuple_(_param(v, "before_date"), _param(v, "before_seq"))
        hits = hits.where(tuple_(a.c.date, a.c.seq) < before)
    rest = {**v, "type": None, "date_from": None, "date_to": None}
    if _conditions(_transactions, rest):
        tx = _transactions.alias("tx")
        hits = hits.join(tx, tx.c.id == a.c.transaction_id).where(*_conditions(tx, rest))
    # DISTINCT ON: two splits of one transaction may share a category
    per_category = (
        hits.ext(distinct_on(a.c.date, a.c.seq))
        .order_by(a.c.date.desc(), a.c.seq.desc())
        .limit(limit)
        .lateral("hits")
    )
    category = _param(v, "category_id")
    return (
        select(per_category.c.transaction_id, per_category.c.date, per_category.c.seq)
        .distinct()  # and splits in two categories of the subtree
        .select_from(categories.join(per_category, true()))
        .where(
            categories.c.user_id == user_id,
            or_(categories.c.id == category, categories.c.parent_id == category),
        )
        .order_by(per_category.c.date.desc(), per_category.c.seq.desc())
        .limit(limit)
        .subquery("page")
    )


def page_statement(
    user_id: uuid.UUID, filters: Filters, limit: int, before: tuple[Any, int] | None
) -> Select[Any]:
    """The SQL of one page of the user's transactions, newest first by (date,
    seq), older than the keyset `before` when given."""
    return _page_statement(page_values(user_id, filters, limit, before))


def _page_statement(values: dict[str, Any]) -> Select[Any]:
    t, v = _transactions, values
    query = select(*(t.c[c] for c in (*_READ_COLUMNS, "has_splits"))).where(
        t.c.user_id == _param(v, "user_id"), t.c.type != _param(v, "opening")
    )
    if v["category_id"] is not None:
        page = _category_page(v)
        query = query.join_from(t, page, page.c.transaction_id == t.c.id)
    elif v["q"] is not None:
        return _text_page(v)
    else:
        query = query.where(*_conditions(t, v))
        if v["before_date"] is not None:
            before = tuple_(_param(v, "before_date"), _param(v, "before_seq"))
            query = query.where(tuple_(t.c.date, t.c.seq) < before)
        query = query.limit(_param(v, "limit"))
    return query.order_by(t.c.date.desc(), t.c.seq.desc())


async def _with_splits(
    session: AsyncSession, rows: Sequence[Transaction]
) -> list[schemas.TransactionRead]:
    return [
        schemas.TransactionRead.model_validate(row)
        for row in await _rows_with_splits(
            session, [{c: getattr(r, c) for c in (*_READ_COLUMNS, "has_splits")} for r in rows]
        )
    ]


async def _rows_with_splits(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Rows as TransactionRead shapes them, each with its splits (one query for
    all the split ones)."""
    split_ids = [r["id"] for r in rows if r.pop("has_splits")]
    splits: dict[uuid.UUID, list[dict[str, Any]]] = {}
    if split_ids:
        allocations = await session.execute(
            select(
                _allocations.c.transaction_id,
                _allocations.c.category_id,
                _allocations.c.amount,
                _allocations.c.description,
            )
            .where(_allocations.c.transaction_id.in_(split_ids))
            .order_by(_allocations.c.transaction_id, _allocations.c.position)
        )
        for a in allocations:
            splits.setdefault(a.transaction_id, []).append(
                {"category_id": a.category_id, "amount": a.amount, "description": a.description}
            )
    for row in rows:
        row["splits"] = splits.get(row["id"], [])
    return rows


_READ_COLUMNS = [c for c in schemas.TransactionRead.model_fields if c != "splits"]


async def list_transaction_rows(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    limit: int,
    before: tuple[Any, int] | None,
    filters: Filters,
) -> list[dict[str, Any]]:
    """Newest first by (date, seq): a keyset, so pages stay stable under inserts.
    Plain rows, ready for JSON: a page is the busiest read there is, and building
    50 ORM objects and 50 models for it cost more than the query."""
    query = page_statement(user_id, filters, limit, before)
    rows = [dict(r._mapping) for r in await session.execute(query)]
    return await _rows_with_splits(session, rows)


# One transaction as the public API shows it (the ledger's TransactionRead, field
# for field and in order), written by Postgres as text: text values through
# to_json (escaped exactly as the services' encoder escapes them), amounts and
# times through api_money and api_time (migration 0005), dates through to_json
# (ISO, whatever DateStyle), the rest (ids, numbers, the type and currencies
# the schema constrains) as they are.
# Concatenated rather than row_to_json of a sub-select: a third less time per
# row. tests/db_gateway/test_page_json.py holds it to the Python it replaces.
_PUBLIC_TRANSACTION = """('{"id":"' || q.id || '","type":"' || q.type
    || '","account_id":"' || q.account_id
    || '","to_account_id":' || coalesce('"' || q.to_account_id || '"', 'null')
    || ',"amount":"' || api_money(q.amount, q.currency) || '","currency":"' || q.currency
    || '","to_amount":' || coalesce('"' || api_money(q.to_amount, q.to_currency) || '"', 'null')
    || ',"to_currency":' || coalesce('"' || q.to_currency || '"', 'null')
    || ',"category_id":' || coalesce('"' || q.category_id || '"', 'null')
    || ',"splits":' || CASE WHEN q.has_splits THEN (
        SELECT array_to_json(array_agg((SELECT row_to_json(y) FROM (SELECT
            a.category_id, api_money(a.amount, q.currency) AS amount, a.description) y)
            ORDER BY a.position))
        FROM allocations a WHERE a.transaction_id = q.id
    )::text ELSE '[]' END
    || ',"date":' || to_json(q.date)::text || ',"description":' || to_json(q.description)::text
    || ',"notes":' || to_json(q.notes)::text || ',"tags":' || to_json(q.tags)::text
    || ',"version":' || q.version
    || ',"created_at":"' || api_time(q.created_at)
    || '","updated_at":"' || api_time(q.updated_at) || '"}')"""


@dataclass(frozen=True, slots=True)
class PageJson:
    """A page as the public API shows it: its items as one JSON array, and the
    (date, seq) of its last one when more follow (the next page's keyset)."""

    items: bytes
    next: tuple[Any, int] | None


async def page_json(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    limit: int,
    before: tuple[Any, int] | None,
    filters: Filters,
) -> PageJson:
    """`list_transaction_rows`, with the JSON built by Postgres: no row is made
    into a Python object on the way (a page is the busiest read there is).
    Building and compiling the statement cost more than running it, so its
    text is made once per shape (which filters are present) and run on the
    session's asyncpg connection, which prepares it once per connection
    (a page with a filter of `_SELECTIVE` once per request)."""
    values = page_values(user_id, filters, limit + 1, before) | {"page_limit": limit}
    shape = frozenset(name for name, value in values.items() if value is not None)
    compiled = _PAGE_JSON.get(shape)
    if compiled is None:
        dialect = session.get_bind().dialect
        statement = _page_json_statement(values).compile(dialect=dialect)
        compiled = _PAGE_JSON[shape] = (statement.string, tuple(statement.positiontup or ()))
    sql, names = compiled
    arguments = [values[n] for n in names]
    async with raw_connection(session) as driver:
        if shape.isdisjoint(_SELECTIVE):
            found = await driver.fetchrow(sql, *arguments)
        else:
            found = await (await driver.prepare(sql)).fetchrow(*arguments)
    items, rows, last_date, last_seq = found
    return PageJson(
        items=b"[" + items.encode() + b"]",
        next=(last_date, last_seq) if rows > limit else None,
    )


_PAGE_JSON: dict[frozenset[str], tuple[str, tuple[str, ...]]] = {}

# How many rows these filters keep depends on their values, from nearly none
# (a rare word, an exact amount) to most (a common merchant, a wide range).
# A prepared statement settles on one generic plan for every value after its
# fifth run, and whichever plan that is, it reads all of a 100k-transaction
# history for the values it does not suit. A page with any of them is
# prepared afresh (one more round trip), so Postgres plans it for its
# values: an index of the filter (migration 0007) when few rows match,
# the user's newest transactions in order when many do. (`q` alone needs no
# planner's guess: see _text_page.)
_SELECTIVE = frozenset({"account_id", "tags", "min_amount", "max_amount"})


def _page_json_statement(values: dict[str, Any]) -> Select[Any, int, Any, Any]:
    page = _page_statement(values).cte("p")
    order = (page.c.date.desc(), page.c.seq.desc())
    q = select(page, func.row_number().over(order_by=order).label("n")).cte("q")
    page_limit = bindparam("page_limit", type_=Integer())
    first, last = q.c.n <= page_limit, q.c.n == page_limit
    return select(
        func.coalesce(
            func.string_agg(
                literal_column(_PUBLIC_TRANSACTION),
                aggregate_order_by(literal_column("','"), q.c.n),
            ).filter(first),
            literal_column("''"),
        ),
        func.count(),
        func.max(q.c.date).filter(last),
        func.max(q.c.seq).filter(last),
    )


async def list_transactions(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    limit: int,
    before: tuple[Any, int] | None,
    filters: Filters,
) -> list[schemas.TransactionRead]:
    rows = await list_transaction_rows(
        session=session, user_id=user_id, limit=limit, before=before, filters=filters
    )
    return [schemas.TransactionRead.model_validate(r) for r in rows]


async def _read_one(
    session: AsyncSession, user_id: uuid.UUID, transaction_id: uuid.UUID
) -> schemas.TransactionRead:
    row = (
        await session.execute(
            _own(user_id, transaction_id).execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("transaction not found")
    return (await _with_splits(session, [row]))[0]


async def get_transaction(
    *, session: AsyncSession, user_id: uuid.UUID, transaction_id: uuid.UUID
) -> schemas.TransactionRead:
    return await _read_one(session, user_id, transaction_id)
