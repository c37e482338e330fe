"""``POST /v1/credit/decisions``: a credit application decided, with its principal reasons.

The model is the credit model directory named by ``FINTWIN_CREDIT_MODEL`` (written by
``fintwin credit train``), loaded once per process. The applicant's values are checked against
the model's inputs: an unknown name, or text where the model needs a number, is a 422 naming
the field; an absent input counts as missing (its own bin, never a silent NaN score). The
model's derived ratios are not inputs: it derives them from the applicant's values. Each
decision is appended to the audit ledger before the answer, with the inputs it used, so an
auditor can replay it. Re-posting an application decides it again (same inputs, same model:
same answer) and records it again; the ledger keeps every call.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from fintwin.credit.applications import FeatureKind, normalise_features
from fintwin.credit.model import CreditModel
from fintwin.exceptions import FintwinError, LedgerUnavailableError
from fintwin.governance.ledger import RecordKind
from fintwin.service.apikeys import Principal
from fintwin.service.routers._common import UNAVAILABLE_RESPONSE, actor, invalid, unavailable
from fintwin.service.runtime import ServiceRuntime, get_runtime
from fintwin.service.security import AUTHORISATION_MATRIX, security_responses

__all__ = ["CreditApplicationIn", "CreditDecisionOut", "router"]

router = APIRouter(tags=["credit"])

_MAY_DECIDE = AUTHORISATION_MATRIX.require("POST", "/v1/credit/decisions")


class CreditApplicationIn(BaseModel):
    """One application: its id and the applicant's values by input name."""

    model_config = ConfigDict(extra="forbid")

    application_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    applicant: dict[str, float | int | str | None] = Field(
        description="Values by the model's input names; absent inputs count as missing. "
        "Never send identifiers of people: they are not inputs and are refused."
    )


class ReasonOut(BaseModel):
    variable: str
    bin: str
    points_below_maximum: float
    text: str


class CreditDecisionOut(BaseModel):
    application_id: str
    approved: bool
    score: float = Field(description="Scorecard points; approved at or above the cut-off.")
    cutoff: float
    predicted_bad_rate: float = Field(description="The scorecard's probability of default.")
    challenger_bad_rate: float = Field(description="The challenger's, for comparison only.")
    reasons: list[ReasonOut] = Field(description="Up to four principal reasons for a decline.")
    model_trained_at: str
    ledger_seq: int = Field(description="The decision's entry in the audit ledger.")


@functools.lru_cache(maxsize=2)
def _load(directory: Path, mtime_ns: int) -> CreditModel:
    del mtime_ns  # part of the cache key: a retrained model is reloaded
    return CreditModel.load(directory)


def _model(rt: ServiceRuntime) -> CreditModel:
    directory = rt.settings.credit_model
    if directory is None:
        raise HTTPException(503, "no credit model is configured (FINTWIN_CREDIT_MODEL)")
    try:
        return _load(directory, (directory / "model.json").stat().st_mtime_ns)
    except (OSError, FintwinError) as exc:
        raise HTTPException(503, f"the credit model cannot be loaded: {exc}") from None


def _features(model: CreditModel, applicant: dict[str, Any]) -> pd.DataFrame:
    kinds = model.input_kinds
    for name, value in applicant.items():
        if name not in kinds:
            raise invalid("body", f"applicant.{name}", "not an input of the credit model")
        if isinstance(value, float) and not math.isfinite(value):
            raise invalid("body", f"applicant.{name}", "must be finite")
        if isinstance(value, str) and kinds[name] is not FeatureKind.CATEGORICAL:
            raise invalid("body", f"applicant.{name}", "must be a number or null")
    row = pd.DataFrame({name: [applicant.get(name)] for name in kinds})
    return normalise_features(row, kinds)


@router.post(
    "/v1/credit/decisions",
    response_model=CreditDecisionOut,
    responses={**security_responses(), **UNAVAILABLE_RESPONSE},
    summary="Decide a credit application, with principal reasons for a decline",
)
def post_credit_decision(
    body: CreditApplicationIn,
    rt: Annotated[ServiceRuntime, Depends(get_runtime)],
    who: Annotated[Principal, _MAY_DECIDE],
) -> Any:
    """Score with the champion scorecard, decide at its cut-off, record in the ledger."""
    model = _model(rt)
    decision = model.decide(_features(model, body.applicant))[0]
    answer = {
        "application_id": body.application_id,
        "approved": decision.approved,
        "score": decision.score,
        "cutoff": model.cutoff,
        "predicted_bad_rate": decision.predicted_bad_rate,
        "challenger_bad_rate": decision.challenger_bad_rate,
        "reasons": decision.reasons,
        "model_trained_at": str(model.record.get("trained_at", "")),
    }
    payload = {**answer, "applicant": body.applicant}
    try:
        entry = rt.ledger.append(RecordKind.CREDIT_DECISION, payload, actor=actor(who))
    except LedgerUnavailableError as exc:
        raise unavailable("audit ledger", exc) from None
    return {**answer, "ledger_seq": entry.seq}
