"""Score cut-off what-ifs: approval, expected bad rate, loss and profit at each cut-off.

A credit analyst approves every applicant whose score is at or above a cut-off (higher score
is safer, as with scorecard points) and wants to see what a range of cut-offs would give.
Every function takes 1-D arrays of equal length ``n_applicants`` (NumPy arrays, lists, pandas
Series or Arrow arrays): the score, the model's predicted bad rate (probability of default,
PD) and the exposure of each application. Rates are shares in [0, 1]; exposure, loss and
profit are in currency units. Applicants with tied scores are always approved or refused
together: a cut-off cannot split them.

Loss and profit follow a one-period view of a loan's life, with :class:`LoanEconomics`::

    expected_loss   = sum over approved of  pd * lgd * exposure
    expected_profit = sum over approved of  (1 - pd) * margin * exposure  -  expected_loss

Observed outcomes (``bad``) exist only for loans that were granted in the history the
applications come from: applicants refused by the historical policy have no outcome, so the
observed bad rate of a cut-off that approves them is measured on a biased sample (no reject
inference is done here). Observed rates are given for information; decisions should rest on
the predicted rates.

Inputs are checked in one place (:mod:`fintwin.risk._arrays` and the helpers below); a bad
input raises :class:`~fintwin.exceptions.ParameterError` (a parameter breaks its rule, or two
arrays differ in length) or :class:`~fintwin.exceptions.DataError` (the values cannot give a
result: a NaN score, a predicted bad rate outside [0, 1], a negative exposure).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from fintwin.exceptions import DataError, ParameterError
from fintwin.risk._arrays import (
    as_1d,
    as_finite,
    as_labels,
    as_probabilities,
    check_count,
    same_length,
)

__all__ = [
    "METRIC_COLUMNS",
    "CutoffChoice",
    "LoanEconomics",
    "best_profit_cutoff",
    "compare_policies",
    "cutoff_for_bad_rate",
    "cutoff_table",
    "cutoffs_between",
]

METRIC_COLUMNS = (
    "approved",
    "approval_rate",
    "expected_bad_rate",
    "observed_bad_rate",
    "approved_exposure",
    "expected_loss",
    "expected_profit",
)
"""Columns describing the approved book, shared by :func:`cutoff_table` and
:func:`compare_policies`."""

RATE_TOLERANCE = 1e-12
"""An expected bad rate above a limit by less than this (float rounding) is within the limit."""


@dataclass(frozen=True)
class LoanEconomics:
    """What a good and a bad loan earn and lose, as shares of exposure.

    Attributes
    ----------
    lgd : float, default 0.45
        Loss given default: share of the exposure lost when a loan goes bad, in [0, 1].
    margin : float, default 0.08
        Net interest and fee income earned on a good loan over its life, as a share of the
        exposure; at least 0.

    Examples
    --------
    >>> LoanEconomics(lgd=0.6).margin
    0.08
    """

    lgd: float = 0.45
    margin: float = 0.08

    def __post_init__(self) -> None:
        for name in ("lgd", "margin"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real):
                raise ParameterError(f"{name} must be a number (got {value!r})")
        if not 0.0 <= self.lgd <= 1.0:
            raise ParameterError(f"lgd must be in [0, 1] (got {self.lgd!r})")
        if not 0.0 <= self.margin < math.inf:
            raise ParameterError(f"margin must be finite and at least 0 (got {self.margin!r})")
        object.__setattr__(self, "lgd", float(self.lgd))
        object.__setattr__(self, "margin", float(self.margin))


@dataclass(frozen=True)
class CutoffChoice:
    """A cut-off and the approved book it gives, from :func:`cutoff_for_bad_rate`.

    Attributes
    ----------
    cutoff : float
        Approve when ``score >= cutoff``; ``inf`` when no cut-off meets the limit.
    approval_rate : float
        Share of applicants approved, in [0, 1].
    expected_bad_rate : float
        Mean predicted bad rate among the approved; NaN when none is approved.
    """

    cutoff: float
    approval_rate: float
    expected_bad_rate: float


# --- input checks ---------------------------------------------------------------------------


def _scores(score: ArrayLike) -> np.ndarray:
    s = as_finite("score", score)
    if s.size == 0:
        raise DataError("score must hold at least one applicant (got none)")
    return s


def _exposures(values: ArrayLike) -> np.ndarray:
    e = as_finite("exposure", values)
    negative = e < 0.0
    if negative.any():
        first = int(np.flatnonzero(negative)[0])
        raise DataError(f"exposure must be non-negative (got {e[first]} at position {first})")
    return e


def _cutoffs(values: ArrayLike) -> np.ndarray:
    c = as_1d("cutoffs", values)
    try:
        c = c.astype(np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"cutoffs must hold numbers (got dtype {c.dtype})") from None
    if c.size == 0:
        raise ParameterError("cutoffs must hold at least one cut-off (got none)")
    if np.isnan(c).any():
        first = int(np.flatnonzero(np.isnan(c))[0])
        raise ParameterError(f"cutoffs must not be NaN (got nan at position {first})")
    return np.unique(c)


def _economics(economics: object) -> LoanEconomics:
    if not isinstance(economics, LoanEconomics):
        raise ParameterError(f"economics must be a LoanEconomics (got {economics!r})")
    return economics


# --- shared arithmetic ----------------------------------------------------------------------


def _book_columns(
    approved: np.ndarray,
    n_applicants: int,
    sum_pd: np.ndarray,
    n_bad: np.ndarray | None,
    exposure: np.ndarray,
    loss: np.ndarray,
    income: np.ndarray,
) -> dict[str, np.ndarray]:
    """The metric columns from per-row counts and sums over the approved applicants."""
    count = approved.astype(np.float64)
    none = approved == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        expected_bad = np.where(none, np.nan, sum_pd / count)
        if n_bad is None:
            observed_bad = np.full(approved.shape, np.nan)
        else:
            observed_bad = np.where(none, np.nan, n_bad / count)
    return {
        "approved": approved.astype(np.int64),
        "approval_rate": count / n_applicants,
        "expected_bad_rate": expected_bad,
        "observed_bad_rate": observed_bad,
        "approved_exposure": exposure,
        "expected_loss": loss,
        "expected_profit": income - loss,
    }


@dataclass(frozen=True, eq=False)
class _Ranked:
    """Applicants by descending score, with prefix sums: entry k sums the best k applicants."""

    score_desc: np.ndarray
    sum_pd: np.ndarray
    n_bad: np.ndarray | None
    exposure: np.ndarray
    loss: np.ndarray
    income: np.ndarray

    @classmethod
    def of(
        cls,
        s: np.ndarray,
        p: np.ndarray,
        e: np.ndarray | None,
        y: np.ndarray | None,
        economics: LoanEconomics,
    ) -> _Ranked:
        # Ties keep any order: sums are read only at the end of a run of equal scores.
        order = np.argsort(s, kind="stable")[::-1]
        s, p = s[order], p[order]

        def prefix(values: np.ndarray) -> np.ndarray:
            return np.r_[0.0, np.cumsum(values)]

        e = np.zeros_like(p) if e is None else e[order]
        return cls(
            score_desc=s,
            sum_pd=prefix(p),
            n_bad=None if y is None else np.r_[0, np.cumsum(y[order], dtype=np.int64)],
            exposure=prefix(e),
            loss=prefix(p * economics.lgd * e),
            income=prefix((1.0 - p) * economics.margin * e),
        )

    def approved_at(self, cutoffs: np.ndarray) -> np.ndarray:
        """Number approved (``score >= cutoff``) for each cut-off."""
        ascending = self.score_desc[::-1]
        return ascending.size - np.searchsorted(ascending, cutoffs, side="left")


# --- public functions -----------------------------------------------------------------------


def cutoff_table(
    score: ArrayLike,
    predicted_bad_rate: ArrayLike,
    exposure: ArrayLike,
    cutoffs: ArrayLike,
    *,
    economics: LoanEconomics = LoanEconomics(),
    bad: ArrayLike | None = None,
) -> pd.DataFrame:
    """What each cut-off would give: one row per cut-off, approving ``score >= cutoff``.

    The applicants are sorted once and every column is read from prefix sums, so the cost is
    ``O(n_applicants log n_applicants + n_cutoffs log n_applicants)``.

    Parameters
    ----------
    score : array-like of shape (n_applicants,)
        Application score, higher is safer (scorecard points); finite; at least one.
    predicted_bad_rate : array-like of shape (n_applicants,)
        The model's probability that the loan goes bad, in [0, 1].
    exposure : array-like of shape (n_applicants,)
        Exposure of each loan if granted, in currency units; non-negative.
    cutoffs : array-like of shape (n_cutoffs,)
        Cut-offs to try; any order, not NaN (``-inf`` approves all, ``inf`` none). Repeated
        values give one row.
    economics : LoanEconomics, optional
        Loss given default and margin; defaults to ``LoanEconomics()``.
    bad : array-like of 0/1 or bool, shape (n_applicants,), optional
        Observed outcome (1 = went bad). Outcomes exist only for loans granted in history,
        so ``observed_bad_rate`` is for information only (see the module's notes).

    Returns
    -------
    pandas.DataFrame
        One row per distinct cut-off, ascending, with columns

        ``cutoff``
            The cut-off.
        ``approved``
            Number of applicants approved (int).
        ``approval_rate``
            ``approved / n_applicants``.
        ``expected_bad_rate``
            Mean predicted bad rate among the approved; NaN when none is approved.
        ``observed_bad_rate``
            Share of the approved with ``bad``; NaN when ``bad`` is not given or none is
            approved.
        ``approved_exposure``
            Sum of the approved exposures (currency).
        ``expected_loss``
            Sum of ``pd * lgd * exposure`` over the approved (currency).
        ``expected_profit``
            Sum of ``(1 - pd) * margin * exposure`` over the approved, minus
            ``expected_loss`` (currency).

    Examples
    --------
    >>> t = cutoff_table([600, 650, 700], [0.10, 0.05, 0.02], [1000, 1000, 1000], [620, 680])
    >>> t["approved"].tolist(), t["expected_bad_rate"].tolist()
    ([2, 1], [0.035, 0.02])
    """
    economics = _economics(economics)
    s = _scores(score)
    p = as_probabilities("predicted_bad_rate", predicted_bad_rate)
    e = _exposures(exposure)
    y = None if bad is None else as_labels("bad", bad)
    arrays = {"predicted_bad_rate": p, "exposure": e} | ({} if y is None else {"bad": y})
    same_length("score", s.size, **arrays)
    c = _cutoffs(cutoffs)

    ranked = _Ranked.of(s, p, e, y, economics)
    k = ranked.approved_at(c)
    columns = _book_columns(
        k,
        s.size,
        ranked.sum_pd[k],
        None if ranked.n_bad is None else ranked.n_bad[k],
        ranked.exposure[k],
        ranked.loss[k],
        ranked.income[k],
    )
    return pd.DataFrame({"cutoff": c, **columns})


def cutoffs_between(score: ArrayLike, n: int = 50) -> np.ndarray:
    """``n`` evenly spaced cut-offs from the lowest to the highest score, a default range.

    Parameters
    ----------
    score : array-like of shape (n_applicants,)
        Application scores; finite; at least one.
    n : int, default 50
        Number of cut-offs, a positive integer.

    Returns
    -------
    ndarray of float64, shape (n_unique,)
        Sorted and unique, both ends included: fewer than ``n`` when all scores are equal
        (one cut-off) or ``n == 1`` (the lowest score).

    Examples
    --------
    >>> cutoffs_between([500, 700, 600], n=5).tolist()
    [500.0, 550.0, 600.0, 650.0, 700.0]
    """
    check_count("n", n)
    s = _scores(score)
    return np.unique(np.linspace(s.min(), s.max(), int(n)))


def cutoff_for_bad_rate(
    score: ArrayLike, predicted_bad_rate: ArrayLike, max_bad_rate: float
) -> CutoffChoice:
    """The lowest cut-off (highest approval) whose expected bad rate is within a limit.

    Applicants are approved by descending score, tied scores together, so the candidate
    cut-offs are the distinct scores. The expected bad rate among the approved is not always
    monotone in the cut-off; the lowest cut-off meeting the limit is chosen even if a higher
    one breaks it. A rate above the limit by less than 1e-12 (float rounding) meets it. Use it
    to compare two models at the same expected bad rate.

    Parameters
    ----------
    score : array-like of shape (n_applicants,)
        Application score, higher is safer; finite; at least one.
    predicted_bad_rate : array-like of shape (n_applicants,)
        The model's probability that the loan goes bad, in [0, 1].
    max_bad_rate : float
        Highest acceptable mean predicted bad rate among the approved, in [0, 1].

    Returns
    -------
    CutoffChoice
        ``cutoff`` is the lowest approved score. When even the best-scoring applicants (with
        their ties) break the limit, no cut-off meets it: ``cutoff`` is ``inf``,
        ``approval_rate`` 0 and ``expected_bad_rate`` NaN.

    Examples
    --------
    >>> cutoff_for_bad_rate([600, 650, 700], [0.10, 0.05, 0.02], 0.04)
    CutoffChoice(cutoff=650.0, approval_rate=0.666..., expected_bad_rate=0.035)
    """
    if (
        isinstance(max_bad_rate, bool)
        or not isinstance(max_bad_rate, Real)
        or not 0.0 <= max_bad_rate <= 1.0
    ):
        raise ParameterError(f"max_bad_rate must be in [0, 1] (got {max_bad_rate!r})")
    s = _scores(score)
    p = as_probabilities("predicted_bad_rate", predicted_bad_rate)
    same_length("score", s.size, predicted_bad_rate=p)

    ranked = _Ranked.of(s, p, None, None, LoanEconomics())
    desc = ranked.score_desc
    approved = np.r_[np.flatnonzero(np.diff(desc)), desc.size - 1] + 1  # ends of tied runs
    rate = ranked.sum_pd[approved] / approved
    meets = np.flatnonzero(rate <= max_bad_rate + RATE_TOLERANCE)
    if meets.size == 0:
        return CutoffChoice(cutoff=math.inf, approval_rate=0.0, expected_bad_rate=math.nan)
    best = int(meets[-1])
    k = int(approved[best])
    return CutoffChoice(
        cutoff=float(desc[k - 1]),
        approval_rate=k / s.size,
        expected_bad_rate=float(rate[best]),
    )


def best_profit_cutoff(table: pd.DataFrame) -> pd.Series:
    """The row of a :func:`cutoff_table` with the highest ``expected_profit``.

    Among rows tied on profit, the first (lowest cut-off, highest approval) is returned.

    Parameters
    ----------
    table : pandas.DataFrame
        A table from :func:`cutoff_table`, or any frame with an ``expected_profit`` column.

    Returns
    -------
    pandas.Series
        The row, labelled by the table's columns; its name is the row's index label.

    Examples
    --------
    >>> t = cutoff_table([600, 650, 700], [0.10, 0.05, 0.02], [1000, 1000, 1000], [600, 700])
    >>> float(best_profit_cutoff(t)["cutoff"])
    600.0
    """
    if not isinstance(table, pd.DataFrame):
        raise ParameterError(f"table must be a pandas DataFrame (got {type(table).__name__})")
    if "expected_profit" not in table.columns:
        raise ParameterError(
            f"table must have an expected_profit column (got columns {list(table.columns)})"
        )
    profit = pd.to_numeric(table["expected_profit"], errors="coerce")
    if profit.isna().all():
        raise DataError(
            f"table must hold at least one numeric expected_profit (got {len(table)} rows)"
        )
    return table.loc[profit.idxmax()]


def compare_policies(
    approved_a: ArrayLike,
    approved_b: ArrayLike,
    predicted_bad_rate: ArrayLike,
    exposure: ArrayLike,
    *,
    economics: LoanEconomics = LoanEconomics(),
    bad: ArrayLike | None = None,
    names: tuple[str, str] = ("current", "proposed"),
) -> pd.DataFrame:
    """Two approval policies over the same applications, side by side.

    For example the historical policy against a new cut-off run over the twin's application
    flow. The swap-in and swap-out counts show how many applicants change decision.

    Parameters
    ----------
    approved_a, approved_b : array-like of 0/1 or bool, shape (n_applicants,)
        True where the policy approves the applicant.
    predicted_bad_rate : array-like of shape (n_applicants,)
        The model's probability that the loan goes bad, in [0, 1]; at least one applicant.
    exposure : array-like of shape (n_applicants,)
        Exposure of each loan if granted, in currency units; non-negative.
    economics : LoanEconomics, optional
        Loss given default and margin; defaults to ``LoanEconomics()``.
    bad : array-like of 0/1 or bool, shape (n_applicants,), optional
        Observed outcome (1 = went bad); known only for loans granted in history, so
        ``observed_bad_rate`` is for information only.
    names : (str, str), default ("current", "proposed")
        Row labels of policy a and policy b; distinct.

    Returns
    -------
    pandas.DataFrame
        Two rows indexed by ``names`` (index name ``policy``), with the columns of
        :func:`cutoff_table` except ``cutoff``, and

        ``swap_in``
            Applicants approved by this policy and refused by the other (int).
        ``swap_out``
            Applicants refused by this policy and approved by the other (int).

    Examples
    --------
    >>> c = compare_policies([1, 1, 0], [0, 1, 1], [0.1, 0.05, 0.02], [1000, 1000, 1000])
    >>> c["swap_in"].tolist(), c["expected_bad_rate"].tolist()
    ([1, 1], [0.075, 0.035])
    """
    economics = _economics(economics)
    if (
        not isinstance(names, tuple | list)
        or len(names) != 2
        or not all(isinstance(name, str) for name in names)
        or names[0] == names[1]
    ):
        raise ParameterError(f"names must be two distinct strings (got {names!r})")
    a = as_labels("approved_a", approved_a)
    b = as_labels("approved_b", approved_b)
    p = as_probabilities("predicted_bad_rate", predicted_bad_rate)
    e = _exposures(exposure)
    y = None if bad is None else as_labels("bad", bad)
    arrays = {"approved_b": b, "predicted_bad_rate": p, "exposure": e}
    same_length("approved_a", a.size, **arrays, **({} if y is None else {"bad": y}))
    if a.size == 0:
        raise DataError("approved_a must hold at least one applicant (got none)")

    masks = np.stack([a, b])  # shape (2, n_applicants)
    loss = p * economics.lgd * e
    income = (1.0 - p) * economics.margin * e
    columns = _book_columns(
        masks.sum(axis=1),
        a.size,
        masks @ p,
        None if y is None else (masks & y).sum(axis=1),
        masks @ e,
        masks @ loss,
        masks @ income,
    )
    columns["swap_in"] = np.array([(a & ~b).sum(), (b & ~a).sum()], dtype=np.int64)
    columns["swap_out"] = columns["swap_in"][::-1].copy()
    return pd.DataFrame(columns, index=pd.Index(list(names), name="policy"))
