"""The posting engine under random sequences of writes, against the real
Postgres of the test stack.

Each example opens accounts in four currencies (0, 2 and 3 decimals) for one
user and one account for a second user, then runs a random sequence of posts
(expense, income, split, same- and cross-currency transfer), edits (full and
partial, with and without a stale If-Match), deletes, opening-balance changes,
archive toggles and account deletions, some of them deliberately refused
(archived account, another user's account, too many decimals, an account in
use, a stale version) and some refused merges of partial edits. After every
step the
ledger is checked against the database directly and against an independent
model of what each transaction means:

- every transaction's postings sum to zero per currency, and every user's
  accounts (hidden counter-accounts included) sum to zero per currency;
- every balance equals SUM(its postings), equals its opening balance plus the
  postings of its transactions, equals what the model expects, and is what
  `get_account` and the write's returned balances report;
- a deleted transaction leaves no postings and no allocations;
- the ledger version grows by exactly one on every write and not at all on a
  refused one; an account's version grows whenever its balance moves;
- a transfer between currencies never books a to_amount the client did not send.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db_gateway import accounts, schemas, transactions
from db_gateway.accounts import AccountArchived
from db_gateway.transactions import VersionMismatch
from servicekit.errors import Conflict, NotFound, ProblemError, Unprocessable
from tests.db_gateway.conftest import new_user

Sessions = async_sessionmaker[AsyncSession]
W = TypeVar("W")

# (currency, decimal places, opening balance in minor units)
ACCOUNTS = [("USD", 2, 10_000), ("USD", 2, 0), ("EUR", 2, -5_025), ("JPY", 0, 700), ("KWD", 3, 0)]
STEPS = 20


async def _attempt(
    sessions: Sessions, call: Callable[[AsyncSession], Awaitable[W]]
) -> W | ProblemError:
    """One write in a fresh session, as db-gateway's routes run it: its result,
    or the problem it was refused with."""
    try:
        async with sessions() as session:
            return await call(session)
    except ProblemError as exc:
        return exc


class Unchanged:
    """What an edit that sends nothing answers: the transaction as it is."""


@dataclass
class Tx:
    """What a live transaction means, as the model understands it."""

    type: str
    account_id: uuid.UUID
    amount: Decimal
    to_account_id: uuid.UUID | None
    to_amount: Decimal | None
    version: int


@dataclass
class Model:
    user_id: uuid.UUID
    other_user_id: uuid.UUID
    currency: dict[uuid.UUID, str]
    scale: dict[uuid.UUID, int]
    owner: dict[uuid.UUID, uuid.UUID]
    opening: dict[uuid.UUID, Decimal]
    archived: set[uuid.UUID] = field(default_factory=set)
    live: dict[uuid.UUID, Tx] = field(default_factory=dict)
    deleted: set[uuid.UUID] = field(default_factory=set)
    categories: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    ledger_version: dict[uuid.UUID, int] = field(default_factory=dict)

    def is_exchange(self, tx: Tx) -> bool:
        """A transfer between accounts of two currencies."""
        return (
            tx.to_account_id is not None
            and self.currency[tx.account_id] != self.currency[tx.to_account_id]
        )

    def mine(self) -> list[uuid.UUID]:
        return [a for a, u in self.owner.items() if u == self.user_id]

    def expected_balances(self) -> dict[uuid.UUID, Decimal]:
        balance = dict(self.opening)
        for tx in self.live.values():
            if tx.type == "expense":
                balance[tx.account_id] -= tx.amount
            elif tx.type == "income":
                balance[tx.account_id] += tx.amount
            else:
                assert tx.to_account_id is not None
                balance[tx.account_id] -= tx.amount
                balance[tx.to_account_id] += tx.to_amount or tx.amount
        return balance


# ---------------------------------------------------------------- the database's view


async def _scalar_rows(
    session: AsyncSession, sql: str, **params: object
) -> list[tuple[object, ...]]:
    return [tuple(r) for r in (await session.execute(text(sql), params)).all()]


async def _ledger_versions(session: AsyncSession, users: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        text("SELECT id, ledger_version FROM users WHERE id = ANY(:users)"), {"users": users}
    )
    return {r.id: r.ledger_version for r in rows}


async def _check(sessions: Sessions, model: Model) -> dict[uuid.UUID, tuple[Decimal, int]]:
    """Every invariant, read straight from the tables. Returns each visible
    account's (balance, version)."""
    users = [model.user_id, model.other_user_id]
    async with sessions() as session:
        unbalanced = await _scalar_rows(
            session,
            """SELECT transaction_id, currency, SUM(amount) FROM postings
               WHERE user_id = ANY(:users) GROUP BY transaction_id, currency
               HAVING SUM(amount) <> 0""",
            users=users,
        )
        assert unbalanced == []
        not_zero = await _scalar_rows(
            session,
            """SELECT user_id, currency, SUM(balance) FROM accounts
               WHERE user_id = ANY(:users) GROUP BY user_id, currency HAVING SUM(balance) <> 0""",
            users=users,
        )
        assert not_zero == [], "a user's accounts must sum to zero per currency"
        drift = await _scalar_rows(
            session,
            """SELECT a.id, a.balance, COALESCE(SUM(p.amount), 0)
               FROM accounts a LEFT JOIN postings p ON p.account_id = a.id
               WHERE a.user_id = ANY(:users) GROUP BY a.id
               HAVING a.balance <> COALESCE(SUM(p.amount), 0)""",
            users=users,
        )
        assert drift == [], "stored balance differs from SUM(postings)"
        rows = await session.execute(
            text(
                """SELECT a.id, a.balance, a.version, a.opening_balance,
                          COALESCE(SUM(p.amount) FILTER (WHERE t.type <> 'opening'), 0) AS moved
                   FROM accounts a
                   LEFT JOIN postings p ON p.account_id = a.id
                   LEFT JOIN transactions t ON t.id = p.transaction_id
                   WHERE a.user_id = ANY(:users) AND a.system_role IS NULL
                   GROUP BY a.id"""
            ),
            {"users": users},
        )
        stored = {r.id: (r.balance, r.version, r.opening_balance, r.moved) for r in rows}
        leftovers = await _scalar_rows(
            session,
            """SELECT 'posting', transaction_id FROM postings WHERE transaction_id = ANY(:gone)
               UNION ALL
               SELECT 'allocation', transaction_id FROM allocations
               WHERE transaction_id = ANY(:gone)
               UNION ALL
               SELECT 'transaction', id FROM transactions WHERE id = ANY(:gone)""",
            gone=list(model.deleted),
        )
        assert leftovers == [], "a deleted transaction left rows behind"
        txs = {
            r.id: r
            for r in await session.execute(
                text(
                    """SELECT t.id, t.type, t.account_id, t.to_account_id, t.amount,
                              t.to_amount, t.version,
                              (SELECT COUNT(*) FROM postings p WHERE p.transaction_id = t.id)
                                  AS legs,
                              (SELECT SUM(a.amount) FROM allocations a
                               WHERE a.transaction_id = t.id) AS allocated
                       FROM transactions t
                       WHERE t.user_id = ANY(:users) AND t.type <> 'opening'"""
                ),
                {"users": users},
            )
        }
        versions = await _ledger_versions(session, users)
        reported = {
            a: (
                await accounts.get_account(session=session, user_id=model.owner[a], account_id=a)
            ).balance
            for a in model.owner
        }
    assert versions == model.ledger_version, "a ledger version moved without a write"
    assert set(txs) == set(model.live)
    for tx_id, tx in model.live.items():
        row = txs[tx_id]
        assert (row.type, row.account_id, row.amount, row.version) == (
            tx.type,
            tx.account_id,
            tx.amount,
            tx.version,
        )
        if tx.type == "transfer":
            assert row.to_account_id == tx.to_account_id
            assert row.to_amount == (tx.to_amount or tx.amount)
            assert row.allocated is None
            cross = model.currency[tx.account_id] != model.currency[row.to_account_id]
            assert row.legs == (4 if cross else 2)
        else:
            assert row.allocated == row.amount, "allocations must add up to the amount"
            assert row.legs == 2
    expected = model.expected_balances()
    assert set(stored) == set(expected)
    for account, (balance, _, opening, moved) in stored.items():
        assert opening == model.opening[account]
        assert balance == opening + moved == expected[account] == reported[account], (
            f"balance of {model.currency[account]} account {account}"
        )
    return {a: (s[0], s[1]) for a, s in stored.items()}


