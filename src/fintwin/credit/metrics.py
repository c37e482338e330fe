"""Credit model metrics: discrimination, calibration and stability.

Pure functions of 1-D arrays of equal length ``n_applicants``. ``bad`` is 0/1 or boolean (1 =
defaulted); ``predicted_bad_rate`` is a probability of default; a ``risk`` score is anything
that is higher for riskier applicants (a probability, or minus scorecard points).
``auc`` is :func:`fintwin.risk.metrics.auc_roc` (ties count one half), ``gini = 2 auc - 1``,
``ks`` the Kolmogorov-Smirnov statistic: the largest gap between the cumulative shares of bads
and goods over the risk score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from fintwin.exceptions import DataError, ParameterError
from fintwin.risk._arrays import (
    as_finite,
    as_labels,
    as_probabilities,
    both_classes,
    same_length,
)
from fintwin.risk.metrics import auc_roc

__all__ = [
    "CreditMetrics",
    "brier_score",
    "calibration_by_band",
    "credit_metrics",
    "ks_statistic",
    "population_stability_index",
]


def ks_statistic(bad: ArrayLike, risk: ArrayLike) -> float:
    """Kolmogorov-Smirnov statistic between the risk scores of bads and goods.

    Parameters
    ----------
    bad : array-like of shape (n_applicants,)
        1 for bad, 0 for good; both present.
    risk : array-like of shape (n_applicants,)
        Higher for riskier applicants.

    Returns
    -------
    float
        In [0, 1]: ``max_t |F_bad(t) - F_good(t)|`` over the distinct scores ``t``.

    Examples
    --------
    >>> ks_statistic([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4])
    1.0
    >>> ks_statistic([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4])
    0.5
    """
    y, s = _bad_and("risk", bad, risk)
    both_classes("ks_statistic", y)
    order = np.argsort(s, kind="stable")
    s, y = s[order], y[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    bads = np.cumsum(y)[last_of_run] / y.sum()
    goods = np.cumsum(~y)[last_of_run] / (~y).sum()
    return float(np.max(np.abs(bads - goods)))


def brier_score(bad: ArrayLike, predicted_bad_rate: ArrayLike) -> float:
    """Mean squared difference between the predicted bad rate and the outcome (lower is better).

    Examples
    --------
    >>> brier_score([0, 1], [0.2, 0.6])  # (0.04 + 0.16) / 2
    0.1
    """
    y, p = _bad_and("predicted_bad_rate", bad, predicted_bad_rate, probabilities=True)
    return float(np.mean((p - y) ** 2))


def _bad_and(
    name: str, bad: ArrayLike, values: ArrayLike, *, probabilities: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and one value per applicant; errors name this module's arguments."""
    y = as_labels("bad", bad)
    v = (as_probabilities if probabilities else as_finite)(name, values)
    same_length("bad", y.size, **{name: v})
    return y, v


def population_stability_index(expected: ArrayLike, actual: ArrayLike, *, bins: int = 10) -> float:
    """PSI of a score between a reference population (train) and another (test, recent).

    Bands are the deciles (``bins`` quantiles) of ``expected``;
    ``PSI = sum (a_i - e_i) ln(a_i / e_i)`` over bands, with shares floored at 1e-4 so an
    empty band counts as a large shift, not an infinity. Rule of thumb: below 0.1 stable,
    0.1-0.25 a shift to watch, above 0.25 a shift to act on.

    Parameters
    ----------
    expected, actual : array-like of shape (n,) and (m,)
        Scores of the two populations.
    bins : int
        Number of bands, at least 2.

    Examples
    --------
    >>> round(population_stability_index(np.arange(100.0), np.arange(100.0)), 12)
    0.0
    """
    if bins < 2:
        raise ParameterError(f"bins must be >= 2 (got {bins})")
    e = as_finite("expected", expected)
    a = as_finite("actual", actual)
    if e.size == 0 or a.size == 0:
        raise DataError("population_stability_index needs scores in both populations")
    edges = np.unique(np.quantile(e, np.linspace(0, 1, bins + 1)[1:-1]))
    e_share = np.bincount(np.searchsorted(edges, e, side="right"), minlength=edges.size + 1)
    a_share = np.bincount(np.searchsorted(edges, a, side="right"), minlength=edges.size + 1)
    e_share = np.maximum(e_share / e.size, 1e-4)
    a_share = np.maximum(a_share / a.size, 1e-4)
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))


def calibration_by_band(
    bad: ArrayLike, predicted_bad_rate: ArrayLike, *, bands: int = 10
) -> pd.DataFrame:
    """Predicted against observed bad rate in bands of the prediction (quantiles).

    Returns
    -------
    pandas.DataFrame
        One row per band (1 = safest): ``band``, ``n``, ``min_predicted``,
        ``max_predicted``, ``mean_predicted``, ``observed``.
    """
    if bands < 1:
        raise ParameterError(f"bands must be >= 1 (got {bands})")
    y, p = _bad_and("predicted_bad_rate", bad, predicted_bad_rate, probabilities=True)
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bands + 1)[1:-1]))
    band = np.searchsorted(edges, p, side="right")
    frame = pd.DataFrame({"band": band + 1, "p": p, "y": y.astype(float)})
    table = frame.groupby("band").agg(
        n=("p", "size"),
        min_predicted=("p", "min"),
        max_predicted=("p", "max"),
        mean_predicted=("p", "mean"),
        observed=("y", "mean"),
    )
    return table.reset_index()


@dataclass(frozen=True)
class CreditMetrics:
    """The side-by-side figures of one model on one sample.

    Attributes
    ----------
    auc, gini, ks : float
        Discrimination.
    brier : float
        Calibration and sharpness together (lower is better).
    n, bad_rate : int, float
        Sample size and its observed bad rate.
    """

    auc: float
    gini: float
    ks: float
    brier: float
    n: int
    bad_rate: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def credit_metrics(bad: ArrayLike, predicted_bad_rate: ArrayLike) -> CreditMetrics:
    """AUC, Gini, KS and Brier score of a probability of default.

    Parameters
    ----------
    bad : array-like of shape (n_applicants,)
    predicted_bad_rate : array-like of shape (n_applicants,)
        In [0, 1].
    """
    y, p = _bad_and("predicted_bad_rate", bad, predicted_bad_rate, probabilities=True)
    auc = auc_roc(y, p)
    return CreditMetrics(
        auc=auc,
        gini=2 * auc - 1,
        ks=ks_statistic(y, p),
        brier=brier_score(y, p),
        n=int(y.size),
        bad_rate=float(y.mean()),
    )
