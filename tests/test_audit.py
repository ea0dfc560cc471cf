"""scripts/audit.py's judgement: what counts as audited, accepted or vulnerable.
(The lookups themselves hit PyPI; `make lint` runs them for real.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit", ROOT / "scripts" / "audit.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


audit = _load()


def project(version: str, *vulns: dict[str, Any]) -> dict[str, Any]:
    return {"info": {"version": version}, "vulnerabilities": list(vulns)}


def test_a_pin_behind_the_newest_release_is_not_audited_from_project_data() -> None:
    found, not_audited = audit.from_project_data(
        [("oldpkg", "1.0"), ("newpkg", "2.0")],
        {
            "oldpkg": project("1.1", {"id": "GHSA-old", "aliases": []}),
            "newpkg": project("2.0", {"id": "GHSA-new", "aliases": ["CVE-1"]}),
        }.__getitem__,
    )
    assert [(v.package, v.id) for v in found] == [("newpkg", "GHSA-new")]
    assert not_audited == {"oldpkg 1.0": "newest release is 1.1"}


def test_an_unreachable_index_leaves_the_package_not_audited() -> None:
    def fetch(name: str) -> dict[str, Any]:
        raise OSError("unreachable")

    found, not_audited = audit.from_project_data([("pkg", "1.0")], fetch)
    assert found == []
    assert "pkg 1.0" in not_audited


def test_withdrawn_advisories_are_ignored() -> None:
    found, _ = audit.from_project_data(
        [("pkg", "1.0")],
        lambda name: project("1.0", {"id": "GHSA-x", "withdrawn": "2026-01-01"}),
    )
    assert found == []


def test_an_exception_matches_by_any_alias_but_only_for_its_package() -> None:
    exceptions = {
        name: {"id": "GHSA-a", "package": "ecdsa", "reason": "not used"}
        for name in ("GHSA-a", "CVE-1")
    }
    vulns = [
        audit.Vuln("ecdsa", "0.19", "PYSEC-1", frozenset({"CVE-1"})),
        audit.Vuln("other", "1.0", "CVE-1", frozenset()),
    ]
    outcome = audit.judge(vulns, exceptions, {})
    assert [v.package for v, _ in outcome.excepted] == ["ecdsa"]
    assert [v.package for v in outcome.found] == ["other"]
    assert not outcome.clean


def test_an_exception_that_matches_nothing_is_reported_stale() -> None:
    exceptions = {"GHSA-a": {"id": "GHSA-a", "package": "ecdsa", "reason": "not used"}}
    outcome = audit.judge([], exceptions, {})
    assert outcome.clean
    assert outcome.stale_exceptions == ["GHSA-a"]


def test_the_documented_exceptions_all_have_reasons(tmp_path: Path) -> None:
    table = audit.load_exceptions(ROOT / "requirements" / "audit-exceptions.toml")
    assert table, "the exceptions file is read"
    assert all(entry["reason"].strip() for entry in table.values())
    empty = tmp_path / "x.toml"
    empty.write_text('[[exception]]\nid = "X"\npackage = "p"\nreason = " "\n')
    with pytest.raises(SystemExit, match="no reason"):
        audit.load_exceptions(empty)


def test_pins_are_read_from_a_hashed_lock(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text(
        "Python_Jose==3.5.0 \\\n    --hash=sha256:ab\n"
        "colorama==0.4.6 ; sys_platform == 'win32' \\\n    --hash=sha256:cd\n"
    )
    assert audit.pins(lock) == {"python-jose": "3.5.0", "colorama": "0.4.6"}
