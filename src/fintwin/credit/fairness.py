"""Fairness audit of credit decisions: approval rates, equal opportunity, calibration by group.

Credit scoring is a high-risk use: protected attributes (sex and age band in the twin,
configurable on real data) are never inputs of a model, but decisions are audited against
them. Every function takes 1-D arrays of equal length ``n_applicants`` (NumPy arrays, lists,
pandas Series) and returns plain Python numbers, small frozen dataclasses or a DataFrame.

Conventions shared by every function:

- ``approved`` is 1 (or True) for an approved applicant, 0 for a declined one.
- ``good`` is 1 when the applicant repaid, ``bad`` is 1 when they defaulted; the outcome must
  be known for every applicant (in the twin it is simulated for everyone; on real data use
  a population whose outcomes are known, or inferred ones).
- ``group`` holds any labels (strings or numbers), compared as text: a number is written as
  ``str`` of it, a whole float as an integer (so 1 and 1.0 are one group), and a missing
  value (None, NaN) is the group ``"unknown"``. Dictionaries are keyed by group, in name
  order.

A parameter that breaks its rule, or arrays of different lengths, raise
:class:`~fintwin.exceptions.ParameterError`; values that cannot give a result (a label other
than 0/1, a rate outside [0, 1], no applicant at all) raise
:class:`~fintwin.exceptions.DataError`. Messages name the argument, the rule and the value.

The measures:

- :func:`adverse_impact_ratio`: each group's approval rate over the highest one; a ratio
  below four fifths is the US EEOC's indicator of adverse impact (29 CFR 1607.4 D).
- :func:`equal_opportunity_difference`: spread of the approval rate among applicants who
  repaid (Hardt, Price & Srebro, 2016).
- :func:`calibration_within_groups`: predicted against observed bad rate per group and band
  of predicted rate.
- :func:`reweighing_weights`: Kamiran & Calders (2012) sample weights that make outcome and
  group independent in the training data, for mitigation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from itertools import pairwise

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from fintwin.exceptions import DataError, ParameterError
from fintwin.risk._arrays import (
    as_1d,
    as_labels,
    as_probabilities,
    check_count,
    check_rate,
    same_length,
)

__all__ = [
    "AGE_BANDS",
    "UNKNOWN_GROUP",
    "AdverseImpact",
    "EqualOpportunity",
    "FairnessAudit",
    "GroupRates",
    "adverse_impact_ratio",
    "age_band",
    "age_band_labels",
    "calibration_gap_by_group",
    "calibration_within_groups",
    "equal_opportunity_difference",
    "fairness_audit",
    "reweighing_weights",
]

AGE_BANDS: tuple[int, ...] = (25, 35, 45, 55, 65)
"""Default age-band edges in years: bands <25, 25-34, 35-44, 45-54, 55-64 and 65+."""

UNKNOWN_GROUP = "unknown"
"""Group given to a missing group label or a missing age."""

FOUR_FIFTHS = 0.8
"""Adverse-impact ratio below which a group is flagged (the four-fifths rule)."""


# --- input checks ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Groups:
    """Group labels as integer codes into ``names`` (sorted)."""

    names: list[str]
    codes: np.ndarray  # shape (n_applicants,), int64 in [0, len(names))

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.codes, minlength=len(self.names))

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` within each group, shape (n_groups,)."""
        return np.bincount(self.codes, weights=values, minlength=len(self.names))


