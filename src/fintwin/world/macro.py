"""The twin's business cycle: a quarterly macro path driven by an expansion/recession regime.

The regime is a two-state Markov chain over calendar quarters. It drives four series
coherently:

- GDP growth (annualised %) is the regime's mean plus a persistent AR(1) deviation::

      g_t = mu[r_t] + phi * (g_{t-1} - mu[r_{t-1}]) + sigma_g * e_t

- unemployment follows an Okun's-law link (growth below potential raises it), pulled back
  towards its natural rate::

      u_t = u_{t-1} - okun * (g_t - g*) / 4 + kappa * (u* - u_{t-1}) + sigma_u * e'_t

- the policy rate follows a smoothed Taylor-like rule on the previous quarter's growth and
  unemployment gaps, floored at the effective lower bound::

      i_t = max(floor, rho * i_{t-1} + (1 - rho) * (n + a (g_{t-1} - g*) - b (u_{t-1} - u*)))

- house prices grow at the regime's rate, less when the policy rate is above neutral::

      ln H_t = ln H_{t-1} + (h[r_t] - c (i_t - n)) / 400 + sigma_h / 100 * e''_t,  H_0 = 100

Quarters are calendar quarters, identified by their first day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fintwin._validation import check_non_negative, check_positive, check_probability, to_enum
from fintwin.data.schemas import category
from fintwin.data.schemas.economy import MacroRegime
from fintwin.data.schemas.vocab import labels
from fintwin.exceptions import ParameterError

__all__ = [
    "MacroParams",
    "MacroPath",
    "quarter_number",
    "simulate_macro",
    "two_state_chain",
]

_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class MacroParams:
    """Parameters of the macro cycle (defaults: a stylised advanced economy).

    Parameters
    ----------
    p_recession : float
        Probability per quarter that an expansion turns into a recession (0.07: expansions last
        about 14 quarters on average).
    p_recovery : float
        Probability per quarter that a recession ends (0.3: about 3.3 quarters).
    initial_regime : MacroRegime or str or None
        Regime of the first quarter; None draws it from the chain's stationary distribution.
    growth_expansion, growth_recession : float
        Mean annualised GDP growth in each regime (2.6 %, -2.0 %).
    growth_persistence : float
        AR(1) coefficient of growth's deviation from its regime mean (0.5), in [0, 1).
    growth_noise : float
        Standard deviation of growth shocks (0.8 percentage points, annualised).
    potential_growth : float
        Growth that leaves unemployment unchanged, g* (1.8 %).
    natural_unemployment : float
        Unemployment rate that unemployment reverts to, u* (5 %).
    initial_unemployment : float
        Unemployment in the quarter before the first (4.5 %).
    okun_coefficient : float
        Percentage-point rise in unemployment over a year per point of growth below potential
        (0.5).
    unemployment_reversion : float
        Share of the gap to the natural rate closed each quarter (0.1), in [0, 1].
    unemployment_noise : float
        Standard deviation of unemployment shocks (0.1 pp per quarter).
    neutral_rate : float
        Policy rate when growth and unemployment are at their reference levels (2.5 %).
    initial_policy_rate : float
        Policy rate in the quarter before the first (2.5 %).
    taylor_growth, taylor_unemployment : float
        Response of the target rate to the growth gap (0.5) and to the unemployment gap (1.0).
    rate_smoothing : float
        Weight of last quarter's rate in this quarter's (0.7), in [0, 1).
    rate_floor : float
        Effective lower bound of the policy rate (0 %).
    house_growth_expansion, house_growth_recession : float
        Mean annual house price growth in each regime (4 %, -6 %).
    house_rate_sensitivity : float
        Points of annual house price growth lost per point of policy rate above neutral (1.0).
    house_noise : float
        Standard deviation of quarterly house price shocks (1 %).
    unemployment_floor : float
        Unemployment never falls below this (1.5 %).
    publication_lag_days : int
        Days from a quarter's end to the publication of its figures (30).
    """

    p_recession: float = 0.07
    p_recovery: float = 0.30
    initial_regime: MacroRegime | str | None = None
    growth_expansion: float = 2.6
    growth_recession: float = -2.0
    growth_persistence: float = 0.5
    growth_noise: float = 0.8
    potential_growth: float = 1.8
    natural_unemployment: float = 5.0
    initial_unemployment: float = 4.5
    okun_coefficient: float = 0.5
    unemployment_reversion: float = 0.1
    unemployment_noise: float = 0.1
    neutral_rate: float = 2.5
    initial_policy_rate: float = 2.5
    taylor_growth: float = 0.5
    taylor_unemployment: float = 1.0
    rate_smoothing: float = 0.7
    rate_floor: float = 0.0
    house_growth_expansion: float = 4.0
    house_growth_recession: float = -6.0
    house_rate_sensitivity: float = 1.0
    house_noise: float = 1.0
    unemployment_floor: float = 1.5
    publication_lag_days: int = 30

    def __post_init__(self) -> None:
        check_probability("p_recession", self.p_recession)
        check_probability("p_recovery", self.p_recovery)
        if self.p_recession + self.p_recovery > 1.0:
            raise ParameterError(
                "p_recession + p_recovery must be at most 1 "
                f"(got {self.p_recession} + {self.p_recovery})"
            )
        if self.initial_regime is not None:
            regime = to_enum(MacroRegime, "initial_regime", self.initial_regime)
            object.__setattr__(self, "initial_regime", regime)
        if self.growth_recession >= self.growth_expansion:
            raise ParameterError(
                "growth_recession must be below growth_expansion "
                f"(got {self.growth_recession} >= {self.growth_expansion})"
            )
        for name in ("growth_persistence", "rate_smoothing"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ParameterError(f"{name} must be in [0, 1) (got {value!r})")
        check_probability("unemployment_reversion", self.unemployment_reversion)
        for name in (
            "growth_noise",
            "unemployment_noise",
            "house_noise",
            "okun_coefficient",
            "taylor_growth",
            "taylor_unemployment",
            "house_rate_sensitivity",
            "unemployment_floor",
            "publication_lag_days",
        ):
            check_non_negative(name, getattr(self, name))
        check_positive("natural_unemployment", self.natural_unemployment)
        check_positive("initial_unemployment", self.initial_unemployment)


def quarter_number(day: np.ndarray | int) -> np.ndarray:
    """Calendar quarter of days since 1970-01-01, counted from 1970Q1 = 0.

    Examples
    --------
    >>> quarter_number(np.array([0, 89, 90, 365])).tolist()
    [0, 0, 1, 4]
    """
    months = np.asarray(day, dtype="datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return months // 3


def _quarter_start_day(quarter: np.ndarray) -> np.ndarray:
    """First day (days since 1970-01-01) of quarters numbered as by :func:`quarter_number`."""
    months = np.asarray(quarter, dtype=np.int64) * 3
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def two_state_chain(
    p_up: np.ndarray, p_down: np.ndarray, u: np.ndarray, initial: bool
) -> np.ndarray:
    """Path of a two-state Markov chain with time-varying transition probabilities, vectorised.

    State 1 follows state 0 with probability ``p_up[t]``, state 0 follows state 1 with
    probability ``p_down[t]``. Driving both moves by the same uniform ``u[t]`` (up when
    ``u < p_up``, down when ``u > 1 - p_down``) makes every step either a reset to a fixed state
    or "stay", so the path is the state of the last reset: no loop over time.

    Parameters
    ----------
    p_up, p_down : ndarray of float, shape (n,)
        Transition probabilities into step ``t``; ``p_up + p_down <= 1``. Entry 0 is unused.
    u : ndarray of float, shape (n,)
        Uniform draws on [0, 1).
    initial : bool
        State at step 0.

    Returns
    -------
    ndarray of bool, shape (n,)

    Examples
    --------
    >>> two_state_chain(np.full(4, 0.5), np.full(4, 0.5), np.array([0.9, 0.1, 0.7, 0.4]),
    ...                 False).tolist()
    [False, True, False, True]
    """
    n = u.size
    up = u < p_up
    down = u > 1.0 - p_down
    reset = up | down
    reset[:1] = False
    last = np.maximum.accumulate(np.where(reset, np.arange(n), -1)) if n else np.zeros(0, int)
    return np.where(last >= 0, up[np.maximum(last, 0)], initial)


@dataclass(frozen=True)
class MacroPath:
    """A simulated macro path: one entry per calendar quarter, shape (q,) each.

    Attributes
    ----------
    first_quarter : int
        Number of the first quarter (1970Q1 = 0, see :func:`quarter_number`).
    quarter_start : ndarray of int64
        First day of each quarter, days since 1970-01-01.
    recession : ndarray of bool
        Regime of each quarter.
    gdp_growth, unemployment, policy_rate : ndarray of float
        In % (growth annualised, rate per year).
    house_price_index : ndarray of float
        At each quarter's end, 100 at the first quarter's start.
    potential_growth, natural_unemployment : float
        Reference levels the series revolve around (g*, u*).
    publication_lag_days : int
        Days from a quarter's end to its publication.
    """

    first_quarter: int
    quarter_start: np.ndarray
    recession: np.ndarray
    gdp_growth: np.ndarray
    unemployment: np.ndarray
    policy_rate: np.ndarray
    house_price_index: np.ndarray
    potential_growth: float
    natural_unemployment: float
    publication_lag_days: int

    @property
    def size(self) -> int:
        return self.quarter_start.size

    def position(self, day: np.ndarray) -> np.ndarray:
        """Index into the path of the quarter holding each day (days since 1970-01-01).

        Raises
        ------
        ParameterError
            A day falls outside the simulated quarters.
        """
        pos = quarter_number(day) - self.first_quarter
        if pos.size and (pos.min() < 0 or pos.max() >= self.size):
            raise ParameterError(
                f"days must fall in the macro path's {self.size} quarters "
                f"(got positions {int(pos.min())}..{int(pos.max())})"
            )
        return pos

    def table(self) -> pa.Table:
        """The ``macro`` table."""
        next_start = _quarter_start_day(np.arange(self.size) + self.first_quarter + 1)
        available = next_start - 1 + self.publication_lag_days
        return pa.table(
            {
                "quarter_start": pa.array(self.quarter_start.astype(np.int32), pa.date32()),
                "gdp_growth": self.gdp_growth,
                "unemployment": self.unemployment,
                "policy_rate": self.policy_rate,
                "house_price_index": self.house_price_index,
                "available_at": pa.array(available.astype(np.int32), pa.date32()),
            }
        )

    def regime_table(self) -> pa.Table:
        """The ``macro_regimes`` truth table."""
        return pa.table(
            {
                "quarter_start": pa.array(self.quarter_start.astype(np.int32), pa.date32()),
                "regime": category(self.recession.astype(np.int32), labels(MacroRegime)),
            }
        )


def simulate_macro(
    start: dt.date, end: dt.date, rng: np.random.Generator, params: MacroParams | None = None
) -> MacroPath:
    """Simulate the quarters from the one holding ``start`` to the one holding ``end``.

    Parameters
    ----------
    start, end : datetime.date
        First and last day to cover (``end >= start``).
    rng : numpy.random.Generator
        Source of randomness (the world's ``Stream.MACRO``).
    params : MacroParams, optional

    Returns
    -------
    MacroPath

    Examples
    --------
    >>> path = simulate_macro(dt.date(2024, 2, 1), dt.date(2025, 12, 31),
    ...                       np.random.default_rng(0))
    >>> path.size, float(path.house_price_index[0]) > 0
    (8, True)
    """
    p = params or MacroParams()
    if end < start:
        raise ParameterError(f"end must not be before start (got {start} .. {end})")
    q0 = int(quarter_number((start - _EPOCH).days))
    q1 = int(quarter_number((end - _EPOCH).days))
    n = q1 - q0 + 1

    stationary = p.p_recession / (p.p_recession + p.p_recovery) if p.p_recession else 0.0
    u = rng.random(n)
    if p.initial_regime is None:
        initial = bool(u[0] < stationary)
    else:
        initial = p.initial_regime is MacroRegime.RECESSION
    recession = two_state_chain(np.full(n, p.p_recession), np.full(n, p.p_recovery), u, initial)

    shocks = rng.standard_normal((n, 3))
    mean = np.where(recession, p.growth_recession, p.growth_expansion)
    house_mean = np.where(recession, p.house_growth_recession, p.house_growth_expansion)
    g = np.empty(n)
    unemp = np.empty(n)
    rate = np.empty(n)
    log_h = np.empty(n)
    # A handful of quarters: the recursions run as a plain loop over Python floats.
    g_prev, mean_prev = float(mean[0]), float(mean[0])
    u_prev, i_prev, h_prev = p.initial_unemployment, p.initial_policy_rate, 0.0
    for t in range(n):
        target = (
            p.neutral_rate
            + p.taylor_growth * (g_prev - p.potential_growth)
            - p.taylor_unemployment * (u_prev - p.natural_unemployment)
        )
        i_t = max(p.rate_floor, p.rate_smoothing * i_prev + (1 - p.rate_smoothing) * target)
        g_t = mean[t] + p.growth_persistence * (g_prev - mean_prev) + p.growth_noise * shocks[t, 0]
        u_t = (
            u_prev
            - p.okun_coefficient * (g_t - p.potential_growth) / 4
            + p.unemployment_reversion * (p.natural_unemployment - u_prev)
            + p.unemployment_noise * shocks[t, 1]
        )
        u_t = max(p.unemployment_floor, u_t)
        h_t = (
            h_prev
            + (house_mean[t] - p.house_rate_sensitivity * (i_t - p.neutral_rate)) / 400
            + p.house_noise / 100 * shocks[t, 2]
        )
        g[t], unemp[t], rate[t], log_h[t] = g_t, u_t, i_t, h_t
        g_prev, mean_prev, u_prev, i_prev, h_prev = g_t, mean[t], u_t, i_t, h_t

    return MacroPath(
        first_quarter=q0,
        quarter_start=_quarter_start_day(np.arange(q0, q1 + 1)),
        recession=recession,
        gdp_growth=g,
        unemployment=unemp,
        policy_rate=rate,
        house_price_index=100.0 * np.exp(log_h),
        potential_growth=p.potential_growth,
        natural_unemployment=p.natural_unemployment,
        publication_lag_days=p.publication_lag_days,
    )
