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
import gc
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import fintwin
from fintwin.service.fast_path import DecisionFastPath
from fintwin.service.metrics import ServiceMetrics
from fintwin.service.routers import credit, decisions, labels, models, ops, reviews
from fintwin.service.runtime import open_runtime
from fintwin.service.security import SecurityGuard, install_security
from fintwin.service.settings import ServiceSettings, get_settings

__all__ = ["RequestTimingMiddleware", "ServiceApp", "app_from_env", "create_app"]

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


class ServiceApp(FastAPI):
    """The FastAPI app of the service, with :class:`~fintwin.service.fast_path.DecisionFastPath`
    in front of its middleware for the hot request (``fast_path`` None: every request goes
    through FastAPI)."""

    fast_path: DecisionFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast_path is not None and self.fast_path.matches(scope):
            scope["app"] = self
            await self.fast_path(
                scope,
                receive,
                send,
                runtime=self.state.fintwin_runtime,
                app=super().__call__,
            )
            return
        await super().__call__(scope, receive, send)


def create_app(settings: ServiceSettings | None = None, *, fast_path: bool = True) -> ServiceApp:
    """The decision service.

    Parameters
    ----------
    settings : ServiceSettings, optional
        Default :func:`~fintwin.service.settings.get_settings` (the environment).
    fast_path : bool
        Answer well-formed ``POST /v1/decisions`` requests with
        :class:`~fintwin.service.fast_path.DecisionFastPath` (same answers, a fraction of the
        CPU); False leaves every request to FastAPI (the tests compare the two).

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
        # what startup built (modules, model, policy, engine) lives as long as the process:
        # out of the garbage collector's sight, a full collection no longer scans it (with
        # it, each one paused every thread for ~100 ms on this machine)
        gc.collect()
        gc.freeze()
        runtime.start()
        app.state.fintwin_runtime = runtime
        try:
            yield {}
        finally:
            await run_in_threadpool(runtime.close)
            gc.unfreeze()

    app = ServiceApp(
        title="fintwin decision service",
        version=getattr(fintwin, "__version__", "0"),
        lifespan=lifespan,
    )
    for router in (
        decisions.router,
        reviews.router,
        labels.router,
        credit.router,
        models.router,
        ops.router,
    ):
        app.include_router(router)
    guard = SecurityGuard.from_settings(settings)
    install_security(app, guard, max_body_bytes=settings.max_body_bytes)
    if fast_path:
        app.fast_path = DecisionFastPath(
            guard=guard, max_body_bytes=settings.max_body_bytes, metrics=metrics
        )
    app.add_middleware(RequestTimingMiddleware, metrics=metrics)  # outermost: times 413s too
    return app


def app_from_env() -> ServiceApp:
    """The app of the environment's settings: uvicorn's factory for ``fintwin serve``."""
    return create_app(get_settings())
