"""revocation log and login throttle counters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENTS = [
    # Every revoked session, kept for a day after revocation (access tokens live
    # minutes). No foreign key: the entry must outlive a deleted user's sessions,
    # so their tokens stay refused; it holds only a random session id.
    """
    CREATE TABLE revoked_sessions (
        session_id uuid PRIMARY KEY,
        revoked_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX ix_revoked_sessions_revoked_at ON revoked_sessions (revoked_at)",
    # Failed-login counters per account (a hash of the email, so unknown emails
    # are counted without being stored) and per client IP, in fixed windows.
    """
    CREATE TABLE login_throttle (
        scope varchar(16) NOT NULL CHECK (scope IN ('account', 'ip')),
        key varchar(128) NOT NULL,
        window_start timestamptz NOT NULL,
        attempts integer NOT NULL CHECK (attempts >= 0),
        PRIMARY KEY (scope, key)
    )
    """,
    "CREATE INDEX ix_login_throttle_window_start ON login_throttle (window_start)",
    "CREATE INDEX ix_sessions_user_id_active ON sessions (user_id) WHERE revoked_at IS NULL",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP INDEX ix_sessions_user_id_active")
    op.execute("DROP TABLE login_throttle, revoked_sessions")
