"""Card payments of one block of customers over one time chunk (runs in worker processes).

Rows are dicts of equal-length 1-D arrays. The hot path draws a few uniforms per payment and
looks everything else up by direct indexing (favourite slots, inverse-CDF tables), so that a
payment costs a few hundred nanoseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fintwin.world._engine import MS_PER_DAY
from fintwin.world.population import REGIONS
from fintwin.world.retail_bank.behaviour import Spending, Trips
from fintwin.world.retail_bank.catalogue import (
    CATEGORIES,
    QUANTILES,
    WEEKDAY_FACTOR,
    Shape,
)
from fintwin.world.retail_bank.merchants import Merchants
from fintwin.world.retail_bank.population import People

__all__ = [
    "Calendar",
    "Rows",
    "concat_rows",
    "derive_payment_columns",
    "genuine_payments",
    "select_rows",
    "sort_rows",
]

Rows = dict[str, np.ndarray]

MS_PER_HOUR = 3_600_000
_MEDIAN = np.array([c.median for c in CATEGORIES], dtype=np.float32)
_LOG_SD = np.array([c.log_sd for c in CATEGORIES], dtype=np.float32)
_SHAPE = np.array([int(c.shape) for c in CATEGORIES], dtype=np.int8)
#: smallest everyday payment, minor units
MIN_PAYMENT = 50
#: away days: card-present payments happen between these hours
AWAY_HOURS = (9, 19)
#: share of payments of a two-card customer made with the second card
SECOND_CARD_USE = 0.3


@dataclass(frozen=True)
class Calendar:
    """Day arithmetic of a world: day ``d`` starts at ``start_ms + d * MS_PER_DAY``."""

    start_ms: int
    weekday: np.ndarray  # int8 (days,), Monday 0
    day_of_month: np.ndarray  # int8 (days,), 1..31


def concat_rows(parts: list[Rows], fill: dict[str, type]) -> Rows:
    """Concatenate row sets; a column in ``fill`` that a part lacks is -1 there.

    Columns not in ``fill`` must be in every part. Empty parts are skipped (so that their
    dtypes cannot promote the others').
    """
    names = list(dict.fromkeys(k for p in parts for k in p))

    def size(p: Rows) -> int:
        return next(iter(p.values())).size if p else 0

    used = [p for p in parts if size(p)]
    out = {}
    for k in names:
        cols = [p[k] if k in p else np.full(size(p), -1, dtype=fill[k]) for p in used]
        if not cols:
            out[k] = np.zeros(0, dtype=fill.get(k, np.int64))
        else:
            out[k] = np.concatenate(cols) if len(cols) > 1 else cols[0]
    return out


def select_rows(rows: Rows, index: np.ndarray | slice) -> Rows:
    """The rows at ``index`` (positions, a mask or a slice)."""
    return {k: v[index] for k, v in rows.items()}


def sort_rows(rows: Rows, key: str = "timestamp", base: int | None = None) -> Rows:
    """Rows in increasing ``key`` order, ties kept in their given order.

    Sorting packed ``(key - base) << bits | position`` integers is several times faster than a
    stable argsort and gives the same order.
    """
    ts = rows[key]
    n = ts.size
    if n == 0:
        return rows
    base = int(ts.min()) if base is None else base
    bits = max(int(n - 1).bit_length(), 1)
    span = int(ts.max()) - base
    if span.bit_length() + bits <= 62:
        packed = ((ts - base) << bits) | np.arange(n, dtype=np.int64)
        order = np.sort(packed) & ((1 << bits) - 1)
    else:  # pragma: no cover - would need centuries of milliseconds
        order = np.argsort(ts, kind="stable")
    return {k: v[order] for k, v in rows.items()}


_DAY_TABLE = 1 << 16


def day_table(weights: np.ndarray) -> np.ndarray:
    """Inverse-CDF table of ``_DAY_TABLE`` entries over days with relative ``weights``
    (each day's probability exact to within ``1 / _DAY_TABLE``).

    Examples
    --------
    >>> np.bincount(day_table(np.array([1.0, 3.0]))).tolist()
    [16384, 49152]
    """
    cum = np.round(np.cumsum(weights) / weights.sum() * _DAY_TABLE).astype(np.int64)
    return np.repeat(np.arange(weights.size, dtype=np.int32), np.diff(np.r_[0, cum]))


def genuine_payments(
    spending: Spending,
    people: People,
    merchants: Merchants,
    trips: Trips,
    hours: np.ndarray,
    calendar: Calendar,
    customers: slice,
    day0: int,
    day1: int,
    away_day_rate: float,
    rng: np.random.Generator,
) -> Rows:
    """Everyday card payments of ``customers`` on days ``[day0, day1)``.

    Per customer and day the count is Poisson(rate x weekday factor). A payment is online with
    the customer's e-commerce share (at a web shop drawn by popularity, from one of the
    customer's devices), otherwise card-present: at a favourite terminal near home, or at a
    terminal of the destination while on a trip or an away day; on travel days (first and last
    of a trip) every payment is online. The hour follows the category's weekday or weekend
    shape; the amount is lognormal by category times the customer's scale.

    Returns
    -------
    Rows
        ``timestamp`` (int64 ms), ``customer``, ``card``, ``terminal``, ``device`` (int32, -1 at
        a POS) and ``amount`` (int64 minor units); unsorted.
    """
    cs = customers
    n_c, n_d = cs.stop - cs.start, day1 - day0
    dow = calendar.weekday[day0:day1]
    # Poisson(rate x weekday factor) per customer-day, drawn as Poisson per customer over the
    # chunk with each payment's day drawn by weekday factor (the same law, far fewer draws).
    day_w = WEEKDAY_FACTOR[dow]
    per_customer = rng.poisson(spending.rate[cs] * day_w.sum())
    n = int(per_customer.sum())
    c_loc = np.repeat(np.arange(n_c, dtype=np.int32), per_customer)
    d_loc = day_table(day_w)[(rng.random(n, dtype=np.float32) * _DAY_TABLE).astype(np.int64)]
    cd = c_loc * n_d + d_loc
    plane = trips.plane(cs, day0, day1)
    away = (rng.random((n_c, n_d)) < away_day_rate) & (plane == -1)
    n_reg = len(REGIONS)
    # an away day is spent around one terminal of another region
    a_c, a_d = np.nonzero(away)
    region = (people.population.region[cs][a_c] + 1 + rng.integers(0, n_reg - 1, a_c.size)) % n_reg
    plane[a_c, a_d] = merchants.pick_in_group(region, rng.random(a_c.size))
    c = c_loc.astype(np.int64) + cs.start
    u = rng.random((5, n), dtype=np.float32)
    z = rng.standard_normal(n, dtype=np.float32)
    where = plane.ravel()[cd]
    # nobody pays card-present on a travel day: those payments are made online
    ecom = (u[0] < spending.ecom_share[c]) | (where == -2)
    slots = spending.favourites.shape[1]
    slot = np.minimum((u[1] * slots).astype(np.int64), slots - 1)
    pos = spending.favourites.ravel()[c * slots + slot]
    trip = np.flatnonzero((where >= 0) & ~ecom)
    if trip.size:
        near = merchants.nearby.shape[1]
        pos[trip] = merchants.nearby[
            where[trip], np.minimum((u[1][trip] * near).astype(np.int64), near - 1)
        ]
    n_shop = merchants.shop_table.size
    shop = merchants.shop_table[np.minimum((u[1] * n_shop).astype(np.int64), n_shop - 1)]
    terminal = np.where(ecom, shop, pos)
    cat = merchants.category[terminal]
    weekend = dow[d_loc] >= 5
    profile = np.where(ecom, int(Shape.ONLINE), _SHAPE[cat]).astype(np.int64) * 2 + weekend
    q = u[2].astype(np.float64) * QUANTILES
    qi = np.minimum(q.astype(np.int64), QUANTILES - 1)
    hour = hours.ravel()[profile * QUANTILES + qi] + (q - qi)
    on_away = np.flatnonzero(away.ravel()[cd] & ~ecom)
    hour[on_away] = AWAY_HOURS[0] + u[2][on_away] * (AWAY_HOURS[1] - AWAY_HOURS[0])
    ts = calendar.start_ms + (day0 + d_loc).astype(np.int64) * MS_PER_DAY
    ts += (hour * MS_PER_HOUR).astype(np.int64)
    amount = spending.scale[c] * _MEDIAN[cat] * np.exp(_LOG_SD[cat] * z)
    cents = np.maximum(np.round(amount * 100).astype(np.int64), MIN_PAYMENT)
    second = (u[3] < SECOND_CARD_USE) & (people.card_count[c] > 1)
    card = people.card_first[c] + second
    n_dev = people.device_count[c]
    dev_slot = np.minimum((u[4] * n_dev).astype(np.int64), n_dev - 1)
    device = np.where(ecom, people.device_list.ravel()[c * 4 + dev_slot], -1)
    return {
        "timestamp": ts,
        "customer": c.astype(np.int32),
        "card": card.astype(np.int32),
        "terminal": terminal.astype(np.int32),
        "device": device.astype(np.int32),
        "amount": cents,
    }


def derive_payment_columns(rows: Rows, people: People, merchants: Merchants) -> Rows:
    """Add ``channel`` (0 POS, 1 e-commerce), ``prefix`` (network of the device, -1 at a POS),
    ``x``, ``y`` and ``country`` (the terminal for POS, the network's location online)."""
    terminal, device = rows["terminal"], rows["device"]
    ecom = merchants.is_ecommerce[terminal]
    net = people.network
    prefix = np.where(device >= 0, people.devices.prefix[np.maximum(device, 0)], -1)
    p = np.maximum(prefix, 0)
    rows["channel"] = ecom.astype(np.int8)
    rows["prefix"] = prefix.astype(np.int32)
    rows["x"] = np.where(ecom, net.x[p], merchants.x[terminal])
    rows["y"] = np.where(ecom, net.y[p], merchants.y[terminal])
    rows["country"] = np.where(ecom, net.country[p], merchants.country[terminal]).astype(np.int8)
    return rows
