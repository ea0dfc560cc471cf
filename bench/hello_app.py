"""The ceiling for the read scenarios: the smallest FastAPI app, served by
uvicorn with the stack's flags behind an nginx configured like the ingress."""

from __future__ import annotations

from fastapi import FastAPI


def app_from_env() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app
