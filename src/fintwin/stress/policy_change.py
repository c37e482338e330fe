"""A proposed policy change, as a YAML file for ``fintwin stress preplay --change FILE``.

Every section is optional, at least one is given, and unknown keys are refused::

    credit:                      # the approval rules of fintwin.world.lending_policy
      min_bureau_score: 640      # bureau score cut-off
      max_delinquencies: 1       # most delinquencies in 24 months still approved
      thin_file_min_tenure_months: 12
      thin_file_max_amount: 2000
    limits:
      income_cap:                # largest amount granted, as a share of annual income
        personal_loan: 0.4
        credit_card_line: 0.15
    fraud:
      model: fraud-retail-bank/1 # a registered fraud model
      registry: models           # default: $FINTWIN_REGISTRY or ./models
      alert_rate: 0.01           # proposed: alert the riskiest 1 % ... or threshold: 0.3
      current_threshold: 0.5     # default: the threshold the model recorded at training

An error names the file and the field (``credit.min_bureau_score``) and what was expected.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fintwin._yaml import load_yaml_model
from fintwin.data.schemas.economy import LoanProduct
from fintwin.world.lending_policy import PolicyParams

__all__ = ["CreditChange", "FraudChange", "LimitChange", "PolicyChange", "load_change"]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class CreditChange(BaseModel):
    """New values of the historical approval rules (absent: unchanged)."""

    model_config = _STRICT

    min_bureau_score: int | None = Field(default=None, ge=300, le=850)
    max_delinquencies: int | None = Field(default=None, ge=0)
    thin_file_min_tenure_months: int | None = Field(default=None, ge=0)
    thin_file_max_amount: float | None = Field(default=None, ge=0)


class LimitChange(BaseModel):
    """New income caps per product (absent products: unchanged)."""

    model_config = _STRICT

    income_cap: dict[LoanProduct, Annotated[float, Field(gt=0, le=10)]] = Field(min_length=1)


class FraudChange(BaseModel):
    """A new alert threshold (or alert rate) for a registered fraud model."""

    model_config = _STRICT

    model: str = Field(min_length=1)
    registry: Path | None = None
    threshold: float | None = Field(default=None, gt=0, lt=1)
    alert_rate: float | None = Field(default=None, gt=0, lt=1)
    current_threshold: float | None = Field(default=None, gt=0, lt=1)

    @model_validator(mode="after")
    def _one_target(self) -> FraudChange:
        if (self.threshold is None) == (self.alert_rate is None):
            raise ValueError("give exactly one of threshold and alert_rate")
        return self


class PolicyChange(BaseModel):
    """The whole change file."""

    model_config = _STRICT

    credit: CreditChange | None = None
    limits: LimitChange | None = None
    fraud: FraudChange | None = None

    @model_validator(mode="after")
    def _something(self) -> PolicyChange:
        if self.credit is None and self.limits is None and self.fraud is None:
            raise ValueError("a change needs at least one of credit, limits and fraud")
        return self

    def lending(self, current: PolicyParams) -> PolicyParams:
        """``current`` with the credit and limit changes applied."""
        new = current
        if self.credit is not None:
            new = replace(new, **self.credit.model_dump(exclude_none=True))
        if self.limits is not None:
            caps = list(new.income_cap)
            for product, cap in self.limits.income_cap.items():
                caps[list(LoanProduct).index(product)] = cap
            new = replace(new, income_cap=tuple(caps))
        if new != current:
            new = replace(new, version=f"{current.version}+change")
        return new


def load_change(path: str | Path) -> PolicyChange:
    """Read and check a change file (errors name the file and the field)."""
    return load_yaml_model(path, PolicyChange)
