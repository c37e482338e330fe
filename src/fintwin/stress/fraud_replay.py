"""A fraud model's alert threshold, replayed over a world's test period.

For each threshold: how many alerts analysts must work (per day), how many frauds and how
much fraud money they catch, and the fraud losses left (the amount of frauds not alerted).
Fraud does not follow the macro scenario in the twin; the pre-play shows it beside the credit
side so a change to both is seen at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from fintwin.risk._arrays import MS_PER_DAY
from fintwin.risk.metrics import threshold_at_alert_rate
from fintwin.risk.model_evaluation import ScoredTestPeriod

__all__ = ["FraudOutcome", "fraud_outcomes", "threshold_for"]


@dataclass(frozen=True)
class FraudOutcome:
    """What one threshold gives over the test period.

    Attributes
    ----------
    threshold : float
        Alert when the calibrated fraud probability is at or above it.
    alerts, alerts_per_day : int, float
        Analysts' workload.
    frauds, frauds_caught : int
    fraud_amount, fraud_amount_caught, fraud_losses : float
        Currency units; losses are the amount of frauds not alerted.
    precision : float
        Share of alerts that are frauds (NaN with no alert).
    """

    threshold: float
    alerts: int
    alerts_per_day: float
    frauds: int
    frauds_caught: int
    fraud_amount: float
    fraud_amount_caught: float
    fraud_losses: float
    precision: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def threshold_for(scored: ScoredTestPeriod, alert_rate: float) -> float:
    """The threshold that alerts a share ``alert_rate`` of the test period's events."""
    return threshold_at_alert_rate(scored.scores, alert_rate)


def fraud_outcomes(
    scored: ScoredTestPeriod, thresholds: Mapping[str, float]
) -> dict[str, FraudOutcome]:
    """Workload, frauds caught and losses at each named threshold.

    Parameters
    ----------
    scored : ScoredTestPeriod
        A registered model's scores on a world's test period
        (:func:`fintwin.risk.model_evaluation.score_test_period`).
    thresholds : mapping of str to float
        Name (``current``, ``proposed``) to threshold.
    """
    events = scored.features.events
    rows = scored.split.test
    fraud = events.is_fraud[rows]
    amount = events.amount[rows]
    stamps = events.timestamp_ms[rows]
    days = max(1, int((stamps.max() - stamps.min()) // MS_PER_DAY) + 1) if rows.size else 1
    out = {}
    for name, threshold in thresholds.items():
        alerted = scored.scores >= threshold
        caught = alerted & fraud
        out[name] = FraudOutcome(
            threshold=float(threshold),
            alerts=int(alerted.sum()),
            alerts_per_day=float(alerted.sum() / days),
            frauds=int(fraud.sum()),
            frauds_caught=int(caught.sum()),
            fraud_amount=float(amount[fraud].sum()),
            fraud_amount_caught=float(amount[caught].sum()),
            fraud_losses=float(amount[fraud & ~alerted].sum()),
            precision=float(caught.sum() / alerted.sum()) if alerted.any() else float(np.nan),
        )
    return out
