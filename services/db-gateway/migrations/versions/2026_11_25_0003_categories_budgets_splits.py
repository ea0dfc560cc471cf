"""the full ledger: categories, budgets, splits (allocations), tags, notes,
cross-currency transfers, opening balances, and a per-user ledger version

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENTS = [
    # Bumped by every write to a user's ledger, in the same DB transaction: the
    # version of everything the dashboard shows, and (being one row per user)
    # the lock every such write takes first, so a user's writes never deadlock.
    "ALTER TABLE users ADD COLUMN ledger_version bigint NOT NULL DEFAULT 0",
    # --- accounts: opening balances, and two more kinds of hidden account:
    # 'equity' is the other side of opening balances, 'exchange' the per-currency
    # clearing account that lets a cross-currency transfer balance in each currency.
    "ALTER TABLE accounts DROP CONSTRAINT accounts_system_role_check",
    """
    ALTER TABLE accounts ADD CONSTRAINT ck_accounts_system_role
        CHECK (system_role IN ('income', 'expense', 'exchange', 'equity'))
    """,
    "ALTER TABLE accounts ADD COLUMN opening_balance numeric(28, 4) NOT NULL DEFAULT 0",
    """
    ALTER TABLE accounts ADD CONSTRAINT ck_accounts_system_opening
        CHECK (system_role IS NULL OR opening_balance = 0)
    """,
    # --- categories: two levels (a parent and its children), of one kind each
    """
    CREATE TABLE categories (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name varchar(100) NOT NULL,
        kind varchar(16) NOT NULL CHECK (kind IN ('expense', 'income')),
        parent_id uuid,
        seq bigint GENERATED ALWAYS AS IDENTITY,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_categories_id_user_id_kind UNIQUE (id, user_id, kind),
        -- a parent belongs to the same user and is of the same kind
        CONSTRAINT fk_categories_parent FOREIGN KEY (parent_id, user_id, kind)
            REFERENCES categories (id, user_id, kind),
        CONSTRAINT ck_categories_not_own_parent CHECK (parent_id <> id)
    )
    """,
    """
    CREATE UNIQUE INDEX uq_categories_name ON categories
        (user_id, kind, COALESCE(parent_id, '00000000-0000-0000-0000-000000000000'), lower(name))
    """,
    "CREATE INDEX ix_categories_user_id_seq ON categories (user_id, seq)",
    "CREATE INDEX ix_categories_parent_id ON categories (parent_id) WHERE parent_id IS NOT NULL",
    # --- transactions: category, cross-currency transfers, notes, tags, splits
    "ALTER TABLE transactions DROP CONSTRAINT transactions_type_check",
    """
    ALTER TABLE transactions ADD CONSTRAINT ck_transactions_type
        CHECK (type IN ('expense', 'income', 'transfer', 'opening'))
    """,
    """
    ALTER TABLE transactions
        ADD COLUMN category_id uuid,
        ADD COLUMN to_amount numeric(28, 4) CHECK (to_amount > 0),
        ADD COLUMN to_currency char(3),
        ADD COLUMN notes varchar(2000) NOT NULL DEFAULT '',
        ADD COLUMN tags varchar(50)[] NOT NULL DEFAULT '{}',
        ADD COLUMN has_splits boolean NOT NULL DEFAULT false
    """,
    "UPDATE transactions SET to_amount = amount, to_currency = currency"
    " WHERE to_account_id IS NOT NULL",
    "ALTER TABLE transactions DROP CONSTRAINT fk_transactions_to_account",
    """
    ALTER TABLE transactions ADD CONSTRAINT fk_transactions_to_account
        FOREIGN KEY (to_account_id, user_id, to_currency)
        REFERENCES accounts (id, user_id, currency)
    """,
    """
    ALTER TABLE transactions ADD CONSTRAINT ck_transactions_transfer_amount CHECK (
        (to_account_id IS NULL) = (to_amount IS NULL)
        AND (to_account_id IS NULL) = (to_currency IS NULL)
        AND (to_currency IS DISTINCT FROM currency OR to_amount = amount))
    """,
    # the category's kind is the transaction's type: an expense cannot be filed
    # under an income category (transfers and opening balances have none)
    "ALTER TABLE transactions ADD CONSTRAINT uq_transactions_id_user_id_type"
    " UNIQUE (id, user_id, type)",
    """
    ALTER TABLE transactions ADD CONSTRAINT fk_transactions_category
        FOREIGN KEY (category_id, user_id, type) REFERENCES categories (id, user_id, kind)
    """,
    """
    ALTER TABLE transactions ADD CONSTRAINT ck_transactions_category CHECK (
        (category_id IS NULL OR type IN ('expense', 'income'))
        AND NOT (has_splits AND (category_id IS NOT NULL OR type NOT IN ('expense', 'income'))))
    """,
    "CREATE INDEX ix_transactions_tags ON transactions USING gin (tags)",
    "CREATE INDEX ix_transactions_account_id ON transactions (account_id, date DESC, seq DESC)",
    """
    CREATE INDEX ix_transactions_to_account_id ON transactions (to_account_id, date DESC, seq DESC)
        WHERE to_account_id IS NOT NULL
    """,
    # --- allocations: how an expense or income divides among categories. One row
    # when it is not split (its category, possibly none), one per split otherwise;
    # reports and budgets read only these.
    """
    CREATE TABLE allocations (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        transaction_id uuid NOT NULL,
        user_id uuid NOT NULL,
        kind varchar(16) NOT NULL CHECK (kind IN ('expense', 'income')),
        category_id uuid,
        amount numeric(28, 4) NOT NULL CHECK (amount > 0),
        description varchar(500) NOT NULL DEFAULT '',
        position smallint NOT NULL CHECK (position >= 0),
        CONSTRAINT fk_allocations_transaction FOREIGN KEY (transaction_id, user_id, kind)
            REFERENCES transactions (id, user_id, type) ON DELETE CASCADE,
        CONSTRAINT fk_allocations_category FOREIGN KEY (category_id, user_id, kind)
            REFERENCES categories (id, user_id, kind),
        CONSTRAINT uq_allocations_position UNIQUE (transaction_id, position)
    )
    """,
    "CREATE INDEX ix_allocations_category_id ON allocations (category_id)",
    """
    INSERT INTO allocations (transaction_id, user_id, kind, amount, position)
        SELECT id, user_id, type, amount, 0 FROM transactions WHERE type IN ('expense', 'income')
    """,
    # --- budgets: a monthly amount per expense category and currency
    """
    CREATE TABLE budgets (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        category_id uuid NOT NULL,
        kind varchar(16) NOT NULL DEFAULT 'expense' CHECK (kind = 'expense'),
        amount numeric(28, 4) NOT NULL CHECK (amount > 0),
        currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        period varchar(16) NOT NULL DEFAULT 'monthly' CHECK (period = 'monthly'),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        -- a budget goes with its category
        CONSTRAINT fk_budgets_category FOREIGN KEY (category_id, user_id, kind)
            REFERENCES categories (id, user_id, kind) ON DELETE CASCADE,
        CONSTRAINT uq_budgets_category_currency UNIQUE (user_id, category_id, currency)
    )
    """,
    "CREATE INDEX ix_budgets_user_id_seq ON budgets (user_id, seq)",
    # --- double entry, extended: besides postings summing to zero per currency,
    # an expense or income is allocated exactly: its allocations sum to its amount.
    """
    CREATE OR REPLACE FUNCTION check_transaction_balanced() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        tx uuid;
        tx_row record;
        unbalanced record;
        postings_count integer;
        allocated numeric;
    BEGIN
        IF TG_TABLE_NAME = 'transactions' THEN
            tx := NEW.id;
        ELSIF TG_OP = 'DELETE' THEN
            tx := OLD.transaction_id;
        ELSE
            tx := NEW.transaction_id;
        END IF;
        SELECT type, amount INTO tx_row FROM transactions WHERE id = tx;
        IF NOT FOUND THEN
            RETURN NULL;  -- the whole transaction was deleted
        END IF;
        SELECT count(*) INTO postings_count FROM postings WHERE transaction_id = tx;
        IF postings_count < 2 THEN
            RAISE EXCEPTION 'transaction % has % postings; double entry needs at least 2',
                tx, postings_count USING ERRCODE = 'check_violation';
        END IF;
        SELECT currency, sum(amount) AS total INTO unbalanced
            FROM postings WHERE transaction_id = tx
            GROUP BY currency HAVING sum(amount) <> 0 LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'postings of transaction % do not sum to zero in % (off by %)',
                tx, unbalanced.currency, unbalanced.total USING ERRCODE = 'check_violation';
        END IF;
        SELECT COALESCE(sum(amount), 0) INTO allocated FROM allocations WHERE transaction_id = tx;
        IF tx_row.type IN ('expense', 'income') AND allocated <> tx_row.amount THEN
            RAISE EXCEPTION 'allocations of transaction % sum to %, not to its amount %',
                tx, allocated, tx_row.amount USING ERRCODE = 'check_violation';
        ELSIF tx_row.type NOT IN ('expense', 'income') AND allocated <> 0 THEN
            RAISE EXCEPTION 'transaction % of type % cannot have allocations',
                tx, tx_row.type USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$
    """,
    "DROP TRIGGER transactions_balanced ON transactions",
    """
    CREATE CONSTRAINT TRIGGER transactions_balanced
        AFTER INSERT OR UPDATE ON transactions
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION check_transaction_balanced()
    """,
    """
    CREATE CONSTRAINT TRIGGER allocations_balanced
        AFTER INSERT OR UPDATE OR DELETE ON allocations
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION check_transaction_balanced()
    """,
    # --- the default categories every user starts with (new users get them from
    # db-gateway at registration; this gives them to users registered before)
    """
    CREATE FUNCTION create_default_categories(owner uuid) RETURNS void
    LANGUAGE plpgsql AS $$
    DECLARE
        entry record;
        parent uuid;
    BEGIN
        FOR entry IN SELECT * FROM (VALUES
            ('expense', 'Housing', ARRAY['Rent', 'Utilities', 'Maintenance']),
            ('expense', 'Food', ARRAY['Groceries', 'Restaurants']),
            ('expense', 'Transport', ARRAY['Fuel', 'Public transport', 'Taxi']),
            ('expense', 'Shopping', ARRAY['Clothing', 'Electronics']),
            ('expense', 'Health', ARRAY[]::text[]),
            ('expense', 'Entertainment', ARRAY['Subscriptions']),
            ('expense', 'Travel', ARRAY[]::text[]),
            ('expense', 'Education', ARRAY[]::text[]),
            ('expense', 'Bills & fees', ARRAY['Phone & internet', 'Insurance', 'Bank fees']),
            ('expense', 'Gifts & donations', ARRAY[]::text[]),
            ('expense', 'Personal care', ARRAY[]::text[]),
            ('expense', 'Other expenses', ARRAY[]::text[]),
            ('income', 'Salary', ARRAY[]::text[]),
            ('income', 'Business', ARRAY[]::text[]),
            ('income', 'Investments', ARRAY['Interest', 'Dividends']),
            ('income', 'Gifts received', ARRAY[]::text[]),
            ('income', 'Refunds', ARRAY[]::text[]),
            ('income', 'Other income', ARRAY[]::text[])
        ) AS d (kind, name, children)
        LOOP
            parent := gen_random_uuid();
            INSERT INTO categories (id, user_id, name, kind)
                VALUES (parent, owner, entry.name, entry.kind);
            INSERT INTO categories (id, user_id, name, kind, parent_id)
                SELECT gen_random_uuid(), owner, child, entry.kind, parent
                FROM unnest(entry.children) AS child;
        END LOOP;
    END $$
    """,
    "SELECT create_default_categories(id) FROM users",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    # Going back would drop what 0002 cannot hold (opening balances, exchange
    # accounts, splits, budgets): refused rather than lose money silently.
    raise NotImplementedError("0003 is not reversible: restore from a backup instead")