# ---------------------------------------------------------------- drawing operations


def _amount(data: st.DataObject, scale: int, *, wrong_scale: bool = False) -> Decimal:
    minor = data.draw(st.integers(1, 10**7), label="minor units")
    if wrong_scale:  # one decimal more than the currency has
        return Decimal(minor * 10 + data.draw(st.integers(1, 9))).scaleb(-(scale + 1))
    return Decimal(minor).scaleb(-scale)


def _split(data: st.DataObject, amount: Decimal, scale: int) -> list[Decimal]:
    minor = int(amount.scaleb(scale))
    if minor < 2:
        return [amount]
    cuts = sorted(
        set(data.draw(st.lists(st.integers(1, minor - 1), min_size=1, max_size=3), label="cuts"))
    )
    bounds = [0, *cuts, minor]
    return [Decimal(b - a).scaleb(-scale) for a, b in itertools.pairwise(bounds)]


@dataclass
class Draft:
    """A whole transaction as drawn, and the refusals it must meet (none: it must pass)."""

    fields: dict[str, object]
    refusals: set[type[ProblemError]]


def _draw_draft(data: st.DataObject, model: Model) -> Draft:
    mine = model.mine()
    kind = data.draw(st.sampled_from(["expense", "income", "transfer"]), label="type")
    source = data.draw(st.sampled_from(mine), label="account")
    scale = model.scale[source]
    refusals: set[type[ProblemError]] = set()
    wrong_scale = scale < 4 and data.draw(st.integers(0, 9), label="fault") == 0
    if wrong_scale:
        refusals.add(Unprocessable)
    amount = _amount(data, scale, wrong_scale=wrong_scale)
    fields: dict[str, object] = {"type": kind, "account_id": source, "amount": amount}
    if kind == "transfer":
        others = [a for a in model.owner if a != source]
        alike = [a for a in others if model.currency[a] == model.currency[source]]
        same_currency: bool = bool(alike) and data.draw(st.booleans(), label="same currency")
        if same_currency:
            others = alike
        target = data.draw(st.sampled_from(others), label="to_account")
        if model.owner[target] != model.user_id:
            refusals.add(NotFound)
        fields |= {"to_account_id": target, "to_amount": None, "category_id": None, "splits": []}
        if model.currency[target] != model.currency[source]:
            fields["to_amount"] = _amount(data, model.scale[target])
        elif data.draw(st.booleans(), label="explicit to_amount"):
            fields["to_amount"] = amount
        touched = {source, target}
    else:
        categories = model.categories[kind]
        fields |= {"category_id": None, "splits": []}
        how = data.draw(st.sampled_from(["none", "category", "splits"]), label="categorised")
        if how == "category":
            fields["category_id"] = data.draw(st.sampled_from(categories))
        elif how == "splits" and not wrong_scale:
            fields["splits"] = [
                {"category_id": data.draw(st.sampled_from(categories)), "amount": part}
                for part in _split(data, amount, scale)
            ]
        touched = {source}
    if touched & model.archived and NotFound not in refusals:
        refusals.add(AccountArchived)
    return Draft(fields, refusals)


