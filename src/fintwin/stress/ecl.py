"""IFRS 9 expected credit loss: stages, 12-month and lifetime ECL, probability weighting.

IFRS 9 measures the loss allowance of a loan by its **stage** (:func:`assign_stage`):

- **stage 1**, performing: 12-month expected credit loss, the losses from defaults within the
  12 months after the reporting date (IFRS 9 5.5.5);
- **stage 2**, a significant increase in credit risk (SICR) since initial recognition: lifetime
  expected credit loss (5.5.3). Credit risk has increased significantly when the lifetime PD
  has risen enough since origination (:class:`StagingRule`), and is presumed to have when
  payments are more than 30 days past due (the backstop of 5.5.11);
- **stage 3**, credit-impaired (Appendix A; default is presumed to occur no later than 90
  days past due, B5.5.37): lifetime expected credit loss with default certain, ``LGD x EAD``.

:func:`expected_credit_loss` computes them from a path of annual PDs; :func:`annual_pd_path`
and :func:`annual_lgd_path` make those paths under a macro scenario
(:mod:`fintwin.stress.scenarios`), and :func:`weighted_ecl` weights the ECLs of several
scenarios by their probabilities: IFRS 9 5.5.17(a) asks for "an unbiased and
probability-weighted amount that is determined by evaluating a range of possible outcomes".
Because losses rise faster than linearly as the economy worsens (over the range of the
shipped scenarios), the weighted ECL is above the ECL of the weighted (average) scenario:
weight the losses, not the scenarios.

**Conventions** (hand-checkable):

- ``pd_annual_path[i, t]`` is the PD of year ``t + 1`` *given survival to its start* (the
  annual hazard; a scenario-conditional PD from :func:`~fintwin.stress.scenarios.conditional_pd`
  is one). Cumulative default probabilities follow: ``S_t = prod_{k <= t} (1 - h_k)``, and the
  marginal PD of year ``t`` is ``S_{t-1} - S_t = S_{t-1} h_t``.
- Defaults fall in the middle of each year: a loss in year ``t`` is discounted by
  ``DF_t = (1 + r)^-(t - 1/2)`` at the effective interest rate ``r`` (IFRS 9 5.5.17, B5.5.44).
  The 12-month ECL is thus ``PD_12m x LGD x EAD x (1 + r)^-0.5``.
- A remaining life that ends within a year, after ``f`` of it, sees ``1 - (1 - h_t)^f`` of that
  year's hazard (constant within the year) and its default half way, at ``t - 1 + f/2``. A
  12-month ECL of a loan with less than a year to run is its lifetime ECL (Appendix A).
- Stage 3: ``LGD x EAD`` of the first year, undiscounted (the default has happened; the LGD is
  taken to include the discounting of recoveries).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from numbers import Real

import numpy as np
from numpy.typing import ArrayLike

from fintwin.exceptions import DataError, ParameterError
from fintwin.stress.scenarios import (
    DEFAULT_LINK,
    FactorLink,
    Scenario,
    _correlation,
    _finite_1d,
    _per_obligor,
    conditional_pd,
    quarterly_pd,
    systematic_factor,
)

__all__ = [
    "WEIGHT_TOLERANCE",
    "Stage",
    "StagingRule",
    "annual_lgd_path",
    "annual_pd_path",
    "assign_stage",
    "expected_credit_loss",
    "lifetime_pd",
    "weighted_ecl",
]

WEIGHT_TOLERANCE = 1e-9
"""Scenario weights may sum to 1 within this: ``0.1 + 0.2 + 0.7`` is ``0.9999999999999999``
in floating point, while a weight mistyped by a basis point (1e-4) is refused."""

PD_TOLERANCE = 1e-12
"""A PD increase short of a staging threshold by less than this (float rounding) meets it."""


class Stage(IntEnum):
    """IFRS 9 impairment stage; an int, so ``stage == 2`` and arrays of stages work.

    Examples
    --------
    >>> Stage(2), Stage.STAGE_3 > Stage.STAGE_1
    (<Stage.STAGE_2: 2>, True)
    """

    STAGE_1 = 1
    """Performing: 12-month expected credit loss."""
    STAGE_2 = 2
    """Significant increase in credit risk since origination: lifetime expected credit loss."""
    STAGE_3 = 3
    """Credit-impaired (defaulted): lifetime expected credit loss, default certain."""


@dataclass(frozen=True)
class StagingRule:
    """When a loan moves to stage 2 or 3.

    A loan is in **stage 3** when it has defaulted or is more than ``credit_impaired_days``
    past due; else in **stage 2** when it is more than ``days_past_due_backstop`` past due, or
    when its lifetime PD has risen since origination both relatively and absolutely::

        pd_now >= relative_pd_increase x pd_origination  and
        pd_now - pd_origination >= absolute_pd_increase

    and in **stage 1** otherwise. Both increases are asked for because a doubling means little
    for a tiny PD (0.01 % to 0.02 %) while a fixed rise means more for a low PD than a high one
    (IFRS 9 B5.5.9). Lifetime PDs are compared over the same remaining life; the low-credit-risk
    exemption (5.5.10) is not applied.

    Parameters
    ----------
    relative_pd_increase : float, default 2.0
        Lifetime PD now over lifetime PD at origination that signals a significant increase:
        2.0, at least double. At least 1.
    absolute_pd_increase : float, default 0.005
        Minimum rise of the lifetime PD (0.005: half a percentage point), in [0, 1]; 0 leaves
        the relative test alone.
    days_past_due_backstop : int, default 30
        Stage 2 when *more than* this many days past due (IFRS 9 5.5.11: "more than 30 days
        past due"), whatever the PD.
    credit_impaired_days : int, default 90
        Stage 3 when *more than* this many days past due (the regulatory default definition,
        CRR article 178: "past due more than 90 days"; IFRS 9 B5.5.37 presumes default by 90
        days). Above ``days_past_due_backstop``.

    Examples
    --------
    >>> StagingRule().days_past_due_backstop
    30
    """

    relative_pd_increase: float = 2.0
    absolute_pd_increase: float = 0.005
    days_past_due_backstop: int = 30
    credit_impaired_days: int = 90

    def __post_init__(self) -> None:
        for name in ("relative_pd_increase", "absolute_pd_increase"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value):
                raise ParameterError(f"{name} must be a number (got {value!r})")
            object.__setattr__(self, name, float(value))
        if not 1.0 <= self.relative_pd_increase < math.inf:
            raise ParameterError(
                f"relative_pd_increase must be finite and at least 1 "
                f"(got {self.relative_pd_increase!r})"
            )
        if not 0.0 <= self.absolute_pd_increase <= 1.0:
            raise ParameterError(
                f"absolute_pd_increase must be in [0, 1] (got {self.absolute_pd_increase!r})"
            )
        for name in ("days_past_due_backstop", "credit_impaired_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise ParameterError(f"{name} must be a non-negative integer (got {value!r})")
            object.__setattr__(self, name, int(value))
        if self.credit_impaired_days <= self.days_past_due_backstop:
            raise ParameterError(
                "credit_impaired_days must be above days_past_due_backstop "
                f"(got {self.credit_impaired_days} <= {self.days_past_due_backstop})"
            )


def _probabilities(name: str, values: ArrayLike, n: int | None = None) -> np.ndarray:
    array = _finite_1d(name, values)
    size = array.size if n is None else n
    return _per_obligor(name, array, size, low=0.0, high=1.0, rule="a probability in [0, 1]")


def assign_stage(
    pd_lifetime_now: ArrayLike,
    pd_lifetime_origination: ArrayLike,
    days_past_due: ArrayLike,
    defaulted: ArrayLike,
    *,
    rule: StagingRule | None = None,
) -> np.ndarray:
    """The IFRS 9 stage of each loan (:class:`StagingRule`).

    Parameters
    ----------
    pd_lifetime_now : array_like of float, shape (n,)
        Lifetime PD over the remaining life, at the reporting date, in [0, 1]
        (:func:`lifetime_pd`).
    pd_lifetime_origination : array_like of float, shape (n,)
        Lifetime PD over the same remaining life as expected at origination, in [0, 1].
    days_past_due : array_like of int, shape (n,)
        Days the oldest unpaid instalment is overdue; at least 0.
    defaulted : array_like of bool, shape (n,)
        The loan has defaulted (or is otherwise credit-impaired).
    rule : StagingRule, optional
        The thresholds (default: :class:`StagingRule`'s).

    Returns
    -------
    ndarray of int8, shape (n,)
        1, 2 or 3: the values of :class:`Stage` (``Stage(x)`` gives the member).

    Examples
    --------
    >>> assign_stage([0.02, 0.05, 0.02, 0.02, 0.02], [0.02, 0.02, 0.02, 0.02, 0.02],
    ...              [0, 0, 31, 91, 0], [False, False, False, False, True]).tolist()
    [1, 2, 2, 3, 3]
    """
    rule = StagingRule() if rule is None else rule
    if not isinstance(rule, StagingRule):
        raise ParameterError(f"rule must be a StagingRule (got {rule!r})")
    now = _probabilities("pd_lifetime_now", pd_lifetime_now)
    n = now.size
    start = _probabilities("pd_lifetime_origination", pd_lifetime_origination, n)
    dpd = _finite_1d("days_past_due", days_past_due)
    if dpd.size != n:
        raise ParameterError(
            f"days_past_due must hold one value per loan (got {dpd.size}, expected {n})"
        )
    bad = np.flatnonzero((dpd < 0) | (dpd != np.floor(dpd)))
    if bad.size:
        raise DataError(
            f"days_past_due must be whole days, at least 0 (got {dpd[bad[0]]} at position {bad[0]})"
        )
    flag = np.asarray(defaulted)
    if flag.ndim != 1 or flag.size != n:
        raise ParameterError(
            f"defaulted must hold one value per loan (got shape {flag.shape}, expected ({n},))"
        )
    if flag.dtype != bool:
        if flag.dtype.kind not in "iuf" or not np.isin(flag, (0, 1)).all():
            raise DataError(f"defaulted must hold booleans or 0/1 (got {flag.tolist()[:5]}...)")
        flag = flag.astype(bool)

    sicr = (now >= rule.relative_pd_increase * start - PD_TOLERANCE) & (
        now - start >= rule.absolute_pd_increase - PD_TOLERANCE
    )
    stage = np.full(n, int(Stage.STAGE_1), dtype=np.int8)
    stage[sicr | (dpd > rule.days_past_due_backstop)] = Stage.STAGE_2
    stage[flag | (dpd > rule.credit_impaired_days)] = Stage.STAGE_3
    return stage


# --- expected credit loss -------------------------------------------------------------------


def _hazards(pd_annual_path: ArrayLike) -> np.ndarray:
    path = np.asarray(pd_annual_path)
    if path.ndim != 2 or path.shape[1] == 0:
        raise ParameterError(
            "pd_annual_path must be two-dimensional, obligors x years, with at least one year "
            f"(got shape {path.shape})"
        )
    if path.dtype.kind not in "iuf":
        raise DataError(f"pd_annual_path must hold numbers (got dtype {path.dtype})")
    path = path.astype(np.float64)
    bad = np.argwhere(~((path >= 0.0) & (path <= 1.0)))
    if bad.size:
        i, t = (int(v) for v in bad[0])
        raise DataError(
            f"pd_annual_path must hold probabilities in [0, 1] (got {path[i, t]} for obligor "
            f"{i}, year {t + 1})"
        )
    return path


def _by_year(name: str, values: ArrayLike, shape: tuple[int, int], *, high: float) -> np.ndarray:
    """A number, one value per obligor (n,), or a path (n, years), as shape (n, years)."""
    array = np.asarray(values)
    if array.ndim == 2:
        if array.shape != shape:
            raise ParameterError(
                f"{name} as a path must have the shape of pd_annual_path, obligors x years "
                f"(got {array.shape}, expected {shape})"
            )
        flat = _per_obligor(name, array.ravel(), array.size, low=0.0, high=high, rule=_RULES[name])
        return flat.reshape(shape)
    column = _per_obligor(name, array, shape[0], low=0.0, high=high, rule=_RULES[name])
    return np.broadcast_to(column[:, None], shape)


_RULES = {"lgd": "a share in [0, 1]", "ead": "at least 0"}


def expected_credit_loss(
    pd_annual_path: ArrayLike,
    lgd: ArrayLike,
    ead: ArrayLike,
    effective_rate: ArrayLike,
    stage: ArrayLike,
    *,
    remaining_years: ArrayLike,
) -> np.ndarray:
    """IFRS 9 expected credit loss of each loan in its stage.

    With hazards ``h_t = pd_annual_path[i, t-1]``, ``f_t = min(1, max(0, R - (t - 1)))`` the
    share of year ``t`` within the remaining life ``R``, ``p_t = 1 - (1 - h_t)^f_t``,
    ``S_t = prod_{k <= t} (1 - p_k)`` (``S_0 = 1``) and ``DF_t = (1 + r)^-(t - 1 + f_t / 2)``::

        stage 1:  ECL = p_1 x LGD_1 x EAD_1 x DF_1                 12-month (R >= 1: h_1, 0.5)
        stage 2:  ECL = sum_t S_{t-1} p_t x LGD_t x EAD_t x DF_t   lifetime, t = 1 .. ceil(R)
        stage 3:  ECL = LGD_1 x EAD_1                               default certain

    The stage 1 ECL is the first term of the stage 2 sum: moving to stage 2 adds the later
    years.

    Parameters
    ----------
    pd_annual_path : array_like of float, shape (n, years)
        PD of each year given survival to its start, in [0, 1]: ``years`` at least the longest
        remaining life (rounded up) of a stage 2 loan, and at least 1.
    lgd : float or array_like of float, shape (n,) or (n, years)
        Loss given default, in [0, 1]; a path gives one value per year.
    ead : float or array_like of float, shape (n,) or (n, years)
        Exposure at default in currency units, at least 0; a path gives the exposure of each
        year (an amortisation schedule).
    effective_rate : float or array_like of float, shape (n,)
        Effective interest rate per year (0.05 = 5 %) used to discount, above -1.
    stage : array_like of int, shape (n,)
        1, 2 or 3 (:class:`Stage`, :func:`assign_stage`).
    remaining_years : float or array_like of float, shape (n,)
        Remaining contractual life in years, positive.

    Returns
    -------
    ndarray of float, shape (n,)
        The loss allowance of each loan, in the currency of ``ead``.

    Examples
    --------
    12-month (2 % x 45 % x 1000 = 9, discounted half a year at 5 %: 9 / sqrt(1.05)), lifetime
    at 0 % (450 x (0.02 + 0.98 x 0.03) = 22.23) and credit-impaired (0.45 x 1000):

    >>> expected_credit_loss([[0.02, 0.03]] * 3, 0.45, 1000.0, [0.05, 0.0, 0.05],
    ...                      [1, 2, 3], remaining_years=2).round(4).tolist()
    [8.7831, 22.23, 450.0]
    """
    h = _hazards(pd_annual_path)
    n, years = h.shape
    lgd_t = _by_year("lgd", lgd, h.shape, high=1.0)
    ead_t = _by_year("ead", ead, h.shape, high=math.inf)
    rate = _finite_1d("effective_rate", effective_rate)
    rate = _per_obligor("effective_rate", rate, n, low=-1.0 + 1e-12, high=math.inf, rule="above -1")
    life = _per_obligor(
        "remaining_years",
        _finite_1d("remaining_years", remaining_years),
        n,
        low=0.0,
        high=math.inf,
        rule="positive",
    )
    if (life <= 0).any():
        first = int(np.flatnonzero(life <= 0)[0])
        raise DataError(f"remaining_years must be positive (got {life[first]} at position {first})")
    stages = _finite_1d("stage", stage)
    if stages.size != n:
        raise ParameterError(
            f"stage must hold one value per loan (got {stages.size}, expected {n})"
        )
    bad = np.flatnonzero(~np.isin(stages, (1, 2, 3)))
    if bad.size:
        raise DataError(f"stage must be 1, 2 or 3 (got {stages[bad[0]]} at position {bad[0]})")
    stages = stages.astype(np.int8)
    lifetime = stages == Stage.STAGE_2
    if lifetime.any():
        needed = np.ceil(life[lifetime] - 1e-12).astype(np.int64)
        if needed.max() > years:
            first = int(np.flatnonzero(lifetime)[int(np.argmax(needed))])
            raise ParameterError(
                f"pd_annual_path holds {years} year(s) but loan {first} in stage 2 has "
                f"{life[first]} years to run: give one PD per remaining year"
            )

    t = np.arange(years, dtype=np.float64)[None, :]  # t - 1 for years 1 .. years
    share = np.clip(life[:, None] - t, 0.0, 1.0)  # f_t
    # p_t = 1 - (1 - h_t)^f_t; 0 ** 0 = 1 makes a year outside the life add nothing.
    p = 1.0 - np.power(1.0 - h, share)
    before = np.hstack([np.ones((n, 1)), np.cumprod(1.0 - p, axis=1)[:, :-1]])  # S_{t-1}
    discount = np.power(1.0 + rate[:, None], -(t + share / 2.0))
    terms = before * p * lgd_t * ead_t * discount

    ecl = np.where(lifetime, terms.sum(axis=1), terms[:, 0])
    return np.where(stages == Stage.STAGE_3, lgd_t[:, 0] * ead_t[:, 0], ecl)


def lifetime_pd(pd_annual_path: ArrayLike, *, remaining_years: ArrayLike) -> np.ndarray:
    """Probability of default over the remaining life: ``1 - S_R`` (conventions as ECL's).

    Parameters
    ----------
    pd_annual_path : array_like of float, shape (n, years)
        PD of each year given survival to its start.
    remaining_years : float or array_like of float, shape (n,)
        Remaining life in years, positive and at most ``years``.

    Returns
    -------
    ndarray of float, shape (n,)

    Examples
    --------
    >>> lifetime_pd([[0.02, 0.03, 0.04]], remaining_years=3).round(6).tolist()  # 1 - .98 .97 .96
    [0.087424]
    """
    h = _hazards(pd_annual_path)
    n, years = h.shape
    life = _per_obligor(
        "remaining_years",
        _finite_1d("remaining_years", remaining_years),
        n,
        low=0.0,
        high=math.inf,
        rule="positive",
    )
    if (life <= 0).any() or (life > years + 1e-12).any():
        first = int(np.flatnonzero((life <= 0) | (life > years + 1e-12))[0])
        raise ParameterError(
            f"remaining_years must be positive and at most the path's {years} year(s) "
            f"(got {life[first]} at position {first})"
        )
    share = np.clip(life[:, None] - np.arange(years)[None, :], 0.0, 1.0)
    return 1.0 - np.prod(np.power(1.0 - h, share), axis=1)


# --- paths under a scenario -----------------------------------------------------------------


def _years(years: int) -> int:
    if isinstance(years, bool) or not isinstance(years, int | np.integer) or years < 1:
        raise ParameterError(f"years must be a positive integer (got {years!r})")
    return int(years)


def annual_pd_path(
    pd_ttc: ArrayLike,
    rho: ArrayLike,
    scenario: Scenario,
    *,
    years: int,
    link: FactorLink = DEFAULT_LINK,
) -> np.ndarray:
    """Annual PDs (given survival) under a scenario, then at their through-the-cycle values.

    Quarter ``q`` of the scenario has the quarterly PD ``1 - (1 - PD(z_q))^(1/4)``
    (:func:`~fintwin.stress.scenarios.conditional_pd`); a quarter beyond the horizon has the
    through-the-cycle one, ``1 - (1 - pd_ttc)^(1/4)``: beyond the period of detailed forecasts
    the PD reverts at once to its long-run average (a simple choice; a gradual reversion is as
    defensible). Year ``k`` is quarters ``4k - 3 .. 4k``::

        h_k = 1 - prod_{q in year k} (1 - PD_q)

    so a year wholly beyond the scenario has ``h_k = pd_ttc``.

    Parameters
    ----------
    pd_ttc : array_like of float, shape (n,)
        Through-the-cycle one-year PD, in [0, 1].
    rho : float or array_like of float, shape (n,)
        Asset correlation, in [0, 1).
    scenario : Scenario
    years : int
        Number of years of the path (the longest remaining life).
    link : FactorLink

    Returns
    -------
    ndarray of float, shape (n, years)

    Examples
    --------
    >>> from fintwin.stress.scenarios import builtin_scenario
    >>> path = annual_pd_path([0.02], 0.0, builtin_scenario("adverse"), years=5)
    >>> path.round(12).tolist()  # rho = 0: the scenario moves nothing
    [[0.02, 0.02, 0.02, 0.02, 0.02]]
    """
    years = _years(years)
    p = _probabilities("pd_ttc", pd_ttc)
    n = p.size
    r = _correlation(rho, n)
    quarters = 4 * years
    q_pd = np.broadcast_to(quarterly_pd(p)[:, None], (n, quarters)).copy()
    used = min(quarters, scenario.horizon)
    z = systematic_factor(scenario, link=link)[:used]
    q_pd[:, :used] = quarterly_pd(conditional_pd(p, r, z).reshape(n, used))
    survive = np.prod((1.0 - q_pd).reshape(n, years, 4), axis=2)
    return 1.0 - survive


def annual_lgd_path(lgd: ArrayLike, scenario: Scenario, *, years: int) -> np.ndarray:
    """Annual LGDs under a scenario: the year's mean of ``clip(lgd + lgd_shift_q, 0, 1)``.

    Quarters beyond the scenario's horizon have no shift.

    Returns
    -------
    ndarray of float, shape (n, years)

    Examples
    --------
    >>> from fintwin.stress.scenarios import builtin_scenario
    >>> annual_lgd_path([0.4], builtin_scenario("adverse"), years=4).round(4).tolist()
    [[0.415, 0.4475, 0.435, 0.4]]
    """
    years = _years(years)
    base = _finite_1d("lgd", lgd)
    base = _per_obligor("lgd", base, base.size, low=0.0, high=1.0, rule="a share in [0, 1]")
    shift = np.zeros(4 * years)
    used = min(shift.size, scenario.horizon)
    shift[:used] = scenario.lgd_shift[:used]
    quarterly = np.clip(base[:, None] + shift[None, :], 0.0, 1.0)
    return quarterly.reshape(base.size, years, 4).mean(axis=2)


# --- probability weighting ------------------------------------------------------------------


def weighted_ecl(
    ecl_by_scenario: Mapping[str, ArrayLike] | Sequence[ArrayLike],
    weights: Mapping[str, float] | Sequence[float],
) -> np.ndarray:
    """The probability-weighted ECL over scenarios: ``sum_s w_s ECL_s`` (IFRS 9 5.5.17(a)).

    Parameters
    ----------
    ecl_by_scenario : mapping of str to array_like, or sequence of array_like
        The ECL of every loan (shape (n,)) or of the portfolio (a number) under each scenario;
        finite and at least 0.
    weights : mapping of str to float, or sequence of float
        Each scenario's probability, at least 0, summing to 1 (within
        :data:`WEIGHT_TOLERANCE`). Keyed by the same names as ``ecl_by_scenario`` when that is
        a mapping; in the same order when a sequence.

    Returns
    -------
    ndarray of float, shape (n,), or a NumPy float for portfolio totals

    Examples
    --------
    >>> float(weighted_ecl({"base": 100.0, "adverse": 180.0, "severe": 300.0},
    ...                    {"base": 0.6, "adverse": 0.3, "severe": 0.1}))  # 60 + 54 + 30
    144.0
    """
    if isinstance(ecl_by_scenario, Mapping):
        if not isinstance(weights, Mapping):
            raise ParameterError(
                "weights must be a mapping keyed by scenario when ecl_by_scenario is one"
            )
        names = list(ecl_by_scenario)
        if set(weights) != set(names):
            missing = sorted(set(names) - set(weights))
            extra = sorted(set(weights) - set(names))
            raise ParameterError(
                "weights must name the scenarios of ecl_by_scenario exactly "
                f"(missing: {missing or 'none'}; unknown: {extra or 'none'})"
            )
        ecls = [ecl_by_scenario[k] for k in names]
        w = [weights[k] for k in names]
    else:
        if isinstance(weights, Mapping):
            raise ParameterError("weights must be a sequence when ecl_by_scenario is a sequence")
        names = [f"#{i}" for i in range(len(ecl_by_scenario))]
        ecls, w = list(ecl_by_scenario), list(weights)
        if len(w) != len(ecls):
            raise ParameterError(
                f"weights must hold one weight per scenario (got {len(w)} for {len(ecls)})"
            )
    if not ecls:
        raise ParameterError("ecl_by_scenario must hold at least one scenario (got none)")
    for name, value in zip(names, w, strict=True):
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ParameterError(f"weight of scenario {name} must be a number (got {value!r})")
        if not 0.0 <= value <= 1.0:
            raise ParameterError(
                f"weight of scenario {name} must be a probability in [0, 1] (got {value!r})"
            )
    total = math.fsum(float(v) for v in w)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise ParameterError(
            f"scenario weights must sum to 1 (got {total!r}): IFRS 9 weights outcomes by their "
            "probabilities"
        )
    arrays = []
    shape = np.shape(ecls[0])
    for name, values in zip(names, ecls, strict=True):
        if np.shape(values) != shape:
            raise ParameterError(
                f"every scenario's ECL must have the same shape (scenario {name}: "
                f"{np.shape(values)}, first: {shape})"
            )
        array = np.asarray(values)
        if array.dtype.kind not in "iuf":
            raise DataError(f"ECL of scenario {name} must hold numbers (got dtype {array.dtype})")
        array = array.astype(np.float64)
        bad = ~np.isfinite(array) | (array < 0)
        if bad.any():
            first = np.ravel(array[bad])[0]
            raise DataError(f"ECL of scenario {name} must be finite and at least 0 (got {first})")
        arrays.append(array)
    return sum(float(v) * a for v, a in zip(w, arrays, strict=True))[()]
