"""indexes for the transaction list's filters: text, tag, amount

A page filtered by `q` was an unindexed `ILIKE '%…%'` over the user's whole
history, and `tag` used an index of every user's tags. With these, each filter
has an index that starts with the user: trigram GIN indexes (pg_trgm) on the
description and the notes answer a substring search, a GIN index (btree_gin
for the uuid) on (user_id, tags) a tag, a b-tree on (user_id, amount) an
amount range. db-gateway plans a filtered page for the values it carries
(db_gateway.transactions.page_json), so Postgres picks per request between
these (few matches) and walking the user's newest transactions (many).

pg_trgm and btree_gin are trusted extensions: the database's owner, which
runs the migrations, may create them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE EXTENSION IF NOT EXISTS btree_gin",
    "CREATE INDEX ix_transactions_user_id_description_trgm"
    " ON transactions USING gin (user_id, description gin_trgm_ops)",
    "CREATE INDEX ix_transactions_user_id_notes_trgm"
    " ON transactions USING gin (user_id, notes gin_trgm_ops)",
    "DROP INDEX ix_transactions_tags",
    "CREATE INDEX ix_transactions_user_id_tags ON transactions USING gin (user_id, tags)",
    "CREATE INDEX ix_transactions_user_id_amount ON transactions (user_id, amount)",
]

DOWNGRADE = [
    "DROP INDEX ix_transactions_user_id_amount",
    "DROP INDEX ix_transactions_user_id_tags",
    "CREATE INDEX ix_transactions_tags ON transactions USING gin (tags)",
    "DROP INDEX ix_transactions_user_id_notes_trgm",
    "DROP INDEX ix_transactions_user_id_description_trgm",
    "DROP EXTENSION IF EXISTS btree_gin",
    "DROP EXTENSION IF EXISTS pg_trgm",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