def _tx_from(read: schemas.TransactionRead) -> Tx:
    return Tx(
        type=read.type,
        account_id=read.account_id,
        amount=read.amount,
        to_account_id=read.to_account_id,
        to_amount=read.to_amount,
        version=read.version,
    )


# ---------------------------------------------------------------- the steps


async def _post(
    sessions: Sessions, data: st.DataObject, model: Model
) -> schemas.TransactionWritten | type[ProblemError]:
    draft = _draw_draft(data, model)
    post = schemas.TransactionPost.model_validate(
        {**draft.fields, "date": dt.date(2026, 11, data.draw(st.integers(1, 30)))}
    )
    written = await _attempt(
        sessions,
        lambda session: transactions.post_transaction(
            session=session, user_id=model.user_id, draft=post
        ),
    )
    if isinstance(written, ProblemError):
        assert type(written) in draft.refusals, f"{written!r} refused {draft.fields}"
        return type(written)
    assert not draft.refusals, f"{draft.fields} should have been refused"
    assert written.transaction is not None
    tx = _tx_from(written.transaction)
    assert (tx.type, tx.account_id, tx.amount) == (post.type, post.account_id, post.amount)
    model.live[written.transaction.id] = tx
    return written


async def _edit(
    sessions: Sessions, data: st.DataObject, model: Model
) -> schemas.TransactionWritten | type[ProblemError] | type[Unchanged]:
    how = data.draw(st.sampled_from(["move", "full", "one field", "some fields"]), label="edit")
    transfers = [t for t, tx in model.live.items() if tx.type == "transfer"]
    candidates = transfers if how == "move" and transfers else list(model.live)
    tx_id = data.draw(st.sampled_from(candidates), label="edited")
    current = model.live[tx_id]
    draft = _draw_draft(data, model)
    full = how == "full"
    if full:
        sent = draft.fields
    elif how == "move":  # to another of the user's accounts, and nothing else
        elsewhere = [
            a for a in model.mine() if model.currency[a] != model.currency[current.account_id]
        ]
        if not elsewhere or data.draw(st.booleans(), label="same currency"):
            elsewhere = model.mine()
        sent = {"account_id": data.draw(st.sampled_from(elsewhere), label="moved to")}
    else:  # the merge with what is stored decides, and may refuse it
        names = (
            {data.draw(st.sampled_from(sorted(draft.fields)), label="the field")}
            if how == "one field"
            else data.draw(st.sets(st.sampled_from(sorted(draft.fields)), min_size=1))
        )
        sent = {k: v for k, v in draft.fields.items() if k in names}
    stale = data.draw(st.integers(0, 7), label="stale if_match") == 0
    patch = schemas.TransactionPatch.model_validate(
        {**sent, "if_match": current.version - 1 if stale else current.version}
    )
    old_accounts = {current.account_id, *([current.to_account_id] if current.to_account_id else [])}
    refusals = set(draft.refusals)
    if old_accounts & model.archived:
        refusals.add(AccountArchived)
    written = await _attempt(
        sessions,
        lambda session: transactions.update_transaction(
            session=session, user_id=model.user_id, transaction_id=tx_id, patch=patch
        ),
    )
    if isinstance(written, ProblemError):
        if stale:
            assert isinstance(written, VersionMismatch), written
        elif full:
            assert type(written) in refusals, f"{written!r} refused {sent} on {current}"
        else:
            assert isinstance(written, Unprocessable | NotFound | AccountArchived), written
        return type(written)
    assert not stale, "a stale If-Match must be refused"
    assert written.transaction is not None
    if not sent:  # a field this type has not: nothing sent, nothing written
        assert _tx_from(written.transaction) == current
        assert written.ledger_version == model.ledger_version[model.user_id]
        assert written.balances == []
        return Unchanged
    if full:
        assert not refusals, f"{sent} on {current} should have been refused"
    for name, value in sent.items():
        if name == "splits":
            value = [(s["category_id"], s["amount"]) for s in value]  # type: ignore[attr-defined]
            assert [(s.category_id, s.amount) for s in written.transaction.splits] == value
        elif name != "to_amount" or value is not None:
            assert getattr(written.transaction, name) == value, name
    assert written.transaction.version == current.version + 1
    edited = _tx_from(written.transaction)
    if model.is_exchange(edited) and sent.get("to_amount") is None:
        # what arrived in another currency is never made up: the client sent
        # it in this edit, or the transfer was already this exchange
        assert model.is_exchange(current), f"{sent} on {current} booked a rate nobody sent"
        assert current.to_account_id is not None
        assert edited.to_account_id is not None
        assert model.currency[current.to_account_id] == model.currency[edited.to_account_id]
        assert edited.to_amount == current.to_amount
    model.live[tx_id] = edited
    return written


