"""Offline engine: every feature of a whole event table at once, vectorised with NumPy.

Semantics are those of :mod:`fintwin.features.definitions`; the online engine gives identical
values event by event. Each family is a handful of array passes: events are grouped by key
(one stable sort per entity), window bounds come from one binary search per window, and
windowed counts over "which earlier events count for which later ones" become difference arrays.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fintwin.data import World
from fintwin.data.schemas.vocab import Channel
from fintwin.exceptions import DataError
from fintwin.features._columns import EventColumns, id_column
from fintwin.features._kernels import Groups, interval_count, window_max
from fintwin.features._offline_history import amount_profile, label_age
from fintwin.features.definitions import (
    Aggregation,
    Amount,
    Calendar,
    CalendarField,
    DistanceFromHome,
    Entity,
    FeatureDefinition,
    LabelRisk,
    LabelStat,
    Novelty,
    Recency,
    SpeedFromPrevious,
    Velocity,
)
from fintwin.features.feature_set import FeatureSet
from fintwin.features.graph import GRAPH_DEFINITIONS
from fintwin.features.graph_engine import graph_offline
from fintwin.features.history import AmountProfile, LabelAge

__all__ = ["compute_offline", "compute_world", "customer_homes"]

MS = 1000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000


def customer_homes(customers: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customer ids (sorted) and their homes from a customers table.

    Returns
    -------
    ids : ndarray of int64, shape (c,)
    home_x, home_y : ndarray of float64, shape (c,)
        km; NaN where unknown.

    Raises
    ------
    DataError
        ``home_x`` / ``home_y`` missing, or a customer id appearing twice.
    """
    for col in ("customer_id", "home_x", "home_y"):
        if col not in customers.column_names:
            raise DataError(
                "DistanceFromHome needs the customers' homes", file="customers", column=col
            )
    ids = customers.column("customer_id").to_numpy().astype(np.int64)
    hx = customers.column("home_x").cast(pa.float64()).to_numpy(zero_copy_only=False)
    hy = customers.column("home_y").cast(pa.float64()).to_numpy(zero_copy_only=False)
    order = np.argsort(ids, kind="stable")
    ids, hx, hy = ids[order], hx[order], hy[order]
    dup = np.flatnonzero(ids[1:] == ids[:-1])
    if len(dup):
        raise DataError(
            f"customer_id {ids[dup[0]]} appears twice", file="customers", column="customer_id"
        )
    return ids, hx, hy