def _label_text(value: object) -> str:
    """One group label as text: whole floats as integers."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _as_groups(name: str, values: ArrayLike) -> _Groups:
    """Group labels of any type; None and NaN become :data:`UNKNOWN_GROUP`."""
    array = as_1d(name, values)
    codes, uniques = pd.factorize(array)  # missing values get code -1
    text = [_label_text(v) for v in uniques]
    if (codes < 0).any():
        text.append(UNKNOWN_GROUP)  # the code -1 reads the last name
    names, merged = np.unique(np.array(text, dtype=object), return_inverse=True)
    return _Groups(names=[str(n) for n in names], codes=merged[codes].astype(np.int64))


def _not_empty(name: str, array: np.ndarray) -> None:
    if array.size == 0:
        raise DataError(f"{name} must hold at least one applicant (got none)")


def _decisions_and_groups(approved: ArrayLike, group: ArrayLike) -> tuple[np.ndarray, _Groups]:
    a = as_labels("approved", approved)
    g = _as_groups("group", group)
    same_length("approved", a.size, group=g.codes)
    _not_empty("approved", a)
    return a, g


def _outcomes(name: str, values: ArrayLike, n: int) -> np.ndarray:
    """0/1 outcomes, one per applicant of ``approved``."""
    y = as_labels(name, values)
    same_length("approved", n, **{name: y})
    return y


def _check_min_group_size(value: int) -> None:
    check_count("min_group_size", value)


# --- age bands ------------------------------------------------------------------------------


def _check_edges(edges: tuple[int, ...] | list[int]) -> list[int]:
    values = list(edges)
    whole = all(
        not isinstance(e, bool)
        and isinstance(e, int | float | np.integer | np.floating)
        and math.isfinite(e)
        and float(e).is_integer()
        and e > 0
        for e in values
    )
    if not values or not whole:
        raise ParameterError(f"edges must be positive whole numbers of years (got {edges!r})")
    ints = [int(e) for e in values]
    if any(lo >= hi for lo, hi in pairwise(ints)):
        raise ParameterError(f"edges must be strictly increasing (got {edges!r})")
    return ints


def age_band_labels(edges: tuple[int, ...] | list[int] = AGE_BANDS) -> list[str]:
    """The band labels of :func:`age_band`, youngest first (without ``"unknown"``).

    Examples
    --------
    >>> age_band_labels((25, 35, 65))
    ['<25', '25-34', '35-64', '65+']
    """
    e = _check_edges(edges)
    middle = [f"{lo}-{hi - 1}" for lo, hi in pairwise(e)]
    return [f"<{e[0]}", *middle, f"{e[-1]}+"]


def age_band(age: ArrayLike, edges: tuple[int, ...] | list[int] = AGE_BANDS) -> np.ndarray:
    """Age band of each applicant, in completed years.

    Band ``"lo-hi"`` holds ages ``lo <= age < hi + 1``: with edges 25 and 35, an age of 34.9
    is in ``"25-34"`` and 35 is in ``"35-44"``. Below the first edge is ``"<25"``, from the
    last edge on ``"65+"``.

    Parameters
    ----------
    age : array-like of shape (n_applicants,)
        Age in years, non-negative; a missing age (NaN, None) gives ``"unknown"``.
    edges : sequence of int, default :data:`AGE_BANDS`
        Lower bounds of the bands after the first, in years: positive whole numbers, strictly
        increasing.

    Returns
    -------
    ndarray of str (dtype object), shape (n_applicants,)

    Examples
    --------
    >>> age_band([24.9, 25, 34, 65, float("nan")]).tolist()
    ['<25', '25-34', '25-34', '65+', 'unknown']
    """
    labels = np.array([*age_band_labels(edges), UNKNOWN_GROUP], dtype=object)
    array = as_1d("age", age)
    try:
        years = array.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError(f"age must hold numbers of years (got dtype {array.dtype})") from None
    missing = np.isnan(years)
    wrong = ~missing & (~np.isfinite(years) | (years < 0))
    if wrong.any():
        first = int(np.flatnonzero(wrong)[0])
        raise DataError(
            f"age must be finite and non-negative (got {years[first]} at position {first})"
        )
    band = np.searchsorted(np.asarray(_check_edges(edges), dtype=np.float64), years, "right")
    band[missing] = labels.size - 1
    return labels[band]


# --- group rates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupRates:
    """Decisions and outcomes within one group.

    Attributes
    ----------
    group : str
    n : int
        Applicants in the group.
    approval_rate : float
        Fraction approved, in [0, 1].
    true_positive_rate : float or None
        Fraction approved among the group's applicants who turned out good; None when no
        outcome was given or the group holds no good applicant.
    mean_predicted_bad_rate : float or None
        Mean predicted probability of default; None when no prediction was given.
    observed_bad_rate : float or None
        Fraction of the group's applicants who turned out bad; None when no outcome was given.
    """

    group: str
    n: int
    approval_rate: float
    true_positive_rate: float | None
    mean_predicted_bad_rate: float | None
    observed_bad_rate: float | None


# --- adverse impact ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AdverseImpact:
    """Approval rates by group and their ratio to the highest (the adverse-impact ratio).

    Attributes
    ----------
    rates : dict of str to float
        Approval rate of every group.
    reference_group : str
        The group with the highest approval rate among the groups compared.
    ratios : dict of str to float
        Every group's approval rate divided by the reference group's.
    flagged : tuple of str
        Groups compared whose ratio is below the threshold (four fifths by default).
    min_ratio : float
        Lowest ratio among the groups compared (1.0 when only one is).
    counts : dict of str to int
        Applicants in every group.
    compared : tuple of str
        Groups holding at least ``min_group_size`` applicants: only they can be the reference
        or be flagged. Smaller groups are still in ``rates``, ``ratios`` and ``counts``.
    """

    rates: dict[str, float]
    reference_group: str
    ratios: dict[str, float]
    flagged: tuple[str, ...]
    min_ratio: float
    counts: dict[str, int]
    compared: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: dicts, lists, str, int and float."""
        return {
            "rates": dict(self.rates),
            "reference_group": self.reference_group,
            "ratios": dict(self.ratios),
            "flagged": list(self.flagged),
            "min_ratio": self.min_ratio,
            "counts": dict(self.counts),
            "compared": list(self.compared),
        }