async def _delete(
    sessions: Sessions, data: st.DataObject, model: Model
) -> schemas.TransactionWritten | type[ProblemError]:
    tx_id = data.draw(st.sampled_from(list(model.live)), label="deleted")
    current = model.live[tx_id]
    stale = data.draw(st.integers(0, 7), label="stale if_match") == 0
    touched = {current.account_id, *([current.to_account_id] if current.to_account_id else [])}
    written = await _attempt(
        sessions,
        lambda session: transactions.delete_transaction(
            session=session,
            user_id=model.user_id,
            transaction_id=tx_id,
            if_match=current.version + 1 if stale else current.version,
        ),
    )
    if isinstance(written, ProblemError):
        assert isinstance(written, VersionMismatch if stale else AccountArchived), written
        assert stale or touched & model.archived
        return type(written)
    assert not stale
    assert not touched & model.archived
    del model.live[tx_id]
    model.deleted.add(tx_id)
    return written


async def _opening(
    sessions: Sessions, data: st.DataObject, model: Model
) -> schemas.AccountWritten | type[ProblemError]:
    account = data.draw(st.sampled_from(list(model.owner)), label="opened")
    scale = model.scale[account]
    amount = Decimal(data.draw(st.integers(-(10**6), 10**6), label="opening")).scaleb(-scale)
    if data.draw(st.integers(0, 5), label="same opening") == 0:
        amount = model.opening[account]
    written = await _attempt(
        sessions,
        lambda session: accounts.update_account(
            session=session,
            user_id=model.owner[account],
            account_id=account,
            change=schemas.AccountUpdate(opening_balance=amount),
        ),
    )
    if isinstance(written, ProblemError):
        assert isinstance(written, AccountArchived), written
        assert account in model.archived
        assert amount != model.opening[account]
        return type(written)
    assert account not in model.archived or amount == model.opening[account]
    model.opening[account] = amount
    return written


