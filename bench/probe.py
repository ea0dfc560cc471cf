"""A readiness probe loop, like the kubelet's: a new connection per probe to
each replica's /readyz, on a fixed interval, while something else runs."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.ceilings import percentile


@dataclass
class Probe:
    urls: list[str]  # base URLs of the replicas
    interval_s: float = 0.05
    timeout_s: float = 5.0
    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _once(self, url: str) -> None:
        parts = urlsplit(url)
        started = time.perf_counter()
        connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=self.timeout_s
        )
        try:
            connection.request("GET", "/readyz")
            response = connection.getresponse()
            response.read()
            ok = response.status == 200
        except OSError:
            ok = False
        finally:
            connection.close()
        if ok:
            self.latencies_ms.append((time.perf_counter() - started) * 1000)
        else:
            self.failures += 1

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            for url in self.urls:
                self._once(url)
            next_at += self.interval_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> Probe:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 5)

    def summary(self) -> dict[str, Any]:
        values = self.latencies_ms
        return {
            "probes": len(values) + self.failures,
            "failures": self.failures,
            "latency_ms": {
                "p50": round(percentile(values, 50), 3),
                "p99": round(percentile(values, 99), 3),
                "max": round(max(values), 3) if values else None,
            },
        }


def probe_for(urls: list[str], seconds: float) -> dict[str, Any]:
    with Probe(urls) as probe:
        time.sleep(seconds)
    return probe.summary()
