"""Daily prices of the twin's markets: eight asset classes with correlated, fat-tailed,
regime-switching returns.

On each business day (Monday to Friday; holidays are not modelled) the market is *calm* or in
*stress*, a two-state Markov chain whose switching probabilities depend on the quarter's macro
regime: stress starts far more often, and lasts far longer, during a recession. Given the
regime ``s``, the daily log returns of the seven risky classes are::

    r_t = (i_t + m[s]) / 100 / 261 - sigma[s]^2 / 2 + sigma[s] * eps_t,
    eps_t = L[s] z_t * sqrt((nu - 2) / w_t),  z_t ~ N(0, I),  w_t ~ chi2(nu)

a multivariate Student-t with ``nu`` degrees of freedom scaled to unit variance (fat tails, and
joint crashes since one ``w_t`` scales every asset), ``L[s] L[s]^T`` the regime's correlation
matrix, ``sigma[s]`` the daily volatility (annual / sqrt(261)), ``m[s]`` the annual premium over
the policy rate ``i_t`` of the day's quarter. The money market has no risk: it accrues the policy
rate on calendar days, ``ln(1 + i_t / 100 * days / 365)`` (Monday earns the weekend).

Prices are total-return indices starting at 100 at the close before the first business day.
The correlation matrices (rows and columns in :data:`RISKY_ASSETS` order) are
:data:`CALM_CORRELATION` and :data:`STRESS_CORRELATION`; stress correlations are higher, with
government bonds and gold the safe havens.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fintwin._validation import check_probability
from fintwin.data.schemas import category
from fintwin.data.schemas.economy import AssetClass, MarketRegime
from fintwin.data.schemas.vocab import labels
from fintwin.exceptions import ParameterError
from fintwin.world.macro import MacroPath, two_state_chain

__all__ = [
    "BUSINESS_DAYS_PER_YEAR",
    "CALM_CORRELATION",
    "RISKY_ASSETS",
    "STRESS_CORRELATION",
    "MarketParams",
    "MarketPath",
    "business_days",
    "simulate_markets",
]

#: Monday-to-Friday days in a year: the scale of daily drift and volatility.
BUSINESS_DAYS_PER_YEAR = 261
_EPOCH = dt.date(1970, 1, 1)
_ASSETS = list(AssetClass)
#: The asset classes with market risk, in the order of the parameter tuples and matrices.
RISKY_ASSETS: tuple[AssetClass, ...] = tuple(a for a in _ASSETS if a is not AssetClass.MONEY_MARKET)
_MM = _ASSETS.index(AssetClass.MONEY_MARKET)

#: Correlations of daily returns in the calm regime (RISKY_ASSETS order: domestic equity,
#: foreign equity, government bonds, corporate bonds, gold, real estate, commodities).
CALM_CORRELATION: tuple[tuple[float, ...], ...] = (
    (1.00, 0.70, -0.20, 0.30, 0.00, 0.60, 0.30),
    (0.70, 1.00, -0.15, 0.30, 0.05, 0.50, 0.35),
    (-0.20, -0.15, 1.00, 0.60, 0.20, 0.00, -0.10),
    (0.30, 0.30, 0.60, 1.00, 0.10, 0.30, 0.10),
    (0.00, 0.05, 0.20, 0.10, 1.00, 0.05, 0.30),
    (0.60, 0.50, 0.00, 0.30, 0.05, 1.00, 0.25),
    (0.30, 0.35, -0.10, 0.10, 0.30, 0.25, 1.00),
)
#: Correlations in the stress regime: risky assets move together, government bonds and gold
#: hedge (mean absolute off-diagonal 0.42 against 0.26 when calm).
STRESS_CORRELATION: tuple[tuple[float, ...], ...] = (
    (1.00, 0.90, -0.45, 0.60, -0.10, 0.85, 0.60),
    (0.90, 1.00, -0.40, 0.60, -0.05, 0.80, 0.60),
    (-0.45, -0.40, 1.00, 0.10, 0.35, -0.30, -0.35),
    (0.60, 0.60, 0.10, 1.00, 0.00, 0.60, 0.40),
    (-0.10, -0.05, 0.35, 0.00, 1.00, -0.05, 0.20),
    (0.85, 0.80, -0.30, 0.60, -0.05, 1.00, 0.55),
    (0.60, 0.60, -0.35, 0.40, 0.20, 0.55, 1.00),
)


def _check_correlation(name: str, matrix: tuple[tuple[float, ...], ...]) -> np.ndarray:
    m = np.asarray(matrix, dtype=float)
    k = len(RISKY_ASSETS)
    if m.shape != (k, k):
        raise ParameterError(f"{name} must be {k} x {k} (got shape {m.shape})")
    if not np.allclose(m, m.T) or not np.allclose(np.diag(m), 1.0) or np.abs(m).max() > 1:
        raise ParameterError(f"{name} must be symmetric with unit diagonal and entries in [-1, 1]")
    try:
        return np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        raise ParameterError(f"{name} must be positive definite") from None


@dataclass(frozen=True)
class MarketParams:
    """Parameters of the markets (tuples in :data:`RISKY_ASSETS` order).

    Parameters
    ----------
    calm_vol, stress_vol : tuple of 7 float
        Annualised volatility of daily log returns in each regime (% per year).
    calm_premium, stress_premium : tuple of 7 float
        Expected annual return over the policy rate in each regime (% per year): positive risk
        premia when calm, losses (and safe-haven gains) in stress.
    calm_correlation, stress_correlation : 7 x 7 tuple of tuples
        Correlation matrices of daily returns (symmetric, positive definite).
    degrees_of_freedom : float
        Student-t degrees of freedom, above 2 (5: excess kurtosis 6 within a regime).
    p_stress_expansion, p_calm_expansion : float
        Daily probabilities of entering and of leaving stress while the economy expands
        (0.005, 0.08: stress about 6 % of days, episodes of about 12 days).
    p_stress_recession, p_calm_recession : float
        The same during a recession (0.03, 0.04: stress about 43 % of days, episodes of about
        25 days).
    """

    calm_vol: tuple[float, ...] = (15.0, 14.0, 5.0, 6.0, 14.0, 17.0, 18.0)
    stress_vol: tuple[float, ...] = (38.0, 32.0, 9.0, 12.0, 22.0, 40.0, 35.0)
    calm_premium: tuple[float, ...] = (9.0, 8.0, 0.5, 2.0, 1.0, 8.0, 7.0)
    stress_premium: tuple[float, ...] = (-20.0, -18.0, 6.0, -6.0, 8.0, -25.0, -15.0)
    calm_correlation: tuple[tuple[float, ...], ...] = CALM_CORRELATION
    stress_correlation: tuple[tuple[float, ...], ...] = STRESS_CORRELATION
    degrees_of_freedom: float = 5.0
    p_stress_expansion: float = 0.005
    p_calm_expansion: float = 0.08
    p_stress_recession: float = 0.03
    p_calm_recession: float = 0.04

    def __post_init__(self) -> None:
        k = len(RISKY_ASSETS)
        for name in ("calm_vol", "stress_vol", "calm_premium", "stress_premium"):
            value = getattr(self, name)
            if len(value) != k:
                raise ParameterError(f"{name} must have {k} entries (got {len(value)})")
        for name in ("calm_vol", "stress_vol"):
            if min(getattr(self, name)) <= 0:
                raise ParameterError(f"{name} must be positive (got {getattr(self, name)})")
        _check_correlation("calm_correlation", self.calm_correlation)
        _check_correlation("stress_correlation", self.stress_correlation)
        if not self.degrees_of_freedom > 2:
            raise ParameterError(
                f"degrees_of_freedom must be above 2 (got {self.degrees_of_freedom!r})"
            )
        for regime in ("expansion", "recession"):
            up, down = f"p_stress_{regime}", f"p_calm_{regime}"
            check_probability(up, getattr(self, up))
            check_probability(down, getattr(self, down))
            if getattr(self, up) + getattr(self, down) > 1:
                raise ParameterError(f"{up} + {down} must be at most 1")


def business_days(start: dt.date, days: int) -> np.ndarray:
    """Monday-to-Friday days of ``[start, start + days)``, as days since 1970-01-01.

    Examples
    --------
    >>> d = business_days(dt.date(2024, 1, 5), 4)  # Friday .. Monday
    >>> (d - d[0]).tolist()
    [0, 3]
    """
    first = (start - _EPOCH).days
    day = np.arange(first, first + days, dtype=np.int64)
    return day[(day + 3) % 7 < 5]  # 1970-01-01 was a Thursday


@dataclass(frozen=True)
class MarketPath:
    """Simulated markets over ``n`` business days.

    Attributes
    ----------
    day : ndarray of int64, shape (n,)
        Business days, days since 1970-01-01.
    stress : ndarray of bool, shape (n,)
        Market regime of each day.
    log_return : ndarray of float, shape (n, 8)
        Daily log returns, columns in :class:`AssetClass` order.
    price : ndarray of float, shape (n, 8)
        Total-return index levels.
    """

    day: np.ndarray
    stress: np.ndarray
    log_return: np.ndarray
    price: np.ndarray

    def table(self) -> pa.Table:
        """The ``asset_prices`` table (long format: date, then asset class)."""
        n, k = self.price.shape
        return pa.table(
            {
                "date": pa.array(np.repeat(self.day, k).astype(np.int32), pa.date32()),
                "asset_class": category(np.tile(np.arange(k), n), labels(AssetClass)),
                "price": self.price.ravel(),
                "log_return": self.log_return.ravel(),
            }
        )

    def regime_table(self) -> pa.Table:
        """The ``market_regimes`` truth table."""
        return pa.table(
            {
                "date": pa.array(self.day.astype(np.int32), pa.date32()),
                "regime": category(self.stress.astype(np.int32), labels(MarketRegime)),
            }
        )


def simulate_markets(
    start: dt.date,
    days: int,
    macro: MacroPath,
    rng: np.random.Generator,
    params: MarketParams | None = None,
) -> MarketPath:
    """Simulate daily prices over the business days of ``[start, start + days)``.

    Parameters
    ----------
    start : datetime.date
        First day.
    days : int
        Calendar days covered.
    macro : MacroPath
        Must cover the period: its regimes drive the market regime, its policy rate the
        money market and the drift.
    rng : numpy.random.Generator
        Source of randomness (the world's ``Stream.MARKETS``).
    params : MarketParams, optional

    Returns
    -------
    MarketPath

    Examples
    --------
    >>> from fintwin.world.macro import simulate_macro
    >>> m = simulate_macro(dt.date(2024, 1, 1), dt.date(2024, 12, 31), np.random.default_rng(0))
    >>> path = simulate_markets(dt.date(2024, 1, 1), 366, m, np.random.default_rng(1))
    >>> path.price.shape
    (262, 8)
    """
    p = params or MarketParams()
    day = business_days(start, days)
    n, k = day.size, len(RISKY_ASSETS)
    pos = macro.position(day)
    recession = macro.recession[pos]
    rate = macro.policy_rate[pos]

    p_up = np.where(recession, p.p_stress_recession, p.p_stress_expansion)
    p_down = np.where(recession, p.p_calm_recession, p.p_calm_expansion)
    u = rng.random(n)
    if n:
        stationary = p_up[0] / (p_up[0] + p_down[0]) if p_up[0] > 0 else 0.0
        initial = bool(u[0] < stationary)
    else:
        initial = False
    stress = two_state_chain(p_up, p_down, u, initial)

    z = rng.standard_normal((n, k))
    w = rng.chisquare(p.degrees_of_freedom, n)
    scale = np.sqrt((p.degrees_of_freedom - 2) / w)[:, None]
    calm_l = _check_correlation("calm_correlation", p.calm_correlation)
    stress_l = _check_correlation("stress_correlation", p.stress_correlation)
    eps = np.where(stress[:, None], z @ stress_l.T, z @ calm_l.T) * scale
    vol = np.where(stress[:, None], np.asarray(p.stress_vol), np.asarray(p.calm_vol)) / (
        100 * np.sqrt(BUSINESS_DAYS_PER_YEAR)
    )
    premium = np.where(stress[:, None], np.asarray(p.stress_premium), np.asarray(p.calm_premium))
    drift = (rate[:, None] + premium) / (100 * BUSINESS_DAYS_PER_YEAR) - 0.5 * vol**2

    log_return = np.empty((n, len(_ASSETS)))
    risky_cols = [_ASSETS.index(a) for a in RISKY_ASSETS]
    log_return[:, risky_cols] = drift + vol * eps
    # Calendar days since the previous business day (a Monday earns the weekend).
    previous = day[0] - (3 if (day[0] + 3) % 7 == 0 else 1) if n else 0
    gap = np.diff(day, prepend=previous)
    log_return[:, _MM] = np.log1p(rate / 100 * gap / 365)
    price = 100.0 * np.exp(np.cumsum(log_return, axis=0))
    return MarketPath(day=day, stress=stress, log_return=log_return, price=price)
