"""Pre-play: a policy change tried in the twin under a macro scenario, beside the current policy.

Both policies decide every loan application of the world (:mod:`.lending_replay`), and every
applicant's 12-month PD is the twin's own under the scenario's first year (the loan's year):
the realised unemployment and growth are replaced by the scenario's averages over its first
four quarters. For each policy: approvals (all and thin-file), approved exposure, the expected
credit loss under the scenario and as it happened, and the IRB capital of the approved book at
the scenario's PDs. With a ``fraud`` section, the fraud model's current and proposed thresholds
are replayed over the world's test period: alert workload, frauds caught, fraud losses.

Asset classes of the book for capital: credit card lines are qualifying revolving retail;
personal loans, microloans and SME working capital (small, retail-managed SME exposures, Basel
para 231) are other retail. LGD is 45 % plus the scenario's LGD shift averaged over the year.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fintwin.data.schemas.economy import LoanProduct
from fintwin.data.world_dir import World
from fintwin.stress.fraud_replay import fraud_outcomes, threshold_for
from fintwin.stress.irb import AssetClass, capital_requirement, risk_weighted_assets
from fintwin.stress.lending_replay import LendingBook, lending_book, policy_params
from fintwin.stress.policy_change import PolicyChange
from fintwin.stress.scenarios import Scenario

__all__ = ["ASSET_CLASS_OF_PRODUCT", "PreplayResult", "loan_year", "preplay"]

#: The IRB asset class of each product of the twin (see the module docstring).
ASSET_CLASS_OF_PRODUCT = {
    LoanProduct.PERSONAL_LOAN: AssetClass.OTHER_RETAIL,
    LoanProduct.CREDIT_CARD_LINE: AssetClass.REVOLVING,
    LoanProduct.SME_WORKING_CAPITAL: AssetClass.OTHER_RETAIL,
    LoanProduct.MICROLOAN: AssetClass.OTHER_RETAIL,
}
BASE_LGD = 0.45
#: Quarters of the scenario that make the loan's year.
LOAN_YEAR_QUARTERS = 4


@dataclass(frozen=True)
class PreplayResult:
    """Current against proposed policy under one scenario.

    Attributes
    ----------
    scenario : str
    loan_year : dict
        The scenario's averages over the loan's year (``unemployment``, ``gdp_growth``, %)
        and the LGD used.
    credit : pandas.DataFrame
        One row per metric, columns ``current`` and ``proposed`` (and ``change``).
    capital_by_class : pandas.DataFrame
        RWA and capital per policy and asset class.
    fraud : pandas.DataFrame or None
        One row per metric, columns ``current`` and ``proposed``; None without a fraud change.
    """

    scenario: str
    loan_year: dict[str, float]
    credit: pd.DataFrame
    capital_by_class: pd.DataFrame
    fraud: pd.DataFrame | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "loan_year": self.loan_year,
            "credit": _records(self.credit),
            "capital_by_class": self.capital_by_class.to_dict("records"),
            "fraud": None if self.fraud is None else _records(self.fraud),
        }


def _records(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    return {str(metric): {k: float(v) for k, v in row.items()} for metric, row in table.iterrows()}


def _policy_metrics(
    book: LendingBook, approved: np.ndarray, exposure: np.ndarray, pd_s: np.ndarray, lgd: float
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    f = book.frame
    thin = f["thin_file"].to_numpy()
    pd_real = f["pd_12m"].to_numpy()
    ead = np.where(approved, exposure, 0.0)
    metrics = {
        "applications": float(len(book)),
        "approved": float(approved.sum()),
        "approval_rate": float(approved.mean()),
        "thin_file_approval_rate": float(approved[thin].mean()) if thin.any() else 0.0,
        "approved_exposure": float(ead.sum()),
        "expected_bad_rate_scenario": float(pd_s[approved].mean()) if approved.any() else 0.0,
        "expected_bad_rate_as_realised": float(pd_real[approved].mean()) if approved.any() else 0.0,
        "expected_credit_loss_scenario": float((pd_s * lgd * ead).sum()),
        "expected_credit_loss_as_realised": float((pd_real * BASE_LGD * ead).sum()),
    }
    capital = []
    products = list(LoanProduct)
    for asset_class in sorted(set(ASSET_CLASS_OF_PRODUCT.values()), key=lambda c: c.value):
        codes = [products.index(p) for p, c in ASSET_CLASS_OF_PRODUCT.items() if c is asset_class]
        rows = approved & np.isin(f["product"].to_numpy(), codes)
        rwa = float(np.sum(risk_weighted_assets(pd_s[rows], lgd, ead[rows], asset_class)))
        k = float(np.sum(capital_requirement(pd_s[rows], lgd, asset_class) * ead[rows]))
        capital.append({"asset_class": asset_class.value, "rwa": rwa, "capital": k})
    metrics["rwa"] = sum(c["rwa"] for c in capital)
    metrics["capital"] = sum(c["capital"] for c in capital)
    return metrics, capital


def loan_year(scenario: Scenario) -> dict[str, float]:
    """The scenario's averages over the loan's year (its first four quarters): unemployment
    and growth (%), and the LGD (45 % plus the average LGD shift, within [0, 1])."""
    year = slice(0, min(LOAN_YEAR_QUARTERS, scenario.horizon))
    return {
        "unemployment": float(np.mean(scenario.paths["unemployment"][year])),
        "gdp_growth": float(np.mean(scenario.paths["gdp_growth"][year])),
        "lgd": float(np.clip(BASE_LGD + np.mean(scenario.lgd_shift[year]), 0.0, 1.0)),
    }


def preplay(
    world: World,
    scenario: Scenario,
    change: PolicyChange,
    *,
    registry: Path | None = None,
) -> PreplayResult:
    """Replay the world's applicants under ``scenario`` with the current and changed policy.

    Parameters
    ----------
    world : World
        A world with loan applications (and, for a fraud change, the events the fraud model
        was trained on).
    scenario : Scenario
        Its first four quarters are the loans' year.
    change : PolicyChange
        The proposed credit rules, limits and fraud threshold.
    registry : Path, optional
        Model registry for the fraud model (default: the change file's, else ``./models``).

    Returns
    -------
    PreplayResult
    """
    book = lending_book(world)
    year = loan_year(scenario)
    lgd = year["lgd"]
    pd_s = book.pd_under(year["unemployment"], year["gdp_growth"])
    current = policy_params(world)
    columns: dict[str, dict[str, float]] = {}
    capital_rows = []
    for name, params in (("current", current), ("proposed", change.lending(current))):
        decision = book.replay(params)
        exposure = decision.approved_minor / 100.0
        metrics, capital = _policy_metrics(book, decision.approved, exposure, pd_s, lgd)
        columns[name] = metrics
        capital_rows += [{"policy": name, **row} for row in capital]
    credit = pd.DataFrame(columns)
    credit["change"] = credit["proposed"] - credit["current"]
    return PreplayResult(
        scenario.name,
        year,
        credit,
        pd.DataFrame(capital_rows),
        _fraud(world, change, registry),
    )


def _fraud(world: World, change: PolicyChange, registry: Path | None) -> pd.DataFrame | None:
    if change.fraud is None:
        return None
    from fintwin.governance import ModelRegistry
    from fintwin.risk.model_evaluation import score_test_period

    fraud = change.fraud
    folder = fraud.registry or registry or Path("models")
    scored = score_test_period(world, fraud.model, registry=ModelRegistry(folder))
    current = fraud.current_threshold
    if current is None:
        current = float(scored.model.metadata.metrics.get("threshold", 0.5))
    proposed = fraud.threshold
    if proposed is None:
        proposed = threshold_for(scored, fraud.alert_rate or 0.0)
    outcomes = fraud_outcomes(scored, {"current": current, "proposed": proposed})
    table = pd.DataFrame({name: o.to_dict() for name, o in outcomes.items()})
    table["change"] = table["proposed"] - table["current"]
    return table