def adverse_impact_ratio(
    approved: ArrayLike,
    group: ArrayLike,
    *,
    min_group_size: int = 30,
    threshold: float = FOUR_FIFTHS,
) -> AdverseImpact:
    """Adverse-impact ratio: each group's approval rate over the highest group's.

    The reference is the group with the highest approval rate (ties: the first by name) among
    the groups holding at least ``min_group_size`` applicants; those groups are *compared* and
    flagged when their ratio is below ``threshold`` (the four-fifths rule). A smaller group
    is reported with its rate and ratio, but its rate is too noisy to be the reference or to
    be flagged. Ratios are compared with the threshold exactly (as fractions of counts), so a
    ratio of exactly 4/5 is not flagged.

    Parameters
    ----------
    approved : array-like of shape (n_applicants,)
        1 (or True) when the applicant was approved, 0 when declined.
    group : array-like of shape (n_applicants,)
        Protected-attribute group of each applicant (see the module's conventions).
    min_group_size : int, default 30
        Fewest applicants for a group to be compared.
    threshold : float, default 0.8
        Ratio below which a compared group is flagged, in (0, 1].

    Returns
    -------
    AdverseImpact

    Raises
    ------
    DataError
        No group holds ``min_group_size`` applicants, or no compared group has any approval.

    Examples
    --------
    Group a approves 3 of 4, group b 1 of 4: b's ratio is (1/4) / (3/4) = 1/3.

    >>> air = adverse_impact_ratio([1, 1, 1, 0, 1, 0, 0, 0], list("aaaabbbb"), min_group_size=4)
    >>> air.reference_group, air.ratios, air.flagged
    ('a', {'a': 1.0, 'b': 0.3333333333333333}, ('b',))
    """
    _check_min_group_size(min_group_size)
    check_rate("threshold", threshold)
    a, g = _decisions_and_groups(approved, group)
    return _adverse_impact(a, g, min_group_size, threshold)


