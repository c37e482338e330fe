"""A credit book under several macro scenarios: projected losses and IFRS 9 expected credit loss.

For each scenario, :func:`run_scenarios` projects the book's defaults and losses quarter by
quarter (:func:`~fintwin.stress.scenarios.project_losses`) and measures its IFRS 9 loss
allowance: each loan's annual PD path under the scenario (:func:`~.ecl.annual_pd_path`), its
stage from the change of lifetime PD against origination (:func:`~.ecl.assign_stage`; the
through-the-cycle path stands for origination), and its 12-month, lifetime or credit-impaired
ECL discounted at the loan's own rate. The scenarios' allowances are then weighted by their
probabilities (:func:`~.ecl.weighted_ecl`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fintwin.exceptions import ParameterError
from fintwin.stress.ecl import (
    Stage,
    StagingRule,
    annual_pd_path,
    assign_stage,
    expected_credit_loss,
    lifetime_pd,
    weighted_ecl,
)
from fintwin.stress.scenarios import Scenario, project_losses

__all__ = ["ScenarioRun", "run_scenarios"]


@dataclass(frozen=True)
class ScenarioRun:
    """What each scenario does to a book.

    Attributes
    ----------
    projections : dict of str to pandas.DataFrame
        Per scenario, the quarterly projection of :func:`project_losses`.
    ecl : pandas.DataFrame
        One row per scenario: ``weight``, loans and ECL by stage, ``ecl`` total and
        ``coverage`` (ECL over exposure).
    weighted_ecl : float
        The probability-weighted loss allowance, currency units.
    """

    projections: dict[str, pd.DataFrame]
    ecl: pd.DataFrame
    weighted_ecl: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "weighted_ecl": self.weighted_ecl,
            "ecl": self.ecl.to_dict("records"),
            "cumulative_loss": {
                name: float(table["cumulative_loss"].iloc[-1])
                for name, table in self.projections.items()
            },
        }


def run_scenarios(
    pd_ttc: np.ndarray,
    lgd: float,
    ead: np.ndarray,
    effective_rate: np.ndarray,
    remaining_years: np.ndarray,
    scenarios: Mapping[str, Scenario],
    *,
    rho: float,
    weights: Mapping[str, float] | None = None,
    rule: StagingRule | None = None,
) -> ScenarioRun:
    """Project and provision a book under each scenario, then weight the allowances.

    Parameters
    ----------
    pd_ttc, ead, effective_rate, remaining_years : numpy.ndarray of shape (n_loans,)
        Through-the-cycle annual PD, exposure (currency units), effective rate (0.05 = 5 %)
        and remaining life (years, positive) of each loan.
    lgd : float
        Loss given default before each scenario's shift.
    scenarios : mapping of str to Scenario
    rho : float
        Asset correlation of the Vasicek factor model.
    weights : mapping of str to float, optional
        Probability of each scenario (summing to 1); equal weights by default.
    rule : StagingRule, optional
    """
    if not scenarios:
        raise ParameterError("give at least one scenario")
    names = list(scenarios)
    if weights is None:
        weights = dict.fromkeys(names, 1.0 / len(names))
    if set(weights) != set(names):
        raise ParameterError(
            f"weights must name exactly the scenarios {names} (got {sorted(weights)})"
        )
    years = int(np.ceil(remaining_years.max()))
    ttc_path = np.repeat(pd_ttc[:, None], years, axis=1)
    at_origination = lifetime_pd(ttc_path, remaining_years=remaining_years)
    projections, rows, allowances = {}, [], {}
    for name, scenario in scenarios.items():
        projections[name] = project_losses(pd_ttc, lgd, ead, rho, scenario)
        path = annual_pd_path(pd_ttc, rho, scenario, years=years)
        now = lifetime_pd(path, remaining_years=remaining_years)
        stage = assign_stage(
            now, at_origination, np.zeros(len(ead)), np.zeros(len(ead), bool), rule=rule
        )
        shift = float(np.mean(scenario.lgd_shift[:4]))
        loss = expected_credit_loss(
            path,
            float(np.clip(lgd + shift, 0.0, 1.0)),
            ead,
            effective_rate,
            stage,
            remaining_years=remaining_years,
        )
        allowances[name] = loss
        row: dict[str, Any] = {"scenario": name, "weight": float(weights[name])}
        for s in Stage:
            row[f"stage_{int(s)}_loans"] = int((stage == s).sum())
            row[f"stage_{int(s)}_ecl"] = float(loss[stage == s].sum())
        row["ecl"] = float(loss.sum())
        row["coverage"] = float(loss.sum() / ead.sum()) if ead.sum() else 0.0
        rows.append(row)
    weighted = weighted_ecl([allowances[n] for n in names], [weights[n] for n in names])
    return ScenarioRun(projections, pd.DataFrame(rows), float(np.sum(weighted)))
