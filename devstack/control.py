"""Stop, kill, start and restart parts of a running local stack from outside it.

Tests use this to take Redis, Postgres or a service away and bring it back
while the stack keeps running (`python -m devstack ctl stop redis`). A command
is a small JSON file dropped in the stack's control directory; the stack picks
it up within a tenth of a second, carries it out and answers next to it.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Literal

Verb = Literal["stop", "kill", "start", "restart"]
VERBS: tuple[Verb, ...] = ("stop", "kill", "start", "restart")


class ControlError(RuntimeError):
    pass


def control_dir(state: Path) -> Path:
    return state / "control"


def send(state: Path, verb: Verb, name: str, *, timeout: float = 90) -> None:
    """Ask the stack running in `state` to act on one of its parts; wait until done."""
    directory = control_dir(state)
    if not directory.is_dir():
        raise ControlError(f"no stack is running in {state}")
    command = directory / f"{uuid.uuid4().hex}.cmd"
    temporary = command.with_suffix(".tmp")
    temporary.write_text(json.dumps({"verb": verb, "name": name}))
    os.replace(temporary, command)  # atomic: the stack never sees half a command
    answer = command.with_suffix(".done")
    deadline = time.monotonic() + timeout
    while not answer.exists():
        if time.monotonic() > deadline:
            raise ControlError(f"{verb} {name}: no answer within {timeout:.0f}s")
        time.sleep(0.05)
    result = json.loads(answer.read_text())
    answer.unlink()
    if not result["ok"]:
        raise ControlError(f"{verb} {name}: {result['error']}")


def pending(state: Path) -> list[tuple[Path, str, str]]:
    """Commands waiting in `state`'s control directory, oldest first."""
    found = []
    for path in sorted(control_dir(state).glob("*.cmd"), key=lambda p: p.stat().st_mtime):
        try:
            body = json.loads(path.read_text())
            found.append((path, str(body["verb"]), str(body["name"])))
        except (OSError, ValueError, KeyError):
            answer(path, ok=False, error="unreadable command")
    return found


def answer(command: Path, *, ok: bool, error: str = "") -> None:
    temporary = command.with_suffix(".tmp")
    temporary.write_text(json.dumps({"ok": ok, "error": error}))
    os.replace(temporary, command.with_suffix(".done"))
    command.unlink(missing_ok=True)
