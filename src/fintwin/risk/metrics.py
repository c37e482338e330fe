"""Fraud-detection metrics: pure functions of arrays, one value per event.

Every function takes 1-D arrays of equal length ``n_events`` (NumPy arrays, lists, pandas
Series or Arrow arrays) and returns plain Python numbers or small frozen dataclasses. Inputs
are checked in one place (:mod:`fintwin.risk._arrays`); a bad input raises
:class:`~fintwin.exceptions.ParameterError` (a parameter breaks its rule, or two arrays differ
in length) or :class:`~fintwin.exceptions.DataError` (the values cannot give the metric: a
label other than 0/1, a NaN score, a single class).

The threshold-free metrics follow scikit-learn's definitions exactly (the tests compare them):
``auc_roc`` is the area under the ROC curve with tied scores counted as half (Mann-Whitney),
``average_precision`` is the step-wise sum ``sum_n (R_n - R_{n-1}) P_n`` over the distinct
score thresholds, without interpolation. ``card_precision_at_k`` is the Fraud Detection
Handbook's CP@k (chapter 4, "Precision top-k metrics").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from fintwin.exceptions import DataError
from fintwin.risk._arrays import (
    as_1d,
    as_finite,
    as_integers,
    as_labels,
    both_classes,
    check_count,
    check_rate,
    labels_and_scores,
    same_length,
)

__all__ = [
    "CardPrecision",
    "LatencySummary",
    "PRCurve",
    "alert_rate",
    "auc_roc",
    "average_precision",
    "card_precision_at_k",
    "flags_at_alert_rate",
    "fraud_amount_caught",
    "latency_percentiles",
    "precision_recall_curve",
    "recall_at_alert_rate",
    "recall_by_group",
    "threshold_at_alert_rate",
]

UNKNOWN_GROUP = "unknown"
"""Group name given to frauds whose group (scenario) is missing."""


# --- threshold-free metrics ---------------------------------------------------------------


def _counts_at_thresholds(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, ...]:
    """False and true positives when flagging ``score >= t``, for each distinct t, descending.

    The order of tied scores does not matter: counts are read only at the end of each run of
    equal scores, which is how tied events enter a curve together.
    """
    order = np.argsort(s)[::-1]
    s, y = s[order], y[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(y, dtype=np.int64)[last_of_run]
    fps = last_of_run + 1 - tps
    return fps, tps, s[last_of_run]


def auc_roc(y_true: ArrayLike, score: ArrayLike) -> float:
    """Area under the ROC curve.

    The probability that a random fraud scores above a random genuine event, ties counting
    one half (the Mann-Whitney statistic; equal to scikit-learn's ``roc_auc_score``).

    Parameters
    ----------
    y_true : array-like of shape (n_events,)
        1 (or True) for fraud, 0 for genuine.
    score : array-like of shape (n_events,)
        Fraud score, higher is more suspicious.

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> auc_roc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y, s = labels_and_scores(y_true, score)
    both_classes("auc_roc", y)
    fps, tps, _ = _counts_at_thresholds(y, s)
    fpr = np.r_[0, fps] / fps[-1]
    tpr = np.r_[0, tps] / tps[-1]
    # Trapezoids: a run of tied scores moves both rates at once, which counts ties as half.
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def average_precision(y_true: ArrayLike, score: ArrayLike) -> float:
    """Average precision: ``sum_n (R_n - R_{n-1}) P_n`` over distinct thresholds.

    ``P_n`` and ``R_n`` are precision and recall when every event scoring at least the n-th
    highest distinct score is flagged; events with tied scores are flagged together. This is
    scikit-learn's ``average_precision_score`` (no interpolation).

    Parameters
    ----------
    y_true : array-like of shape (n_events,)
        1 (or True) for fraud, 0 for genuine; at least one fraud.
    score : array-like of shape (n_events,)
        Fraud score, higher is more suspicious.

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])  # (1/2)(1) + (1/2)(2/3)
    0.8333333333333333
    """
    y, s = labels_and_scores(y_true, score)
    if not y.any():
        raise DataError("y_true must hold at least one fraud to compute average_precision")
    fps, tps, _ = _counts_at_thresholds(y, s)
    precision = tps / (tps + fps)
    recall_step = np.diff(np.r_[0, tps]) / tps[-1]
    return float(np.sum(recall_step * precision))


@dataclass(frozen=True, eq=False)
class PRCurve:
    """Points of the precision-recall curve, in scikit-learn's order (threshold ascending).

    Attributes
    ----------
    precision : ndarray of shape (n_points + 1,)
        Precision when flagging ``score >= threshold[i]``; the last point is (1, 0) by
        convention, the curve's start at recall 0.
    recall : ndarray of shape (n_points + 1,)
        Recall at the same thresholds, decreasing; the last value is 0.
    threshold : ndarray of shape (n_points,)
        The distinct scores used as thresholds, increasing.
    """

    precision: np.ndarray
    recall: np.ndarray
    threshold: np.ndarray

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready lists."""
        return {
            "precision": self.precision.tolist(),
            "recall": self.recall.tolist(),
            "threshold": self.threshold.tolist(),
        }


def precision_recall_curve(
    y_true: ArrayLike, score: ArrayLike, *, max_points: int | None = None
) -> PRCurve:
    """Precision and recall at every distinct score threshold, for a plot.

    Parameters
    ----------
    y_true : array-like of shape (n_events,)
        1 (or True) for fraud, 0 for genuine; at least one fraud.
    score : array-like of shape (n_events,)
        Fraud score, higher is more suspicious.
    max_points : int, optional
        Keep at most this many thresholds (evenly spaced in rank, both ends kept) so that a
        plot of a large test set stays small. By default every distinct score is kept, and the
        result equals scikit-learn's ``precision_recall_curve``.

    Returns
    -------
    PRCurve

    Examples
    --------
    >>> c = precision_recall_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> c.precision.tolist(), c.recall.tolist()
    ([0.5, 0.6666666666666666, 0.5, 1.0, 1.0], [1.0, 1.0, 0.5, 0.5, 0.0])
    """
    y, s = labels_and_scores(y_true, score)
    if not y.any():
        raise DataError("y_true must hold at least one fraud to draw a precision-recall curve")
    if max_points is not None:
        check_count("max_points", max_points)
    fps, tps, thresholds = _counts_at_thresholds(y, s)
    if max_points is not None and thresholds.size > max_points:
        keep = np.unique(np.linspace(0, thresholds.size - 1, max_points).round().astype(int))
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    precision = tps / (tps + fps)
    recall = tps / int(y.sum())
    return PRCurve(
        precision=np.r_[precision[::-1], 1.0],
        recall=np.r_[recall[::-1], 0.0],
        threshold=thresholds[::-1].copy(),
    )


# --- card precision@k ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CardPrecision:
    """Card precision@k, overall and per day.

    Attributes
    ----------
    mean : float
        Mean of ``per_day`` (the handbook's CP@k).
    per_day : ndarray of shape (n_days,)
        Frauded cards among the day's top k, divided by k.
    days : ndarray of shape (n_days,)
        The day indices, ascending (days with at least one event).
    frauded_cards_per_day : ndarray of shape (n_days,)
        Distinct frauded cards in the day's ranking (after removing cards already detected).
    k : int
    """

    mean: float
    per_day: np.ndarray
    days: np.ndarray
    frauded_cards_per_day: np.ndarray
    k: int


def card_precision_at_k(
    day: ArrayLike,
    card: ArrayLike,
    y_true: ArrayLike,
    score: ArrayLike,
    k: int = 100,
    *,
    remove_detected: bool = True,
) -> CardPrecision:
    """The Fraud Detection Handbook's card precision@k (CP@k).

    For each day, in ascending order: the day's events are grouped by card, each card taking
    its highest score and being frauded if any of its events that day is a fraud; cards are
    ranked by that score, highest first, and the precision is the number of frauded cards
    among the first k divided by k (even when fewer than k cards were active). The frauded
    cards found in a day's top k are *detected*: with ``remove_detected`` every later event
    of those cards is left out of later days' rankings (the handbook's
    ``card_precision_top_k``, whose ``remove_detected_compromised_cards`` defaults to True).
    The result is the mean over the days that hold at least one event, including a day left
    with no card after the removal (precision 0).

    Cards tied on score keep the order of their keys (ascending), which is what the book's
    pandas ``groupby(...).max().sort_values(ascending=False)`` gives with a stable sort.

    Parameters
    ----------
    day : array-like of int, shape (n_events,)
        Day index of each event (see :func:`fintwin.risk.protocols.day_index`).
    card : array-like of shape (n_events,)
        Card (or customer, where there is no card) key of each event.
    y_true : array-like of shape (n_events,)
        1 (or True) for fraud, 0 for genuine.
    score : array-like of shape (n_events,)
        Fraud score, higher is more suspicious.
    k : int, default 100
        Number of cards an investigator can check per day.
    remove_detected : bool, default True
        Leave cards detected on earlier days out of later days.

    Returns
    -------
    CardPrecision

    Examples
    --------
    Day 0 ranks card 7 (0.9, fraud) above card 8 (0.5); day 1 no longer sees card 7.

    >>> cp = card_precision_at_k([0, 0, 0, 1, 1], [7, 8, 7, 7, 8], [1, 0, 0, 1, 1],
    ...                          [0.9, 0.5, 0.2, 0.99, 0.1], k=1)
    >>> cp.per_day.tolist(), cp.mean
    ([1.0, 1.0], 1.0)
    """
    check_count("k", k)
    d = as_integers("day", day)
    c = as_1d("card", card)
    y, s = labels_and_scores(y_true, score)
    same_length("y_true", y.size, day=d, card=c)
    if y.size == 0:
        raise DataError("card_precision_at_k needs at least one event (got none)")
    card_keys, card_code = np.unique(c, return_inverse=True)
    days, day_pos = np.unique(d, return_inverse=True)

    # One row per (day, card), sorted by day then card key: the day's ranking input.
    order = np.lexsort((card_code, day_pos))
    g_day, g_card = day_pos[order], card_code[order]
    starts = np.flatnonzero(np.r_[True, (np.diff(g_day) != 0) | (np.diff(g_card) != 0)])
    g_day, g_card = g_day[starts], g_card[starts]
    g_score = np.maximum.reduceat(s[order], starts)
    g_fraud = np.logical_or.reduceat(y[order], starts)
    day_bounds = np.searchsorted(g_day, np.arange(days.size + 1))

    detected = np.zeros(card_keys.size, dtype=bool)
    per_day = np.empty(days.size)
    frauded = np.empty(days.size, dtype=np.int64)
    for i in range(days.size):
        rows = np.arange(day_bounds[i], day_bounds[i + 1])
        rows = rows[~detected[g_card[rows]]]
        frauded[i] = int(g_fraud[rows].sum())
        # A stable sort of the negated score ranks high scores first, ties by card key.
        top = rows[np.argsort(-g_score[rows], kind="stable")[:k]]
        hits = g_card[top[g_fraud[top]]]
        per_day[i] = hits.size / k
        if remove_detected:
            detected[hits] = True
    return CardPrecision(
        mean=float(per_day.mean()),
        per_day=per_day,
        days=days,
        frauded_cards_per_day=frauded,
        k=int(k),
    )


# --- alert-rate metrics ---------------------------------------------------------------------


def threshold_at_alert_rate(score: ArrayLike, rate: float) -> float:
    """The score threshold that flags a fraction ``rate`` of events.

    With ``m = max(1, floor(rate * n_events))`` (``rate`` read as the decimal it is written
    as, so that 0.29 * 100 is 29, not 28.999...), the threshold is the m-th highest score and
    events with ``score >= threshold`` are flagged. Ties at the threshold are all flagged, so
    the realised :func:`alert_rate` can exceed ``rate`` when scores are tied.

    Parameters
    ----------
    score : array-like of shape (n_events,)
        Fraud score, higher is more suspicious; at least one event.
    rate : float
        Fraction of events to flag, in (0, 1].

    Returns
    -------
    float

    Examples
    --------
    >>> threshold_at_alert_rate([0.1, 0.9, 0.3, 0.7], 0.5)
    0.7
    """
    check_rate("rate", rate)
    s = as_finite("score", score)
    if s.size == 0:
        raise DataError("score must hold at least one event to set a threshold (got none)")
    m = max(1, math.floor(Decimal(repr(float(rate))) * s.size))
    return float(np.partition(s, s.size - m)[s.size - m])


def flags_at_alert_rate(score: ArrayLike, rate: float) -> np.ndarray:
    """Boolean flags ``score >= threshold_at_alert_rate(score, rate)``, shape (n_events,)."""
    s = as_finite("score", score)
    return s >= threshold_at_alert_rate(s, rate)


def alert_rate(flags: ArrayLike) -> float:
    """Fraction of events flagged.

    Parameters
    ----------
    flags : array-like of bool, shape (n_events,)
        True (or 1) where an alert was raised; at least one event.

    Examples
    --------
    >>> alert_rate([True, False, False, False])
    0.25
    """
    f = as_labels("flags", flags)
    if f.size == 0:
        raise DataError("flags must hold at least one event (got none)")
    return float(f.mean())


def recall_at_alert_rate(y_true: ArrayLike, score: ArrayLike, rate: float) -> float:
    """Fraction of frauds flagged when a fraction ``rate`` of events is flagged.

    Flags are those of :func:`flags_at_alert_rate`. ``y_true`` and ``score`` have shape
    (n_events,); ``y_true`` must hold at least one fraud.

    Examples
    --------
    >>> recall_at_alert_rate([0, 1, 1, 0], [0.1, 0.9, 0.3, 0.7], 0.5)
    0.5
    """
    y, s = labels_and_scores(y_true, score)
    if not y.any():
        raise DataError("y_true must hold at least one fraud to compute a recall")
    return float(flags_at_alert_rate(s, rate)[y].mean())


def recall_by_group(
    y_true: ArrayLike, flags: ArrayLike, group: ArrayLike
) -> dict[str, tuple[int, float]]:
    """Recall of the flags within each group of frauds (such as the fraud scenario).

    Parameters
    ----------
    y_true : array-like of shape (n_events,)
        1 (or True) for fraud, 0 for genuine.
    flags : array-like of bool, shape (n_events,)
        True where an alert was raised (for example :func:`flags_at_alert_rate`).
    group : array-like of shape (n_events,)
        Group of each event; read only on frauds. Missing values (None, NaN) form the group
        ``"unknown"``.

    Returns
    -------
    dict of str to (int, float)
        For each group holding at least one fraud, sorted by name: the number of frauds and
        the fraction of them flagged.

    Examples
    --------
    >>> recall_by_group([1, 1, 1, 0], [True, False, True, True], ["a", "b", "a", None])
    {'a': (2, 1.0), 'b': (1, 0.0)}
    """
    y = as_labels("y_true", y_true)
    f = as_labels("flags", flags)
    g = as_1d("group", group)
    same_length("y_true", y.size, flags=f, group=g)
    fraud_groups = g[y]
    missing = pd.isna(fraud_groups)
    names = np.array(
        [UNKNOWN_GROUP if m else str(v) for v, m in zip(fraud_groups, missing, strict=True)],
        dtype=object,
    )
    caught = f[y]
    out: dict[str, tuple[int, float]] = {}
    for name in sorted(set(names.tolist())):
        member = names == name
        out[name] = (int(member.sum()), float(caught[member].mean()))
    return out


def fraud_amount_caught(y_true: ArrayLike, flags: ArrayLike, amount: ArrayLike) -> float:
    """Share of the fraud amount that was flagged: sum over flagged frauds / sum over frauds.

    Parameters
    ----------
    y_true : array-like of shape (n_events,)
        1 (or True) for fraud, 0 for genuine.
    flags : array-like of bool, shape (n_events,)
        True where an alert was raised.
    amount : array-like of shape (n_events,)
        Amount of each event in currency units (floats or decimals); frauds must sum to a
        positive amount.

    Examples
    --------
    >>> fraud_amount_caught([1, 1, 0], [True, False, True], [30.0, 10.0, 500.0])
    0.75
    """
    y = as_labels("y_true", y_true)
    f = as_labels("flags", flags)
    a = as_finite("amount", amount)
    same_length("y_true", y.size, flags=f, amount=a)
    total = float(a[y].sum())
    if not total > 0:
        raise DataError(f"the frauds' amounts must sum to a positive amount (got {total})")
    return float(a[y & f].sum()) / total


@dataclass(frozen=True)
class LatencySummary:
    """Decision latency percentiles in seconds (nearest-rank: each is an observed latency)."""

    p50: float
    p90: float
    p99: float
    max: float
    count: int

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready, keys suffixed with their unit."""
        return {
            "p50_s": self.p50,
            "p90_s": self.p90,
            "p99_s": self.p99,
            "max_s": self.max,
            "count": self.count,
        }


def latency_percentiles(seconds: ArrayLike) -> LatencySummary:
    """p50, p90, p99 and max of decision latencies.

    Percentiles are nearest-rank (NumPy's ``inverted_cdf``): the p-th percentile is the
    smallest observed latency that at least p % of decisions do not exceed, so a claim such
    as "p99 <= 1 ms" is read directly.

    Parameters
    ----------
    seconds : array-like of shape (n_decisions,)
        Non-negative latencies in seconds; at least one.

    Examples
    --------
    >>> latency_percentiles([0.001 * i for i in range(1, 101)]).p90
    0.09
    """
    t = as_finite("seconds", seconds)
    if t.size == 0:
        raise DataError("seconds must hold at least one latency (got none)")
    if (t < 0).any():
        raise DataError(f"seconds must be non-negative (got {t.min()})")
    p50, p90, p99 = np.percentile(t, [50, 90, 99], method="inverted_cdf").tolist()
    return LatencySummary(p50=p50, p90=p90, p99=p99, max=float(t.max()), count=int(t.size))
