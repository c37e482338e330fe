"""``POST /v1/decisions``, ``POST /v1/decisions/batch`` and ``GET /v1/decisions/{decision_id}``.

A decision request is answered only once its record is durable (database, or spool while the
database is down). A retry, with the same ``Idempotency-Key`` header or (without one) the same
event id, gets the original decision back and changes nothing: the engine does not see the
event again, the store keeps one row and the ledger one entry (chained from the store's
outbox by the audit feed, :mod:`fintwin.store.audit_feed`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from fintwin.exceptions import StoreUnavailableError
from fintwin.service.apikeys import Principal
from fintwin.service.decision_lane import DecisionRequest, Refused, decide_payments
from fintwin.service.routers._common import (
    UNAVAILABLE_RESPONSE,
    IdempotencyKey,
    actor,
    replayed_header,
    unavailable,
)
from fintwin.service.runtime import ServiceRuntime, get_runtime
from fintwin.service.schemas import BatchIn, ErrorOut, PaymentEvent
from fintwin.service.security import AUTHORISATION_MATRIX, security_responses
from fintwin.store.decisions import DecisionRecord

__all__ = ["BatchItemOut", "BatchOut", "DecisionOut", "answer", "event_key", "refused", "router"]

router = APIRouter(tags=["decisions"])

# the roles each route allows, from the matrix (check_routes holds the two equal)
_MAY_DECIDE = AUTHORISATION_MATRIX.require("POST", "/v1/decisions")
_MAY_DECIDE_BATCH = AUTHORISATION_MATRIX.require("POST", "/v1/decisions/batch")
_MAY_READ = AUTHORISATION_MATRIX.require("GET", "/v1/decisions/{id}")


class DecisionOut(BaseModel):
    """A decision as answered (and stored): the engine's decision plus its service fields."""

    model_config = ConfigDict(extra="allow")

    decision_id: str
    idempotency_key: str = Field(
        description="The request's Idempotency-Key, else event:<transaction_id>."
    )
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


class BatchItemOut(BaseModel):
    """One event of a batch: its decision, or why it was refused (the others still count)."""

    index: int = Field(description="Position of the event in the request.")
    decision: DecisionOut | None
    replayed: bool = Field(description="The decision was stored by an earlier request.")
    error: ErrorOut | None = Field(description="Why the event was refused (409-like).")


class BatchOut(BaseModel):
    results: list[BatchItemOut]


def answer(record: DecisionRecord, *, replayed: bool) -> Response:
    """The answer of a stored decision (200, ``Idempotent-Replayed``): its body as stored."""
    return Response(
        record.body_json(), media_type="application/json", headers=replayed_header(replayed)
    )


def refused(outcome: Refused) -> HTTPException:
    """409: the engine refused the event."""
    return HTTPException(409, outcome.detail)


def event_key(payment: PaymentEvent) -> str:
    """The idempotency key of a payment sent without an ``Idempotency-Key``."""
    return f"event:{payment.transaction_id}"


@router.post(
    "/v1/decisions",
    response_model=DecisionOut,
    responses={
        **security_responses(),
        409: {"model": ErrorOut, "description": "Event out of order or refused by the policy"},
        **UNAVAILABLE_RESPONSE,
    },
    summary="Decide on one payment",
)
async def decide(
    payment: PaymentEvent,
    rt: Annotated[ServiceRuntime, Depends(get_runtime)],
    who: Annotated[Principal, _MAY_DECIDE],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Decide on one payment; the answer is durable before it is sent. Without an
    ``Idempotency-Key``, the key is the event's ``transaction_id``.

    The decision is made on the decision lane (:mod:`fintwin.service.decision_lane`), off the
    event loop. Well-formed requests usually never reach this function: the ASGI fast path
    (:mod:`fintwin.service.fast_path`) answers them the same way with less work.
    """
    request = DecisionRequest(payment, idempotency_key or event_key(payment), actor(who))
    try:
        outcome = await rt.lane.decide(request)
    except StoreUnavailableError as exc:
        raise unavailable("decision store", exc) from None
    if isinstance(outcome, Refused):
        raise refused(outcome)
    return answer(outcome.record, replayed=outcome.replayed)


@router.post(
    "/v1/decisions/batch",
    response_model=BatchOut,
    responses={
        **security_responses(),
        **UNAVAILABLE_RESPONSE,
    },
    summary="Decide on several payments",
)
def decide_batch(
    batch: BatchIn,
    rt: Annotated[ServiceRuntime, Depends(get_runtime)],
    who: Annotated[Principal, _MAY_DECIDE_BATCH],
) -> Any:
    """Decide on up to 1,000 payments in order, stored in one commit before the answer.

    Each event is idempotent by its ``transaction_id`` (an event repeated in the batch, or
    decided earlier, gets the stored decision with ``replayed: true``). An event the engine
    refuses (out of order, malformed for the policy) gets an ``error`` and the others are
    still decided: the answer is 200 unless the store is unavailable (503, nothing stored).
    """
    caller = actor(who)
    try:
        outcomes = decide_payments(
            rt, [DecisionRequest(p, event_key(p), caller) for p in batch.events]
        )
    except StoreUnavailableError as exc:
        raise unavailable("decision store", exc) from None
    return BatchOut(
        results=[
            BatchItemOut(index=i, decision=None, replayed=False, error=ErrorOut(detail=o.detail))
            if isinstance(o, Refused)
            else BatchItemOut(
                index=i,
                decision=DecisionOut.model_validate(dict(o.record.body)),
                replayed=o.replayed,
                error=None,
            )
            for i, o in enumerate(outcomes)
        ]
    )


@router.get(
    "/v1/decisions/{decision_id}",
    response_model=DecisionOut,
    responses={
        **security_responses(),
        404: {"model": ErrorOut, "description": "No such id"},
        **UNAVAILABLE_RESPONSE,
    },
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
        raise unavailable("decision store", exc) from None
    if record is None:
        raise HTTPException(404, f"no decision {decision_id!r}")
    return answer(record, replayed=True)