def _adverse_impact(
    a: np.ndarray, g: _Groups, min_group_size: int, threshold: float
) -> AdverseImpact:
    sizes = g.sizes.tolist()
    approvals = np.bincount(g.codes[a], minlength=len(g.names)).tolist()
    exact = {
        name: Fraction(k, n) for name, k, n in zip(g.names, approvals, sizes, strict=True) if n
    }
    compared = [name for name, n in zip(g.names, sizes, strict=True) if n >= min_group_size]
    if not compared:
        largest = int(np.argmax(sizes))
        raise DataError(
            f"group must hold a group of at least min_group_size={min_group_size} applicants "
            f"to compare approval rates (largest: {g.names[largest]!r} with {sizes[largest]}); "
            "lower min_group_size for a small sample"
        )
    reference = max(compared, key=lambda name: exact[name])  # first of the tied, by name
    if exact[reference] == 0:
        raise DataError(
            "approved must hold at least one approval in a group of at least "
            f"min_group_size={min_group_size} applicants (got none)"
        )
    ratio = {name: rate / exact[reference] for name, rate in exact.items()}
    limit = Fraction(repr(float(threshold)))
    return AdverseImpact(
        rates={name: float(rate) for name, rate in exact.items()},
        reference_group=reference,
        ratios={name: float(r) for name, r in ratio.items()},
        flagged=tuple(name for name in compared if ratio[name] < limit),
        min_ratio=float(min(ratio[name] for name in compared)),
        counts={name: n for name, n in zip(g.names, sizes, strict=True) if n},
        compared=tuple(compared),
    )


# --- equal opportunity ----------------------------------------------------------------------


