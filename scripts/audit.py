"""`make audit` (part of `make lint`): every pinned dependency in requirements/*.txt
against the known vulnerabilities, with pip-audit.

pip-audit asks PyPI about each exact version. Where that answer cannot be had
(a network that reaches the package index but not PyPI's per-version API, as
on our build machines), pip-audit skips the package and still prints "No known
vulnerabilities found". This script does not accept that as clean: a skipped
package is looked up in PyPI's project data instead, whose vulnerability list
is that of the newest release, so it is exact when the pin *is* the newest
release. A package that could be audited neither way is listed as not audited
(it fails the audit with --strict).

Each accepted vulnerability is an entry in requirements/audit-exceptions.toml
with the reason it does not apply; an exception nothing matches any more is
reported so that it gets removed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tomllib
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCKS = sorted((ROOT / "requirements").glob("*.txt"))
EXCEPTIONS = ROOT / "requirements" / "audit-exceptions.toml"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Vuln:
    package: str
    version: str
    id: str
    aliases: frozenset[str]

    @property
    def names(self) -> frozenset[str]:
        return self.aliases | {self.id}


@dataclass
class Outcome:
    found: list[Vuln] = field(default_factory=list)
    excepted: list[tuple[Vuln, str]] = field(default_factory=list)
    not_audited: dict[str, str] = field(default_factory=dict)  # "package version" -> why
    stale_exceptions: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.found


def pins(lock: Path) -> dict[str, str]:
    """Every `name==version` in one lock file."""
    return {canonical(name): version for name, version in PIN.findall(lock.read_text())}


def load_exceptions(path: Path) -> dict[str, dict[str, str]]:
    """Vulnerability id -> {package, reason}; every alias maps to the same entry."""
    entries = tomllib.loads(path.read_text()).get("exception", []) if path.exists() else []
    table: dict[str, dict[str, str]] = {}
    for entry in entries:
        if not entry.get("reason", "").strip():
            raise SystemExit(f"audit exception {entry.get('id')} has no reason")
        for name in [entry["id"], *entry.get("aliases", [])]:
            table[name] = entry
    return table


def run_pip_audit(lock: Path) -> tuple[list[Vuln], set[tuple[str, str]]]:
    """pip-audit over one lock: (vulnerabilities found, (package, version)s it audited)."""
    done = subprocess.run(  # noqa: S603 - our own venv's pip-audit, fixed arguments
        [
            str(Path(sys.executable).with_name("pip-audit")),
            *("-r", str(lock), "--disable-pip", "--no-deps"),
            *("--format", "json", "--progress-spinner", "off"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        # e.g. offline: nothing audited by pip-audit; the fallback says what it can
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"  pip-audit could not run on {lock.name}: {last}")
        return [], set()
    pinned = pins(lock)
    audited = {
        (name, pinned.get(name, dependency.get("version", "")))
        for dependency in report["dependencies"]
        if "vulns" in dependency
        for name in [canonical(dependency["name"])]
    }
    return parse_pip_audit(report, pinned), audited


def parse_pip_audit(report: dict[str, list[dict[str, Any]]], pinned: dict[str, str]) -> list[Vuln]:
    return [
        Vuln(
            package=canonical(dependency["name"]),
            version=dependency.get("version") or pinned[canonical(dependency["name"])],
            id=vuln["id"],
            aliases=frozenset(vuln.get("aliases", [])),
        )
        for dependency in report["dependencies"]
        for vuln in dependency.get("vulns", [])
    ]


def pypi_project(name: str) -> dict[str, Any]:
    url = f"https://pypi.org/pypi/{name}/json"
    with urllib.request.urlopen(url, timeout=30) as response:
        project: dict[str, Any] = json.load(response)
        return project


def from_project_data(
    skipped: Iterable[tuple[str, str]], fetch: Callable[[str], dict[str, Any]]
) -> tuple[list[Vuln], dict[str, str]]:
    """The fallback for what pip-audit skipped: (vulnerabilities, not audited)."""
    found: list[Vuln] = []
    not_audited: dict[str, str] = {}

    def one(item: tuple[str, str]) -> tuple[str, str, dict[str, Any] | Exception]:
        name, version = item
        try:
            return name, version, fetch(name)
        except Exception as error:
            return name, version, error

    with ThreadPoolExecutor(8) as pool:
        for name, version, project in pool.map(one, sorted(set(skipped))):
            if isinstance(project, Exception):
                not_audited[f"{name} {version}"] = f"PyPI unreachable: {project}"
                continue
            newest = project["info"]["version"]
            if newest != version:
                not_audited[f"{name} {version}"] = f"newest release is {newest}"
                continue
            found += [
                Vuln(name, version, vuln["id"], frozenset(vuln.get("aliases") or []))
                for vuln in project.get("vulnerabilities") or []
                if not vuln.get("withdrawn")
            ]
    return found, not_audited


def judge(
    vulns: Iterable[Vuln], exceptions: dict[str, dict[str, str]], not_audited: dict[str, str]
) -> Outcome:
    outcome = Outcome(not_audited=dict(not_audited))
    used: set[str] = set()
    for vuln in sorted(set(vulns), key=lambda v: (v.package, v.id)):
        entry = next((exceptions[n] for n in sorted(vuln.names) if n in exceptions), None)
        if entry is not None and canonical(entry["package"]) == vuln.package:
            outcome.excepted.append((vuln, entry["reason"].strip()))
            used.add(entry["id"])
        else:
            outcome.found.append(vuln)
    outcome.stale_exceptions = sorted({e["id"] for e in exceptions.values()} - used)
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("locks", nargs="*", type=Path, default=LOCKS)
    parser.add_argument(
        "--strict", action="store_true", help="fail when a package could not be audited"
    )
    args = parser.parse_args(argv)
    pinned = {item for lock in args.locks for item in pins(lock).items()}
    found: list[Vuln] = []
    audited: set[tuple[str, str]] = set()
    with ThreadPoolExecutor(len(args.locks) or 1) as pool:
        for lock_found, lock_audited in pool.map(run_pip_audit, args.locks):
            found += lock_found
            audited |= lock_audited
    skipped = pinned - audited  # PyPI's per-version data unreachable, or another platform's
    fallback, not_audited = from_project_data(skipped, pypi_project)
    outcome = judge(found + fallback, load_exceptions(EXCEPTIONS), not_audited)

    print(
        f"audit: {len(pinned) - len(not_audited)} of {len(pinned)} locked versions audited "
        f"({len(pinned) - len(skipped)} by pip-audit, {len(skipped) - len(not_audited)} "
        "from PyPI's data on the newest release)"
    )
    for vuln, reason in outcome.excepted:
        print(f"  accepted {vuln.package} {vuln.version} {vuln.id}: {reason.splitlines()[0]}")
    for name, why in sorted(outcome.not_audited.items()):
        print(f"  not audited: {name} ({why})")
    for stale in outcome.stale_exceptions:
        print(f"  exception {stale} matches nothing any more: remove it from {EXCEPTIONS.name}")
    for vuln in outcome.found:
        aliases = ", ".join(sorted(vuln.aliases))
        print(f"  VULNERABLE {vuln.package} {vuln.version}: {vuln.id} ({aliases})")
    if not outcome.clean:
        print("audit failed: upgrade the package (make lock) or document an exception")
        return 1
    if args.strict and outcome.not_audited:
        print("audit failed (--strict): some packages could not be audited")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
