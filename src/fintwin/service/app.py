"""The decision service as a FastAPI app: :func:`create_app`.

Assembly only: the pieces (settings, security, store, ledger, engine, metrics) live in their
own modules. The app's lifespan opens the runtime
(:func:`~fintwin.service.runtime.open_runtime`: store, ledger and audit feed, the decider of
the model and policy in force over Redis or in-process state) and closes it on shutdown; the
security layer checks every route against the authorisation matrix before anything opens.

``fintwin serve`` runs it under uvicorn (:func:`app_from_env` is its factory).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import fintwin
from fintwin.service.metrics import ServiceMetrics
from fintwin.service.routers import decisions, labels, models, ops, reviews
from fintwin.service.runtime import open_runtime
from fintwin.service.security import SecurityGuard, install_security
from fintwin.service.settings import ServiceSettings, get_settings

__all__ = ["RequestTimingMiddleware", "app_from_env", "create_app"]

UNMATCHED_ROUTE = "(unmatched)"
"""The ``route`` label of requests that matched no route (404s), so raw paths never become
label values."""


class RequestTimingMiddleware:
    """Pure ASGI middleware: counts each request and times it to its response head, labelled
    with the route template (``/v1/decisions/{decision_id}``), never the raw path."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the server sends if the app raises before its response head
        observed = False

        def observe() -> None:
            route = scope.get("route")
            path = getattr(route, "path", None) or UNMATCHED_ROUTE
            self.metrics.observe_request(scope["method"], path, status, time.perf_counter() - start)

        async def timed_send(message: Message) -> None:
            nonlocal status, observed
            if message["type"] == "http.response.start" and not observed:
                status = int(message["status"])
                observed = True
                observe()
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            if not observed:
                observe()


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The decision service.

    Parameters
    ----------
    settings : ServiceSettings, optional
        Default :func:`~fintwin.service.settings.get_settings` (the environment).

    Raises
    ------
    ServiceConfigError
        No tokenisation key (checked here, before the app exists). A model that cannot be
        served, or routes that disagree with the authorisation matrix, fail at startup.
    """
    settings = settings or get_settings()
    settings.tokeniser()  # fail fast: identifiers cannot be stored without it
    metrics = ServiceMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        runtime = await run_in_threadpool(open_runtime, settings, metrics=metrics)
        runtime.start()
        app.state.fintwin_runtime = runtime
        try:
            yield {}
        finally:
            await run_in_threadpool(runtime.close)

    app = FastAPI(
        title="fintwin decision service",
        version=getattr(fintwin, "__version__", "0"),
        lifespan=lifespan,
    )
    for router in (decisions.router, reviews.router, labels.router, models.router, ops.router):
        app.include_router(router)
    install_security(
        app, SecurityGuard.from_settings(settings), max_body_bytes=settings.max_body_bytes
    )
    app.add_middleware(RequestTimingMiddleware, metrics=metrics)  # outermost: times 413s too
    return app


def app_from_env() -> FastAPI:
    """The app of the environment's settings: uvicorn's factory for ``fintwin serve``."""
    return create_app(get_settings())