@dataclass(frozen=True)
class EqualOpportunity:
    """Approval rate among good applicants (true-positive rate) by group, and its spread.

    Attributes
    ----------
    true_positive_rates : dict of str to float
        For every group holding at least one good applicant: the fraction of them approved.
    difference : float
        Highest minus lowest true-positive rate among the groups compared, in [0, 1].
    n_good : dict of str to int
        Good applicants in each group of ``true_positive_rates``.
    compared : tuple of str
        Groups holding at least one good applicant and at least ``min_group_size``
        applicants: the groups ``difference`` is taken over.
    """

    true_positive_rates: dict[str, float]
    difference: float
    n_good: dict[str, int]
    compared: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: dicts, lists, str, int and float."""
        return {
            "true_positive_rates": dict(self.true_positive_rates),
            "difference": self.difference,
            "n_good": dict(self.n_good),
            "compared": list(self.compared),
        }


def _equal_opportunity(
    a: np.ndarray, y_good: np.ndarray, g: _Groups, min_group_size: int
) -> EqualOpportunity:
    n_good = np.bincount(g.codes[y_good], minlength=len(g.names))
    hits = np.bincount(g.codes[y_good & a], minlength=len(g.names))
    sizes = g.sizes
    rates = {name: float(hits[i] / n_good[i]) for i, name in enumerate(g.names) if n_good[i] > 0}
    compared = tuple(
        name for i, name in enumerate(g.names) if n_good[i] > 0 and sizes[i] >= min_group_size
    )
    if not compared:
        raise DataError(
            "good must hold at least one good applicant in a group of at least "
            f"min_group_size={min_group_size} applicants (got none)"
        )
    spread = [rates[name] for name in compared]
    return EqualOpportunity(
        true_positive_rates=rates,
        difference=float(max(spread) - min(spread)),
        n_good={name: int(n_good[g.names.index(name)]) for name in rates},
        compared=compared,
    )


def equal_opportunity_difference(
    approved: ArrayLike, good: ArrayLike, group: ArrayLike, *, min_group_size: int = 1
) -> EqualOpportunity:
    """Spread of the approval rate among applicants who turned out good, across groups.

    Equal opportunity (Hardt, Price & Srebro, 2016) asks that an applicant who would repay be
    approved at the same rate whatever their group. The true-positive rate of a group is the
    fraction of its good applicants who were approved; the difference is the highest minus
    the lowest of them, over the groups holding at least one good applicant and at least
    ``min_group_size`` applicants. 0 is equal opportunity.

    Parameters
    ----------
    approved : array-like of shape (n_applicants,)
        1 (or True) when approved.
    good : array-like of shape (n_applicants,)
        1 (or True) when the applicant repaid, 0 when they defaulted.
    group : array-like of shape (n_applicants,)
        Protected-attribute group of each applicant.
    min_group_size : int, default 1
        Fewest applicants (good or not) for a group to enter the difference; smaller groups
        are still reported in ``true_positive_rates``.

    Returns
    -------
    EqualOpportunity

    Examples
    --------
    Group a approves 2 of its 2 good applicants, group b 1 of its 2.

    >>> eo = equal_opportunity_difference([1, 1, 0, 1, 0, 0], [1, 1, 0, 1, 1, 0], list("aaabbb"))
    >>> eo.true_positive_rates, eo.difference
    ({'a': 1.0, 'b': 0.5}, 0.5)
    """
    _check_min_group_size(min_group_size)
    a, g = _decisions_and_groups(approved, group)
    y_good = _outcomes("good", good, a.size)
    return _equal_opportunity(a, y_good, g, min_group_size)


# --- calibration ----------------------------------------------------------------------------


def _calibration_table(p: np.ndarray, y_bad: np.ndarray, g: _Groups, n_bands: int) -> pd.DataFrame:
    # Bands by value, cut at the population's quantiles: band b holds the predictions in
    # (q[b-1], q[b]], the first one also its minimum. Tied predictions share a band, so a band
    # can be empty when many predictions are tied.
    inner = np.quantile(p, np.arange(1, n_bands) / n_bands)
    band = np.searchsorted(inner, p, side="left")
    cell = g.codes * n_bands + band
    cells = len(g.names) * n_bands
    n = np.bincount(cell, minlength=cells)
    predicted = np.bincount(cell, weights=p, minlength=cells)
    observed = np.bincount(cell, weights=y_bad.astype(np.float64), minlength=cells)
    filled = np.flatnonzero(n)
    return pd.DataFrame(
        {
            "group": pd.Series(np.array(g.names, dtype=object)[filled // n_bands], dtype=object),
            "band": (filled % n_bands + 1).astype(np.int64),
            "n": n[filled].astype(np.int64),
            "mean_predicted": predicted[filled] / n[filled],
            "observed": observed[filled] / n[filled],
        }
    )


def _calibration_inputs(
    predicted_bad_rate: ArrayLike, bad: ArrayLike, group: ArrayLike, n_bands: int
) -> tuple[np.ndarray, np.ndarray, _Groups]:
    check_count("n_bands", n_bands)
    p = as_probabilities("predicted_bad_rate", predicted_bad_rate)
    y_bad = as_labels("bad", bad)
    g = _as_groups("group", group)
    same_length("predicted_bad_rate", p.size, bad=y_bad, group=g.codes)
    _not_empty("predicted_bad_rate", p)
    return p, y_bad, g


def _gaps(table: pd.DataFrame) -> dict[str, float]:
    gap = (table["mean_predicted"] - table["observed"]).abs() * table["n"]
    sums = gap.groupby(table["group"], sort=True).sum() / table.groupby("group")["n"].sum()
    return {str(name): float(value) for name, value in sums.items()}


def calibration_within_groups(
    predicted_bad_rate: ArrayLike, bad: ArrayLike, group: ArrayLike, n_bands: int = 5
) -> pd.DataFrame:
    """Predicted against observed bad rate in each group and band of predicted rate.

    Applicants are cut into ``n_bands`` bands of predicted bad rate at the quantiles of the
    whole population (not of each group), so that band 2 of one group covers the same
    predictions as band 2 of another. Band b holds predictions in ``(q[b-1], q[b]]`` (the
    first band also its lowest value); applicants with equal predictions share a band, so
    with many ties a band can stay empty. A well-calibrated model has ``mean_predicted`` close
    to ``observed`` in every row, for every group.

    Parameters
    ----------
    predicted_bad_rate : array-like of shape (n_applicants,)
        Predicted probability of default, in [0, 1].
    bad : array-like of shape (n_applicants,)
        1 (or True) when the applicant defaulted.
    group : array-like of shape (n_applicants,)
        Protected-attribute group of each applicant.
    n_bands : int, default 5
        Number of quantile bands.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty (group, band), sorted by group then band, with columns
        ``group`` (str), ``band`` (int, 1 to ``n_bands``), ``n`` (applicants),
        ``mean_predicted`` (mean predicted bad rate) and ``observed`` (fraction bad).

    Examples
    --------
    >>> t = calibration_within_groups([0.1, 0.2, 0.6, 0.8], [0, 0, 1, 1], list("abab"), 2)
    >>> t.to_dict("list")["observed"]
    [0.0, 1.0, 0.0, 1.0]
    """
    p, y_bad, g = _calibration_inputs(predicted_bad_rate, bad, group, n_bands)
    return _calibration_table(p, y_bad, g, n_bands)


def calibration_gap_by_group(
    predicted_bad_rate: ArrayLike, bad: ArrayLike, group: ArrayLike, n_bands: int = 5
) -> dict[str, float]:
    """Calibration gap of each group: mean absolute error of the bands, weighted by count.

    For group g, ``sum_b n_gb * |mean_predicted_gb - observed_gb| / n_g`` over the rows of
    :func:`calibration_within_groups` (same arguments). 0 is perfect calibration within the
    group; comparing the gaps of groups shows whether the model is as reliable for each.

    Returns
    -------
    dict of str to float
        Gap of every group, in [0, 1], in name order.

    Examples
    --------
    >>> calibration_gap_by_group([0.1, 0.2, 0.6, 0.8], [0, 0, 1, 1], list("abab"), 2)
    {'a': 0.25, 'b': 0.2}
    """
    p, y_bad, g = _calibration_inputs(predicted_bad_rate, bad, group, n_bands)
    return _gaps(_calibration_table(p, y_bad, g, n_bands))


# --- the audit ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FairnessAudit:
    """The fairness audit of a set of decisions against one protected attribute.

    Attributes
    ----------
    attribute : str
        Name of the protected attribute (``"sex"``, ``"age_band"``...).
    groups : tuple of GroupRates
        One per group, in name order.
    adverse_impact : AdverseImpact
    equal_opportunity : EqualOpportunity or None
        None when no outcome was given.
    calibration_gap : dict of str to float or None
        :func:`calibration_gap_by_group`; None unless both predictions and outcomes were given.
    min_group_size : int
        Fewest applicants for a group to be compared.
    """

    attribute: str
    groups: tuple[GroupRates, ...]
    adverse_impact: AdverseImpact
    equal_opportunity: EqualOpportunity | None
    calibration_gap: dict[str, float] | None
    min_group_size: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: dicts, lists, str, int, float and None."""
        return {
            "attribute": self.attribute,
            "min_group_size": self.min_group_size,
            "groups": [asdict(rates) for rates in self.groups],
            "adverse_impact": self.adverse_impact.to_dict(),
            "equal_opportunity": (
                None if self.equal_opportunity is None else self.equal_opportunity.to_dict()
            ),
            "calibration_gap": (
                None if self.calibration_gap is None else dict(self.calibration_gap)
            ),
        }


