"""Keyset cursors: opaque round trip, and anything else is a 422 on field "cursor"."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ledger.cursor import decode_cursor, encode_cursor
from servicekit.errors import Unprocessable

KEYS = frozenset({"booked_at", "id"})
POSITION: dict[str, Any] = {"booked_at": "2024-05-01T12:00:00+00:00", "id": 42}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_round_trip() -> None:
    assert decode_cursor(encode_cursor(POSITION), KEYS) == POSITION


def test_cursor_is_url_safe_and_unpadded() -> None:
    cursor = encode_cursor({"booked_at": "\xff\xfe?>" * 5, "id": 1})

    assert "=" not in cursor
    assert "+" not in cursor
    assert "/" not in cursor
    assert decode_cursor(cursor, KEYS)["booked_at"] == "\xff\xfe?>" * 5


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("", id="empty"),
        pytest.param("garbage!!", id="garbage"),
        pytest.param("a", id="bad-base64-length"),
        pytest.param("%%%%", id="not-base64"),
        pytest.param(b64(b"\xff\xfe\xfd"), id="not-utf8"),
        pytest.param(b64(b"{not json"), id="not-json"),
        pytest.param(b64(b"[1, 2]"), id="json-list"),
        pytest.param(b64(b'"a string"'), id="json-string"),
        pytest.param(b64(b"42"), id="json-number"),
        pytest.param(b64(b"null"), id="json-null"),
        pytest.param(encode_cursor({"id": 42}), id="missing-key"),
        pytest.param(encode_cursor({**POSITION, "user_id": "x"}), id="extra-key"),
        pytest.param(encode_cursor({"created": 1, "pk": 2}), id="wrong-keys"),
    ],
)
def test_foreign_cursor_is_a_422_on_the_cursor_field(cursor: str) -> None:
    with pytest.raises(Unprocessable) as caught:
        decode_cursor(cursor, KEYS)

    assert caught.value.status == 422
    assert caught.value.code == "validation_failed"
    assert caught.value.errors is not None
    assert [error["field"] for error in caught.value.errors] == ["cursor"]