async def _close(
    sessions: Sessions, data: st.DataObject, model: Model
) -> schemas.LedgerVersion | type[ProblemError]:
    """Delete an account: refused while a transaction uses it; otherwise its
    opening balance leaves the hidden equity account with it."""
    account = data.draw(st.sampled_from(model.mine()), label="closed")
    used = any(account in (tx.account_id, tx.to_account_id) for tx in model.live.values())
    written = await _attempt(
        sessions,
        lambda session: accounts.delete_account(
            session=session, user_id=model.user_id, account_id=account
        ),
    )
    if isinstance(written, ProblemError):
        assert used, written
        assert isinstance(written, Conflict), written
        assert written.code == "account_has_transactions"
        return type(written)
    assert not used, "an account in use was deleted"
    del model.owner[account], model.currency[account], model.scale[account]
    del model.opening[account]
    model.archived.discard(account)
    return written


async def _archive(sessions: Sessions, data: st.DataObject, model: Model) -> schemas.AccountWritten:
    account = data.draw(st.sampled_from(model.mine()), label="archive toggled")
    archived = account not in model.archived
    async with sessions() as session:
        written = await accounts.update_account(
            session=session,
            user_id=model.user_id,
            account_id=account,
            change=schemas.AccountUpdate(archived=archived),
        )
    assert written.account.archived is archived
    (model.archived.add if archived else model.archived.discard)(account)
    return written


