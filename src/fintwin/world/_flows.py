"""Building blocks shared by the account-to-account presets (``mobile-money``, ``aml``): when in
the day people act, whom they pay (degree-skewed, mostly local counterparties), and how amounts
are drawn and split. Pure array-in/array-out functions of a given generator."""

from __future__ import annotations

import numpy as np

__all__ = [
    "HOURLY_ACTIVITY",
    "draw_in_group",
    "lognormal_with_mean",
    "millis_of_day",
    "nearest_of",
    "popularity",
    "split_under",
]

#: Relative activity per hour of the day (0 h .. 23 h): quiet nights, a morning rise, a midday
#: plateau and an early-evening peak, the daily cycle of mobile-money and retail payments.
HOURLY_ACTIVITY = np.array(
    [
        *(0.15, 0.08, 0.05, 0.05, 0.08, 0.2, 0.5, 1.0, 1.5, 1.9, 2.1, 2.2),
        *(2.4, 2.3, 2.1, 2.0, 2.1, 2.3, 2.5, 2.4, 1.9, 1.3, 0.8, 0.4),
    ]
)
_MS_PER_HOUR = 3_600_000


def millis_of_day(rng: np.random.Generator, size: int, hourly: np.ndarray = HOURLY_ACTIVITY):
    """Times of day following an hourly activity profile.

    Parameters
    ----------
    rng : numpy.random.Generator
    size : int
    hourly : ndarray of shape (24,)
        Relative weight of each hour.

    Returns
    -------
    ndarray of int64, shape (size,)
        Milliseconds since midnight, in ``[1, 86_400_000)``: millisecond 0 is kept for the
        day's first batch (settlements), which must come before any customer's action.

    Examples
    --------
    >>> t = millis_of_day(np.random.default_rng(0), 1000)
    >>> bool((t >= 1).all() and (t < 86_400_000).all())
    True
    """
    cum = np.cumsum(hourly) / np.sum(hourly)
    hour = np.minimum(np.searchsorted(cum, rng.random(size), side="right"), 23)
    return hour * _MS_PER_HOUR + rng.integers(1, _MS_PER_HOUR, size)


def popularity(rng: np.random.Generator, size: int, alpha: float) -> np.ndarray:
    """Pareto weights (minimum 1, tail index ``alpha``): a few counterparties draw most links,
    which gives the degree-skewed graphs of real payment networks."""
    return 1.0 + rng.pareto(alpha, size)


def draw_in_group(
    rng: np.random.Generator,
    point_group: np.ndarray,
    site_group: np.ndarray,
    site_weight: np.ndarray,
    k: int,
) -> np.ndarray:
    """For each point draw ``k`` sites of its own group, with replacement, proportionally to
    ``site_weight``; points of a group without sites draw from all sites.

    Parameters
    ----------
    rng : numpy.random.Generator
    point_group : ndarray of int, shape (n,)
        Group (region) of each point, non-negative.
    site_group : ndarray of int, shape (s,)
        Group of each site (s >= 1).
    site_weight : ndarray of float, shape (s,)
        Positive weights.
    k : int
        Draws per point.

    Returns
    -------
    ndarray of int64, shape (n, k)
        Site indices.

    Examples
    --------
    >>> idx = draw_in_group(np.random.default_rng(0), np.array([0, 1, 2]),
    ...                     np.array([0, 0, 1]), np.ones(3), 4)
    >>> bool(np.isin(idx[0], [0, 1]).all()), bool((idx[1] == 2).all())
    (True, True)
    """
    order = np.argsort(site_group, kind="stable")
    g_sorted = site_group[order]
    cum = np.cumsum(site_weight[order])
    n_groups = int(max(point_group.max(initial=0), site_group.max(initial=0))) + 1
    lo = np.searchsorted(g_sorted, np.arange(n_groups), side="left")
    hi = np.searchsorted(g_sorted, np.arange(n_groups), side="right")
    base = np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0.0)
    total = np.where(hi > lo, cum[np.maximum(hi - 1, 0)], 0.0) - base
    empty = total[point_group] <= 0
    b = np.where(empty, 0.0, base[point_group])
    t = np.where(empty, cum[-1], total[point_group])
    first = np.where(empty, 0, lo[point_group])
    last = np.where(empty, cum.size - 1, hi[point_group] - 1)
    target = b[:, None] + rng.random((point_group.size, k)) * t[:, None]
    pos = np.searchsorted(cum, target, side="right")
    pos = np.clip(pos, first[:, None], last[:, None])
    return order[pos].astype(np.int64)


def nearest_of(point_xy: np.ndarray, site_xy: np.ndarray, candidates: np.ndarray, keep: int):
    """The ``keep`` candidates nearest each point (candidates drawn at random: a cheap local
    choice without a spatial index).

    Parameters
    ----------
    point_xy : ndarray of shape (n, 2)
    site_xy : ndarray of shape (s, 2)
    candidates : ndarray of int, shape (n, c)
        Candidate sites per point, c >= keep.
    keep : int

    Returns
    -------
    ndarray of int64, shape (n, keep)
    """
    d = ((site_xy[candidates] - point_xy[:, None, :]) ** 2).sum(axis=2)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :keep]
    return np.take_along_axis(candidates, nearest, axis=1).astype(np.int64)


def lognormal_with_mean(rng: np.random.Generator, mean: np.ndarray, sigma: float) -> np.ndarray:
    """Lognormal draws with the given means (``mean`` broadcast) and log-sd ``sigma``."""
    mean = np.asarray(mean, dtype=float)
    return mean * rng.lognormal(-0.5 * sigma * sigma, sigma, mean.shape)


def split_under(total: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` minor units into few parts of at most ``cap`` each (the fewest that fit,
    or a few more), unequal as structured deposits are (no part under about half the mean
    part), summing exactly to ``total``.

    Examples
    --------
    >>> parts = split_under(2_500_000, 990_000, np.random.default_rng(1))
    >>> int(parts.sum()), len(parts), bool((parts <= 990_000).all())
    (2500000, 3, True)
    """
    if total <= 0:
        return np.zeros(0, dtype=np.int64)
    fewest = -(-total // cap)
    attempt = 0
    while True:  # ends: every draw fits once n >= 2 * total / (cap - 1), or n reaches total
        n = fewest + attempt // 8  # a few tries at each count before allowing one more part
        if n >= total:  # only with a cap of a few units: all parts of one unit
            return np.ones(total, dtype=np.int64)
        w = rng.uniform(0.5, 1.0, n)
        share = total * w / w.sum()
        parts = np.floor(share).astype(np.int64)
        # largest remainders get the leftover units, one each
        short = int(total - parts.sum())
        parts[np.argsort(parts - share, kind="stable")[:short]] += 1
        if parts.max() <= cap:
            return parts
        attempt += 1
