"""Opaque keyset cursors: base64url JSON that only this service reads."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from servicekit.errors import field_error


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, keys: frozenset[str]) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise field_error("cursor", "is not a cursor this API returned") from exc
    if not isinstance(position, dict) or set(position) != keys:
        raise field_error("cursor", "is not a cursor this API returned")
    return position


def cursor_int(value: Any) -> int:
    """A sequence number read from a cursor."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise field_error("cursor", "is not a cursor this API returned")
    return value
