"""A steady background load through the ingress, recording every outcome, for
tests that restart or stop parts of the stack while clients keep calling."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

Call = Callable[[httpx.Client], httpx.Response]


@dataclass(frozen=True)
class Outcome:
    started: float  # time.monotonic()
    seconds: float
    status: int | str  # an HTTP status, or the exception's name when there was no answer
    code: str | None  # the problem's code, for problem+json answers
    text: str


@dataclass
class Load:
    outcomes: list[Outcome] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)  # "METHOD /path" of each resend

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not (isinstance(o.status, int) and o.status < 400)]

    def summary(self) -> Counter[tuple[int | str, str | None]]:
        return Counter((o.status, o.code) for o in self.outcomes)

    def after(self, moment: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.started >= moment]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def may_resend(request: httpx.Request) -> bool:
    return request.method in SAFE_METHODS or "idempotency-key" in request.headers


@contextmanager
def steady_load(base_url: str, calls: list[Call], *, pause: float = 0.0) -> Iterator[Load]:
    """One thread per call, each repeating it with its own connection pool
    until the block ends."""
    load = Load()
    stop = threading.Event()
    lock = threading.Lock()

    def run(call: Call) -> None:
        with httpx.Client(base_url=base_url, timeout=10) as client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    try:
                        response = call(client)
                    except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
                        # The connection closed before an answer came. What was
                        # sent may have been carried out, so only a request that
                        # is safe to repeat is sent again, once (RFC 9110, 9.2.2):
                        # a GET, or a write with its Idempotency-Key. A second
                        # failure counts.
                        if not may_resend(exc.request):
                            raise
                        with lock:
                            load.resent.append(f"{exc.request.method} {exc.request.url.path}")
                        response = client.send(exc.request)
                except httpx.HTTPError as exc:
                    outcome = Outcome(
                        started, time.monotonic() - started, type(exc).__name__, None, repr(exc)
                    )
                else:
                    code = None
                    if response.headers.get("content-type", "").startswith(
                        "application/problem+json"
                    ):
                        code = response.json().get("code")
                    outcome = Outcome(
                        started,
                        time.monotonic() - started,
                        response.status_code,
                        code,
                        response.text[:300],
                    )
                with lock:
                    load.outcomes.append(outcome)
                if pause:
                    time.sleep(pause)

    threads = [threading.Thread(target=run, args=(call,), daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    try:
        yield load
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)  # a call times out after 10 s
    # a thread still calling would leak its requests into the next tests
    assert not any(thread.is_alive() for thread in threads), "a load thread did not stop"
