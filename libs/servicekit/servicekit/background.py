"""Background loops that stop for sure when the service shuts down."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger("servicekit.background")


@asynccontextmanager
async def running(loop: Coroutine[Any, Any, None], *, name: str) -> AsyncIterator[None]:
    """Run `loop` as a task for the duration of the block, then cancel it and
    wait until it has ended.

    The cancellation is repeated until the task is done: a library the loop is
    awaiting can swallow one (seen with a request cancelled inside a shielded
    connection-pool section), and a loop that survives shutdown keeps using
    clients that are being closed, and holds the process open.
    """
    task = asyncio.create_task(loop, name=name)
    try:
        yield
    finally:
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)
        if not task.cancelled() and task.exception() is not None:
            log.error("background loop %s failed", name, exc_info=task.exception())
