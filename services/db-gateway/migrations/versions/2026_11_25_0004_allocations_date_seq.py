"""allocations carry their transaction's date and seq, so a category-filtered
page reads each category's newest allocations straight from one index

A page of `GET /services/transactions?category_id=...` is the newest 50
transactions with an allocation in the category or its subcategories. With the
order (date, seq) on the allocation itself, each category of the subtree gives
its newest allocations from ix_allocations_user_id_category_id_date_seq and the
page is the newest 50 of those: work bounded by the page size, whatever the
history size or the planner's statistics.

The copies cannot drift: the foreign key to the transaction now includes date
and seq, and follows a change of them (ON UPDATE CASCADE).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENTS = [
    "ALTER TABLE allocations ADD COLUMN date date, ADD COLUMN seq bigint",
    # The backfill moves no amount: without the deferred balance check, which
    # would queue an event per row and block the ALTERs after it.
    "ALTER TABLE allocations DISABLE TRIGGER allocations_balanced",
    """
    UPDATE allocations a SET date = t.date, seq = t.seq
        FROM transactions t WHERE t.id = a.transaction_id
    """,
    "ALTER TABLE allocations ENABLE TRIGGER allocations_balanced",
    "ALTER TABLE allocations ALTER COLUMN date SET NOT NULL, ALTER COLUMN seq SET NOT NULL",
    # the wider key replaces (id, user_id, type): the same one index per
    # transaction, now also what keeps the allocations' copies exact
    "ALTER TABLE transactions ADD CONSTRAINT uq_transactions_id_user_id_type_date_seq"
    " UNIQUE (id, user_id, type, date, seq)",
    "ALTER TABLE allocations DROP CONSTRAINT fk_allocations_transaction",
    """
    ALTER TABLE allocations ADD CONSTRAINT fk_allocations_transaction
        FOREIGN KEY (transaction_id, user_id, kind, date, seq)
        REFERENCES transactions (id, user_id, type, date, seq)
        ON DELETE CASCADE ON UPDATE CASCADE
    """,
    "ALTER TABLE transactions DROP CONSTRAINT uq_transactions_id_user_id_type",
    """
    CREATE INDEX ix_allocations_user_id_category_id_date_seq
        ON allocations (user_id, category_id, date DESC, seq DESC) INCLUDE (transaction_id)
    """,
    "ANALYZE allocations",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


# The copies are derived data: dropping them loses nothing, and an upgrade
# backfills them again.
DOWNGRADE = [
    "DROP INDEX ix_allocations_user_id_category_id_date_seq",
    "ALTER TABLE transactions ADD CONSTRAINT uq_transactions_id_user_id_type"
    " UNIQUE (id, user_id, type)",
    "ALTER TABLE allocations DROP CONSTRAINT fk_allocations_transaction",
    """
    ALTER TABLE allocations ADD CONSTRAINT fk_allocations_transaction
        FOREIGN KEY (transaction_id, user_id, kind)
        REFERENCES transactions (id, user_id, type) ON DELETE CASCADE
    """,
    "ALTER TABLE transactions DROP CONSTRAINT uq_transactions_id_user_id_type_date_seq",
    "ALTER TABLE allocations DROP COLUMN date, DROP COLUMN seq",
]


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
