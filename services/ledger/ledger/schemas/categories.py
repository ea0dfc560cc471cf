from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, field_validator
from pydantic.json_schema import SkipJsonSchema

from ledger.schemas.common import Page
from servicekit.schemas import ApiSchema

CategoryKind = Literal["expense", "income"]


def _name(value: str) -> str:
    name = value.strip()
    if not name:
        raise ValueError("must not be blank")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise ValueError("must not contain control characters such as line breaks")
    return name


# 1 to 100 characters, trimmed; unique (in any letter case) among categories
# of the same kind under the same parent
CategoryName = Annotated[
    str, StringConstraints(min_length=1, max_length=100), AfterValidator(_name)
]


class CategoryCreate(ApiSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "Pets", "kind": "expense"},
                {
                    "name": "Vet",
                    "kind": "expense",
                    "parent_id": "5d2a8c3e-1f4b-4c6d-8e9f-a0b1c2d3e4f5",
                },
            ]
        }
    )

    name: CategoryName = Field(
        description="1 to 100 characters, trimmed; unique in any letter case among "
        "categories of the same kind under the same parent"
    )
    kind: CategoryKind = Field(description="what it files: expenses or income; fixed for life")
    parent_id: uuid.UUID | None = Field(
        default=None,
        description="one of your top-level categories of the same kind (two levels only)",
    )


class CategoryUpdate(ApiSchema):
    """Send only what changes: rename, move under another top-level category of
    the same kind, or to the top level with `"parent_id": null`. The kind is
    fixed (transactions were checked against it): create a new category instead."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Dining out"}, {"parent_id": None}]}
    )

    name: CategoryName | None = None
    parent_id: uuid.UUID | None = Field(
        default=None, description="a top-level category of the same kind; null: top level"
    )
    # Not a field a client may change, but named in the 422 when sent, rather
    # than refused as merely unknown.
    kind: SkipJsonSchema[Any] = Field(default=None, exclude=True)

    @field_validator("kind")
    @classmethod
    def _fixed_kind(cls, value: Any) -> Any:
        raise ValueError(
            "cannot change: transactions were checked against it; create a new category instead"
        )


class CategoryRead(ApiSchema):
    id: uuid.UUID
    name: str
    kind: CategoryKind
    parent_id: uuid.UUID | None = Field(description="null for a top-level category")
    created_at: dt.datetime
    updated_at: dt.datetime


class CategoryPage(Page):
    items: list[CategoryRead]
