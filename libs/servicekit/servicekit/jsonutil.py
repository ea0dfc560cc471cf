"""One JSON encoder for responses and logs (orjson: fast, and exact for Decimal via str)."""

import uuid
from decimal import Decimal
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):  # a subclass, like asyncpg's (orjson takes exact UUIDs only)
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    # UTC as "Z", as pydantic writes it: one spelling of timestamps everywhere
    return orjson.dumps(value, default=_default, option=orjson.OPT_UTC_Z)


loads = orjson.loads
