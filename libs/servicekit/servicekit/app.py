"""The wiring every service shares, so each `create_app` holds only its own parts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from servicekit import metrics, tracing
from servicekit.errors import install_error_handlers
from servicekit.health import ReadinessCheck, health_router
from servicekit.logging import configure_logging
from servicekit.middleware import RequestContextMiddleware
from servicekit.openapi import openapi_with_problems
from servicekit.settings import ServiceSettings
from servicekit.strictjson import StrictJSONMiddleware

PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
NO_NATIVE_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


def build_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]],
    readiness: Callable[[FastAPI], Mapping[str, ReadinessCheck]],
    docs_prefix: str | None,
    validation_code: str = "validation_failed",
    guard: Callable[[ASGIApp], ASGIApp] | None = None,
    middleware: Sequence[Middleware] = (),
) -> FastAPI:
    """A FastAPI app with problem+json errors, request context, health routes,
    /metrics, and tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set.

    `docs_prefix` places Swagger UI and the OpenAPI document under the service's
    public prefix (e.g. /auth/docs) so they are reachable through the ingress;
    None hides them (internal services publish theirs under /internal).

    `guard`, an ASGI middleware class, runs before any body is read (so a
    caller it refuses learns nothing about its request), inside the request
    context (so its refusals carry a request id and are logged).

    `middleware`, the service's own, runs inside the request context too (its
    requests carry an id, are logged and counted), before the guard.
    """
    configure_logging(settings.service_name, settings.log_level)
    traces = tracing.start(settings.service_name)  # None (and nothing imported) when off
    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=_with_telemetry(lifespan, traces),
        docs_url=f"{docs_prefix}/docs" if docs_prefix else None,
        redoc_url=None,
        openapi_url=f"{docs_prefix}/openapi.json" if docs_prefix else None,
        # servicekit.tracing owns telemetry (off unless configured): FastAPI's
        # own would look for an OpenTelemetry provider on every request
        telemetry=NO_NATIVE_TELEMETRY,
    )
    app.state.settings = settings
    install_error_handlers(app, validation_code=validation_code)
    # inside the request context: its 422/413 carry the request id and are logged
    app.add_middleware(StrictJSONMiddleware, validation_code=validation_code)
    if guard is not None:
        app.add_middleware(guard)
    for entry in reversed(middleware):
        app.add_middleware(entry.cls, *entry.args, **entry.kwargs)
    app.add_middleware(RequestContextMiddleware, quiet_paths=PROBE_PATHS)
    app.include_router(health_router(lambda: readiness(app)))
    app.include_router(metrics.metrics_router())
    app.openapi = lambda: openapi_with_problems(app)  # type: ignore[method-assign]
    if traces is not None:
        traces.instrument_app(app, excluded_paths=PROBE_PATHS)
    return app


def _with_telemetry(
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]],
    traces: tracing.Tracing | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[Any]]:
    """The service's lifespan, then what telemetry must do as the worker stops:
    export the spans still buffered, and leave the multiprocess sum."""

    @asynccontextmanager
    async def wrapped(app: FastAPI) -> AsyncIterator[Any]:
        try:
            async with lifespan(app) as state:
                yield state
        finally:
            if traces is not None:
                traces.flush()
            metrics.process_exiting()

    return wrapped
