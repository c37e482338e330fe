"""Operations: ``GET /healthz`` (liveness), ``GET /readyz`` (readiness), ``GET /metrics``.

``/readyz`` answers 503 only when decisions cannot be made durable (the database is down and
there is no spool). An unreachable feature state does not make the service unready: it answers
in degraded mode, which is better than every instance leaving the load balancer at once; the
body says ``state_ok: false``.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from fintwin.exceptions import StoreError
from fintwin.service.apikeys import Principal
from fintwin.service.runtime import ServiceRuntime, get_runtime
from fintwin.service.security import AUTHORISATION_MATRIX, security_responses
from fintwin.store.decisions import StoreStatus

__all__ = ["router"]

router = APIRouter(tags=["operations"])
_MAY_SCRAPE = AUTHORISATION_MATRIX.require("GET", "/metrics")


@router.get("/healthz", responses=security_responses(public=True), summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process is up and its event loop answers."""
    return {"status": "ok"}


def _audit_backlog(rt: ServiceRuntime, status: StoreStatus) -> int | None:
    """Records not yet chained into the ledger; None while the database is down."""
    if not status.database_ok:
        return None
    try:
        backlog = rt.store.audit_backlog()
    except StoreError:
        return None
    rt.metrics.set_audit_backlog(backlog)
    return backlog


def _readiness(rt: ServiceRuntime) -> tuple[bool, dict[str, Any]]:
    status = rt.store.status()
    state_ok = rt.decider.ping_state()
    rt.metrics.set_spooled(status.spooled)
    body = {
        "ready": status.ready,
        "store": dataclasses.asdict(status),
        "state_ok": state_ok,
        "degraded": not state_ok,
        "degraded_mode": rt.settings.degraded_mode.value,
        "model_id": rt.decider.model_id,
        "policy_hash": rt.decider.policy.content_hash,
        "audit_backlog": _audit_backlog(rt, status),
        "audit_feed_error": rt.feed.last_error,
    }
    return status.ready, body


@router.get(
    "/readyz",
    responses={
        **security_responses(public=True),
        503: {"description": "Decisions cannot be made durable now"},
    },
    summary="Readiness",
)
async def readyz(rt: Annotated[ServiceRuntime, Depends(get_runtime)]) -> JSONResponse:
    """Whether decisions can be made durable now; the store's and the state's health."""
    ready, body = await run_in_threadpool(_readiness, rt)
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    responses={
        **security_responses(),
        200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition"},
    },
    response_class=Response,
    summary="Prometheus metrics",
)
async def metrics(
    rt: Annotated[ServiceRuntime, Depends(get_runtime)],
    who: Annotated[Principal, _MAY_SCRAPE],
) -> Response:
    """Request counts and latency by route, decisions by action, degraded decisions, spool."""
    status = await run_in_threadpool(rt.store.status)
    rt.metrics.set_spooled(status.spooled)
    await run_in_threadpool(_audit_backlog, rt, status)
    body, content_type = rt.metrics.exposition()
    return Response(body, media_type=content_type)
