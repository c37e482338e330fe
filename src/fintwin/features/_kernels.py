"""Vectorised building blocks of the offline engine: events grouped by key, per-group binary
search, interval contributions and sliding maxima, with no Python loop over events."""

from __future__ import annotations

import numpy as np

#: Composite search keys stay below this, far from int64 overflow.
_LIMIT = 1 << 62


class Groups:
    """Events with a non-null key, sorted by (key, processing order).

    Within a group timestamps are non-decreasing (processing order is time order), so a time
    bound maps to an index range by binary search. The search runs on the composite key
    ``group * stride + t + reach + 1``, which keeps groups apart for every query time in
    ``[-reach, span + reach]``.

    Parameters
    ----------
    codes : ndarray of int64, shape (n,)
        Key code of each event in processing order, -1 for null.
    t : ndarray of int64, shape (n,)
        Milliseconds since the first event, in processing order.
    reach : int
        Largest distance (ms) a query time may lie before or after an event's own time.

    Attributes
    ----------
    pos : ndarray of int64, shape (m,)
        Processing position of each grouped event (m events have a non-null key).
    gid : ndarray of int64, shape (m,)
        Group number of each grouped event.
    t : ndarray of int64, shape (m,)
        Their timestamps.
    end : ndarray of int64, shape (m,)
        One past the last index of the event's group.
    """

    def __init__(self, codes: np.ndarray, t: np.ndarray, reach: int) -> None:
        valid = np.flatnonzero(codes >= 0)
        keys = codes[valid]
        if len(keys) and keys.max() < 1 << 16:
            keys = keys.astype(np.uint16)  # NumPy sorts 16-bit keys stably by radix, in O(n)
        self.pos = valid[np.argsort(keys, kind="stable")]
        c = codes[self.pos]
        m = self.m = len(c)
        first = np.ones(m, dtype=bool)
        first[1:] = c[1:] != c[:-1]
        self.first = first
        self.gid = np.cumsum(first) - 1
        starts = np.flatnonzero(first)
        ends = np.append(starts[1:], m)
        self.start = starts[self.gid]
        self.end = ends[self.gid]
        self.t = t[self.pos]
        self.reach = int(reach)
        self.span = int(t.max()) if len(t) else 0
        self.stride = self.span + 2 * self.reach + 3
        # Split groups into chunks whose composite keys fit in int64 (almost always one chunk).
        per_chunk = max(1, _LIMIT // self.stride)
        self._chunks: list[tuple[int, int, np.ndarray]] = []
        n_groups = len(starts)
        for g0 in range(0, n_groups, per_chunk):
            lo = int(starts[g0])
            hi = int(starts[g0 + per_chunk]) if g0 + per_chunk < n_groups else m
            comp = (self.gid[lo:hi] - g0) * self.stride + self.t[lo:hi] + (self.reach + 1)
            self._chunks.append((lo, hi, comp))

    def search(self, x: np.ndarray, side: str) -> np.ndarray:
        """Index of the first event of each row's group with ``t > x`` (side='right') or
        ``t >= x`` (side='left'); the group's end if none.

        Parameters
        ----------
        x : ndarray of int64, shape (m,)
            A query time per grouped event (ms, same origin as ``t``).
        """
        x = np.clip(x, -self.reach, self.span + self.reach)
        out = np.empty(self.m, dtype=np.int64)
        for lo, hi, comp in self._chunks:
            g0 = self.gid[lo]
            q = (self.gid[lo:hi] - g0) * self.stride + x[lo:hi] + (self.reach + 1)
            out[lo:hi] = lo + np.searchsorted(comp, q, side=side)
        return out

    def scatter(self, values: np.ndarray, n: int, fill: float = np.nan) -> np.ndarray:
        """Values per grouped event back into processing order (others get ``fill``)."""
        out = np.full(n, fill, dtype=np.float64)
        out[self.pos] = values
        return out


def interval_count(a: np.ndarray, b: np.ndarray, m: int) -> np.ndarray:
    """For each index p in 0..m-1, how many of the intervals ``[a_k, b_k)`` hold p.

    Empty intervals (``a >= b``) count nothing.

    Returns
    -------
    ndarray of int64, shape (m,)
    """
    keep = a < b
    diff = np.bincount(a[keep], minlength=m + 1) - np.bincount(b[keep], minlength=m + 1)
    return np.cumsum(diff[:m])


def window_max(values: np.ndarray, s: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Maximum of ``values[s_k .. p_k]`` (inclusive) for every k, by doubling ranges.

    Memory stays O(n): one level of the sparse table is kept at a time.

    Parameters
    ----------
    values : ndarray, shape (m,)
    s, p : ndarray of int64, shape (m,)
        Range bounds with ``s <= p``.
    """
    length = p - s + 1
    if not len(length):
        return values[:0].copy()
    _, exp = np.frexp(length.astype(np.float64))
    level = exp - 1  # floor(log2(length)), exact for integers
    out = np.empty(len(s), dtype=values.dtype)
    cur = values.copy()
    top = int(level.max())
    for k in range(top + 1):
        sel = np.flatnonzero(level == k)
        if len(sel):
            out[sel] = np.maximum(cur[s[sel]], cur[p[sel] - (1 << k) + 1])
        if k < top:
            half = 1 << k
            cur[:-half] = np.maximum(cur[:-half], cur[half:])
    return out
