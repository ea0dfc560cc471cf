"""Waiting for an event, never for a duration.

A test that needs something to have happened (a log line written, a span
exported, a background repair done) polls for it, and fails only if it has not
happened within a deadline so generous that only a real fault misses it: the
deadline is a ceiling for a busy machine, not an expectation of its speed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# Seconds: the ceiling on an event that normally takes milliseconds.
EVENT_WITHIN = 30.0


def wait_until(
    condition: Callable[[], T | None],
    what: str,
    *,
    within: float = EVENT_WITHIN,
    every: float = 0.05,
) -> T:
    """Poll `condition` until it returns something truthy, and return that; fail
    naming `what` (the event that did not happen) after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} (waited {within:.0f}s)")
        time.sleep(every)


async def wait_until_async(
    condition: Callable[[], Awaitable[T | None]],
    what: str,
    *,
    within: float = EVENT_WITHIN,
    every: float = 0.05,
) -> T:
    """`wait_until` for a condition that must be awaited, without blocking the loop."""
    deadline = time.monotonic() + within
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} (waited {within:.0f}s)")
        await asyncio.sleep(every)
