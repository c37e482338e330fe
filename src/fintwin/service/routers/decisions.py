"""``POST /v1/decisions``, ``POST /v1/decisions/batch`` and ``GET /v1/decisions/{decision_id}``.

A decision request is answered only once its record is durable (database, or spool while the
database is down). A retry, with the same ``Idempotency-Key`` header or (without one) the same
event id, gets the original decision back and changes nothing: the engine does not see the
event again, the store keeps one row and the ledger one entry (chained from the store's
outbox by the audit feed, :mod:`fintwin.store.audit_feed`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from fintwin.exceptions import DataError, PolicyError, StoreUnavailableError
from fintwin.service.apikeys import Principal
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
from fintwin.service.tokens import service_event
from fintwin.store.decisions import DecisionRecord

__all__ = ["BatchItemOut", "BatchOut", "DecisionOut", "router"]

router = APIRouter(tags=["decisions"])

# the roles each route allows, from the matrix (check_routes holds the two equal)
_MAY_DECIDE = AUTHORISATION_MATRIX.require("POST", "/v1/decisions")
_MAY_DECIDE_BATCH = AUTHORISATION_MATRIX.require("POST", "/v1/decisions/batch")
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


class BatchItemOut(BaseModel):
    """One event of a batch: its decision, or why it was refused (the others still count)."""

    index: int = Field(description="Position of the event in the request.")
    decision: DecisionOut | None
    replayed: bool = Field(description="The decision was stored by an earlier request.")
    error: ErrorOut | None = Field(description="Why the event was refused (409-like).")


class BatchOut(BaseModel):
    results: list[BatchItemOut]


def _answer(record: DecisionRecord, *, replayed: bool) -> JSONResponse:
    return JSONResponse(dict(record.body), headers=replayed_header(replayed))


def _new_record(
    rt: ServiceRuntime, payment: PaymentEvent, key: str, who: Principal
) -> DecisionRecord:
    """Decide on a payment not decided before (raises DataError, PolicyError)."""
    received = dt.datetime.now(dt.UTC)
    event = service_event(payment, rt.tokeniser, rt.settings.tokenise_fields)
    decision, reason = rt.decider.decide(event)
    return DecisionRecord.from_decision(
        decision,
        idempotency_key=key,
        event_id=str(payment.transaction_id),
        received_at=received,
        degraded=reason is not None,
        degraded_reason=reason,
        actor=actor(who),
    )


def _count(rt: ServiceRuntime, record: DecisionRecord) -> None:
    rt.metrics.count_decision(
        record.action.value, degraded_reason=record.body.get("degraded_reason")
    )


def _decide(
    rt: ServiceRuntime, payment: PaymentEvent, key: str, who: Principal
) -> tuple[DecisionRecord, bool]:
    """Decide and record durably; (record, replayed). Runs in the threadpool."""
    found = rt.store.find_decision(key)
    if found is not None:
        return found, True
    recorded = rt.store.record_decision(_new_record(rt, payment, key, who))
    if recorded.created:
        _count(rt, recorded.record)
    return recorded.record, not recorded.created


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
def decide(
    payment: PaymentEvent,
    rt: Annotated[ServiceRuntime, Depends(get_runtime)],
    who: Annotated[Principal, _MAY_DECIDE],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Decide on one payment; the answer is durable before it is sent. Without an
    ``Idempotency-Key``, the key is the event's ``transaction_id``.

    A sync handler, so FastAPI runs it in its threadpool: the engine and the fsync of the
    store never block the event loop.
    """
    key = idempotency_key or _event_key(payment)
    try:
        record, replayed = _decide(rt, payment, key, who)
    except (DataError, PolicyError) as exc:
        raise HTTPException(409, f"event refused: {exc}") from None
    except StoreUnavailableError as exc:
        raise unavailable("decision store", exc) from None
    return _answer(record, replayed=replayed)


def _event_key(payment: PaymentEvent) -> str:
    return f"event:{payment.transaction_id}"


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
    # per event: its record (new or stored before) or why it was refused, and whether stored
    # before this request
    outcomes: list[tuple[DecisionRecord | ErrorOut, bool]] = []
    new: dict[str, DecisionRecord] = {}
    try:
        for payment in batch.events:
            key = _event_key(payment)
            known = new.get(key) or rt.store.find_decision(key)
            if known is not None:
                outcomes.append((known, True))
                continue
            try:
                record = _new_record(rt, payment, key, who)
            except (DataError, PolicyError) as exc:
                outcomes.append((ErrorOut(detail=f"event refused: {exc}"), False))
                continue
            new[key] = record
            outcomes.append((record, False))
        stored = {
            r.record.idempotency_key: r for r in rt.store.record_decisions(list(new.values()))
        }
    except StoreUnavailableError as exc:
        raise unavailable("decision store", exc) from None
    items = []
    for i, (result, seen_before) in enumerate(outcomes):
        if isinstance(result, ErrorOut):
            items.append(BatchItemOut(index=i, decision=None, replayed=False, error=result))
            continue
        got = stored.get(result.idempotency_key)
        record = result if got is None else got.record
        first = got is not None and got.created and not seen_before
        if first:
            _count(rt, record)
        items.append(
            BatchItemOut(
                index=i,
                decision=DecisionOut.model_validate(dict(record.body)),
                replayed=not first,
                error=None,
            )
        )
    return BatchOut(results=items)


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
    return _answer(record, replayed=True)
