"""Budget status: how much of each monthly budget a month's expenses used.

`spent` is the sum of the month's expense allocations (so each split counts
toward its own category) in the budget's currency, filed under the budget's
category or any category below it. Postgres does the sums and the percentage;
callers choose the month and the database transaction (the dashboard reads it
in the same snapshot as everything else it shows).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db_gateway import schemas

# Every category with each of its ancestors (itself included), at any depth.
# UNION, not UNION ALL: a cycle of parents could not make it loop forever.
CATEGORY_TREE = """
    tree (ancestor, descendant) AS (
            SELECT id, id FROM categories WHERE user_id = :user_id
        UNION
            SELECT tree.ancestor, c.id
            FROM tree JOIN categories c ON c.parent_id = tree.descendant
    )
"""

_STATUS = text(f"""
    WITH RECURSIVE {CATEGORY_TREE},
    spent AS (
        SELECT t.currency, a.category_id, sum(a.amount) AS amount
        FROM transactions t
        JOIN allocations a ON a.transaction_id = t.id
        WHERE t.user_id = :user_id AND t.type = 'expense'
          AND t.date BETWEEN :first AND :last AND a.category_id IS NOT NULL
        GROUP BY t.currency, a.category_id
    ),
    budget_spent AS (
        SELECT b.id, b.seq, b.category_id, c.name, b.currency, b.amount,
               COALESCE(sum(s.amount), 0) AS spent
        FROM budgets b
        JOIN categories c ON c.id = b.category_id
        LEFT JOIN tree ON tree.ancestor = b.category_id
        LEFT JOIN spent s ON s.category_id = tree.descendant AND s.currency = b.currency
        WHERE b.user_id = :user_id
        GROUP BY b.id, b.seq, b.category_id, c.name, b.currency, b.amount
    )
    SELECT id AS budget_id, category_id, name, currency, amount, spent,
           amount - spent AS remaining,
           round(spent * 100 / amount, 1) AS percent
    FROM budget_spent
    ORDER BY seq
""")  # noqa: S608 (a constant CTE, no user input)


async def budget_status(
    *, session: AsyncSession, user_id: uuid.UUID, first: dt.date, last: dt.date
) -> list[schemas.BudgetStatusItem]:
    """Every budget of the user with what the expenses dated first..last
    (inclusive) used of it, in the order the budgets were created."""
    rows = await session.execute(_STATUS, {"user_id": user_id, "first": first, "last": last})
    return [schemas.BudgetStatusItem.model_validate(row._mapping) for row in rows]