def fairness_audit(
    approved: ArrayLike,
    group: ArrayLike,
    *,
    good: ArrayLike | None = None,
    predicted_bad_rate: ArrayLike | None = None,
    attribute: str = "group",
    min_group_size: int = 30,
    n_bands: int = 5,
) -> FairnessAudit:
    """Audit decisions against one protected attribute.

    Parameters
    ----------
    approved : array-like of shape (n_applicants,)
        1 (or True) when approved.
    group : array-like of shape (n_applicants,)
        The applicant's group for the attribute (for example :func:`age_band` of the age).
    good : array-like of shape (n_applicants,), optional
        1 (or True) when the applicant repaid. Gives the true-positive and observed bad rates
        and the equal-opportunity difference.
    predicted_bad_rate : array-like of shape (n_applicants,), optional
        Predicted probability of default, in [0, 1]. Gives the mean predicted bad rates, and
        with ``good`` the calibration gaps.
    attribute : str, default "group"
        Name of the attribute, carried into the report.
    min_group_size : int, default 30
        Fewest applicants for a group to be compared, in the adverse-impact ratio and the
        equal-opportunity difference (see :func:`adverse_impact_ratio`).
    n_bands : int, default 5
        Bands of predicted rate for the calibration gaps.

    Returns
    -------
    FairnessAudit
    """
    _check_min_group_size(min_group_size)
    check_count("n_bands", n_bands)
    if not isinstance(attribute, str) or not attribute:
        raise ParameterError(f"attribute must be a non-empty string (got {attribute!r})")
    a, g = _decisions_and_groups(approved, group)
    y_good = None if good is None else _outcomes("good", good, a.size)
    p = None
    if predicted_bad_rate is not None:
        p = as_probabilities("predicted_bad_rate", predicted_bad_rate)
        same_length("approved", a.size, predicted_bad_rate=p)
    adverse = _adverse_impact(a, g, min_group_size, FOUR_FIFTHS)

    sizes = g.sizes
    approval = g.sums(a.astype(np.float64)) / sizes
    none: list[float | None] = [None] * len(g.names)
    tpr, observed, mean_predicted = none, none, none
    opportunity = gaps = None
    if y_good is not None:
        opportunity = _equal_opportunity(a, y_good, g, min_group_size)
        tpr = [opportunity.true_positive_rates.get(name) for name in g.names]
        observed = (1.0 - g.sums(y_good.astype(np.float64)) / sizes).tolist()
    if p is not None:
        mean_predicted = (g.sums(p) / sizes).tolist()
        if y_good is not None:
            gaps = _gaps(_calibration_table(p, ~y_good, g, n_bands))
    rows = tuple(
        GroupRates(
            group=name,
            n=int(sizes[i]),
            approval_rate=float(approval[i]),
            true_positive_rate=tpr[i],
            mean_predicted_bad_rate=mean_predicted[i],
            observed_bad_rate=observed[i],
        )
        for i, name in enumerate(g.names)
    )
    return FairnessAudit(
        attribute=attribute,
        groups=rows,
        adverse_impact=adverse,
        equal_opportunity=opportunity,
        calibration_gap=gaps,
        min_group_size=int(min_group_size),
    )


