"""Neighbour search on the twin's map."""

from __future__ import annotations

import numpy as np

__all__ = ["within_radius"]

#: largest grid of the neighbour search (bounds its memory)
_MAX_CELLS = 1 << 22


def within_radius(
    points: np.ndarray, sites: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Sites strictly within ``radius`` of each point, as compressed rows.

    Sites are bucketed in a dense grid of cells of side at least ``radius`` (at most
    ``_MAX_CELLS`` cells), so each point looks only at the 3 x 3 cells around it, found by
    direct indexing.

    Parameters
    ----------
    points : ndarray of shape (n, 2)
    sites : ndarray of shape (k, 2)
    radius : float

    Returns
    -------
    offsets : ndarray of int64, shape (n + 1,)
        Sites of point ``i`` are ``indices[offsets[i]:offsets[i + 1]]``.
    indices : ndarray of int64
        Site ids, in a fixed order per point.

    Examples
    --------
    >>> off, idx = within_radius(np.array([[0.0, 0.0]]),
    ...                          np.array([[1.0, 0.0], [5.0, 0.0], [0.0, 4.9]]), 5.0)
    >>> sorted(idx[off[0]:off[1]].tolist())
    [0, 2]
    """
    n = points.shape[0]
    lo = np.minimum(points.min(axis=0, initial=np.inf), sites.min(axis=0, initial=np.inf))
    hi = np.maximum(points.max(axis=0, initial=-np.inf), sites.max(axis=0, initial=-np.inf))
    if n == 0 or sites.shape[0] == 0:
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    span = np.maximum(hi - lo, 1e-9)
    cell = max(radius, float(np.sqrt(span[0] * span[1] / _MAX_CELLS)))
    width = int(span[0] // cell) + 3
    height = int(span[1] // cell) + 3

    def key(xy: np.ndarray, dx: int = 0, dy: int = 0) -> np.ndarray:
        c = ((xy - lo) // cell).astype(np.int64) + 1
        return (c[:, 1] + dy) * width + (c[:, 0] + dx)

    s_key = key(sites)
    order = np.argsort(s_key, kind="stable")
    start = np.zeros(width * height + 1, dtype=np.int64)
    np.cumsum(np.bincount(s_key, minlength=width * height), out=start[1:])
    px, py = points[:, 0], points[:, 1]
    sx, sy = sites[:, 0], sites[:, 1]
    base = key(points)
    pt_parts, site_parts = [], []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            k = base + dy * width + dx
            first = start[k]
            count = start[k + 1] - first
            pt = np.repeat(np.arange(n), count)
            within = np.arange(pt.size) - np.repeat(np.cumsum(count) - count, count)
            site = order[np.repeat(first, count) + within]
            ddx, ddy = px[pt] - sx[site], py[pt] - sy[site]
            near = ddx * ddx + ddy * ddy < radius * radius
            pt_parts.append(pt[near])
            site_parts.append(site[near])
    pt = np.concatenate(pt_parts)
    site = np.concatenate(site_parts)
    by_point = np.argsort(pt, kind="stable")
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(pt, minlength=n), out=offsets[1:])
    return offsets, site[by_point]
