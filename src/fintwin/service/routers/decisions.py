"""``POST /v1/decisions`` and ``GET /v1/decisions/{decision_id}``.

A decision request is answered only once its record is durable (database, or spool while the
database is down). A retry, with the same ``Idempotency-Key`` header or (without one) the same
event id, gets the original decision back and changes nothing: the engine does not see the
event again, the store keeps one row and the ledger one entry.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from fintwin.exceptions import DataError, PolicyError, StoreUnavailableError
from fintwin.governance.ledger import RecordKind
from fintwin.service.apikeys import Principal
from fintwin.service.dependencies import ServiceRuntime, get_runtime
from fintwin.service.schemas import ErrorOut, PaymentEvent
from fintwin.service.security import AUTHORISATION_MATRIX, security_responses
from fintwin.service.tokens import service_event
from fintwin.store.decisions import DecisionRecord

__all__ = ["DecisionOut", "actor", "router"]

router = APIRouter(tags=["decisions"])

IDEMPOTENCY_KEY = r"^[A-Za-z0-9_.:\-]{1,128}$"
REPLAYED_HEADER = "Idempotent-Replayed"
# the roles each route allows, from the matrix (check_routes holds the two equal)
_MAY_DECIDE = AUTHORISATION_MATRIX.require("POST", "/v1/decisions")
_MAY_READ = AUTHORISATION_MATRIX.require("GET", "/v1/decisions/{id}")


class DecisionOut(BaseModel):
    """A decision as answered (and stored): the engine's decision plus its service fields."""

    model_config = ConfigDict(extra="allow")

    decision_id: str
    event_id: str
    action: str = Field(description="approve, review, step_up or decline.")
    score: float
    rules: list[str]
    reasons: list[str]
    model_id: str | None
    policy_hash: str
    received_at: str
    decided_at: str
    degraded: bool = Field(description="True when decided without the shared feature state.")
    degraded_reason: str | None


def actor(who: Principal) -> str:
    """How the ledger names a caller: roles and key id, never a secret."""
    return f"{'+'.join(sorted(r.value for r in who.roles))}:{who.key_id}"


def _answer(record: DecisionRecord, *, replayed: bool) -> JSONResponse:
    return JSONResponse(
        dict(record.body), headers={REPLAYED_HEADER: "true" if replayed else "false"}
    )


def _decide(
    rt: ServiceRuntime, payment: PaymentEvent, key: str, who: Principal
) -> tuple[DecisionRecord, bool]:
    """Decide and record durably; (record, replayed). Runs in the threadpool."""
    found = rt.store.find_decision(key)
    if found is not None:
        return found, True
    received = dt.datetime.now(dt.UTC)
    event = service_event(payment, rt.tokeniser, rt.settings.tokenise_fields)
    decision, reason = rt.decider.decide(event)
    record = DecisionRecord.from_decision(
        decision,
        idempotency_key=key,
        event_id=str(payment.transaction_id),
        received_at=received,
        degraded=reason is not None,
        degraded_reason=reason,
    )
    recorded = rt.store.record_decision(record)
    if recorded.created:
        rt.metrics.count_decision(record.action.value, degraded_reason=reason)
        rt.ledger.append(
            RecordKind.DECISION,
            {"idempotency_key": key, **record.body},
            actor=actor(who),
        )
    return recorded.record, not recorded.created


def _unavailable(exc: Exception) -> HTTPException:
    return HTTPException(503, f"decision store unavailable: {exc}", headers={"Retry-After": "1"})


@router.post(
    "/v1/decisions",
    response_model=DecisionOut,
    responses={
        **security_responses(),
        409: {"model": ErrorOut, "description": "Event out of order or refused by the policy"},
        503: {"model": ErrorOut, "description": "Decision store unavailable and no spool"},
    },
    summary="Decide on one payment",
)
def decide(
    payment: PaymentEvent,
    rt: Annotated[ServiceRuntime, Depends(get_runtime)],
    who: Annotated[Principal, _MAY_DECIDE],
    idempotency_key: Annotated[
        str | None,
        Header(
            pattern=IDEMPOTENCY_KEY,
            description="Retries with the same key get the original decision; default: the "
            "event's transaction_id.",
        ),
    ] = None,
) -> Any:
    """Decide on one payment; the answer is durable before it is sent.

    A sync handler, so FastAPI runs it in its threadpool: the engine, the fsync of the store
    and the ledger append never block the event loop.
    """
    key = idempotency_key or f"event:{payment.transaction_id}"
    try:
        record, replayed = _decide(rt, payment, key, who)
    except (DataError, PolicyError) as exc:
        raise HTTPException(409, f"event refused: {exc}") from None
    except StoreUnavailableError as exc:
        raise _unavailable(exc) from None
    return _answer(record, replayed=replayed)


@router.get(
    "/v1/decisions/{decision_id}",
    response_model=DecisionOut,
    responses={**security_responses(), 404: {"model": ErrorOut, "description": "No such id"}},
    summary="Read one decision",
)
def get_decision(
    decision_id: Annotated[str, PathParam(min_length=1, max_length=128)],
    rt: Annotated[ServiceRuntime, Depends(get_runtime)],
    who: Annotated[Principal, _MAY_READ],
) -> Any:
    """The decision as it was answered, by its ``decision_id``."""
    try:
        record = rt.store.get_decision(decision_id)
    except StoreUnavailableError as exc:
        raise _unavailable(exc) from None
    if record is None:
        raise HTTPException(404, f"no decision {decision_id!r}")
    return _answer(record, replayed=True)
