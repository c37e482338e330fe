"""All fraud metrics of one set of scores at once, as a JSON-ready record."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from numpy.typing import ArrayLike

from fintwin.exceptions import ParameterError
from fintwin.risk._arrays import both_classes, check_count, labels_and_scores
from fintwin.risk.metrics import (
    CardPrecision,
    LatencySummary,
    PRCurve,
    auc_roc,
    average_precision,
    card_precision_at_k,
    fraud_amount_caught,
    latency_percentiles,
    precision_recall_curve,
    recall_by_group,
    threshold_at_alert_rate,
)

__all__ = ["DEFAULT_ALERT_RATE", "FraudEvaluation", "evaluate_scores"]

DEFAULT_ALERT_RATE = 0.005
"""Alert rate used when neither a rate nor a threshold is given: 0.5 % of events reviewed."""


@dataclass(frozen=True, eq=False)
class FraudEvaluation:
    """The metrics of one set of scores, from :func:`evaluate_scores`.

    Optional metrics are None when the input they need (day and card, amount, latencies) was
    not given. :meth:`to_dict` gives the JSON object, with CP@k named ``card_precision_at_{k}``.
    """

    n_events: int
    n_frauds: int
    auc_roc: float
    average_precision: float
    threshold: float
    alert_rate: float
    recall: float
    precision: float
    k: int
    card_precision: CardPrecision | None
    fraud_amount_caught: float | None
    recall_by_scenario: Mapping[str, float]
    frauds_by_scenario: Mapping[str, int]
    latency: LatencySummary | None
    pr_curve: PRCurve = field(repr=False)

    @property
    def card_precision_at_k(self) -> float | None:
        """Mean card precision@k, or None."""
        return None if self.card_precision is None else self.card_precision.mean

    def to_dict(self, *, curve: bool = False) -> dict[str, Any]:
        """JSON-ready dictionary (plain Python numbers; None for metrics not computed).

        Parameters
        ----------
        curve : bool, default False
            Include the precision-recall curve points under ``"pr_curve"``.
        """
        cp = self.card_precision
        out: dict[str, Any] = {
            "n_events": self.n_events,
            "n_frauds": self.n_frauds,
            "auc_roc": self.auc_roc,
            "average_precision": self.average_precision,
            f"card_precision_at_{self.k}": None if cp is None else cp.mean,
            f"card_precision_at_{self.k}_per_day": None if cp is None else cp.per_day.tolist(),
            "card_precision_days": None if cp is None else cp.days.tolist(),
            "threshold": self.threshold,
            "alert_rate": self.alert_rate,
            "recall": self.recall,
            "precision": self.precision,
            "fraud_amount_caught": self.fraud_amount_caught,
            "recall_by_scenario": dict(self.recall_by_scenario),
            "frauds_by_scenario": dict(self.frauds_by_scenario),
            "latency": None if self.latency is None else self.latency.to_dict(),
        }
        if curve:
            out["pr_curve"] = self.pr_curve.to_dict()
        return out


def evaluate_scores(
    y_true: ArrayLike,
    score: ArrayLike,
    *,
    day: ArrayLike | None = None,
    card: ArrayLike | None = None,
    amount: ArrayLike | None = None,
    scenario: ArrayLike | None = None,
    latency_s: ArrayLike | None = None,
    rate: float | None = None,
    threshold: float | None = None,
    k: int = 100,
    curve_points: int = 200,
) -> FraudEvaluation:
    """Every fraud metric of one set of scores.

    Alerts are ``score >= threshold``; the threshold is given, or set by
    :func:`threshold_at_alert_rate` at ``rate`` (default :data:`DEFAULT_ALERT_RATE`). Give
    one of ``rate`` and ``threshold``, not both.

    Parameters
    ----------
    y_true : array-like of shape (n_events,)
        1 (or True) for fraud, 0 for genuine; both classes present.
    score : array-like of shape (n_events,)
        Fraud score, higher is more suspicious.
    day, card : array-like of shape (n_events,), optional
        Day index and card key of each event, together: card precision@k.
    amount : array-like of shape (n_events,), optional
        Amount in currency units: the share of fraud amount caught.
    scenario : array-like of shape (n_events,), optional
        Fraud scenario of each event (read on frauds only): recall per scenario.
    latency_s : array-like of shape (n_decisions,), optional
        Decision latencies in seconds: their percentiles.
    rate : float, optional
        Alert rate in (0, 1] that sets the threshold.
    threshold : float, optional
        Score threshold for alerts.
    k : int, default 100
        Cards per day for card precision@k.
    curve_points : int, default 200
        Most points kept on the precision-recall curve.

    Returns
    -------
    FraudEvaluation

    Examples
    --------
    >>> ev = evaluate_scores([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], rate=0.25)
    >>> ev.auc_roc, ev.threshold, ev.recall
    (0.75, 0.8, 0.5)
    """
    y, s = labels_and_scores(y_true, score)
    both_classes("the evaluation", y)
    check_count("k", k)
    if rate is not None and threshold is not None:
        raise ParameterError(
            f"give rate or threshold, not both (got rate={rate!r}, threshold={threshold!r})"
        )
    if (day is None) != (card is None):
        raise ParameterError("day and card must be given together for card precision@k")
    if threshold is None:
        threshold = threshold_at_alert_rate(s, DEFAULT_ALERT_RATE if rate is None else rate)
    elif not math.isfinite(threshold):
        raise ParameterError(f"threshold must be a finite number (got {threshold!r})")
    flags = s >= threshold
    by_group = {} if scenario is None else recall_by_group(y, flags, scenario)
    return FraudEvaluation(
        n_events=int(y.size),
        n_frauds=int(y.sum()),
        auc_roc=auc_roc(y, s),
        average_precision=average_precision(y, s),
        threshold=float(threshold),
        alert_rate=float(flags.mean()),
        recall=float(flags[y].mean()),
        precision=float(y[flags].mean()) if flags.any() else 0.0,
        k=int(k),
        card_precision=None if day is None else card_precision_at_k(day, card, y, s, k),
        fraud_amount_caught=None if amount is None else fraud_amount_caught(y, flags, amount),
        recall_by_scenario={name: r for name, (_, r) in by_group.items()},
        frauds_by_scenario={name: n for name, (n, _) in by_group.items()},
        latency=None if latency_s is None else latency_percentiles(latency_s),
        pr_curve=precision_recall_curve(y, s, max_points=curve_points),
    )
