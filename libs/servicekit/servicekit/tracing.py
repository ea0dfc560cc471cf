"""Optional OpenTelemetry tracing: off unless an OTLP endpoint is configured.

Turn it on with the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (e.g.
`http://otel-collector.monitoring:4318`; spans go to `<endpoint>/v1/traces`
as OTLP/HTTP protobuf) or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, optionally
`OTEL_SERVICE_NAME` (default: the service's SERVICE_NAME),
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`/`_ARG`, `OTEL_BSP_*` and
`OTEL_EXPORTER_OTLP_HEADERS`. `OTEL_SDK_DISABLED=true` turns it off again.

When on, each service exports:
- a server span per request (named by route template; the probes and
  /metrics excluded), continuing the caller's W3C `traceparent`, with the
  request id as attribute `request.id`;
- a client span per call to another service (aiohttp, servicekit.http),
  with `traceparent` sent on, so ingress →
  ledger → db-gateway is one trace;
- a span per SQL statement (db-gateway; statements without their
  parameters) and per Redis command (auth, ledger).

When off, nothing of the SDK, the exporter or the instrumentations is imported
and no thread is started: the cost is one dictionary look-up at start-up.
Everything below imports lazily for that reason.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from servicekit.middleware import VALID_REQUEST_ID

if TYPE_CHECKING:  # types only: importing them at run time is what "off" avoids
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("servicekit.tracing")

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
FLUSH_TIMEOUT_MILLIS = 5000


def configured(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether tracing is asked for: an OTLP endpoint, and the SDK not disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


class Tracing:
    """The process's tracer provider and what it instruments."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider

    def instrument_app(self, app: FastAPI, *, excluded_paths: Iterable[str]) -> None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            # regular expressions searched in the URL: the probes, /metrics
            excluded_urls=",".join(f"{path}$" for path in sorted(excluded_paths)),
            # one server span per request, not three (no per-message spans)
            exclude_spans=["receive", "send"],
            server_request_hook=_tag_request_id,
        )

    def instrument_engine(self, engine: AsyncEngine) -> None:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        # The engine's own event hooks: SQL text only, never its parameters.
        # The instrumentation declares SQLAlchemy < 2.1 only, though the event
        # API it uses is unchanged in 2.1: tests/e2e/test_tracing.py proves the
        # spans are there, so its version check is skipped.
        SQLAlchemyInstrumentor().instrument(
            engine=engine.sync_engine, tracer_provider=self.provider, skip_dep_check=True
        )

    def flush(self) -> None:
        """Export what is buffered (at shutdown: a worker's last spans)."""
        self.provider.force_flush(FLUSH_TIMEOUT_MILLIS)


REQUEST_ID_ATTRIBUTE = "request.id"


def _tag_request_id(span: Any, scope: dict[str, Any]) -> None:
    """The request id on the server span, so the trace of a request quoted by
    its X-Request-ID (in an error body, a log line) can be searched for. The
    ingress always sends one, and auth and ledger forward theirs."""
    if span is None or not span.is_recording():
        return
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if VALID_REQUEST_ID.match(candidate):  # the same rule as the access log's
                span.set_attribute(REQUEST_ID_ATTRIBUTE, candidate)
            return


_active: Tracing | None = None


def start(service_name: str, environ: Mapping[str, str] = os.environ) -> Tracing | None:
    """Set up tracing for this process if configured; None otherwise.

    The tracer provider is global to the process, so it is made once; later
    apps in the same process (tests) share it.
    """
    global _active
    if not configured(environ):
        return None
    if _active is None:
        _active = Tracing(_make_provider(service_name, environ))
        _instrument_clients(_active.provider)
        log.info("tracing on", extra={"otlp_endpoint": _endpoint(environ)})
    return _active


def instrument_engine(engine: AsyncEngine) -> None:
    """Trace the engine's statements when tracing is on; nothing otherwise."""
    if _active is not None:
        _active.instrument_engine(engine)


_UNTRACED = contextlib.nullcontext()


def redis_span(command_names: Sequence[str]) -> AbstractContextManager[Any]:
    """A client span for Redis commands sent without redis-py (whose own
    instrumentation traces the rest), named and described by the commands'
    names only: their keys hold session and user ids. Nothing when off."""
    if _active is None:
        return _UNTRACED
    from opentelemetry.trace import SpanKind

    tracer = _active.provider.get_tracer("servicekit.redis_pipe")
    statement = " ".join(command_names)
    return tracer.start_as_current_span(
        statement,
        kind=SpanKind.CLIENT,
        attributes={
            "db.system": "redis",
            "db.statement": statement,
            "db.redis.pipeline_length": len(command_names),
        },
    )


def _endpoint(environ: Mapping[str, str]) -> str:
    return next(environ[name] for name in reversed(ENDPOINT_VARIABLES) if environ.get(name))


def _make_provider(service_name: str, environ: Mapping[str, str]) -> TracerProvider:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME or a service.name in OTEL_RESOURCE_ATTRIBUTES wins;
    # otherwise the service's own name rather than "unknown_service"
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    provider = TracerProvider(resource=resource)
    # the exporter reads the endpoint, headers, timeout and compression from
    # the OTEL_EXPORTER_OTLP_* variables; the processor its OTEL_BSP_* ones
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def _instrument_clients(provider: Any) -> None:
    """The client libraries this image holds: each service's image has only
    the instrumentation of the clients it uses (its requirements lock)."""
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

    AioHttpClientInstrumentor().instrument(tracer_provider=provider)
    if importlib.util.find_spec("redis") and importlib.util.find_spec(
        "opentelemetry.instrumentation.redis"
    ):
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        RedisInstrumentor().instrument(tracer_provider=provider)
