from __future__ import annotations

import uuid
from typing import Any

from servicekit.errors import field_error


def users(user_id: uuid.UUID) -> str:
    """db-gateway's path prefix for one user's objects."""
    return f"/internal/users/{user_id}"


def cursor_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise field_error("cursor", "is not a cursor this API returned")
    return value
