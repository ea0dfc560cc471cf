"""initial schema: users, sessions, refresh tokens, accounts, transactions, postings,
idempotency records; the database enforces double entry.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# asyncpg runs one statement per call, so the schema is a list of statements.
STATEMENTS = [
    """
        CREATE TABLE users (
            id uuid PRIMARY KEY,
            email varchar(320) NOT NULL,
            password_hash text NOT NULL,
            display_name varchar(100),
            default_currency char(3) NOT NULL DEFAULT 'USD' CHECK (default_currency ~ '^[A-Z]{3}$'),
            timezone varchar(64) NOT NULL DEFAULT 'UTC',
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
    """,
    """
        CREATE UNIQUE INDEX uq_users_email ON users (lower(email))
    """,
    """
        CREATE TABLE sessions (
            id uuid PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            user_agent varchar(512),
            created_at timestamptz NOT NULL DEFAULT now(),
            last_used_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            revoked_at timestamptz
        )
    """,
    """
        CREATE INDEX ix_sessions_user_id ON sessions (user_id)
    """,
    """
        CREATE TABLE refresh_tokens (
            token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
            session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now(),
            used_at timestamptz
        )
    """,
    """
        CREATE INDEX ix_refresh_tokens_session_id ON refresh_tokens (session_id)
    """,
    """
        CREATE TABLE accounts (
            id uuid PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            system_role varchar(16) CHECK (system_role IN ('income', 'expense')),
            name varchar(100) NOT NULL,
            type varchar(20) NOT NULL CHECK (type IN
                ('checking', 'savings', 'cash', 'credit_card', 'loan', 'investment', 'other')),
            currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            balance numeric(28, 4) NOT NULL DEFAULT 0,
            version bigint NOT NULL DEFAULT 1,
            archived boolean NOT NULL DEFAULT false,
            seq bigint GENERATED ALWAYS AS IDENTITY,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            -- targets of the composite foreign keys below: a posting or transaction
            -- can only touch an account of the same user and currency
            CONSTRAINT uq_accounts_id_user_id UNIQUE (id, user_id),
            CONSTRAINT uq_accounts_id_user_id_currency UNIQUE (id, user_id, currency)
        )
    """,
    """
        CREATE INDEX ix_accounts_user_id_seq ON accounts (user_id, seq) WHERE system_role IS NULL
    """,
    """
        -- one hidden income and one expense counter-account per user and currency
        CREATE UNIQUE INDEX uq_accounts_system_role ON accounts (user_id, system_role, currency)
            WHERE system_role IS NOT NULL
    """,
    """
        CREATE TABLE transactions (
            id uuid PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            type varchar(16) NOT NULL CHECK (type IN ('expense', 'income', 'transfer')),
            account_id uuid NOT NULL,
            to_account_id uuid,
            amount numeric(28, 4) NOT NULL CHECK (amount > 0),
            currency char(3) NOT NULL,
            date date NOT NULL,
            description varchar(500) NOT NULL DEFAULT '',
            version integer NOT NULL DEFAULT 1,
            seq bigint GENERATED ALWAYS AS IDENTITY,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_transactions_id_user_id UNIQUE (id, user_id),
            CONSTRAINT fk_transactions_account FOREIGN KEY (account_id, user_id, currency)
                REFERENCES accounts (id, user_id, currency),
            CONSTRAINT fk_transactions_to_account FOREIGN KEY (to_account_id, user_id)
                REFERENCES accounts (id, user_id),
            CONSTRAINT ck_transactions_transfer_target CHECK (
                (type = 'transfer') = (to_account_id IS NOT NULL)
                AND to_account_id IS DISTINCT FROM account_id)
        )
    """,
    """
        -- newest-first keyset pagination: ORDER BY date DESC, seq DESC
        CREATE INDEX ix_transactions_user_id_date_seq ON transactions (user_id, date DESC, seq DESC)
    """,
    """
        CREATE TABLE postings (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            transaction_id uuid NOT NULL,
            user_id uuid NOT NULL,
            account_id uuid NOT NULL,
            currency char(3) NOT NULL,
            amount numeric(28, 4) NOT NULL CHECK (amount <> 0),
            CONSTRAINT fk_postings_transaction FOREIGN KEY (transaction_id, user_id)
                REFERENCES transactions (id, user_id) ON DELETE CASCADE,
            CONSTRAINT fk_postings_account FOREIGN KEY (account_id, user_id, currency)
                REFERENCES accounts (id, user_id, currency)
        )
    """,
    """
        CREATE INDEX ix_postings_transaction_id ON postings (transaction_id)
    """,
    """
        CREATE INDEX ix_postings_account_id ON postings (account_id)
    """,
    """
        CREATE TABLE idempotency_records (
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            key varchar(255) NOT NULL,
            request_hash bytea NOT NULL CHECK (length(request_hash) = 32),
            transaction_id uuid NOT NULL,
            response jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (user_id, key)
        )
    """,
    """
        -- Double entry, enforced at commit: every transaction has at least two
        -- postings and they sum to zero in each currency. Deferred, so the rows
        -- of one transaction can be written in any order before the check runs.
        CREATE FUNCTION check_transaction_balanced() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            tx uuid;
            unbalanced record;
            postings_count integer;
        BEGIN
            IF TG_TABLE_NAME = 'transactions' THEN
                tx := NEW.id;
            ELSIF TG_OP = 'DELETE' THEN
                tx := OLD.transaction_id;
            ELSE
                tx := NEW.transaction_id;
            END IF;
            IF NOT EXISTS (SELECT 1 FROM transactions WHERE id = tx) THEN
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
            RETURN NULL;
        END $$
    """,
    """
        CREATE CONSTRAINT TRIGGER postings_balanced
            AFTER INSERT OR UPDATE OR DELETE ON postings
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION check_transaction_balanced()
    """,
    """
        CREATE CONSTRAINT TRIGGER transactions_balanced
            AFTER INSERT ON transactions
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION check_transaction_balanced()
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP TABLE idempotency_records, postings, transactions, accounts,"
        " refresh_tokens, sessions, users CASCADE"
    )
    op.execute("DROP FUNCTION check_transaction_balanced()")
