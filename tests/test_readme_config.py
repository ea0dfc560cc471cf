"""The README's configuration table lists exactly what each service reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from auth.config import Settings as AuthSettings
from db_gateway.config import Settings as GatewaySettings
from ledger.config import Settings as LedgerSettings

README = Path(__file__).resolve().parent.parent / "README.md"
COLUMNS = {"auth": 1, "ledger": 2, "db-gateway": 3}


def _documented() -> dict[str, set[str]]:
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, set[str]] = {name: set() for name in COLUMNS}
    for row in re.findall(r"^\| `([A-Z0-9_]+)` \|(.*)$", section, re.M):
        variable, cells = row[0], row[1].split("|")
        for service, column in COLUMNS.items():
            if cells[column - 1].strip() == "✓":
                documented[service].add(variable)
    return documented


@pytest.mark.parametrize(
    ("service", "settings"),
    [("auth", AuthSettings), ("ledger", LedgerSettings), ("db-gateway", GatewaySettings)],
)
def test_every_setting_is_documented_and_nothing_else(
    service: str, settings: type[BaseSettings]
) -> None:
    read = {name.upper() for name in settings.model_fields}
    assert _documented()[service] == read
