"""The offline engine's kernels for the history families (:mod:`fintwin.features.history`).

Vectorised like the rest of :mod:`fintwin.features.offline`: events grouped by key, window
bounds by binary search, and the float operations of the online engine
(:mod:`fintwin.features._online_history`) applied to the same exact integers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fintwin.features.history import (
    Z_FLOOR_FRACTION,
    Z_FLOOR_MIN_CENTS,
    AmountProfile,
    LabelAge,
)
from fintwin.features.vocab import LabelAgeStat, ProfileStat

if TYPE_CHECKING:
    from fintwin.features.offline import _Offline

MS = 1000
#: Integer sums stay below this in int64; larger ones are summed as Python integers.
_INT64_SAFE = float(1 << 62)


def amount_profile(run: _Offline, d: AmountProfile) -> np.ndarray:
    """:class:`AmountProfile` of every event, in processing order."""
    g = run.groups(d.key)
    s = run.window_start(d.key, d.window_seconds * MS)
    p = np.arange(g.m)
    n = p - s  # earlier events of the window: grouped indices s .. p-1
    cents = run.ev.cents[g.pos]
    big = float(np.abs(cents).max()) if g.m else 0.0
    longest = float(n.max()) if g.m else 0.0
    # n * S2 and the running sums of squares must not overflow: else exact Python integers
    exact_int64 = big * big * max(longest * longest, float(g.m)) < _INT64_SAFE
    c = cents if exact_int64 else cents.astype(object)
    zero = np.zeros(1, dtype=c.dtype)
    cum1 = np.concatenate((zero, np.cumsum(c)))
    s1 = cum1[p] - cum1[s]
    vals = np.full(g.m, np.nan)
    has = n > 0
    nf = n.astype(np.float64)
    mean = np.full(g.m, np.nan)
    mean[has] = np.asarray(s1[has], dtype=np.float64) / nf[has]
    amount = cents.astype(np.float64)
    if d.stat is ProfileStat.MEAN:
        vals[has] = mean[has] / 100.0
        return g.scatter(vals, run.ev.n)
    if d.stat is ProfileStat.RATIO:
        ok = has & (s1 != 0)
        vals[ok] = amount[ok] / mean[ok]
        return g.scatter(vals, run.ev.n)
    cum2 = np.concatenate((zero, np.cumsum(c * c)))
    s2 = cum2[p] - cum2[s]
    two = n >= 2
    num = n[two] * s2[two] - s1[two] * s1[two]  # exact: n * S2 - S1 ** 2 >= 0
    std = np.sqrt(np.asarray(num, dtype=np.float64) / (n[two] * n[two]).astype(np.float64))
    if d.stat is ProfileStat.STD:
        vals[two] = std / 100.0
    else:
        m2 = mean[two]
        floor = Z_FLOOR_FRACTION * np.maximum(m2, Z_FLOOR_MIN_CENTS)
        vals[two] = (amount[two] - m2) / np.maximum(std, floor)
    return g.scatter(vals, run.ev.n)


def label_age(run: _Offline, d: LabelAge) -> np.ndarray:
    """:class:`LabelAge` of every event, in processing order."""
    g = run.groups(d.key)
    avail = run.ev.times("label_available_at")[g.pos] - run.ev.t_min
    fraud = run.ev.flags("is_fraud")[g.pos].astype(bool)
    wanted = ~fraud if d.stat is LabelAgeStat.LAST_GENUINE else fraud
    q = np.flatnonzero(wanted & (avail - g.t < d.max_label_delay_seconds * MS))
    # Label q is seen by the grouped events [a, b): from the first later event at or after its
    # label time to the first at or after label time + w. Ordered by (group, label time,
    # position), both a and b are non-decreasing within a group, so the labels seen by event
    # i are a contiguous run [B_i, A_i) of that order.
    a = np.maximum(q + 1, g.search(avail, "left")[q])
    b = g.search(avail + d.window_seconds * MS, "left")[q]
    keep = a < b
    q, a, b = q[keep], a[keep], b[keep]
    order = np.lexsort((q, avail[q], g.gid[q]))
    q, a, b = q[order], a[order], b[order]
    stride = g.m + 1
    gq = g.gid[q] * stride
    here = g.gid * stride + np.arange(g.m)
    hi = np.searchsorted(gq + a, here, side="right")
    lo = np.searchsorted(gq + b, here, side="right")
    seen = hi > lo
    at = avail[q]
    vals = np.full(g.m, np.nan)
    pick = lo[seen] if d.stat is LabelAgeStat.FIRST_FRAUD else hi[seen] - 1
    vals[seen] = (g.t[seen] - at[pick]) / 1000.0
    return g.scatter(vals, run.ev.n)