async def _setup(sessions: Sessions) -> Model:
    user_id, other_user_id = await new_user(sessions), await new_user(sessions)
    model = Model(user_id, other_user_id, {}, {}, {}, {})
    for owner, specs in ((user_id, ACCOUNTS), (other_user_id, ACCOUNTS[:1])):
        for currency, scale, opening in specs:
            async with sessions() as session:
                written = await accounts.create_account(
                    session=session,
                    user_id=owner,
                    draft=schemas.AccountCreate(
                        name=currency,
                        type="checking",
                        currency=currency,
                        opening_balance=Decimal(opening).scaleb(-scale),
                    ),
                )
            account = written.account.id
            model.currency[account], model.scale[account] = currency, scale
            model.owner[account], model.opening[account] = owner, written.account.opening_balance
    async with sessions() as session:
        for kind in ("expense", "income"):
            rows = await session.execute(
                text("SELECT id FROM categories WHERE user_id = :u AND kind = :k ORDER BY name"),
                {"u": user_id, "k": kind},
            )
            model.categories[kind] = [r.id for r in rows][:3]
        model.ledger_version = await _ledger_versions(session, [user_id, other_user_id])
    assert all(model.categories.values()), "a new user starts with categories of both kinds"
    return model


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
async def test_random_writes_keep_the_ledger_exact(sessions: Sessions, data: st.DataObject) -> None:
    model = await _setup(sessions)
    before = await _check(sessions, model)
    for _ in range(STEPS):
        # weighted: mostly posts and edits; archiving (and deleting accounts)
        # now and then, so that refusals happen without blocking most writes
        choices = ["post"] * 4 + ["opening", "archive"]
        if len(model.mine()) > 3:
            choices.append("close")
        if model.live:
            choices += ["edit"] * 4 + ["delete"] * 2
        step = data.draw(st.sampled_from(choices), label="step")
        operation = {
            "post": _post,
            "edit": _edit,
            "delete": _delete,
            "opening": _opening,
            "archive": _archive,
            "close": _close,
        }[step]
        writer = model.user_id
        result = await operation(sessions, data, model)
        event(step if not isinstance(result, type) else f"{step}: {result.__name__}")
        if isinstance(result, schemas.AccountWritten):
            writer = model.owner[result.account.id]
        if isinstance(result, type):  # refused, or nothing to do: nothing was written
            after = await _check(sessions, model)
            assert after == before, f"a refused {step} changed the ledger"
            continue
        model.ledger_version[writer] += 1
        assert result.ledger_version == model.ledger_version[writer], "a write must bump it by 1"
        after = await _check(sessions, model)
        moved = {a for a in after if after[a][0] != before[a][0]}
        for account in moved:
            assert after[account][1] > before[account][1], "a balance moved, its version did not"
        if isinstance(result, schemas.TransactionWritten):
            returned = {b.account_id: (b.balance, b.version) for b in result.balances}
            assert returned == {a: after[a] for a in moved}, "the write reported other balances"
        before = after


async def test_moving_a_transfer_across_currencies_needs_what_arrived(sessions: Sessions) -> None:
    """Found by the property above: a same-currency transfer's to_amount is
    derived from its amount, so moving its source to an account of another
    currency must ask for what arrived, not book the old amount at 1:1; and
    moving it back makes it a one-currency transfer again."""
    user_id = await new_user(sessions)
    ids = []
    for currency in ("USD", "USD", "EUR"):
        async with sessions() as session:
            written = await accounts.create_account(
                session=session,
                user_id=user_id,
                draft=schemas.AccountCreate(name=currency, type="checking", currency=currency),
            )
        ids.append(written.account.id)
    usd, other_usd, eur = ids
    async with sessions() as session:
        posted = await transactions.post_transaction(
            session=session,
            user_id=user_id,
            draft=schemas.TransactionPost(
                type="transfer",
                account_id=usd,
                to_account_id=other_usd,
                amount=Decimal("100.00"),
                date=dt.date(2026, 11, 1),
            ),
        )
    assert posted.transaction is not None
    tx_id = posted.transaction.id

    refused = await _attempt(
        sessions,
        lambda session: transactions.update_transaction(
            session=session,
            user_id=user_id,
            transaction_id=tx_id,
            patch=schemas.TransactionPatch(account_id=eur),
        ),
    )
    assert isinstance(refused, Unprocessable), refused
    assert refused.errors is not None
    assert [e["field"] for e in refused.errors] == ["to_amount"]

    async with sessions() as session:
        moved = await transactions.update_transaction(
            session=session,
            user_id=user_id,
            transaction_id=tx_id,
            patch=schemas.TransactionPatch(account_id=eur, to_amount=Decimal("108.30")),
        )
    assert moved.transaction is not None
    assert (moved.transaction.currency, moved.transaction.to_currency) == ("EUR", "USD")
    assert moved.transaction.to_amount == Decimal("108.30")
    balances = {b.account_id: b.balance for b in moved.balances}
    assert balances == {usd: Decimal("0.00"), eur: Decimal("-100.00"), other_usd: Decimal("108.30")}

    async with sessions() as session:  # and back: one currency again, the amount arrives
        back = await transactions.update_transaction(
            session=session,
            user_id=user_id,
            transaction_id=tx_id,
            patch=schemas.TransactionPatch(account_id=usd),
        )
    assert back.transaction is not None
    assert back.transaction.to_amount == back.transaction.amount == Decimal("100.00")
