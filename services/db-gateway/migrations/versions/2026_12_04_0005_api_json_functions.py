"""amounts and timestamps as the API writes them, in SQL, so Postgres can build
a page of transactions in its final JSON shape

`api_money(amount, currency)` is the amount with exactly the currency's ISO 4217
decimal places, as servicekit.money.format_amount writes it (only currencies
that have minor units are ever booked: 0, 2, 3 or 4 places).
`api_time(timestamptz)` is the UTC time as the services' JSON encoder writes
it: `2026-11-22T12:00:03.120000Z`, without the fraction when it is zero.
tests/db_gateway/test_api_json.py holds both to the Python they mirror.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ISO 4217 currencies whose minor unit is not 2 (list one, amendment 178)
ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
THREE = "BHD IQD JOD KWD LYD OMR TND"
FOUR = "CLF UYW"


def _codes(codes: str) -> str:
    return ", ".join(f"'{code}'" for code in codes.split())


# Neither function is STRICT: a STRICT SQL function whose body is not itself
# strict is never inlined, and a call that is not inlined cost ~5 µs a row, as
# much as the rest of the row. NULL in gives NULL out anyway.
STATEMENTS = [
    f"""
    CREATE FUNCTION api_money(amount numeric, currency text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT round(amount, CASE
            WHEN currency IN ({_codes(ZERO)}) THEN 0
            WHEN currency IN ({_codes(THREE)}) THEN 3
            WHEN currency IN ({_codes(FOUR)}) THEN 4
            ELSE 2
        END)::text
    $$
    """,
    """
    CREATE FUNCTION api_time(moment timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN date_trunc('second', moment) = moment
            THEN to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
            ELSE to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
        END
    $$
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION api_time(timestamptz)")
    op.execute("DROP FUNCTION api_money(numeric, text)")
