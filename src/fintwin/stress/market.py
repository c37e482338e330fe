"""Market risk of a portfolio: value at risk (VaR), expected shortfall (ES) and their back-test.

Conventions
-----------
*Losses are positive.* The loss of a day is minus the portfolio's simple return, ``L = -R``. VaR
and ES at confidence ``alpha`` (0.99, 0.975, ...) are the loss that is exceeded with probability
at most ``1 - alpha`` and the mean loss beyond it, reported as positive numbers in the returns'
units (fractions of the portfolio's value), or in currency when a portfolio value is given.

*Asset returns are log returns, portfolio returns are simple returns.* A frame of asset returns
(dates x assets, as :func:`world_returns` gives) holds daily log returns ``r = ln(P_t/P_t-1)``;
:func:`portfolio_returns` turns them into simple returns ``R = exp(r) - 1``, which aggregate
linearly across assets: ``R_p = sum_i w_i R_i`` (weights rebalanced to constant shares every
day). A file of simple asset returns should be converted first with ``numpy.log1p``.

Methods (:class:`VarMethod`), on the ``n`` one-day portfolio returns of the estimation window:

``HISTORICAL``
    The empirical distribution of the losses. With ``n (1 - alpha) = k + f`` (``k`` whole,
    ``0 <= f < 1``) and the losses sorted from the largest, ``L(1) >= L(2) >= ...``::

        VaR = L(k + 1)                                   (the alpha-quantile, lower inverse)
        ES  = (L(1) + ... + L(k) + f L(k + 1)) / (k + f)

    VaR is ``numpy.quantile(losses, alpha, method="inverted_cdf")``; ES is the exact tail mean
    ``1/(1-alpha) * integral_alpha^1 VaR_u du`` of the empirical distribution (Acerbi and Tasche,
    2002). When ``n (1 - alpha)`` is a whole number ``k``, ES is the mean of the ``k`` largest
    losses, the losses beyond VaR: with 250 days at 99 %, ``k + f = 2.5``, VaR is the third
    largest loss and ES ``(L(1) + L(2) + L(3) / 2) / 2.5``.
``PARAMETRIC``
    A normal distribution with the sample mean ``mu`` and standard deviation ``sigma`` (``ddof
    = 1``) of the returns: ``VaR = -mu + sigma z``, ``ES = -mu + sigma phi(z) / (1 - alpha)``,
    ``z`` the standard normal alpha-quantile and ``phi`` its density. With
    :attr:`Distribution.STUDENT_T`, a Student-t with ``nu`` degrees of freedom scaled to the same
    variance, ``s = sigma sqrt((nu - 2) / nu)``: ``VaR = -mu + s q``,
    ``ES = -mu + s f_nu(q) (nu + q^2) / ((nu - 1)(1 - alpha))``, ``q`` the t alpha-quantile and
    ``f_nu`` its density. ``nu`` is given, or fitted by the method of moments from the sample
    excess kurtosis ``kappa``: ``nu = 4 + 6 / kappa``.
``MONTE_CARLO``
    ``n_simulations`` draws of the assets' simple returns from a multivariate normal with their
    sample mean vector and covariance matrix (``ddof = 1``), seeded; the portfolio return of
    each draw is ``w . R``, and VaR and ES are the historical estimators above on the simulated
    losses. It converges to the parametric normal value as ``n_simulations`` grows.
``FILTERED``
    Filtered historical simulation (Barone-Adesi et al., 1999; Hull and White, 1998). An
    exponentially weighted (RiskMetrics) variance, with zero mean, seeded with the window's mean
    squared return ``s2_1 = mean(R^2)``::

        s2_t+1 = lambda s2_t + (1 - lambda) R_t^2

    devolatilises each return, ``z_t = R_t / s_t``, and the ``z_t`` rescaled by the forecast for
    the next day, ``R*_t = z_t s_n+1``, replace the returns in the historical estimators. When
    volatility has risen, VaR rises with it; when ``|R_t|`` is constant it equals historical VaR.

*Horizon.* A VaR over ``h`` days is the one-day VaR (and ES) times ``sqrt(h)``: the
square-root-of-time rule, which assumes independent, identically distributed daily returns with
a negligible mean (the mean term is scaled by ``sqrt(h)`` along with the rest, as in the Basel
rule, not by ``h``).

*Back-testing* (:func:`backtest`) counts the days whose loss exceeds the VaR forecast made the
day before, over the last ``days`` days, and classes the count in the Basel traffic-light zones
(Basel Committee, 1996, "Supervisory framework for the use of backtesting in conjunction with
the internal models approach to market risk capital requirements"): with ``X`` binomial
``(days, 1 - alpha)``, a count ``x`` is green when ``P(X <= x) < 95 %``, red when ``P(X <= x)
>= 99.99 %``, amber in between. At 250 days and 99 % this is the Basel table: green 0 to 4,
amber 5 to 9, red 10 or more. Kupiec's (1995) proportion-of-failures test compares the count
with ``days (1 - alpha)``.

Bad inputs raise :class:`~fintwin.exceptions.ParameterError` (a parameter breaks its rule) or
:class:`~fintwin.exceptions.DataError` (the data cannot give a result; for files, the message
names the file, row and column).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from numbers import Integral, Real
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from fintwin._validation import to_enum
from fintwin.data import World, open_world
from fintwin.data.schemas.economy import AssetClass
from fintwin.exceptions import DataError, ParameterError

__all__ = [
    "BASEL_ALPHA",
    "BASEL_DAYS",
    "BASEL_PLUS_FACTORS",
    "GREEN_PROBABILITY",
    "RED_PROBABILITY",
    "WEIGHT_TOLERANCE",
    "Backtest",
    "Distribution",
    "KupiecTest",
    "RiskEstimate",
    "TrafficLight",
    "VarMethod",
    "backtest",
    "basel_plus_factor",
    "kupiec_test",
    "portfolio_returns",
    "read_returns",
    "rolling_var",
    "traffic_light",
    "value_at_risk",
    "world_returns",
]

BASEL_DAYS = 250
"""Days of the Basel back-test (about a year of trading days)."""

BASEL_ALPHA = 0.99
"""Confidence of the Basel back-tested VaR."""

GREEN_PROBABILITY = 0.95
"""A count of exceptions is green while its cumulative binomial probability is below this."""

RED_PROBABILITY = 0.9999
"""A count of exceptions is red once its cumulative binomial probability reaches this."""

BASEL_PLUS_FACTORS: Mapping[int, float] = {5: 0.40, 6: 0.50, 7: 0.65, 8: 0.75, 9: 0.85}
"""Plus factors of the amber zone by exceptions (250 days, 99 %); 0 when green, 1 when red."""

WEIGHT_TOLERANCE = 1e-9
"""Portfolio weights must sum to 1 within this."""

_MIN_OBSERVATIONS = 2
_SNAP = 1e-9  # n (1 - alpha) within this of a whole number is that number (float rounding)
_NA_TEXT = frozenset({"", "na", "n/a", "nan", "null", "none", "-"})
_LONG_COLUMNS = ("asset", "return")


class VarMethod(Enum):
    """How the loss distribution is estimated (see the module's documentation)."""

    HISTORICAL = "historical"
    PARAMETRIC = "parametric"
    MONTE_CARLO = "monte_carlo"
    FILTERED = "filtered"


class Distribution(Enum):
    """The distribution of :attr:`VarMethod.PARAMETRIC`."""

    NORMAL = "normal"
    STUDENT_T = "student_t"


class TrafficLight(Enum):
    """Basel back-testing zone."""

    GREEN = "green"
    AMBER = "amber"
    RED = "red"


@dataclass(frozen=True)
class RiskEstimate:
    """VaR and ES of a portfolio, from :func:`value_at_risk`.

    Attributes
    ----------
    var : float
        Value at risk: the loss exceeded with probability at most ``1 - alpha`` over the horizon;
        a fraction of the portfolio's value, or currency when ``value`` is set.
    es : float
        Expected shortfall: the mean loss beyond ``var``, in the same unit; ``es >= var``.
    method : VarMethod
    alpha : float
        Confidence level, in (0, 1).
    n_observations : int
        Days of returns the estimate rests on (the window).
    horizon_days : int
        Horizon in trading days (square-root-of-time scaling beyond one day).
    value : float or None
        Portfolio value the fractions were multiplied by; None when ``var`` is a fraction.
    distribution : Distribution or None
        The parametric distribution; None for the other methods.
    dof : float or None
        Student-t degrees of freedom used (given or fitted); None otherwise.
    """

    var: float
    es: float
    method: VarMethod
    alpha: float
    n_observations: int
    horizon_days: int = 1
    value: float | None = None
    distribution: Distribution | None = None
    dof: float | None = None


@dataclass(frozen=True)
class KupiecTest:
    """Kupiec's proportion-of-failures test, from :func:`kupiec_test`.

    Attributes
    ----------
    lr : float
        Likelihood ratio ``-2 ln[(1-p)^(n-x) p^x] + 2 ln[(1-x/n)^(n-x) (x/n)^x]``, at least 0.
    p_value : float
        ``P(chi2(1) > lr)``.
    reject_at_5pct : bool
        ``p_value < 0.05``: the exception rate differs from ``p = 1 - alpha``.
    """

    lr: float
    p_value: float
    reject_at_5pct: bool


@dataclass(frozen=True, eq=False)
class Backtest:
    """A VaR back-test over the last ``days`` days, from :func:`backtest`.

    Attributes
    ----------
    exceptions : int
        Days whose loss exceeded the VaR forecast for that day.
    days : int
        Days tested.
    alpha : float
        Confidence of the VaR tested.
    expected_exceptions : float
        ``days * (1 - alpha)``.
    zone : TrafficLight
        Basel traffic-light zone of ``exceptions`` (see :func:`traffic_light`).
    plus_factor : float or None
        Basel plus factor added to the capital multiplier of 3 (see :func:`basel_plus_factor`);
        None in the amber zone of a test other than 250 days at 99 %.
    kupiec_lr : float
        Kupiec's likelihood ratio (see :func:`kupiec_test`).
    kupiec_p_value : float
        Its p-value from a chi-squared distribution with one degree of freedom.
    reject_at_5pct : bool
        Kupiec's test rejects a correct coverage at 5 %.
    exception_dates : pandas.Index
        Labels of the exception days (their positions when the inputs are arrays).
    """

    exceptions: int
    days: int
    alpha: float
    expected_exceptions: float
    zone: TrafficLight
    plus_factor: float | None
    kupiec_lr: float
    kupiec_p_value: float
    reject_at_5pct: bool
    exception_dates: pd.Index

    @property
    def capital_multiplier(self) -> float | None:
        """Basel multiplication factor of market-risk capital: ``3 + plus_factor``."""
        return None if self.plus_factor is None else 3.0 + self.plus_factor


# --- parameter checks -----------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _check_level(name: str, value: float) -> float:
    """A probability strictly between 0 and 1 (confidence, decay)."""
    if not _is_number(value) or not 0.0 < float(value) < 1.0:
        raise ParameterError(f"{name} must be a number strictly between 0 and 1 (got {value!r})")
    return float(value)


def _check_count(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ParameterError(f"{name} must be an integer of at least {minimum} (got {value!r})")
    return int(value)


# --- reading returns ------------------------------------------------------------------------


def _read_raw(path: Path) -> pd.DataFrame:
    """The file's cells: text for a CSV (no value interpreted yet), typed for Parquet."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        with open(path, encoding="utf-8-sig", newline="") as fh:
            sample = fh.read(65_536)
        try:
            sep = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            sep = ","
        return pd.read_csv(
            path,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            encoding="utf-8-sig",
        )
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise DataError(f"cannot be read as CSV or Parquet: {error}", file=path) from None


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, str):
        return value.strip().lower() in _NA_TEXT
    return isinstance(value, float) and math.isnan(value)


def _numbers(values: pd.Series, file: str, column: str) -> np.ndarray:
    """Finite floats, or a DataError naming the first bad cell's row (1-based) and column."""
    cells = values.map(lambda v: v.strip() if isinstance(v, str) else v)
    numbers = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(numbers)
    if bad.any():
        row = int(np.argmax(bad))
        raw = values.iloc[row]
        what = "missing value" if _is_missing(raw) else f"not a finite number (got {raw!r})"
        raise DataError(
            f"return must be a finite number: {what}", file=file, row=row + 1, column=column
        )
    return numbers


def _dates(values: pd.Series, file: str, column: str) -> pd.DatetimeIndex:
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values)
    elif pd.api.types.is_string_dtype(values) and all(
        isinstance(v, str) for v in values if not _is_missing(v)
    ):
        text = values.map(lambda v: None if _is_missing(v) else v.strip())
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    else:
        parsed = pd.to_datetime(values, errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raw = values.iloc[row]
        what = "missing date" if _is_missing(raw) else f"got {raw!r}"
        raise DataError(
            f"date must be an ISO 8601 date such as 2024-01-31 ({what})",
            file=file,
            row=row + 1,
            column=column,
        )
    return pd.DatetimeIndex(parsed, name="date").as_unit("ns")


def _first_duplicate(keys: pd.Index) -> tuple[int, int] | None:
    """(row, earlier row) of the first repeated key, 0-based, or None."""
    dup = keys.duplicated()
    if not dup.any():
        return None
    row = int(np.argmax(dup))
    return row, int(np.argmax(keys.isin([keys[row]])))


def read_returns(path: str | Path, *, date_column: str = "date") -> pd.DataFrame:
    """Read a user's file of daily asset returns (CSV with any common delimiter, or Parquet).

    Two layouts are read:

    * wide: a date column and one column of returns per asset;
    * long: exactly the columns ``date``, ``asset`` and ``return``, one row per date and asset.

    Values are taken as they are; the portfolio functions treat them as log returns (convert
    simple returns with ``numpy.log1p``). Dates are ISO 8601 (``2024-01-31``) in a CSV.

    Parameters
    ----------
    path : str or Path
        The file; ``.parquet`` (or ``.pq``) is read as Parquet, anything else as CSV.
    date_column : str
        Name of the date column.

    Returns
    -------
    pandas.DataFrame of shape (n_days, n_assets)
        Float returns, indexed by a ``DatetimeIndex`` named ``date`` in increasing order, one
        column per asset (names as strings).

    Raises
    ------
    DataError
        The file is missing or unreadable, has no date column or no asset column, or no row;
        a date is missing or unparsable, repeated (wide) or repeated for an asset (long); a
        return is missing or not a finite number; in the long layout an asset lacks a date
        that others have. The message names the file, the 1-based data row (the header is not
        counted) and the column.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.csv"
    >>> _ = p.write_text("date,equity,bonds\\n2024-01-03,0.01,0.002\\n2024-01-02,-0.02,0.001\\n")
    >>> read_returns(p)
                equity  bonds
    date
    2024-01-02   -0.02  0.001
    2024-01-03    0.01  0.002
    """
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise DataError("no such file", file=file)
    raw = _read_raw(path)
    raw.columns = [str(c).strip() for c in raw.columns]
    if date_column not in raw.columns:
        raise DataError(
            f"has no date column {date_column!r} (columns: {', '.join(raw.columns)})", file=file
        )
    if raw.shape[0] == 0:
        raise DataError("holds no data row", file=file)
    raw = raw.reset_index(drop=True)
    dates = _dates(raw[date_column], file, date_column)

    if set(raw.columns) == {date_column, *_LONG_COLUMNS}:
        missing = raw["asset"].map(_is_missing).to_numpy(dtype=bool)
        if missing.any():
            row = int(np.argmax(missing))
            raise DataError("missing asset name", file=file, row=row + 1, column="asset")
        assets = raw["asset"].astype(str).str.strip()
        values = _numbers(raw["return"], file, "return")
        keys = pd.MultiIndex.from_arrays([dates, assets])
        dup = _first_duplicate(keys)
        if dup is not None:
            row, earlier = dup
            raise DataError(
                f"a second return for asset {assets.iloc[row]!r} on {dates[row].date()} "
                f"(the first is on row {earlier + 1})",
                file=file,
                row=row + 1,
                column="asset",
            )
        frame = pd.Series(values, index=keys).unstack()
        frame = frame[list(dict.fromkeys(assets))]
        holes = frame.isna().to_numpy()
        if holes.any():
            day, col = (int(i[0]) for i in np.nonzero(holes))
            raise DataError(
                f"asset {frame.columns[col]!r} has no return on {frame.index[day].date()}, "
                "a date other assets have",
                file=file,
                column="return",
            )
    else:
        names = [c for c in raw.columns if c != date_column]
        if not names:
            raise DataError(
                f"has no asset column besides {date_column!r} (wide layout: one column of "
                "returns per asset; long layout: columns date, asset, return)",
                file=file,
            )
        dup = _first_duplicate(dates)
        if dup is not None:
            row, earlier = dup
            raise DataError(
                f"date {dates[row].date()} appears twice (the first is on row {earlier + 1})",
                file=file,
                row=row + 1,
                column=date_column,
            )
        frame = pd.DataFrame({name: _numbers(raw[name], file, name) for name in names})
        frame.index = dates
    frame = frame.sort_index()
    frame.index.name = "date"
    frame.columns = pd.Index([str(c) for c in frame.columns])
    return frame.astype(np.float64)


def world_returns(world: World | str | Path) -> pd.DataFrame:
    """The twin's asset classes' daily log returns, from the world's ``asset_prices`` table.

    Parameters
    ----------
    world : World, str or Path
        An opened world, or its directory.

    Returns
    -------
    pandas.DataFrame of shape (n_business_days, 8)
        Log returns (natural log, per business day), indexed by a ``DatetimeIndex`` named
        ``date`` of the business days (Monday to Friday), one column per asset class in
        :class:`~fintwin.data.schemas.economy.AssetClass` order (``"domestic_equity"``, ...).

    Raises
    ------
    DataError
        An asset class lacks a day another has, or a log return is not finite.
    """
    if not isinstance(world, World):
        world = open_world(world)
    prices = world.frame("asset_prices", columns=["date", "asset_class", "log_return"])
    prices["asset_class"] = prices["asset_class"].astype(str)
    prices["date"] = pd.to_datetime(prices["date"]).dt.as_unit("ns")
    frame = prices.pivot(index="date", columns="asset_class", values="log_return")
    order = [a.value for a in AssetClass if a.value in frame.columns]
    frame = frame[order + [c for c in frame.columns if c not in order]].sort_index()
    bad = ~np.isfinite(frame.to_numpy(dtype=np.float64))
    if bad.any():
        day, col = (int(i[0]) for i in np.nonzero(bad))
        raise DataError(
            f"asset class {frame.columns[col]!r} has no finite log return on "
            f"{frame.index[day].date()}",
            file=world.path,
            column="log_return",
        )
    frame.index.name = "date"
    frame.columns = pd.Index([str(c) for c in frame.columns])
    return frame.astype(np.float64)


# --- portfolio returns ----------------------------------------------------------------------


def _weight_vector(returns: pd.DataFrame, weights: object) -> tuple[list[str], np.ndarray]:
    if not isinstance(weights, Mapping):
        raise ParameterError(f"weights must map asset names to shares (got {weights!r})")
    if not weights:
        raise ParameterError("weights must name at least one asset (got none)")
    columns = [str(c) for c in returns.columns]
    names = [str(k) for k in weights]
    unknown = [n for n in names if n not in columns]
    if unknown:
        raise ParameterError(
            f"weights name assets that returns lacks: {', '.join(map(repr, unknown))} "
            f"(returns has: {', '.join(map(repr, columns))})"
        )
    shares = list(weights.values())
    for name, share in zip(names, shares, strict=True):
        if not _is_number(share) or not math.isfinite(share):
            raise ParameterError(f"weight of {name!r} must be a finite number (got {share!r})")
    total = math.fsum(float(s) for s in shares)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise ParameterError(
            f"weights must sum to 1 within {WEIGHT_TOLERANCE:g} (got a sum of {total!r})"
        )
    return names, np.asarray(shares, dtype=np.float64)


def _asset_simple_returns(returns: pd.DataFrame, names: list[str]) -> np.ndarray:
    """Simple returns ``exp(r) - 1`` of the named assets, shape (n_days, n_assets)."""
    frame = returns.set_axis([str(c) for c in returns.columns], axis=1)[names]
    try:
        log = frame.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        dtypes = ", ".join(f"{n}: {t}" for n, t in frame.dtypes.items())
        raise DataError(f"returns must hold numbers (got dtypes {dtypes})") from None
    bad = ~np.isfinite(log)
    if bad.any():
        day, col = (int(i[0]) for i in np.nonzero(bad))
        raise DataError(
            f"returns must be finite (got {log[day, col]} on {returns.index[day]})",
            column=names[col],
        )
    return np.expm1(log)


def portfolio_returns(returns: pd.DataFrame, weights: Mapping[str, float]) -> pd.Series:
    """Daily simple returns of a portfolio with constant weights.

    Each asset's log return ``r`` becomes a simple return ``R = exp(r) - 1`` and the portfolio
    earns ``R_p = sum_i w_i R_i``: the weights are the shares of the portfolio's value held at
    each day's start (rebalanced daily). Negative weights are short positions.

    Parameters
    ----------
    returns : pandas.DataFrame of shape (n_days, n_assets)
        Daily log returns, one column per asset (:func:`world_returns`, :func:`read_returns`).
    weights : mapping of str to float
        Share of each asset; assets not named have weight 0. The shares must sum to 1 within
        :data:`WEIGHT_TOLERANCE`.

    Returns
    -------
    pandas.Series of shape (n_days,)
        Simple returns (fractions of the portfolio's value), on ``returns``' index, named
        ``"portfolio"``.

    Raises
    ------
    ParameterError
        ``weights`` names an asset ``returns`` lacks, holds a non-finite share, or does not sum
        to 1.
    DataError
        A return of a weighted asset is not finite (the message names the day and asset).

    Examples
    --------
    >>> r = pd.DataFrame({"a": [np.log(1.10)], "b": [np.log(0.90)]})
    >>> round(float(portfolio_returns(r, {"a": 0.75, "b": 0.25}).iloc[0]), 12)
    0.05
    """
    if not isinstance(returns, pd.DataFrame):
        raise ParameterError(
            f"returns must be a pandas DataFrame of dates x assets (got {type(returns).__name__})"
        )
    names, w = _weight_vector(returns, weights)
    simple = _asset_simple_returns(returns, names)
    return pd.Series(simple @ w, index=returns.index, name="portfolio")


# --- estimators -----------------------------------------------------------------------------


def _tail(losses: np.ndarray, alpha: float) -> tuple[float, float]:
    """Empirical VaR (lower alpha-quantile) and ES (exact tail mean) of ``losses``."""
    n = losses.size
    largest = np.sort(losses)[::-1]
    tail = n * (1.0 - alpha)
    k = math.floor(tail)
    f = tail - k
    if f > 1.0 - _SNAP:  # n (1 - alpha) a hair below a whole number
        k, f = k + 1, 0.0
    elif f < _SNAP and k >= 1:
        f = 0.0
    if k >= n:  # alpha close to 0: the whole sample is the tail
        return float(largest[-1]), float(np.mean(largest))
    var = float(largest[k])
    es = (math.fsum(largest[:k]) + f * var) / (k + f)
    return var, max(float(es), var)


def _normal_tail(mu: float, sigma: float, alpha: float) -> tuple[float, float]:
    z = NormalDist().inv_cdf(alpha)
    density = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return -mu + sigma * z, -mu + sigma * density / (1.0 - alpha)


def _student_t_tail(mu: float, sigma: float, alpha: float, nu: float) -> tuple[float, float]:
    from scipy.special import stdtrit  # scipy comes with scikit-learn

    q = float(stdtrit(nu, alpha))
    log_density = (
        math.lgamma((nu + 1) / 2)
        - math.lgamma(nu / 2)
        - 0.5 * math.log(nu * math.pi)
        - (nu + 1) / 2 * math.log1p(q * q / nu)
    )
    scale = sigma * math.sqrt((nu - 2) / nu)
    tail_mean = math.exp(log_density) * (nu + q * q) / ((nu - 1) * (1 - alpha))
    return -mu + scale * q, -mu + scale * tail_mean


def _fitted_dof(r: np.ndarray) -> float:
    centred = r - r.mean()
    m2 = float(np.mean(centred**2))
    kappa = float(np.mean(centred**4)) / (m2 * m2) - 3.0 if m2 > 0 else 0.0
    if not kappa > 0:
        raise DataError(
            "a Student-t cannot be fitted: the returns show no excess kurtosis "
            f"(got {kappa:.4g}); use the normal distribution or give dof"
        )
    return 4.0 + 6.0 / kappa


def _filtered(r: np.ndarray, lam: float) -> np.ndarray:
    """Returns devolatilised by an EWMA volatility and rescaled by the next day's forecast."""
    s2 = np.empty(r.size + 1)
    s2[0] = float(np.mean(r * r))
    if s2[0] == 0.0:
        return r.copy()  # no movement at all: nothing to filter
    for t in range(r.size):
        s2[t + 1] = lam * s2[t] + (1.0 - lam) * r[t] * r[t]
    return r / np.sqrt(s2[:-1]) * math.sqrt(s2[-1])


def _monte_carlo(
    assets: np.ndarray, w: np.ndarray, alpha: float, seed: int, n_simulations: int
) -> tuple[float, float]:
    mean = assets.mean(axis=0)
    cov = np.atleast_2d(np.cov(assets, rowvar=False, ddof=1))
    eigval, eigvec = np.linalg.eigh(cov)
    root = eigvec * np.sqrt(np.clip(eigval, 0.0, None))  # cov = root @ root.T
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_simulations, w.size))
    simulated = float(mean @ w) + z @ (root.T @ w)
    return _tail(-simulated, alpha)


@dataclass(frozen=True)
class _Settings:
    alpha: float
    method: VarMethod
    distribution: Distribution
    dof: float | None
    seed: int
    n_simulations: int
    ewma_lambda: float


def _settings(
    alpha: float,
    method: VarMethod | str,
    distribution: Distribution | str,
    dof: float | None,
    seed: int,
    n_simulations: int,
    ewma_lambda: float,
) -> _Settings:
    how = to_enum(VarMethod, "method", method)
    law = to_enum(Distribution, "distribution", distribution)
    if law is Distribution.STUDENT_T and how is not VarMethod.PARAMETRIC:
        raise ParameterError(
            f"distribution student_t applies to the parametric method only (got method "
            f"{how.value!r})"
        )
    nu: float | None = None
    if dof is not None:
        if law is not Distribution.STUDENT_T:
            raise ParameterError(f"dof applies to the student_t distribution only (got {dof!r})")
        if not _is_number(dof) or not 2.0 < float(dof) < math.inf:
            raise ParameterError(f"dof must be a finite number above 2 (got {dof!r})")
        nu = float(dof)
    return _Settings(
        alpha=_check_level("alpha", alpha),
        method=how,
        distribution=law,
        dof=nu,
        seed=_check_count("seed", seed, minimum=0),
        n_simulations=_check_count("n_simulations", n_simulations),
        ewma_lambda=_check_level("ewma_lambda", ewma_lambda),
    )


def _estimate(
    port: np.ndarray, assets: np.ndarray, w: np.ndarray, s: _Settings
) -> tuple[float, float, float | None]:
    """One-day (VaR, ES, dof) on a window: portfolio returns, asset returns and weights."""
    if s.method is VarMethod.HISTORICAL:
        return (*_tail(-port, s.alpha), None)
    if s.method is VarMethod.FILTERED:
        return (*_tail(-_filtered(port, s.ewma_lambda), s.alpha), None)
    if s.method is VarMethod.MONTE_CARLO:
        return (*_monte_carlo(assets, w, s.alpha, s.seed, s.n_simulations), None)
    mu, sigma = float(port.mean()), float(port.std(ddof=1))
    if s.distribution is Distribution.NORMAL:
        return (*_normal_tail(mu, sigma, s.alpha), None)
    nu = s.dof if s.dof is not None else _fitted_dof(port)
    return (*_student_t_tail(mu, sigma, s.alpha, nu), nu)


def _prepare(
    returns: object, weights: Mapping[str, float] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Index]:
    """Portfolio simple returns (n,), asset simple returns (n, k), weights (k,), index."""
    if isinstance(returns, pd.DataFrame):
        if weights is None:
            raise ParameterError(
                "weights must be given when returns is a DataFrame of asset log returns"
            )
        names, w = _weight_vector(returns, weights)
        assets = _asset_simple_returns(returns, names)
        return assets @ w, assets, w, returns.index
    if weights is not None:
        raise ParameterError(
            "weights apply to a DataFrame of asset log returns; returns is one series of "
            "portfolio returns"
        )
    if isinstance(returns, pd.Series):
        index, values = returns.index, returns.to_numpy()
    else:
        values = np.asarray(returns)
        index = pd.RangeIndex(values.shape[0]) if values.ndim else pd.RangeIndex(0)
    if values.ndim != 1:
        raise ParameterError(f"returns must be one-dimensional (got shape {values.shape})")
    try:
        port = values.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError(f"returns must hold numbers (got dtype {values.dtype})") from None
    bad = ~np.isfinite(port)
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(f"returns must be finite (got {port[first]} on {index[first]!r})")
    return port, port[:, None], np.ones(1), index


def _check_observations(n: int) -> None:
    if n < _MIN_OBSERVATIONS:
        raise DataError(f"returns must hold at least {_MIN_OBSERVATIONS} days (got {n})")


def value_at_risk(
    returns: pd.DataFrame | pd.Series | ArrayLike,
    alpha: float = 0.99,
    method: VarMethod | str = VarMethod.HISTORICAL,
    *,
    weights: Mapping[str, float] | None = None,
    value: float | None = None,
    horizon_days: int = 1,
    window: int | None = None,
    seed: int = 0,
    n_simulations: int = 100_000,
    ewma_lambda: float = 0.94,
    distribution: Distribution | str = Distribution.NORMAL,
    dof: float | None = None,
) -> RiskEstimate:
    """Value at risk and expected shortfall of a portfolio.

    Parameters
    ----------
    returns : array-like of shape (n_days,), or pandas.DataFrame of shape (n_days, n_assets)
        Daily simple returns of the portfolio (fractions, e.g. :func:`portfolio_returns`), in
        time order; or daily log returns of assets, with ``weights``.
    alpha : float
        Confidence level in (0, 1), such as 0.99 or 0.975.
    method : VarMethod or str
        ``"historical"``, ``"parametric"``, ``"monte_carlo"`` or ``"filtered"``.
    weights : mapping of str to float, optional
        Portfolio weights, required when ``returns`` is a DataFrame (see
        :func:`portfolio_returns`).
    value : float, optional
        Portfolio value; VaR and ES are then in its currency instead of fractions.
    horizon_days : int
        Horizon in trading days; beyond one day, one-day VaR and ES times ``sqrt(horizon_days)``.
    window : int, optional
        Use only the last ``window`` days (all days by default).
    seed : int
        Seed of the Monte Carlo draws (``numpy.random.default_rng``).
    n_simulations : int
        Monte Carlo draws.
    ewma_lambda : float
        Decay of the filtered method's EWMA variance, in (0, 1) (RiskMetrics' 0.94).
    distribution : Distribution or str
        ``"normal"`` or ``"student_t"``, for the parametric method.
    dof : float, optional
        Student-t degrees of freedom, above 2; fitted from the kurtosis when omitted.

    Returns
    -------
    RiskEstimate

    Raises
    ------
    ParameterError
        A parameter breaks its rule; weights with a single series, or none with a DataFrame;
        ``window`` longer than the returns.
    DataError
        Fewer than 2 days, a return that is not finite, or (Student-t fitted) returns without
        excess kurtosis.

    Examples
    --------
    Eight days at 75 %: ``n (1 - alpha) = 2``, so VaR is the third largest loss and ES the mean
    of the two largest.

    >>> r = [-0.05, -0.03, -0.01, 0.0, 0.01, 0.02, 0.02, 0.03]
    >>> est = value_at_risk(r, alpha=0.75)
    >>> round(est.var, 12), round(est.es, 12), est.n_observations
    (0.01, 0.04, 8)
    >>> round(value_at_risk(r, 0.75, value=1_000_000, horizon_days=4).var, 6)
    20000.0
    """
    s = _settings(alpha, method, distribution, dof, seed, n_simulations, ewma_lambda)
    horizon = _check_count("horizon_days", horizon_days)
    if value is not None and (not _is_number(value) or not 0 < float(value) < math.inf):
        raise ParameterError(f"value must be a positive finite number (got {value!r})")
    port, assets, w, _ = _prepare(returns, weights)
    if window is not None:
        window = _check_count("window", window)
        if window > port.size:
            raise ParameterError(
                f"window must be at most the number of days of returns ({port.size}) (got {window})"
            )
        port, assets = port[-window:], assets[-window:]
    _check_observations(port.size)
    var, es, nu = _estimate(port, assets, w, s)
    scale = math.sqrt(horizon) * (1.0 if value is None else float(value))
    return RiskEstimate(
        var=var * scale,
        es=es * scale,
        method=s.method,
        alpha=s.alpha,
        n_observations=int(port.size),
        horizon_days=horizon,
        value=None if value is None else float(value),
        distribution=s.distribution if s.method is VarMethod.PARAMETRIC else None,
        dof=nu,
    )


def rolling_var(
    returns: pd.DataFrame | pd.Series | ArrayLike,
    alpha: float = 0.99,
    method: VarMethod | str = VarMethod.HISTORICAL,
    window: int = 250,
    *,
    weights: Mapping[str, float] | None = None,
    seed: int = 0,
    n_simulations: int = 100_000,
    ewma_lambda: float = 0.94,
    distribution: Distribution | str = Distribution.NORMAL,
    dof: float | None = None,
) -> pd.Series:
    """One-day VaR forecasts, each from the ``window`` days before it (no look-ahead).

    The forecast for day ``t`` uses days ``t - window`` to ``t - 1`` only, so it can be compared
    with day ``t``'s loss in :func:`backtest`. Monte Carlo forecasts all use the same ``seed``
    (common random numbers: forecasts move with the data, not with the draws).

    Parameters
    ----------
    returns, alpha, method, weights, seed, n_simulations, ewma_lambda, distribution, dof
        As in :func:`value_at_risk`.
    window : int
        Days of each estimation window, at least 2.

    Returns
    -------
    pandas.Series of shape (n_days - window,)
        VaR as a positive fraction of the portfolio's value, on the days ``window`` onwards of
        ``returns``' index (positions for arrays), named ``"var"``.

    Raises
    ------
    ParameterError, DataError
        As :func:`value_at_risk`; also when ``returns`` holds no day after the first window.

    Examples
    --------
    >>> r = pd.Series([-0.02, 0.01, -0.03, 0.02, 0.00])
    >>> rolling_var(r, alpha=0.5, window=3).tolist()  # median loss of days 0-2, then 1-3
    [0.02, -0.01]
    """
    s = _settings(alpha, method, distribution, dof, seed, n_simulations, ewma_lambda)
    window = _check_count("window", window, minimum=_MIN_OBSERVATIONS)
    port, assets, w, index = _prepare(returns, weights)
    if port.size <= window:
        raise DataError(
            f"returns must hold more days than window to give a forecast (got {port.size} "
            f"days, window {window})"
        )
    forecasts = np.empty(port.size - window)
    for t in range(window, port.size):
        lo = t - window
        forecasts[lo] = _estimate(port[lo:t], assets[lo:t], w, s)[0]
    return pd.Series(forecasts, index=index[window:], name="var")


# --- back-testing ---------------------------------------------------------------------------


def _binomial_cdf(x: int, n: int, p: float) -> float:
    """P(X <= x) for X ~ Binomial(n, p), 0 < p < 1, summed in log space."""
    log_p, log_q = math.log(p), math.log1p(-p)
    lg_n = math.lgamma(n + 1)
    return min(
        1.0,
        math.fsum(
            math.exp(
                lg_n - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
            )
            for i in range(x + 1)
        ),
    )


def _check_exceptions(exceptions: object, days: object) -> tuple[int, int]:
    n = _check_count("days", days)
    x = _check_count("exceptions", exceptions, minimum=0)
    if x > n:
        raise ParameterError(f"exceptions must be at most days ({n}) (got {x})")
    return x, n


def traffic_light(
    exceptions: int, *, days: int = BASEL_DAYS, alpha: float = BASEL_ALPHA
) -> TrafficLight:
    """Basel traffic-light zone of a count of VaR exceptions.

    With ``X ~ Binomial(days, 1 - alpha)``: green when ``P(X <= exceptions)`` is below
    :data:`GREEN_PROBABILITY` (95 %), red when it is at least :data:`RED_PROBABILITY`
    (99.99 %), amber in between (Basel Committee, 1996). At 250 days and 99 % this gives the
    Basel table: green 0-4, amber 5-9, red 10+.

    Parameters
    ----------
    exceptions : int
        Days whose loss exceeded VaR, between 0 and ``days``.
    days : int
        Days tested.
    alpha : float
        Confidence of the VaR, in (0, 1).

    Returns
    -------
    TrafficLight

    Examples
    --------
    >>> [traffic_light(x).value for x in (4, 5, 9, 10)]
    ['green', 'amber', 'amber', 'red']
    """
    x, n = _check_exceptions(exceptions, days)
    cumulative = _binomial_cdf(x, n, 1.0 - _check_level("alpha", alpha))
    if cumulative < GREEN_PROBABILITY:
        return TrafficLight.GREEN
    if cumulative < RED_PROBABILITY:
        return TrafficLight.AMBER
    return TrafficLight.RED


def basel_plus_factor(
    exceptions: int, *, days: int = BASEL_DAYS, alpha: float = BASEL_ALPHA
) -> float | None:
    """Basel plus factor added to the market-risk capital multiplier of 3.

    0 in the green zone, 1 in the red zone, and in the amber zone the Basel table for 250 days
    at 99 %: 0.40, 0.50, 0.65, 0.75, 0.85 for 5, 6, 7, 8, 9 exceptions
    (:data:`BASEL_PLUS_FACTORS`). The table is defined for that test only, so an amber count of
    any other test gives None.

    Examples
    --------
    >>> [basel_plus_factor(x) for x in (4, 5, 9, 10)]
    [0.0, 0.4, 0.85, 1.0]
    """
    zone = traffic_light(exceptions, days=days, alpha=alpha)
    if zone is TrafficLight.GREEN:
        return 0.0
    if zone is TrafficLight.RED:
        return 1.0
    if days == BASEL_DAYS and math.isclose(alpha, BASEL_ALPHA, rel_tol=0.0, abs_tol=1e-12):
        return BASEL_PLUS_FACTORS[int(exceptions)]
    return None


def _xlogy(x: float, y: float) -> float:
    """``x ln y`` with ``0 ln 0 = 0``."""
    return 0.0 if x == 0 else x * math.log(y)


def kupiec_test(exceptions: int, days: int, alpha: float = BASEL_ALPHA) -> KupiecTest:
    """Kupiec's (1995) proportion-of-failures likelihood-ratio test.

    With ``x`` exceptions in ``n`` days and ``p = 1 - alpha``::

        LR = -2 ln[(1-p)^(n-x) p^x] + 2 ln[(1-x/n)^(n-x) (x/n)^x]

    (``0^0 = 1``, so ``x = 0`` gives ``-2 n ln(1-p)`` and ``x = n`` gives ``-2 n ln p``),
    asymptotically chi-squared with one degree of freedom under a correct coverage ``p``.

    Parameters
    ----------
    exceptions : int
        ``x``, between 0 and ``days``.
    days : int
        ``n``.
    alpha : float
        Confidence of the VaR, in (0, 1).

    Returns
    -------
    KupiecTest

    Examples
    --------
    No exception in 250 days is itself evidence that a 99 % VaR is too high:

    >>> t = kupiec_test(0, 250)
    >>> round(t.lr, 4), round(t.p_value, 4), t.reject_at_5pct
    (5.0252, 0.025, True)
    """
    x, n = _check_exceptions(exceptions, days)
    p = 1.0 - _check_level("alpha", alpha)
    rate = x / n
    lr = -2.0 * (_xlogy(n - x, 1.0 - p) + _xlogy(x, p)) + 2.0 * (
        _xlogy(n - x, 1.0 - rate) + _xlogy(x, rate)
    )
    lr = max(lr, 0.0)
    p_value = math.erfc(math.sqrt(lr / 2.0))  # survival function of chi2(1)
    return KupiecTest(lr=lr, p_value=p_value, reject_at_5pct=p_value < 0.05)


def _aligned(returns: object, var_forecasts: object) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    if isinstance(returns, pd.Series) and isinstance(var_forecasts, pd.Series):
        if returns.index.has_duplicates or var_forecasts.index.has_duplicates:
            raise ParameterError("returns and var_forecasts must not repeat an index label")
        index = returns.index.intersection(var_forecasts.index, sort=False)
        index = returns.index[returns.index.isin(index)]  # in the returns' (time) order
        r, v = returns.loc[index].to_numpy(), var_forecasts.loc[index].to_numpy()
    elif isinstance(returns, pd.DataFrame | pd.Series) or isinstance(
        var_forecasts, pd.DataFrame | pd.Series
    ):
        raise ParameterError(
            "returns and var_forecasts must both be pandas Series (aligned on their index) or "
            "both arrays of equal length"
        )
    else:
        r, v = np.asarray(returns), np.asarray(var_forecasts)
        if r.ndim != 1 or v.ndim != 1 or r.shape != v.shape:
            raise ParameterError(
                "returns and var_forecasts must be one-dimensional of equal length (got shapes "
                f"{r.shape} and {v.shape})"
            )
        index = pd.RangeIndex(r.size)
    arrays = []
    for name, values in (("returns", r), ("var_forecasts", v)):
        try:
            values = values.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{name} must hold numbers (got dtype {values.dtype})") from None
        bad = ~np.isfinite(values)
        if bad.any():
            first = int(np.argmax(bad))
            raise DataError(f"{name} must be finite (got {values[first]} on {index[first]!r})")
        arrays.append(values)
    return arrays[0], arrays[1], index


def backtest(
    returns: pd.Series | ArrayLike,
    var_forecasts: pd.Series | ArrayLike,
    *,
    alpha: float = BASEL_ALPHA,
    days: int = BASEL_DAYS,
) -> Backtest:
    """Back-test one-day VaR forecasts against the portfolio's realised returns.

    An exception is a day whose loss ``-R`` is strictly above that day's VaR forecast (made
    from earlier days, as :func:`rolling_var` does). The last ``days`` days common to both
    inputs are tested.

    Parameters
    ----------
    returns : pandas.Series or array-like of shape (n_days,)
        Daily simple returns of the portfolio (fractions), in time order.
    var_forecasts : pandas.Series or array-like
        One-day VaR for each day, positive fractions. Two Series are aligned on their index
        (days missing from either are left out); arrays must have equal lengths.
    alpha : float
        Confidence of the forecasts, in (0, 1).
    days : int
        Days tested (the Basel 250 by default).

    Returns
    -------
    Backtest

    Raises
    ------
    ParameterError
        A parameter breaks its rule, or the inputs do not align.
    DataError
        Fewer than ``days`` common days, or a value that is not finite.

    Examples
    --------
    >>> b = backtest([-0.03, 0.01, -0.01, -0.02], [0.02, 0.02, 0.02, 0.02], days=4)
    >>> b.exceptions, b.exception_dates.tolist()
    (1, [0])
    """
    a = _check_level("alpha", alpha)
    n = _check_count("days", days)
    r, v, index = _aligned(returns, var_forecasts)
    if r.size < n:
        raise DataError(
            f"back-testing over {n} days needs as many days with both a return and a forecast "
            f"(got {r.size})"
        )
    r, v, index = r[-n:], v[-n:], index[-n:]
    hit = -r > v
    x = int(hit.sum())
    kupiec = kupiec_test(x, n, a)
    return Backtest(
        exceptions=x,
        days=n,
        alpha=a,
        expected_exceptions=n * (1.0 - a),
        zone=traffic_light(x, days=n, alpha=a),
        plus_factor=basel_plus_factor(x, days=n, alpha=a),
        kupiec_lr=kupiec.lr,
        kupiec_p_value=kupiec.p_value,
        reject_at_5pct=kupiec.reject_at_5pct,
        exception_dates=index[hit],
    )
