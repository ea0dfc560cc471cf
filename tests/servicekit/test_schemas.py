from __future__ import annotations

import pytest
from pydantic import Field, ValidationError

from servicekit.schemas import ApiSchema


class Item(ApiSchema):
    name: str
    tags: list[str] = Field(default_factory=list)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Item.model_validate({"name": "a", "colour": "red"})


@pytest.mark.parametrize("data", [{"name": "a\x00b"}, {"name": "a", "tags": ["ok", "b\x00"]}])
def test_nul_characters_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="NUL"):
        Item.model_validate(data)


def test_ordinary_text_passes() -> None:
    assert Item.model_validate({"name": "Café ☕\ttab"}).name == "Café ☕\ttab"
