"""Human review: ``GET /v1/reviews`` (the queue) and ``POST /v1/reviews/{decision_id}``.

The queue holds the decisions whose action is ``review`` and that have no verdict yet, oldest
first, in pages. A verdict confirms the engine's action or overrides it with another one; it is
appended beside the decision (the decision and earlier verdicts are never changed: the store's
tables refuse UPDATE and DELETE) and chained into the audit ledger. The last verdict is in
force. A verdict does not label the payment: a confirmed fraud also goes to ``POST /v1/labels``
so that the delayed-label features and monitoring see it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from fintwin.exceptions import DecisionNotFoundError, ParameterError, StoreUnavailableError
from fintwin.service.apikeys import Principal
from fintwin.service.routers._common import (
    UNAVAILABLE_RESPONSE,
    IdempotencyKey,
    actor,
    invalid,
    replayed_header,
    unavailable,
)
from fintwin.service.routers.decisions import DecisionOut
from fintwin.service.runtime import ServiceRuntime, get_runtime
from fintwin.service.schemas import ErrorOut, ReviewVerdictIn
from fintwin.service.security import AUTHORISATION_MATRIX, security_responses
from fintwin.store.decisions import ReviewVerdict

__all__ = ["ReviewPageOut", "VerdictOut", "router"]

router = APIRouter(tags=["reviews"])

_MAY_READ_QUEUE = AUTHORISATION_MATRIX.require("GET", "/v1/reviews")
_MAY_JUDGE = AUTHORISATION_MATRIX.require("POST", "/v1/reviews/{id}")


class ReviewPageOut(BaseModel):
    items: list[DecisionOut] = Field(description="Decisions awaiting review, oldest first.")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null: last.")


class VerdictOut(BaseModel):
    verdict_id: str
    decision_id: str
    verdict: str = Field(description="confirm or override.")
    action: str | None = Field(description="The overriding action; null for a confirmation.")
    analyst: str
    comment: str
    created_at: str
    action_in_force: str = Field(
        description="The engine's action, or the overriding action of the last verdict."
    )


@router.get(
    "/v1/reviews",
    response_model=ReviewPageOut,
    responses={**security_responses(), **UNAVAILABLE_RESPONSE},
    summary="The review queue",
)
def review_queue(
    rt: Annotated[ServiceRuntime, Depends(get_runtime)],
    who: Annotated[Principal, _MAY_READ_QUEUE],
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> Any:
    """Decisions in ``review`` without a verdict, oldest first."""
    try:
        page = rt.store.review_queue(limit=limit, cursor=cursor)
    except ParameterError as exc:  # a cursor that no page gave
        raise invalid("query", "cursor", str(exc)) from None
    except StoreUnavailableError as exc:
        raise unavailable("decision store", exc) from None
    return ReviewPageOut(
        items=[DecisionOut.model_validate(dict(r.body)) for r in page.items],
        next_cursor=page.next_cursor,
    )


@router.post(
    "/v1/reviews/{decision_id}",
    response_model=VerdictOut,
    responses={
        **security_responses(),
        404: {"model": ErrorOut, "description": "No such decision"},
        **UNAVAILABLE_RESPONSE,
    },
    summary="An analyst's verdict on a decision",
)
def give_verdict(
    decision_id: Annotated[str, PathParam(min_length=1, max_length=128)],
    body: ReviewVerdictIn,
    rt: Annotated[ServiceRuntime, Depends(get_runtime)],
    who: Annotated[Principal, _MAY_JUDGE],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Confirm the decision's action or override it; recorded beside it, never over it.

    With an ``Idempotency-Key``, a retry returns the verdict first stored under it.
    """
    verdict = ReviewVerdict(
        decision_id=decision_id,
        verdict=body.verdict,
        analyst=actor(who),
        comment=body.comment,
        action=body.action,
        **({"verdict_id": idempotency_key} if idempotency_key else {}),
    )
    try:
        recorded = rt.store.record_verdict(verdict)
        stored = recorded.record
        if stored.decision_id != decision_id:
            raise HTTPException(
                409, f"Idempotency-Key {idempotency_key} was used for another decision"
            )
        decision = rt.store.get_decision(decision_id)
        last = rt.store.verdicts(decision_id)[-1]
    except DecisionNotFoundError:
        raise HTTPException(404, f"no decision {decision_id!r}") from None
    except StoreUnavailableError as exc:
        raise unavailable("decision store", exc) from None
    assert decision is not None  # the verdict's foreign key says it exists
    in_force = last.action if last.action is not None else decision.action
    return JSONResponse(
        {**stored.to_json(), "action_in_force": in_force.value},
        headers=replayed_header(not recorded.created),
    )
