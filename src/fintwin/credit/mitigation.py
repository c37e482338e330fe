"""A search for a less-discriminatory scorecard, and what it costs.

Reweighing (Kamiran & Calders, 2012) gives each training applicant the weight
``P(group) P(outcome) / P(group, outcome)``, so that outcome and protected group are
independent in the weighted data; the scorecard is refitted on those weights. The search
blends the weights from none to full (``1 + strength (w - 1)``) and, for each candidate, sets
the cut-off at the baseline's training approval rate (so candidates are compared at the same
volume), then measures on held-out applicants: AUC, realised profit (margin on the goods it
approves minus loss on the bads), the smallest adverse-impact ratio and the equal-opportunity
difference. The protected attribute is used only to weight training data: no candidate sees
it when it decides.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fintwin.credit.applications import CreditData
from fintwin.credit.cutoff import LoanEconomics
from fintwin.credit.fairness import (
    adverse_impact_ratio,
    equal_opportunity_difference,
    reweighing_weights,
)
from fintwin.credit.metrics import credit_metrics
from fintwin.credit.scorecard import Scorecard, ScorecardConfig
from fintwin.exceptions import ParameterError

__all__ = ["STRENGTHS", "mitigation_search", "proposed_candidate"]

STRENGTHS = (0.0, 0.5, 1.0)


def _cutoff_at_rate(score: np.ndarray, rate: float) -> float:
    """The cut-off approving a share ``rate`` of ``score`` (ties approved together)."""
    if rate <= 0:
        return float("inf")
    return float(np.quantile(score, 1 - rate, method="higher"))


def mitigation_search(
    train: CreditData,
    test: CreditData,
    groups_train: np.ndarray,
    groups_test: np.ndarray,
    *,
    approval_rate: float,
    exposure_test: np.ndarray | None = None,
    economics: LoanEconomics | None = None,
    config: ScorecardConfig | None = None,
    strengths: Sequence[float] = STRENGTHS,
    min_group_size: int = 30,
) -> pd.DataFrame:
    """Scorecards refitted with reweighing of increasing strength, side by side.

    Parameters
    ----------
    train, test : CreditData
    groups_train, groups_test : numpy.ndarray of shape (n_train,), (n_test,)
        The protected group of each applicant.
    approval_rate : float
        Share of training applicants each candidate approves (the baseline's).
    exposure_test : numpy.ndarray of shape (n_test,), optional
        Exposure per test applicant (1 each by default).
    economics : LoanEconomics, optional
    config : ScorecardConfig, optional
    strengths : sequence of float
        Blends of the reweighing, each in [0, 1]; 0 is the unweighted baseline.
    min_group_size : int
        Groups smaller than this are not compared (see :func:`.fairness.adverse_impact_ratio`).

    Returns
    -------
    pandas.DataFrame
        One row per strength: ``strength``, ``auc``, ``auc_cost`` (baseline minus this),
        ``approval_rate_test``, ``realised_profit``, ``profit_cost``,
        ``min_adverse_impact_ratio``, ``flagged_groups``, ``equal_opportunity_difference``.
    """
    if any(not 0 <= s <= 1 for s in strengths) or 0.0 not in strengths:
        raise ParameterError(f"strengths must lie in [0, 1] and include 0 (got {strengths})")
    economics = economics or LoanEconomics()
    exposure = np.ones(len(test)) if exposure_test is None else np.asarray(exposure_test, float)
    full = reweighing_weights(train.bad, groups_train)
    rows = []
    for strength in sorted(strengths):
        weights = 1.0 + strength * (full - 1.0)
        scorecard = Scorecard.fit(train, config, sample_weight=weights)
        cutoff = _cutoff_at_rate(scorecard.score(train.features), approval_rate)
        score = scorecard.score(test.features)
        approved = score >= cutoff
        gains = np.where(test.bad, -economics.lgd, economics.margin) * exposure
        impact = adverse_impact_ratio(approved, groups_test, min_group_size=min_group_size)
        opportunity = equal_opportunity_difference(
            approved, ~test.bad, groups_test, min_group_size=min_group_size
        )
        rows.append(
            {
                "strength": strength,
                "auc": credit_metrics(test.bad, scorecard.predicted_bad_rate(test.features)).auc,
                "approval_rate_test": float(approved.mean()),
                "realised_profit": float(gains[approved].sum()),
                "min_adverse_impact_ratio": impact.min_ratio,
                "flagged_groups": list(impact.flagged),
                "equal_opportunity_difference": opportunity.difference,
            }
        )
    table = pd.DataFrame(rows)
    table["auc_cost"] = table["auc"].iloc[0] - table["auc"]
    table["profit_cost"] = table["realised_profit"].iloc[0] - table["realised_profit"]
    return table


def proposed_candidate(table: pd.DataFrame) -> dict[str, object] | None:
    """The less-discriminatory alternative to propose, or None when none improves on fairness.

    Among candidates with a higher smallest adverse-impact ratio than the baseline, the one
    with no flagged group and the lowest AUC cost; failing that, the one with the highest
    ratio.
    """
    baseline = table.iloc[0]
    better = table[table["min_adverse_impact_ratio"] > baseline["min_adverse_impact_ratio"]]
    if better.empty:
        return None
    clean = better[better["flagged_groups"].map(len) == 0]
    pick = (
        clean.sort_values("auc_cost").iloc[0]
        if not clean.empty
        else better.sort_values("min_adverse_impact_ratio").iloc[-1]
    )
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in pick.items()}