class _Offline:
    """One computation: the event columns plus caches shared by features of one entity."""

    def __init__(self, fs: FeatureSet, table: pa.Table, customers: pa.Table | None) -> None:
        self.ev = EventColumns(table)
        self.customers = customers
        self.reach = max(d.lookback_seconds for d in fs) * MS
        self._groups: dict[str, Groups] = {}
        self._starts: dict[tuple[str, int], np.ndarray] = {}
        self._labels: dict[tuple[str, int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._graph_defs = tuple(d for d in fs if isinstance(d, GRAPH_DEFINITIONS))
        self._graph: dict[str, np.ndarray] | None = None
        for d in fs:
            for col in d.columns:
                self.ev.require(col, d.name)
            if d.needs_customers and customers is None:
                raise DataError(
                    f"feature {d.name!r} needs the customers table (homes); pass customers=",
                    file="customers",
                )

    def groups(self, entity: Entity) -> Groups:
        g = self._groups.get(entity.column)
        if g is None:
            g = Groups(self.ev.codes(entity.column), self.ev.t_rel, self.reach)
            self._groups[entity.column] = g
        return g

    def window_start(self, entity: Entity, window_ms: int) -> np.ndarray:
        """First index of each grouped event's window ``(t - w, t]``."""
        key = (entity.column, window_ms)
        s = self._starts.get(key)
        if s is None:
            g = self.groups(entity)
            s = g.search(g.t - window_ms, "right")
            self._starts[key] = s
        return s

    def compute(self, d: FeatureDefinition) -> np.ndarray:
        if isinstance(d, Velocity):
            return self.velocity(d)
        if isinstance(d, Recency):
            return self.recency(d)
        if isinstance(d, Novelty):
            return self.novelty(d)
        if isinstance(d, DistanceFromHome):
            return self.distance_from_home()
        if isinstance(d, SpeedFromPrevious):
            return self.speed(d)
        if isinstance(d, Calendar):
            return self.calendar(d)
        if isinstance(d, LabelRisk):
            return self.label_risk(d)
        if isinstance(d, Amount):
            return self.ev.cents / 100.0
        if isinstance(d, AmountProfile):
            return amount_profile(self, d)
        if isinstance(d, LabelAge):
            return label_age(self, d)
        if isinstance(d, GRAPH_DEFINITIONS):
            if self._graph is None:  # one pass over the events computes every graph feature
                vals = graph_offline(self._graph_defs, self.ev)
                self._graph = {g.name: v for g, v in zip(self._graph_defs, vals, strict=True)}
            return self._graph[d.name]
        raise TypeError(f"no offline kernel for {type(d).__name__}")

    def velocity(self, d: Velocity) -> np.ndarray:
        g = self.groups(d.key)
        s = self.window_start(d.key, d.window_seconds * MS)
        p = np.arange(g.m)
        count = p - s + 1
        agg = d.aggregation
        if agg is Aggregation.COUNT:
            vals = count.astype(np.float64)
        elif agg is Aggregation.DISTINCT_COUNT:
            vals = self._distinct(g, d.of, d.window_seconds * MS).astype(np.float64)
        else:
            cents = self.ev.cents[g.pos]
            if agg is Aggregation.MAX:
                vals = window_max(cents, s, p) / 100.0
            else:
                cum = np.concatenate(([0], np.cumsum(cents)))
                total = cum[p + 1] - cum[s]
                if agg is Aggregation.SUM:
                    vals = total / 100.0
                else:
                    vals = total.astype(np.float64) / count.astype(np.float64) / 100.0
        return g.scatter(vals, self.ev.n)

    def _distinct(self, g: Groups, of: Entity, window_ms: int) -> np.ndarray:
        # Event q holds its value "alive" for the later events p of its group that still have
        # q in their window and see no later use of the same value: p in [q, min(next, e_q)).
        ofc = self.ev.codes(of.column)[g.pos]
        q = np.flatnonzero(ofc >= 0)
        pair = g.gid[q] * (int(ofc.max()) + 1 if len(q) else 1) + ofc[q]
        srt = q[np.argsort(pair, kind="stable")]
        nxt = np.empty(len(srt), dtype=np.int64)
        same = np.zeros(len(srt), dtype=bool)
        if len(srt) > 1:
            same[:-1] = (g.gid[srt[1:]] == g.gid[srt[:-1]]) & (ofc[srt[1:]] == ofc[srt[:-1]])
            nxt[:-1] = srt[1:]
        nxt[~same] = g.end[srt[~same]]
        leave = g.search(g.t + window_ms, "left")
        end = np.minimum(nxt, leave[srt])
        return interval_count(srt, end, g.m)

    def recency(self, d: Recency) -> np.ndarray:
        g = self.groups(d.key)
        vals = np.full(g.m, np.nan)
        prev_ok = ~g.first
        dt = np.zeros(g.m, dtype=np.int64)
        dt[1:] = g.t[1:] - g.t[:-1]
        ok = prev_ok & (dt < d.horizon_seconds * MS)
        vals[ok] = dt[ok] / 1000.0
        return g.scatter(vals, self.ev.n)

    def novelty(self, d: Novelty) -> np.ndarray:
        g = self.groups(d.key)
        ofc = self.ev.codes(d.of.column)[g.pos]
        q = np.flatnonzero(ofc >= 0)
        pair = g.gid[q] * (int(ofc.max()) + 1 if len(q) else 1) + ofc[q]
        srt = q[np.argsort(pair, kind="stable")]
        new = np.ones(len(srt), dtype=np.float64)
        if len(srt) > 1:
            ps = np.sort(pair, kind="stable")
            cont = ps[1:] == ps[:-1]
            recent = (g.t[srt[1:]] - g.t[srt[:-1]]) < d.window_seconds * MS
            new[1:][cont & recent] = 0.0
        vals = np.full(g.m, np.nan)
        vals[srt] = new
        return g.scatter(vals, self.ev.n)

    def distance_from_home(self) -> np.ndarray:
        ids, hx, hy = customer_homes(self.customers)
        c = self.ev.ints("customer_id")
        x, y = self.ev.floats("location_x"), self.ev.floats("location_y")
        out = np.full(self.ev.n, np.nan)
        if not len(ids):
            return out
        at = np.minimum(np.searchsorted(ids, c), len(ids) - 1)
        known = ids[at] == c
        dx = x[known] - hx[at[known]]
        dy = y[known] - hy[at[known]]
        out[known] = np.sqrt(dx * dx + dy * dy)
        return out

    def speed(self, d: SpeedFromPrevious) -> np.ndarray:
        g = self.groups(d.key)
        x, y = self.ev.floats("location_x")[g.pos], self.ev.floats("location_y")[g.pos]
        located = np.isfinite(x) & np.isfinite(y)
        if d.card_present_only:
            located &= self.ev.equals("channel", Channel.POS.value)[g.pos]
        idx = np.where(located, np.arange(g.m), -1)
        prev = np.full(g.m, -1, dtype=np.int64)
        if g.m > 1:
            prev[1:] = np.maximum.accumulate(idx)[:-1]
        ok = prev >= g.start
        j = prev[ok]
        dt = g.t[ok] - g.t[j]
        ok_idx = np.flatnonzero(ok)
        recent = dt < d.horizon_seconds * MS
        ok_idx, j, dt = ok_idx[recent], j[recent], dt[recent]
        dx = x[ok_idx] - x[j]
        dy = y[ok_idx] - y[j]
        dist = np.sqrt(dx * dx + dy * dy)
        vals = np.full(g.m, np.nan)
        vals[ok_idx] = dist * 3_600_000.0 / np.maximum(dt, d.min_seconds * MS).astype(np.float64)
        return g.scatter(vals, self.ev.n)

    def calendar(self, d: Calendar) -> np.ndarray:
        t = self.ev.t
        hour = (t // MS_PER_HOUR) % 24
        if d.field is CalendarField.HOUR_OF_DAY:
            return hour.astype(np.float64)
        if d.field is CalendarField.WEEKEND:
            weekday = (t // MS_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
            return (weekday >= 5).astype(np.float64)
        a, b = d.night_start_hour, d.night_end_hour
        night = ((hour >= a) & (hour < b)) if a < b else ((hour >= a) | (hour < b))
        return night.astype(np.float64)

    def label_risk(self, d: LabelRisk) -> np.ndarray:
        g = self.groups(d.key)
        n_lab, n_fraud = self._label_counts(d.key, d.window_seconds * MS, d.delay_seconds * MS)
        if d.stat is LabelStat.LABELLED_COUNT:
            vals = n_lab.astype(np.float64)
        elif d.stat is LabelStat.FRAUD_COUNT:
            vals = n_fraud.astype(np.float64)
        else:
            vals = np.zeros(g.m)
            has = n_lab > 0
            vals[has] = n_fraud[has] / n_lab[has]
        return g.scatter(vals, self.ev.n)

    def _label_counts(self, key: Entity, w: int, dl: int) -> tuple[np.ndarray, np.ndarray]:
        """Labelled and fraudulent events in each grouped event's delayed window (cached)."""
        cache_key = (key.column, w, dl)
        if cache_key in self._labels:
            return self._labels[cache_key]
        # Labelled event j counts for the later events i of its group with
        # t_j + d <= t_i < t_j + d + w and t_i >= label_available_at_j: an index range [a, b).
        g = self.groups(key)
        avail = self.ev.times("label_available_at")[g.pos] - self.ev.t_min
        fraud = self.ev.flags("is_fraud")[g.pos].astype(bool)
        upper = g.t + (dl + w)
        lower = np.minimum(np.maximum(g.t + dl, avail), upper)
        a = np.maximum(np.arange(1, g.m + 1), g.search(lower, "left"))
        b = g.search(upper, "left")
        counts = interval_count(a, b, g.m), interval_count(a[fraud], b[fraud], g.m)
        self._labels[cache_key] = counts
        return counts


def compute_offline(
    feature_set: FeatureSet, transactions: pa.Table, customers: pa.Table | None = None
) -> pa.Table:
    """Compute every feature of ``feature_set`` for every event of a table.

    Parameters
    ----------
    feature_set : FeatureSet
        What to compute.
    transactions : pyarrow.Table
        Events (a ``transactions`` or ``transfers`` table), in any order, with the columns the
        features need (``FeatureSet.columns``) plus ``timestamp`` and the id.
    customers : pyarrow.Table, optional
        ``customer_id, home_x, home_y``; needed by :class:`DistanceFromHome` only.

    Returns
    -------
    pyarrow.Table
        One row per event in ``(timestamp, id)`` order: the id column, then one float64
        column per feature (NaN where missing), named by ``feature_set.names``.

    Raises
    ------
    DataError
        A needed column is missing or null where it may not be, or two events share
        ``(timestamp, id)``.
    """
    run = _Offline(feature_set, transactions, customers)
    cols: dict[str, pa.Array] = {run.ev.id_name: pa.array(run.ev.ids, pa.int64())}
    for d in feature_set:
        cols[d.name] = pa.array(run.compute(d), pa.float64())
    return pa.table(cols)


def compute_world(feature_set: FeatureSet, world: World, table: str = "transactions") -> pa.Table:
    """:func:`compute_offline` over a world directory's ``table`` (never its ``truth/``).

    Only the columns the features need are read; the customers table is read when a feature
    needs homes and the world has one.
    """
    files = world.files(table)
    names = pq.read_schema(files[0]).names if files else world.arrow(table).column_names
    wanted = [id_column(names), "timestamp", *feature_set.columns]
    events = world.arrow(table, columns=[c for c in dict.fromkeys(wanted) if c in names])
    customers = None
    if feature_set.needs_customers and "customers" in world.tables:
        customers = world.arrow("customers")
        homes = [c for c in ("customer_id", "home_x", "home_y") if c in customers.column_names]
        customers = customers.select(homes)
    return compute_offline(feature_set, events, customers)
