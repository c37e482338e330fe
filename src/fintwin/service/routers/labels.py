"""``POST /v1/labels``: chargebacks and confirmed frauds arriving after the decision.

Each label is stored once per (payment, source), chained into the audit ledger, and given to
the engine, whose delayed-label features (the fraud history of the card and terminal) count it
from the first payment at or after its ``available_at``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from fintwin.exceptions import StoreUnavailableError
from fintwin.service.apikeys import Principal
from fintwin.service.routers._common import UNAVAILABLE_RESPONSE, actor, unavailable
from fintwin.service.runtime import ServiceRuntime, get_runtime
from fintwin.service.schemas import LabelsIn
from fintwin.service.security import AUTHORISATION_MATRIX, security_responses
from fintwin.store.decisions import Label

__all__ = ["LabelOut", "LabelsOut", "router"]

router = APIRouter(tags=["labels"])

_MAY_LABEL = AUTHORISATION_MATRIX.require("POST", "/v1/labels")


class LabelOut(BaseModel):
    transaction_id: int
    source: str
    is_fraud: bool = Field(description="As stored: the first label of this payment and source.")
    available_at: str
    created: bool = Field(description="False: this payment and source were labelled before.")
    applied: bool = Field(
        description="The engine will count it; false when it did not decide the payment "
        "(another model, degraded mode), it is too old for any window, or was labelled before."
    )


class LabelsOut(BaseModel):
    labels: list[LabelOut]


@router.post(
    "/v1/labels",
    response_model=LabelsOut,
    responses={**security_responses(), **UNAVAILABLE_RESPONSE},
    summary="Late labels: chargebacks, confirmed frauds, cleared payments",
)
def post_labels(
    body: LabelsIn,
    rt: Annotated[ServiceRuntime, Depends(get_runtime)],
    who: Annotated[Principal, _MAY_LABEL],
) -> Any:
    """Store up to 1,000 labels in one commit, then give the new ones to the engine."""
    received = dt.datetime.now(dt.UTC)
    labels = [
        Label(
            event_id=str(x.transaction_id),
            is_fraud=x.is_fraud,
            available_at=x.effective_time(received),
            source=x.source.value,
            actor=actor(who),
        )
        for x in body.labels
    ]
    try:
        recorded = rt.store.record_labels(labels)
    except StoreUnavailableError as exc:
        raise unavailable("decision store", exc) from None
    decider = rt.decider
    out = []
    for given, r in zip(body.labels, recorded, strict=True):
        label = r.record
        applied = r.created and decider.add_label(
            given.transaction_id, label.is_fraud, label.available_at
        )
        out.append(
            LabelOut(
                transaction_id=given.transaction_id,
                source=label.source,
                is_fraud=label.is_fraud,
                available_at=label.available_at.isoformat(),
                created=r.created,
                applied=applied,
            )
        )
    return LabelsOut(labels=out)