# --- mitigation -----------------------------------------------------------------------------


def reweighing_weights(bad: ArrayLike, group: ArrayLike) -> np.ndarray:
    """Kamiran & Calders (2012) reweighing: sample weights making outcome and group independent.

    Each applicant of group g with label y weighs ``P(g) * P(y) / P(g, y)``, the
    probabilities being the fractions of applicants. In the weighted data every group has the
    overall bad rate and keeps its own total weight, so a model trained with these weights
    cannot learn the group from the label. A group holding only one label cannot be
    rebalanced: its weights are ``P(y)`` and its bad rate stays 0 or 1.

    Parameters
    ----------
    bad : array-like of shape (n_applicants,)
        1 (or True) when the applicant defaulted.
    group : array-like of shape (n_applicants,)
        Protected-attribute group of each applicant.

    Returns
    -------
    ndarray of float64, shape (n_applicants,)
        Positive weights; they sum to n_applicants when every group holds both labels.

    Examples
    --------
    Group a has 1 bad in 4, b 3 in 4; overall 1/2. A bad of a weighs (1/2)(1/2)/(1/8) = 2.

    >>> reweighing_weights([1, 0, 0, 0, 1, 1, 1, 0], list("aaaabbbb")).tolist()
    [2.0, 0.6666666666666666, 0.6666666666666666, 0.6666666666666666,
     0.6666666666666666, 0.6666666666666666, 0.6666666666666666, 2.0]
    """
    y_bad = as_labels("bad", bad)
    g = _as_groups("group", group)
    same_length("bad", y_bad.size, group=g.codes)
    _not_empty("bad", y_bad)
    n = y_bad.size
    cell = g.codes * 2 + y_bad
    n_cell = np.bincount(cell, minlength=2 * len(g.names))
    n_group = g.sizes[g.codes]
    n_label = np.bincount(y_bad.astype(np.int64), minlength=2)[y_bad.astype(np.int64)]
    return (n_group * n_label) / (n * n_cell[cell])
