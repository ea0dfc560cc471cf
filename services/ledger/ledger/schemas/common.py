"""What every area's bodies share."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from servicekit.schemas import ApiSchema

Money = Annotated[
    str,
    Field(
        description='exact decimal amount with the currency\'s decimal places, e.g. "12.30"',
        examples=["12.30"],
    ),
]
Currency = Annotated[str, Field(description="ISO 4217 code, e.g. USD", examples=["USD"])]


class Page(ApiSchema):
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )
