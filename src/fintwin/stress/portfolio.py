"""Portfolio credit loss simulation: a multi-factor Gaussian copula over obligors.

Model
-----
Obligor ``i`` (probability of default ``PD_i`` over the horizon, mean loss given default
``LGD_i``, exposure at default ``EAD_i`` in currency, sector ``s(i)``, asset correlation
``rho_i``) has the latent variable::

    X_i = sqrt(rho_i) Z_s(i) + sqrt(1 - rho_i) eps_i,     eps_i ~ N(0, 1) independent,

where ``Z = (Z_0, ..., Z_{k-1})`` are the sector factors, standard normal with correlation
matrix ``C`` (``Z = B W`` with ``W`` independent standard normals and ``B B' = C``: the
Cholesky factor when ``C`` is positive definite, otherwise the eigen-factor of its non-zero
eigenvalues; the default all-ones ``C`` is the one-factor model). The obligor defaults when
``X_i < G(PD_i)`` (``G`` the inverse standard normal distribution function), and the portfolio
loss of a scenario is ``L = sum over defaulted i of LGD_i EAD_i``. With ``lgd_volatility``
``sigma_i > 0`` each default draws its own LGD from the Beta distribution with mean ``LGD_i``
and standard deviation ``sigma_i``, independently of everything else.

Simulation
----------
Scenarios are streamed in blocks of ``block_size`` (default 2,000) scenarios; block ``b`` holds
scenarios ``b * block_size`` to ``(b + 1) * block_size - 1``. Each block draws from its own
generators, children of ``numpy.random.SeedSequence(seed, spawn_key=(SPAWN_TAG, b))``: child 0
for the factors and the idiosyncratic normals, child 1 for the stochastic LGDs.
``SeedSequence(seed, spawn_key=k)`` is the child ``SeedSequence(seed).spawn`` hands out at
position ``k``, so blocks are independent streams and a block's losses are a pure function of
``(portfolio, seed, block_size, block)``: the result is identical whether blocks run in this
process, in a pool of any number of processes or on Ray, in any order. (``SPAWN_TAG`` =
1000 keeps these streams apart from the world generator's, whose spawn keys start with a
``fintwin.world._seeding.Stream`` value below 1000: a portfolio and a world run with the same
seed never share draws.) The block size fixes the streams, so it never depends on the number
of workers; changing it changes the draws (not their distribution).

Within a block the idiosyncratic normals are drawn chunk by chunk (about 2**20 draws per
chunk), so memory per worker is a few MiB whatever the number of obligors, and never the
``n_scenarios x n_obligors`` matrix. Obligor ``i`` defaults in scenario ``j`` iff::

    eps_ij < (G(PD_i) - sqrt(rho_i) Z_j,s(i)) / sqrt(1 - rho_i),

compared in float32. The normals are NumPy's float32 ziggurat (values on a grid of about 4e-7
near the default thresholds) and the threshold is computed in float32 (a few units in the
last place: under 1e-6 absolute for thresholds and factor terms below 5), so a comparison can
differ from the exact one only when ``|eps - threshold| < ~1e-6``. That moves an obligor's
conditional default probability by under ``1e-6 * phi(threshold)``: about 6e-6 *relative* at
most for thresholds down to -6 (PD 1e-9), with rounding errors of both signs, far below the
sampling error of any feasible run. Losses are summed in float64 over the defaulted
entries only (``numpy.bincount``, sequential and deterministic), per scenario and segment.

Risk measures (discrete definitions)
------------------------------------
For ``N`` simulated losses ``L_(1) <= ... <= L_(N)`` and level ``alpha``:

* ``VaR_alpha = L_(floor(alpha N) + 1)``, the upper empirical quantile
  ``inf{x: F_N(x) > alpha}``: for ``N = 100,000`` and ``alpha = 0.999``, the 100th largest loss;
* ``ES_alpha = mean{L_j : L_j >= VaR_alpha}``, the mean of the losses at or beyond VaR (the
  tail conditional expectation): without ties, the mean of the ``N - floor(alpha N)`` largest
  losses (the 100 largest above). With ties at VaR the tail holds more scenarios; every tied
  scenario counts, so that contributions add up;
* the contribution of a segment or an obligor to ``ES_alpha`` is its mean loss over the same
  tail scenarios, ``E[L_seg | L >= VaR_alpha]``: contributions add up to ``ES_alpha``.

Variance reduction
------------------
``factor_sampling=FactorSampling.STRATIFIED`` draws each block's systematic factors ``W`` as a
Latin hypercube (each factor proportionally stratified over the block's scenarios, strata
randomly permuted), keeping scenarios equally weighted. Marginals stay exactly standard normal,
so every estimate remains unbiased; the sampling error of tail quantiles of large portfolios,
driven by the factors, drops several-fold. The default is plain Monte Carlo.

Analytic check
--------------
For a large homogeneous portfolio (Vasicek's asymptotic single-factor model) the loss fraction
has the closed-form quantile :func:`vasicek_loss_quantile`; a finite portfolio of ``n``
equal exposures exceeds it by about :func:`vasicek_granularity_adjustment` (of order ``1/n``).

Examples
--------
>>> p = Portfolio(pd=[0.02] * 500, lgd=[0.45] * 500, ead=[1.0] * 500, asset_correlation=0.12)
>>> d = simulate_losses(p, 4_000, seed=1)
>>> round(d.expected_loss / p.expected_loss, 1)
1.0
>>> d.var(0.999) > d.var(0.99) > d.expected_loss
True
>>> round(vasicek_loss_quantile(0.01, 0.12, 0.999, lgd=0.45), 4)
0.0406
"""

from __future__ import annotations

import math
import multiprocessing as mp
import operator
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from fintwin._ray import ray_session
from fintwin._validation import to_enum
from fintwin.exceptions import DataError, ParameterError

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "SPAWN_TAG",
    "FactorSampling",
    "LossDistribution",
    "ObligorContributions",
    "Portfolio",
    "obligor_contributions",
    "simulate_losses",
    "vasicek_expected_shortfall",
    "vasicek_granularity_adjustment",
    "vasicek_loss_quantile",
]

#: Scenarios per block: fixes the random streams (never derived from the number of workers).
DEFAULT_BLOCK_SIZE = 2_000
#: First spawn-key entry of every block's seed sequence (the world's ``Stream`` values are < 1000).
SPAWN_TAG = 1000
# Idiosyncratic normals drawn at once inside a block: 4 MiB of float32 per buffer.
_CHUNK_ELEMENTS = 1 << 20
# Eigenvalues of the sector correlation below this (times the largest) are dropped as zero.
_RANK_TOLERANCE = 1e-12
# Symmetry, unit diagonal and positive semi-definiteness are checked to this tolerance.
_MATRIX_TOLERANCE = 1e-10


class FactorSampling(StrEnum):
    """How a block draws its systematic factors."""

    #: independent standard normals (plain Monte Carlo)
    MONTE_CARLO = "monte-carlo"
    #: a Latin hypercube over the block's scenarios on each independent factor
    STRATIFIED = "stratified"


# ---- input checks ----------------------------------------------------------------------------


def _first_bad(name: str, values: np.ndarray, ok: np.ndarray, rule: str) -> None:
    """Raise naming ``name``, the first position where ``ok`` is false, the rule and value."""
    bad = np.flatnonzero(~ok)
    if bad.size == 0:
        return
    if values.ndim == 0:
        raise ParameterError(f"{name} must be {rule} (got {values.item()!r})")
    i = int(bad[0])
    raise DataError(
        f"{name}[{i}] must be {rule} (got {values[i].item()!r}; "
        f"{bad.size} of {values.size} obligors break the rule)",
        column=name,
    )


def _obligor_floats(name: str, value: ArrayLike, n: int | None, *, scalar: bool) -> np.ndarray:
    """A float64 array of shape ``(n,)`` (or ``()`` when ``scalar`` allows it), read-only."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be numbers (got {value!r:.80})", column=name) from None
    if arr.ndim == 0 and scalar:
        pass
    elif arr.ndim != 1:
        shape = "a number or " if scalar else ""
        raise DataError(
            f"{name} must be {shape}a 1-D array over obligors (got shape {arr.shape})",
            column=name,
        )
    elif n is not None and arr.size != n:
        raise DataError(
            f"{name} has {arr.size} entries but pd has {n}: one per obligor", column=name
        )
    _first_bad(name, arr, np.isfinite(arr), "finite")
    arr.setflags(write=False)
    return arr


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool):
        raise ParameterError(f"{name} must be an integer (got {value!r})")
    try:
        v = operator.index(value)
    except TypeError:
        raise ParameterError(f"{name} must be an integer (got {value!r})") from None
    if v < minimum:
        raise ParameterError(f"{name} must be >= {minimum} (got {v})")
    return v


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float | np.floating):
        raise ParameterError(f"alpha must be a number in (0, 1) (got {alpha!r})")
    if not 0.0 < alpha < 1.0:
        raise ParameterError(f"alpha must be in (0, 1) (got {alpha!r})")
    return float(alpha)


# ---- the portfolio ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False)
class Portfolio:
    """Obligors of a credit portfolio and the dependence between their defaults.

    Parameters
    ----------
    pd : array_like, shape (n,)
        Probability of default over the horizon (12 months), in [0, 1].
    lgd : array_like, shape (n,)
        Mean loss given default, a fraction of EAD in [0, 1].
    ead : array_like, shape (n,)
        Exposure at default in currency units, finite and >= 0.
    asset_correlation : float or array_like, shape (n,)
        ``rho`` in [0, 1): the obligor's latent variable loads ``sqrt(rho)`` on its sector
        factor. One number applies to every obligor.
    sector : array_like of int, shape (n,), optional
        Sector codes ``0 .. k-1``; default every obligor in sector 0.
    sector_correlation : array_like, shape (k, k), optional
        Correlation matrix of the sector factors: symmetric, unit diagonal, positive
        semi-definite. Default all ones (one common factor, whatever the sectors).
        ``k`` is its size when given, else ``len(sector_names)``, else ``max(sector) + 1``.
    sector_names : sequence of str, shape (k,), optional
        Default ``"sector 0"``, ``"sector 1"``, ...
    segment : array_like of str, shape (n,), optional
        Reporting segment of each obligor; segments are the sorted distinct labels. Default:
        the obligor's sector name, segments in sector order (all ``k`` sectors).
    lgd_volatility : float or array_like, shape (n,), default 0
        Standard deviation of the LGD drawn at each default, Beta-distributed with mean
        ``lgd``; 0 keeps LGD fixed. Must be below ``sqrt(lgd (1 - lgd))`` where positive.

    Raises
    ------
    DataError
        An obligor array is malformed or out of range: names the field and first bad index.
    ParameterError
        A scalar or the sector correlation matrix breaks its rule.

    Examples
    --------
    >>> p = Portfolio(pd=[0.01, 0.02], lgd=[0.4, 0.5], ead=[100.0, 50.0], asset_correlation=0.2)
    >>> p.n_obligors, p.n_sectors, p.segment_names, p.expected_loss
    (2, 1, ('sector 0',), 0.9)
    >>> Portfolio(pd=[1.5], lgd=[0.4], ead=[1.0], asset_correlation=0.2)
    Traceback (most recent call last):
    ...
    fintwin.exceptions.DataError: column 'pd': pd[0] must be in [0, 1] (got 1.5; ...)
    """

    pd: np.ndarray
    lgd: np.ndarray
    ead: np.ndarray
    asset_correlation: np.ndarray
    sector: np.ndarray | None = None
    sector_correlation: np.ndarray | None = None
    sector_names: tuple[str, ...] | None = None
    segment: np.ndarray | None = None
    lgd_volatility: np.ndarray = field(default_factory=lambda: np.zeros(()))

    def __post_init__(self) -> None:
        put = object.__setattr__
        pd = _obligor_floats("pd", self.pd, None, scalar=False)
        n = pd.size
        if n == 0:
            raise DataError("pd must hold at least one obligor (got 0)", column="pd")
        _first_bad("pd", pd, (pd >= 0) & (pd <= 1), "in [0, 1]")
        lgd = _obligor_floats("lgd", self.lgd, n, scalar=False)
        _first_bad("lgd", lgd, (lgd >= 0) & (lgd <= 1), "in [0, 1]")
        ead = _obligor_floats("ead", self.ead, n, scalar=False)
        _first_bad("ead", ead, ead >= 0, ">= 0")
        rho = _obligor_floats("asset_correlation", self.asset_correlation, n, scalar=True)
        _first_bad("asset_correlation", rho, (rho >= 0) & (rho < 1), "in [0, 1)")
        vol = _obligor_floats("lgd_volatility", self.lgd_volatility, n, scalar=True)
        _first_bad("lgd_volatility", vol, vol >= 0, ">= 0")
        lgd_b = np.broadcast_to(lgd, (n,)) if vol.ndim == 0 else lgd
        vol_b = np.broadcast_to(vol, lgd_b.shape)
        ok = (vol_b == 0) | (vol_b**2 < lgd_b * (1 - lgd_b))
        bad = np.flatnonzero(~ok)
        if bad.size:
            i = int(bad[0])
            where = "lgd_volatility" if vol.ndim == 0 else f"lgd_volatility[{i}]"
            message = (
                f"{where} must be below sqrt(lgd (1 - lgd)) = "
                f"{math.sqrt(lgd_b[i] * (1 - lgd_b[i])):.6g} for lgd[{i}] = {float(lgd_b[i])!r} "
                f"(got {vol_b[i].item()!r}): no Beta distribution has that mean and spread"
            )
            if vol.ndim == 0:
                raise ParameterError(message)
            raise DataError(message, column="lgd_volatility")
        for name, arr in (("pd", pd), ("lgd", lgd), ("ead", ead)):
            put(self, name, arr)
        put(self, "asset_correlation", rho)
        put(self, "lgd_volatility", vol)

        k_given = None
        corr = None
        if self.sector_correlation is not None:
            corr = _check_correlation(self.sector_correlation)
            k_given = corr.shape[0]
        names = None
        if self.sector_names is not None:
            names = tuple(str(s) for s in self.sector_names)
            if k_given is not None and len(names) != k_given:
                raise ParameterError(
                    f"sector_names has {len(names)} names but sector_correlation is "
                    f"{k_given} x {k_given}: one name per sector"
                )
            if len(set(names)) != len(names) or not names:
                raise ParameterError(f"sector_names must be distinct and not empty (got {names})")
            k_given = len(names)
        sector = _sector_codes(self.sector, n, k_given)
        k = k_given if k_given is not None else int(sector.max()) + 1
        if corr is None:
            corr = np.ones((k, k))
            corr.setflags(write=False)
        if names is None:
            names = tuple(f"sector {j}" for j in range(k))
        put(self, "sector", sector)
        put(self, "sector_correlation", corr)
        put(self, "sector_names", names)
        if self.segment is not None:
            seg = np.asarray(self.segment)
            if seg.ndim != 1 or seg.size != n:
                raise DataError(
                    f"segment must be a 1-D array of {n} labels, one per obligor "
                    f"(got shape {seg.shape})",
                    column="segment",
                )
            seg = seg.astype(str)
            seg.setflags(write=False)
            put(self, "segment", seg)

    @property
    def n_obligors(self) -> int:
        """Number of obligors ``n``."""
        return int(self.pd.size)

    @property
    def n_sectors(self) -> int:
        """Number of sectors ``k``."""
        return len(self.sector_names)

    @cached_property
    def _segments(self) -> tuple[tuple[str, ...], np.ndarray]:
        if self.segment is None:
            return self.sector_names, self.sector
        names, codes = np.unique(self.segment, return_inverse=True)
        codes = codes.astype(np.int64)
        codes.setflags(write=False)
        return tuple(str(s) for s in names), codes

    @property
    def segment_names(self) -> tuple[str, ...]:
        """Reporting segments, in the order of :attr:`LossDistribution.segment_losses` columns."""
        return self._segments[0]

    @property
    def segment_codes(self) -> np.ndarray:
        """Segment of each obligor as an index into :attr:`segment_names`, shape (n,)."""
        return self._segments[1]

    @property
    def expected_loss(self) -> float:
        """Analytic expected loss ``sum PD LGD EAD``, in currency."""
        return float(np.sum(self.pd * self.lgd * self.ead))

    @property
    def total_exposure(self) -> float:
        """``sum EAD``, in currency."""
        return float(self.ead.sum())


def _sector_codes(value: ArrayLike | None, n: int, k: int | None) -> np.ndarray:
    if value is None:
        codes = np.zeros(n, dtype=np.int64)
    else:
        arr = np.asarray(value)
        if arr.ndim != 1 or arr.size != n:
            raise DataError(
                f"sector must be a 1-D array of {n} integer codes, one per obligor "
                f"(got shape {arr.shape})",
                column="sector",
            )
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise DataError(
                f"sector must be integer codes (got dtype {arr.dtype})", column="sector"
            )
        f = arr.astype(np.float64)
        _first_bad("sector", f, np.isfinite(f) & (f == np.round(f)), "an integer sector code")
        upper = "" if k is None else f" and < {k} (the number of sectors)"
        _first_bad("sector", f, (f >= 0) & (f < (np.inf if k is None else k)), f">= 0{upper}")
        codes = f.astype(np.int64)
    codes.setflags(write=False)
    return codes


def _check_correlation(value: ArrayLike) -> np.ndarray:
    try:
        c = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"sector_correlation must be a matrix (got {value!r:.80})") from None
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] == 0:
        raise ParameterError(f"sector_correlation must be a k x k matrix (got shape {c.shape})")

    def fail(mask: np.ndarray, rule: str) -> None:
        bad = np.argwhere(mask)
        if bad.size:
            i, j = (int(x) for x in bad[0])
            raise ParameterError(
                f"sector_correlation[{i}, {j}] must be {rule} (got {c[i, j].item()!r})"
            )

    fail(~np.isfinite(c), "finite")
    fail(np.abs(c - c.T) > _MATRIX_TOLERANCE, "equal to its transpose (symmetric matrix)")
    fail(np.eye(len(c), dtype=bool) & (np.abs(c - 1.0) > _MATRIX_TOLERANCE), "1 on the diagonal")
    fail(np.abs(c) > 1.0 + _MATRIX_TOLERANCE, "in [-1, 1]")
    smallest = float(np.linalg.eigvalsh(c).min())
    if smallest < -_MATRIX_TOLERANCE:
        raise ParameterError(
            "sector_correlation must be positive semi-definite "
            f"(got smallest eigenvalue {smallest:.6g})"
        )
    c = (c + c.T) / 2
    np.fill_diagonal(c, 1.0)
    c.setflags(write=False)
    return c


def _factor_matrix(corr: np.ndarray) -> np.ndarray:
    """``B`` with ``B B' = corr``, shape (k, f): sector factors are ``Z = W B'``."""
    if np.all(corr == 1.0):
        return np.ones((len(corr), 1))
    try:
        return np.linalg.cholesky(corr)
    except np.linalg.LinAlgError:  # singular: keep the eigen-directions of non-zero variance
        w, v = np.linalg.eigh(corr)
        keep = w > _RANK_TOLERANCE * w.max()
        return v[:, keep] * np.sqrt(w[keep])


# ---- what the workers run --------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Model:
    """Everything a block needs, obligors sorted by sector (``order[j]`` = original index)."""

    seed: int
    n_scenarios: int
    block_size: int
    sampling: FactorSampling
    factor_matrix: np.ndarray  # (k, f) float64
    sector_slices: tuple[tuple[int, int, int], ...]  # (sector, start, stop), sorted positions
    threshold: np.ndarray  # (n,) float32: G(pd) / sqrt(1 - rho)
    neg_loading: np.ndarray  # (n,) float32: -sqrt(rho) / sqrt(1 - rho)
    lgd_ead: np.ndarray  # (n,) float64
    ead: np.ndarray  # (n,) float64
    stochastic: np.ndarray | None  # (n,) bool: LGD drawn at default
    beta_a: np.ndarray | None  # (n,) float64
    beta_b: np.ndarray | None  # (n,) float64
    segment: np.ndarray  # (n,) int64
    n_segments: int
    order: np.ndarray  # (n,) int64

    @property
    def n_blocks(self) -> int:
        return -(-self.n_scenarios // self.block_size)

    def block_rows(self, block: int) -> tuple[int, int]:
        start = block * self.block_size
        return start, min(start + self.block_size, self.n_scenarios)


def _build_model(
    p: Portfolio, n_scenarios: int, seed: int, block_size: int, sampling: FactorSampling
) -> _Model:
    n = p.n_obligors
    order = np.argsort(p.sector, kind="stable")
    sector = p.sector[order]
    rho = np.broadcast_to(p.asset_correlation, (n,))[order]
    scale = np.sqrt(1.0 - rho)
    with np.errstate(divide="ignore"):
        g = ndtri(p.pd[order])  # -inf at PD 0 (never defaults), +inf at PD 1 (always)
    starts = np.flatnonzero(np.r_[True, sector[1:] != sector[:-1]])
    stops = np.r_[starts[1:], n]
    slices = tuple((int(sector[a]), int(a), int(b)) for a, b in zip(starts, stops, strict=True))
    lgd, ead = p.lgd[order], p.ead[order]
    vol = np.broadcast_to(p.lgd_volatility, (n,))[order]
    stochastic = beta_a = beta_b = None
    if np.any(vol > 0):
        stochastic = vol > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            nu = np.where(stochastic, lgd * (1 - lgd) / vol**2 - 1.0, np.nan)
        beta_a, beta_b = lgd * nu, (1 - lgd) * nu
    return _Model(
        seed=seed,
        n_scenarios=n_scenarios,
        block_size=block_size,
        sampling=sampling,
        factor_matrix=_factor_matrix(p.sector_correlation),
        sector_slices=slices,
        threshold=(g / scale).astype(np.float32),
        neg_loading=(-np.sqrt(rho) / scale).astype(np.float32),
        lgd_ead=lgd * ead,
        ead=ead,
        stochastic=stochastic,
        beta_a=beta_a,
        beta_b=beta_b,
        segment=p.segment_codes[order],
        n_segments=len(p.segment_names),
        order=order,
    )


def _block_generators(seed: int, block: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(latent, lgd) generators of a block: children of ``SeedSequence(seed, (SPAWN_TAG, b))``."""
    latent, lgd = np.random.SeedSequence(seed, spawn_key=(SPAWN_TAG, block)).spawn(2)
    return np.random.Generator(np.random.PCG64(latent)), np.random.Generator(np.random.PCG64(lgd))


def _factor_draws(rng: np.random.Generator, m: int, f: int, sampling: FactorSampling) -> np.ndarray:
    """Independent standard normal factors ``W``, shape (m, f)."""
    if sampling is FactorSampling.MONTE_CARLO:
        return rng.standard_normal((m, f))
    w = np.empty((m, f))
    for j in range(f):
        strata = rng.permutation(m)
        # uniform in the open interval (0, 1): 53 random bits plus half a unit
        u = (rng.integers(0, 1 << 53, size=m, dtype=np.int64) + 0.5) / float(1 << 53)
        w[:, j] = ndtri(np.clip((strata + u) / m, 1e-300, 1.0 - 2.0**-53))
    return w


def _run_block(
    model: _Model, block: int, tail_rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Losses of one block of scenarios.

    Returns
    -------
    segment_losses : ndarray, shape (m, n_segments)
        Loss of each scenario of the block by segment, currency.
    obligor_tail : ndarray, shape (n,) or None
        With ``tail_rows`` (block-relative scenario indices): each obligor's loss summed over
        those scenarios, in the model's sorted obligor order.
    """
    r0, r1 = model.block_rows(block)
    m, n, n_seg = r1 - r0, model.threshold.size, model.n_segments
    rng, rng_lgd = _block_generators(model.seed, block)
    f = model.factor_matrix.shape[1]
    z = (_factor_draws(rng, m, f, model.sampling) @ model.factor_matrix.T).astype(np.float32)
    rows_per_chunk = max(1, min(m, _CHUNK_ELEMENTS // n))
    eps = np.empty((rows_per_chunk, n), np.float32)
    thr = np.empty((rows_per_chunk, n), np.float32)
    hit = np.empty((rows_per_chunk, n), bool)
    seg_losses = np.empty((m, n_seg))
    in_tail = None
    obligor_tail = None
    if tail_rows is not None:
        in_tail = np.zeros(m, bool)
        in_tail[tail_rows] = True
        obligor_tail = np.zeros(n)
    for c0 in range(0, m, rows_per_chunk):
        r = min(rows_per_chunk, m - c0)
        e, t, d = eps[:r], thr[:r], hit[:r]
        rng.standard_normal(dtype=np.float32, out=e)
        zc = z[c0 : c0 + r]
        for s, a, b in model.sector_slices:
            np.multiply.outer(zc[:, s], model.neg_loading[a:b], out=t[:, a:b])
        t += model.threshold
        np.less(e, t, out=d)
        rows, cols = np.divmod(np.flatnonzero(d), n)
        values = model.lgd_ead[cols]
        if model.stochastic is not None:
            drawn = model.stochastic[cols]
            if drawn.any():
                c = cols[drawn]
                values[drawn] = model.ead[c] * rng_lgd.beta(model.beta_a[c], model.beta_b[c])
        if n_seg == 1:
            seg_losses[c0 : c0 + r, 0] = np.bincount(rows, weights=values, minlength=r)
        else:
            seg_losses[c0 : c0 + r] = np.bincount(
                rows * n_seg + model.segment[cols], weights=values, minlength=r * n_seg
            ).reshape(r, n_seg)
        if in_tail is not None and obligor_tail is not None:
            sel = in_tail[c0 + rows]
            obligor_tail += np.bincount(cols[sel], weights=values[sel], minlength=n)
    return seg_losses, obligor_tail


_WORKER_MODEL: _Model | None = None


def _init_worker(model: _Model) -> None:
    global _WORKER_MODEL
    _WORKER_MODEL = model


def _pool_block(block: int, tail_rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    assert _WORKER_MODEL is not None
    return _run_block(_WORKER_MODEL, block, tail_rows)


BlockResult = tuple[np.ndarray, np.ndarray | None]


def _run_blocks(
    model: _Model,
    jobs: Sequence[tuple[int, np.ndarray | None]],
    workers: int,
    ray_address: str | None,
) -> Iterator[BlockResult]:
    """Results of ``_run_block(model, block, tail_rows)`` for each job, yielded in job order."""
    if ray_address is not None:
        yield from _run_on_ray(model, jobs, ray_address)
    elif workers == 1 or len(jobs) <= 1:
        for b, t in jobs:
            yield _run_block(model, b, t)
    else:
        # Spawned, not forked: a child forked after LightGBM or other threads ran in this
        # process can inherit a held lock and deadlock.
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(
            min(workers, len(jobs)), mp_context=ctx, initializer=_init_worker, initargs=(model,)
        ) as pool:
            yield from pool.map(_pool_block, [b for b, _ in jobs], [t for _, t in jobs])


def _run_on_ray(
    model: _Model, jobs: Sequence[tuple[int, np.ndarray | None]], address: str
) -> Iterator[BlockResult]:
    with ray_session(address) as ray:
        model_ref = ray.put(model)
        remote_block = ray.remote(_run_block)
        refs = [remote_block.remote(model_ref, b, t) for b, t in jobs]
        for ref in refs:
            yield ray.get(ref)


def _check_run(workers: int, ray_address: str | None) -> int:
    workers = _check_int("workers", workers, 1)
    if ray_address is not None and not isinstance(ray_address, str):
        raise ParameterError(f"ray_address must be a string or None (got {ray_address!r})")
    return workers


# ---- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LossDistribution:
    """Simulated portfolio losses.

    Attributes
    ----------
    losses : ndarray, shape (n_scenarios,)
        Total loss of each scenario in currency, in *scenario order* (not sorted): scenario
        ``j`` is row ``j % block_size`` of block ``j // block_size``.
    segment_losses : ndarray, shape (n_scenarios, n_segments)
        Loss of each scenario by segment, currency; rows sum to ``losses``.
    segment_names : tuple of str, shape (n_segments,)
        Column labels of ``segment_losses``.
    seed, block_size : int
        What fixes the random streams (an obligor-contribution pass reuses them).
    factor_sampling : FactorSampling
        How the systematic factors were drawn.
    """

    losses: np.ndarray
    segment_losses: np.ndarray
    segment_names: tuple[str, ...]
    seed: int
    block_size: int
    factor_sampling: FactorSampling

    @property
    def n_scenarios(self) -> int:
        """Number of scenarios ``N``."""
        return int(self.losses.size)

    @cached_property
    def sorted_losses(self) -> np.ndarray:
        """``losses`` in increasing order, shape (n_scenarios,)."""
        s = np.sort(self.losses)
        s.setflags(write=False)
        return s

    @property
    def expected_loss(self) -> float:
        """Mean loss over the scenarios, currency."""
        return float(self.losses.mean())

    def var(self, alpha: float) -> float:
        """Value at risk ``L_(floor(alpha N) + 1)``, the upper empirical quantile, currency.

        The ``(N - floor(alpha N))``-th largest loss: the 100th largest for ``N = 100,000`` and
        ``alpha = 0.999``.

        Parameters
        ----------
        alpha : float
            Confidence level in (0, 1), e.g. 0.999.
        """
        alpha = _check_alpha(alpha)
        # round() absorbs representation error: 0.29 * 100 is 28.999999999999996, not below 29
        k = min(self.n_scenarios, math.floor(round(alpha * self.n_scenarios, 6)) + 1)
        return float(self.sorted_losses[k - 1])

    def tail_mask(self, alpha: float) -> np.ndarray:
        """Scenarios with ``losses >= var(alpha)``, boolean, shape (n_scenarios,)."""
        return self.losses >= self.var(alpha)

    def expected_shortfall(self, alpha: float) -> float:
        """Mean of the losses at or beyond ``var(alpha)`` (every tied scenario counts), currency."""
        return float(self.losses[self.tail_mask(alpha)].mean())

    def var_interval(self, alpha: float, confidence: float = 0.95) -> tuple[float, float]:
        """Distribution-free confidence interval of the true ``alpha``-quantile, currency.

        The order statistics ``L_(lo)`` and ``L_(hi)`` with ``lo, hi = N alpha -/+ z
        sqrt(N alpha (1 - alpha))`` (normal approximation of the binomial count below the
        quantile, ``z`` the two-sided normal quantile of ``confidence``). Exact in the limit for
        independent scenarios; with ``FactorSampling.STRATIFIED`` it is conservative (a Latin
        hypercube of ``m`` points never has more than ``m / (m - 1)`` times the variance of
        independent sampling for the empirical distribution function, Owen 1997; proportional
        stratification of a single factor never more), often several times too wide.
        """
        alpha = _check_alpha(alpha)
        if not 0.0 < confidence < 1.0:
            raise ParameterError(f"confidence must be in (0, 1) (got {confidence!r})")
        n = self.n_scenarios
        z = float(ndtri(0.5 + confidence / 2))
        half = z * math.sqrt(n * alpha * (1 - alpha))
        lo = min(n, max(1, math.floor(n * alpha - half)))
        hi = min(n, max(1, math.ceil(n * alpha + half)))
        return float(self.sorted_losses[lo - 1]), float(self.sorted_losses[hi - 1])

    @property
    def segment_expected_losses(self) -> dict[str, float]:
        """Mean loss of each segment, currency; sums to :attr:`expected_loss`."""
        means = self.segment_losses.mean(axis=0)
        return dict(zip(self.segment_names, map(float, means), strict=True))

    def segment_contributions(self, alpha: float) -> dict[str, float]:
        """Each segment's mean loss over the tail ``losses >= var(alpha)``, currency.

        ``E[L_segment | L >= VaR_alpha]``: the contributions sum to ``expected_shortfall(alpha)``
        (up to float rounding).
        """
        tail = self.segment_losses[self.tail_mask(alpha)].mean(axis=0)
        return dict(zip(self.segment_names, map(float, tail), strict=True))

    def summary(self, alphas: Sequence[float] = (0.99, 0.999)) -> dict[str, Any]:
        """Expected loss, and VaR, ES and tail size at each level (JSON-ready)."""
        return {
            "n_scenarios": self.n_scenarios,
            "expected_loss": self.expected_loss,
            "levels": [
                {
                    "alpha": float(a),
                    "var": self.var(a),
                    "expected_shortfall": self.expected_shortfall(a),
                    "tail_scenarios": int(self.tail_mask(a).sum()),
                }
                for a in alphas
            ],
        }

    def to_dict(self, alphas: Sequence[float] = (0.99, 0.999)) -> dict[str, Any]:
        """:meth:`summary` plus the run's settings and each segment's EL and ES contributions."""
        el = self.segment_expected_losses
        contrib = {a: self.segment_contributions(a) for a in alphas}
        return {
            **self.summary(alphas),
            "seed": self.seed,
            "block_size": self.block_size,
            "factor_sampling": self.factor_sampling.value,
            "segments": {
                s: {
                    "expected_loss": el[s],
                    "es_contributions": {str(a): contrib[a][s] for a in alphas},
                }
                for s in self.segment_names
            },
        }


@dataclass(frozen=True, eq=False)
class ObligorContributions:
    """Each obligor's contribution to expected shortfall.

    Attributes
    ----------
    alpha : float
        Level of the tail.
    var, expected_shortfall : float
        ``VaR_alpha`` and ``ES_alpha`` of the distribution, currency.
    tail_scenarios : int
        Scenarios with loss ``>= VaR_alpha``.
    contributions : ndarray, shape (n_obligors,)
        Obligor ``i``'s mean loss over the tail scenarios, currency, in the portfolio's obligor
        order; sums to ``expected_shortfall`` up to float rounding.
    """

    alpha: float
    var: float
    expected_shortfall: float
    tail_scenarios: int
    contributions: np.ndarray


# ---- simulation ------------------------------------------------------------------------------


def simulate_losses(
    portfolio: Portfolio,
    n_scenarios: int,
    *,
    seed: int = 0,
    block_size: int = DEFAULT_BLOCK_SIZE,
    workers: int = 1,
    ray_address: str | None = None,
    factor_sampling: FactorSampling | str = FactorSampling.MONTE_CARLO,
) -> LossDistribution:
    """Simulate the portfolio's loss in ``n_scenarios`` scenarios of the copula model.

    Parameters
    ----------
    portfolio : Portfolio
        Obligors, sectors and correlations.
    n_scenarios : int
        Number of scenarios ``N`` (>= 1).
    seed : int, default 0
        Root seed (>= 0).
    block_size : int, default 2,000
        Scenarios per block, the unit of work and of seeding. Fixes the draws: the result does
        not depend on ``workers`` or ``ray_address``, only on ``(portfolio, n_scenarios, seed,
        block_size, factor_sampling)``.
    workers : int, default 1
        Processes (spawned) computing blocks at once; 1 runs in this process.
    ray_address : str, optional
        Run the blocks as Ray tasks on this cluster (``"local"`` starts one here); needs the
        ``ray`` extra. Takes precedence over ``workers``.
    factor_sampling : FactorSampling, default MONTE_CARLO
        ``STRATIFIED`` for a Latin hypercube on the systematic factors (less tail noise).

    Returns
    -------
    LossDistribution
        ``N`` scenario losses and their split by segment (``N x (1 + n_segments)`` float64 kept
        here). A worker holds one chunk of about 2**20 draws at a time (float32 normals and
        thresholds and a boolean default matrix, 9 MiB, whatever ``N`` and the number of
        obligors; plus index arrays over that chunk's defaults) and its block's
        ``block_size x n_segments`` losses.
    """
    n_scenarios = _check_int("n_scenarios", n_scenarios, 1)
    seed = _check_int("seed", seed, 0)
    block_size = _check_int("block_size", block_size, 1)
    workers = _check_run(workers, ray_address)
    sampling = to_enum(FactorSampling, "factor_sampling", factor_sampling)
    model = _build_model(portfolio, n_scenarios, seed, block_size, sampling)
    seg = np.empty((n_scenarios, len(portfolio.segment_names)))
    jobs = [(b, None) for b in range(model.n_blocks)]
    for (b, _), (block_losses, _) in zip(
        jobs, _run_blocks(model, jobs, workers, ray_address), strict=True
    ):
        r0, r1 = model.block_rows(b)
        seg[r0:r1] = block_losses
    losses = seg.sum(axis=1)
    seg.setflags(write=False)
    losses.setflags(write=False)
    return LossDistribution(losses, seg, portfolio.segment_names, seed, block_size, sampling)


def obligor_contributions(
    portfolio: Portfolio,
    distribution: LossDistribution,
    alpha: float,
    *,
    seed: int | None = None,
    workers: int = 1,
    ray_address: str | None = None,
) -> ObligorContributions:
    """Each obligor's mean loss over the scenarios where the portfolio loss is ``>= VaR_alpha``.

    A second pass: the blocks holding tail scenarios are simulated again from the same seeds
    (their losses must reproduce ``distribution`` exactly, else the portfolio or seed differs
    from the run's), and every obligor's loss is summed over the tail scenarios.

    Parameters
    ----------
    portfolio : Portfolio
        The portfolio ``distribution`` was simulated from.
    distribution : LossDistribution
        Result of :func:`simulate_losses` (its block size and factor sampling are reused).
    alpha : float
        Level in (0, 1).
    seed : int, optional
        The run's seed; default ``distribution.seed``. A different value is refused.
    workers, ray_address
        As in :func:`simulate_losses`; they do not change the result.

    Returns
    -------
    ObligorContributions
        Contributions in the portfolio's obligor order, currency; they sum to
        ``distribution.expected_shortfall(alpha)`` up to float rounding.
    """
    alpha = _check_alpha(alpha)
    workers = _check_run(workers, ray_address)
    if seed is not None and seed != distribution.seed:
        raise ParameterError(
            f"seed must be the distribution's seed {distribution.seed} (got {seed!r}): "
            "contributions come from regenerating the same scenarios"
        )
    if distribution.segment_names != portfolio.segment_names:
        raise ParameterError(
            "portfolio does not match distribution: segments "
            f"{portfolio.segment_names} != {distribution.segment_names}"
        )
    model = _build_model(
        portfolio,
        distribution.n_scenarios,
        distribution.seed,
        distribution.block_size,
        distribution.factor_sampling,
    )
    tail = np.flatnonzero(distribution.tail_mask(alpha))
    blocks = tail // model.block_size
    jobs = [(int(b), tail[blocks == b] - int(b) * model.block_size) for b in np.unique(blocks)]
    total = np.zeros(portfolio.n_obligors)
    for (b, _), (seg, obligor) in zip(
        jobs, _run_blocks(model, jobs, workers, ray_address), strict=True
    ):
        r0, r1 = model.block_rows(b)
        if not np.array_equal(seg, distribution.segment_losses[r0:r1]):
            raise ParameterError(
                f"portfolio and seed {distribution.seed} do not reproduce the distribution's "
                f"losses in block {b}: pass the portfolio the distribution was simulated from"
            )
        assert obligor is not None
        total += obligor
    contributions = np.empty(portfolio.n_obligors)
    contributions[model.order] = total / tail.size
    contributions.setflags(write=False)
    return ObligorContributions(
        alpha,
        distribution.var(alpha),
        distribution.expected_shortfall(alpha),
        int(tail.size),
        contributions,
    )


# ---- closed forms ----------------------------------------------------------------------------


def _vasicek_args(pd: float, rho: float, alpha: float, lgd: float, ead: float) -> None:
    for name, value, ok, rule in (
        ("pd", pd, 0.0 <= pd <= 1.0, "in [0, 1]"),
        ("rho", rho, 0.0 <= rho < 1.0, "in [0, 1)"),
        ("alpha", alpha, 0.0 < alpha < 1.0, "in (0, 1)"),
        ("lgd", lgd, 0.0 <= lgd <= 1.0, "in [0, 1]"),
        ("ead", ead, 0.0 <= ead < math.inf, "finite and >= 0"),
    ):
        if not ok:
            raise ParameterError(f"{name} must be {rule} (got {value!r})")


def vasicek_loss_quantile(
    pd: float, rho: float, alpha: float, lgd: float = 1.0, ead: float = 1.0
) -> float:
    """``alpha``-quantile of the loss of Vasicek's large homogeneous portfolio.

    ``ead * lgd * N((G(pd) + sqrt(rho) G(alpha)) / sqrt(1 - rho))``: the loss when the common
    factor is at its ``1 - alpha`` quantile and the law of large numbers removes the
    idiosyncratic risk.

    Parameters
    ----------
    pd : float
        Probability of default in [0, 1].
    rho : float
        Asset correlation in [0, 1).
    alpha : float
        Confidence level in (0, 1).
    lgd : float, default 1
        Loss given default in [0, 1].
    ead : float, default 1
        Total exposure of the portfolio, currency (1 gives the loss as a fraction).

    Returns
    -------
    float
        Loss quantile, in the units of ``ead``.

    Examples
    --------
    >>> round(vasicek_loss_quantile(0.01, 0.0, 0.999), 12)  # no correlation: the PD itself
    0.01
    """
    _vasicek_args(pd, rho, alpha, lgd, ead)
    with np.errstate(divide="ignore"):
        x = (ndtri(pd) + math.sqrt(rho) * ndtri(alpha)) / math.sqrt(1.0 - rho)
    return float(ead * lgd * ndtr(x))


def vasicek_expected_shortfall(
    pd: float, rho: float, alpha: float, lgd: float = 1.0, ead: float = 1.0
) -> float:
    """Expected shortfall at ``alpha`` of Vasicek's large homogeneous portfolio.

    ``ead * lgd / (1 - alpha) * integral from G(alpha) to inf of
    N((G(pd) + sqrt(rho) x) / sqrt(1 - rho)) phi(x) dx``, by 400-point Gauss-Legendre quadrature
    (the integrand is smooth; truncation beyond ``max(G(alpha), 0) + 12`` loses under 1e-30).
    Parameters as in :func:`vasicek_loss_quantile`.

    Examples
    --------
    >>> es = vasicek_expected_shortfall(0.01, 0.12, 0.999, lgd=0.45)
    >>> es > vasicek_loss_quantile(0.01, 0.12, 0.999, lgd=0.45)
    True
    """
    _vasicek_args(pd, rho, alpha, lgd, ead)
    lo = float(ndtri(alpha))
    hi = max(lo, 0.0) + 12.0
    nodes, weights = np.polynomial.legendre.leggauss(400)
    x = lo + (hi - lo) * (nodes + 1.0) / 2.0
    with np.errstate(divide="ignore"):
        p = ndtr((ndtri(pd) + math.sqrt(rho) * x) / math.sqrt(1.0 - rho))
    phi = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    integral = float(np.sum(weights * p * phi)) * (hi - lo) / 2.0
    return ead * lgd * integral / (1.0 - alpha)


def vasicek_granularity_adjustment(
    pd: float,
    rho: float,
    alpha: float,
    n_obligors: int,
    lgd: float = 1.0,
    ead: float = 1.0,
    lgd_volatility: float = 0.0,
) -> float:
    """First-order granularity adjustment of the Vasicek quantile for ``n`` equal exposures.

    For a homogeneous portfolio of ``n_obligors`` exposures of ``ead / n`` each, the loss
    ``alpha``-quantile is about ``vasicek_loss_quantile(...) + GA`` with (Gordy 2003;
    Martin and Wilde 2002)::

        GA = (v x - v' + v mu'' / mu') / (2 mu')     at x = G(alpha),

    where, with ``x`` the adverse factor and ``p(x) = N((G(pd) + sqrt(rho) x) / sqrt(1 - rho))``,
    ``mu(x) = lgd p(x)`` is the conditional expected loss fraction and
    ``v(x) = (E[LGD^2] p - lgd^2 p^2) / n`` its conditional variance (``E[LGD^2] = lgd^2 +
    lgd_volatility^2``); primes are derivatives in ``x``. The error is ``O(1/n^2)``.

    Returns
    -------
    float
        The adjustment, in the units of ``ead`` (positive: a finite portfolio has a fatter tail).

    Examples
    --------
    >>> ga = vasicek_granularity_adjustment(0.01, 0.12, 0.999, 10_000, lgd=0.45)
    >>> round(ga / vasicek_loss_quantile(0.01, 0.12, 0.999, lgd=0.45), 4)  # 0.23 % of VaR
    0.0023
    """
    _vasicek_args(pd, rho, alpha, lgd, ead)
    n = _check_int("n_obligors", n_obligors, 1)
    if not 0.0 <= lgd_volatility**2 <= lgd * (1 - lgd):
        raise ParameterError(
            f"lgd_volatility must be in [0, sqrt(lgd (1 - lgd))] (got {lgd_volatility!r})"
        )
    if not 0.0 < pd < 1.0 or rho == 0.0 or lgd == 0.0:
        return 0.0  # no systematic risk or no loss: the quantile does not depend on the factor
    x = float(ndtri(alpha))
    k = math.sqrt(rho / (1.0 - rho))
    u = (float(ndtri(pd)) + math.sqrt(rho) * x) / math.sqrt(1.0 - rho)
    p = float(ndtr(u))
    dp = math.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi) * k
    second_over_first = -u * k  # p'' / p'
    lgd2 = lgd * lgd + lgd_volatility**2
    v = (lgd2 * p - lgd * lgd * p * p) / n
    dv = (lgd2 - 2.0 * lgd * lgd * p) * dp / n
    dmu = lgd * dp
    return ead * (v * x - dv + v * second_over_first) / (2.0 * dmu)
