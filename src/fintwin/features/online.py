"""Online engine: features of one event at a time from incremental per-key state.

Semantics are those of :mod:`fintwin.features.definitions`, and the values equal
:func:`~fintwin.features.compute_offline` exactly. Events must arrive in ``(timestamp, id)``
order, unless an ``allowed_lateness`` is given (late events are then processed as of the latest
time seen; see :class:`OnlineFeatureEngine`). A replayed event may carry ``is_fraud`` and
``label_available_at``: the label is held in hourly buckets of pending labels and counted only
once an event with ``timestamp >= label_available_at`` arrives; live labels come through
:meth:`OnlineFeatureEngine.add_label`.

Event fields (a mapping, column names as in the event table)
    ``timestamp`` (int ms, ``datetime`` or ``numpy.datetime64``), ``transaction_id`` (or
    ``transfer_id``), ``amount`` (currency units: ``Decimal``, int, float or str, at most two
    decimals), the key columns the features use (None for null), ``location_x/_y``,
    ``channel``; optionally ``is_fraud`` and ``label_available_at``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from fintwin.data.schemas.vocab import Channel
from fintwin.exceptions import DataError, ParameterError
from fintwin.features._columns import ID_COLUMNS, id_column
from fintwin.features._event_order import as_of, lateness_ms
from fintwin.features._event_values import (
    calendar_value,
    coord,
    iter_events,
    key_of,
    label_of,
    required,
    to_cents,
    to_ms,
)
from fintwin.features._online_history import HistoryPlan
from fintwin.features._online_state import (
    Clock,
    LabelKey,
    LabelQueue,
    LabelTarget,
    LabelWindow,
    LastEvent,
    NoveltyKey,
    Stamp,
    VelocityKey,
)
from fintwin.features.definitions import (
    Aggregation,
    Amount,
    Calendar,
    DistanceFromHome,
    Entity,
    LabelRisk,
    LabelStat,
    Novelty,
    Recency,
    SpeedFromPrevious,
    Velocity,
)
from fintwin.features.feature_set import FeatureSet
from fintwin.features.graph import GRAPH_DEFINITIONS
from fintwin.features.graph_engine import GraphEngine
from fintwin.features.offline import customer_homes
from fintwin.features.state import InMemoryState, StateBackend

__all__ = ["OnlineFeatureEngine", "iter_events"]

MS = 1000
_NAN = math.nan
_POS = Channel.POS.value


class OnlineFeatureEngine:
    """Compute a feature set event by event.

    Parameters
    ----------
    feature_set : FeatureSet
        The features; values equal :func:`compute_offline` exactly.
    state : StateBackend, optional
        Where per-key state lives (a fresh :class:`InMemoryState` by default). Passing the
        state of an earlier engine with the same feature set resumes it; a state of another
        feature set (different definitions hash) is refused with ParameterError.
    customers : pyarrow.Table, optional
        ``customer_id, home_x, home_y``; needed by :class:`DistanceFromHome`.
    allowed_lateness : datetime.timedelta or int, optional
        How much older than the engine's clock (the latest ``(timestamp, id)`` processed) an
        event may be, as a timedelta or in ms (whole ms, >= 0). 0 (the default): events must
        come in strictly increasing ``(timestamp, id)`` order and the values equal
        :func:`compute_offline` exactly. See Notes.

    Attributes
    ----------
    allowed_lateness : int
        The allowed lateness in ms.
    last_event : tuple of (int, int) or None
        ``(timestamp ms, id)`` of the event the latest successful :meth:`update` processed,
        its own time even when it came late.
    last_as_of : int or None
        The time (ms) that event was processed as of: its timestamp, or the clock's if late.

    Notes
    -----
    Late events, with ``allowed_lateness = L > 0`` and the clock at ``(c, id_c)``:

    - an event at ``t > c``, or at ``t = c`` with any id but ``id_c``, is processed as usual
      at ``t``; the clock moves to the larger ``(timestamp, id)``;
    - an event at ``c - L <= t < c`` is processed *as of* ``c``: ``c`` is its time for every
      window (velocity, recency, novelty, speed, label and amount windows, graph edges), for
      expiry and for releasing labels, and its own label is held from ``c``. Its features are
      therefore those of the same event re-timed to ``c``: windows may include payments that
      happened after it. Calendar features are the exception: they use the event's own
      timestamp (hour of day and weekend of when it happened). The clock does not move back;
    - an event before ``c - L``, or repeating the clock's event id, is refused with DataError.
      Only the clock's event is recognised as a repeat: with lateness, the caller must not
      send a committed event again.

    Examples
    --------
    >>> from fintwin.features import DAY, Entity, Velocity
    >>> eng = OnlineFeatureEngine(FeatureSet([Velocity(Entity.CARD, DAY)]))
    >>> eng.update({"transaction_id": 1, "timestamp": 0, "card_id": 7, "amount": "9.99"})
    {'card_count_1d': 1.0}
    >>> eng.update({"transaction_id": 2, "timestamp": 60_000, "card_id": 7, "amount": 5})
    {'card_count_1d': 2.0}

    With two seconds of allowed lateness, an event 1.5 s late is processed as of the clock:

    >>> eng = OnlineFeatureEngine(FeatureSet([Velocity(Entity.CARD, DAY)]), allowed_lateness=2000)
    >>> eng.update({"transaction_id": 2, "timestamp": 10_000, "card_id": 7, "amount": 5})
    {'card_count_1d': 1.0}
    >>> eng.update({"transaction_id": 1, "timestamp": 8_500, "card_id": 7, "amount": 5})
    {'card_count_1d': 2.0}
    >>> eng.clock, eng.last_event, eng.last_as_of
    ((10000, 2), (8500, 1), 10000)
    """

    def __init__(
        self,
        feature_set: FeatureSet,
        state: StateBackend | None = None,
        customers: pa.Table | None = None,
        *,
        allowed_lateness: dt.timedelta | int = 0,
    ) -> None:
        self.allowed_lateness = lateness_ms(allowed_lateness)
        self.last_event: tuple[int, int] | None = None
        self.last_as_of: int | None = None
        self.feature_set = feature_set
        self.state: StateBackend = InMemoryState() if state is None else state
        # a state built for other definitions holds other windows: refuse it rather than mix
        stamp, digest = self.state.get("engine", "features"), feature_set.definitions_hash()
        if stamp is None:
            self.state.put("engine", "features", Stamp(digest), None)
        elif stamp.value != digest:
            raise ParameterError(
                f"the state was built for feature set {stamp.value[:12]}, not {digest[:12]}; "
                "use a fresh state for other definitions"
            )
        self._names = feature_set.names
        self._homes: dict[int, tuple[float, float]] = {}
        if feature_set.needs_customers:
            if customers is None:
                raise DataError("DistanceFromHome needs the customers table; pass customers=")
            ids, hx, hy = customer_homes(customers)
            self._homes = dict(
                zip(ids.tolist(), zip(hx.tolist(), hy.tolist(), strict=True), strict=True)
            )
        self._compile()

    # ----------------------------------------------------------------- plan
    def _compile(self) -> None:
        """Group definitions by the state they share; per family, a list of output slots."""
        vel: dict[Entity, dict[int, tuple[bool, list[Entity]]]] = {}
        nov: dict[Entity, list[tuple[Entity, int]]] = {}
        lab: dict[Entity, list[tuple[int, int]]] = {}
        self._rec: dict[Entity, int] = {}
        self._spd: dict[tuple[Entity, bool], int] = {}
        self._needs_amount = False
        for d in self.feature_set:
            if isinstance(d, Velocity):
                want_max, ofs = vel.setdefault(d.key, {}).get(d.window_seconds * MS, (False, []))
                if d.of is not None and d.of not in ofs:
                    ofs.append(d.of)
                want_max |= d.aggregation is Aggregation.MAX
                vel[d.key][d.window_seconds * MS] = (want_max, ofs)
                self._needs_amount |= d.value is not None
            elif isinstance(d, Recency):
                self._rec[d.key] = max(self._rec.get(d.key, 0), d.horizon_seconds * MS)
            elif isinstance(d, SpeedFromPrevious):
                k = (d.key, d.card_present_only)
                self._spd[k] = max(self._spd.get(k, 0), d.horizon_seconds * MS)
            elif isinstance(d, Novelty):
                cfg = (d.of, d.window_seconds * MS)
                if cfg not in nov.setdefault(d.key, []):
                    nov[d.key].append(cfg)
            elif isinstance(d, LabelRisk):
                cfg = (d.window_seconds * MS, d.delay_seconds * MS)
                if cfg not in lab.setdefault(d.key, []):
                    lab[d.key].append(cfg)
            elif isinstance(d, Amount):
                self._needs_amount = True
        self._vel = {
            e: [(w, mx, tuple(ofs)) for w, (mx, ofs) in sorted(ws.items())] for e, ws in vel.items()
        }
        self._vel_horizon = {e: cfgs[-1][0] for e, cfgs in self._vel.items()}
        # per entity: the entities counted distinctly in any window, and each window's plan
        self._vel_union = {
            e: tuple(dict.fromkeys(o for _, _, ofs in cfgs for o in ofs))
            for e, cfgs in self._vel.items()
        }
        self._vel_plan = {
            e: tuple(
                (w, mx, tuple(self._vel_union[e].index(o) for o in ofs)) for w, mx, ofs in cfgs
            )
            for e, cfgs in self._vel.items()
        }
        self._nov = nov
        self._nov_horizon = {e: max(w for _, w in cfgs) for e, cfgs in nov.items()}
        self._lab = lab
        self._hist = HistoryPlan(self.feature_set)
        self._needs_amount |= bool(self._hist.profiles)
        # entities whose labels are kept, by LabelRisk windows or label ages
        self._lab_entities = tuple(dict.fromkeys([*lab, *self._hist.ages]))
        self._labelled = bool(self._lab_entities)
        self._lab_horizon = {e: max(w + d for w, d in cfgs) for e, cfgs in lab.items()}
        self._lab_reach = max(max(self._lab_horizon.values(), default=0), self._hist.label_reach)
        self._queue = LabelQueue("labels/pending")
        # output slots: (column index, what to read)
        self._vel_out, self._rec_out, self._nov_out, self._spd_out, self._lab_out = (
            [],
            [],
            [],
            [],
            [],
        )
        self._plain_out: list[tuple[int, Any]] = []
        graph_slots: list[tuple[int, Any]] = []
        for i, d in enumerate(self.feature_set):
            if isinstance(d, Velocity):
                windows = [w for w, _, _ in self._vel[d.key]]
                wi = windows.index(d.window_seconds * MS)
                of_idx = -1 if d.of is None else self._vel[d.key][wi][2].index(d.of)
                self._vel_out.append((i, d.key, wi, d.aggregation, of_idx))
            elif isinstance(d, Recency):
                self._rec_out.append((i, d.key, d.horizon_seconds * MS))
            elif isinstance(d, Novelty):
                self._nov_out.append((i, (d.key, d.of, d.window_seconds * MS)))
            elif isinstance(d, SpeedFromPrevious):
                k = (d.key, d.card_present_only)
                self._spd_out.append((i, k, d.horizon_seconds * MS, d.min_seconds * MS))
            elif isinstance(d, LabelRisk):
                wi = lab[d.key].index((d.window_seconds * MS, d.delay_seconds * MS))
                self._lab_out.append((i, d.key, wi, d.stat))
            elif isinstance(d, GRAPH_DEFINITIONS):
                graph_slots.append((i, d))
            elif not self._hist.owns(d):
                self._plain_out.append((i, d))
        self._graph = GraphEngine(graph_slots) if graph_slots else None
        self._loc = any(
            isinstance(d, SpeedFromPrevious | DistanceFromHome) for d in self.feature_set
        )
        used = {c for d in self.feature_set for c in d.columns}
        self._entity_columns = tuple((e, e.column) for e in Entity if e.column in used)

    # ----------------------------------------------------------------- API
    @property
    def clock(self) -> tuple[int, int] | None:
        """The latest ``(timestamp ms, id)`` processed, or None; a late event does not move it
        back."""
        c = self.state.get("engine", "clock")
        return None if c is None else (c.t, c.id)

    def update(self, event: Mapping[str, Any]) -> dict[str, float]:
        """Process one event (in time order, or late within ``allowed_lateness``) and return
        its features, ``name -> value``.

        Raises
        ------
        DataError
            The event is earlier than (or the same as) the clock beyond the allowed lateness
            (see the class notes), or a field is missing or malformed.
        """
        state = self.state
        t, eid = self._identify(event)
        clock = state.get("engine", "clock")
        now = t  # the time the event is processed as of: the clock's if it is late
        if clock is not None and (t, eid) <= (clock.t, clock.id):
            now = as_of(clock, t, eid, self.allowed_lateness)  # or refuse it
        # read and check every field before any state changes, so a refused event leaves none
        cents = to_cents(required(event, "amount")) if self._needs_amount else 0
        keys = {e: key_of(event.get(col)) for e, col in self._entity_columns}
        loc = (coord(event, "location_x"), coord(event, "location_y")) if self._loc else None
        label = label_of(event) if self._labelled or self._graph else None
        state.expire(now)
        if self._labelled:
            self._release_labels(now)
        out: list[float] = [_NAN] * len(self._names)
        if self._vel:
            self._velocity(keys, now, cents, out)
        if self._rec:
            self._recency(keys, now, out)
        if self._nov:
            self._novelty(keys, now, out)
        if self._spd:
            self._speed(event, keys, loc, now, out)
        if self._lab:
            self._label_features(keys, now, out)
        if self._hist:
            self._hist.amount_profiles(state, keys, now, cents, out)
            self._hist.label_ages(state, keys, now, out)
        if self._plain_out:
            self._stateless(keys, loc, t, cents, out)  # calendar: the event's own time
        if self._graph is not None:
            self._graph.update(state, keys, now, eid, label, out)
        if self._labelled:
            self._register_label(label, keys, now, eid)
        if clock is None:
            state.put("engine", "clock", Clock(t, eid), None)
        elif (t, eid) > (clock.t, clock.id):  # always, unless late: the clock never goes back
            clock.t, clock.id = t, eid
            state.put("engine", "clock", clock, None)
        self.last_event, self.last_as_of = (t, eid), now
        return dict(zip(self._names, out, strict=True))

    def add_label(self, event_id: int, is_fraud: bool, available_at: Any) -> bool:
        """Record the label of an event processed earlier without one (live use).

        The label counts from the first event with ``timestamp >= available_at``. Returns False
        when the event is unknown, already labelled, or too old to enter any window.
        """
        graph = self._graph is not None and self._graph.add_label(
            self.state, event_id, bool(is_fraud), to_ms(available_at, "available_at")
        )
        target = self.state.get("labels/target", event_id)
        if target is None:
            return graph
        self.state.delete("labels/target", event_id)
        avail = to_ms(available_at, "available_at")
        if avail >= target.t + self._lab_reach:
            return False
        self._queue.push(self.state, avail, target.t, target.keys, int(bool(is_fraud)))
        return True

    def replay(self, table: pa.Table) -> pa.Table:
        """Feed a table's rows in ``(timestamp, id)`` order; the result has the layout of
        :func:`compute_offline`."""
        id_name = id_column(table.column_names)
        cols: dict[str, list] = {id_name: [], **{n: [] for n in self._names}}
        for event in iter_events(table):
            feats = self.update(event)
            cols[id_name].append(event[id_name])
            for n in self._names:
                cols[n].append(feats[n])
        return pa.table(
            {k: pa.array(v, pa.int64() if k == id_name else pa.float64()) for k, v in cols.items()}
        )

    # ----------------------------------------------------------------- families
    def _identify(self, event: Mapping[str, Any]) -> tuple[int, int]:
        for name in ID_COLUMNS:
            if name in event:
                return to_ms(required(event, "timestamp"), "timestamp"), int(event[name])
        raise DataError(f"an event needs one of {list(ID_COLUMNS)}", column=ID_COLUMNS[0])

    def _velocity(self, keys: dict, t: int, cents: int, out: list[float]) -> None:
        state, got = self.state, {}
        for e, plan in self._vel_plan.items():
            k = keys[e]
            if k is None:
                continue
            slot = "velocity/" + e.value
            st = state.get(slot, k)
            if st is None:
                st = VelocityKey(plan)
            union = self._vel_union[e]
            st.push(plan, t, cents, tuple([keys[o] for o in union]) if union else None)
            state.put(slot, k, st, t + self._vel_horizon[e])
            got[e] = st
        for i, e, wi, agg, of_idx in self._vel_out:
            st = got.get(e)
            if st is None:
                continue
            if agg is Aggregation.COUNT:
                out[i] = float(st.count(wi))
            elif agg is Aggregation.SUM:
                out[i] = st.totals[wi] / 100.0
            elif agg is Aggregation.MEAN:
                out[i] = st.totals[wi] / st.count(wi) / 100.0
            elif agg is Aggregation.MAX:
                out[i] = st.maxq[wi][0][1] / 100.0
            else:
                out[i] = float(len(st.distinct[wi][of_idx]))

    def _recency(self, keys: dict, t: int, out: list[float]) -> None:
        prev: dict[Entity, int | None] = {}
        for e, horizon in self._rec.items():
            k = keys[e]
            if k is None:
                continue
            slot = "last/" + e.value
            st = self.state.get(slot, k)
            prev[e] = None if st is None else st.t
            if st is None:
                st = LastEvent(t)
            st.t = t
            self.state.put(slot, k, st, t + horizon)
        for i, e, horizon in self._rec_out:
            tp = prev.get(e)
            if tp is not None and t - tp < horizon:
                out[i] = (t - tp) / 1000.0

    def _novelty(self, keys: dict, t: int, out: list[float]) -> None:
        new: dict[tuple[Entity, Entity, int], bool] = {}
        for e, cfgs in self._nov.items():
            k = keys[e]
            if k is None:
                continue
            slot = "novelty/" + e.value
            st = self.state.get(slot, k)
            if st is None:
                st = NoveltyKey(len(cfgs))
            for j, (of, w) in enumerate(cfgs):
                v = keys[of]
                if v is not None:
                    new[(e, of, w)] = st.check_and_add(j, v, t, w)
            self.state.put(slot, k, st, t + self._nov_horizon[e])
        for i, cfg in self._nov_out:
            flag = new.get(cfg)
            if flag is not None:
                out[i] = 1.0 if flag else 0.0

    def _speed(self, event: Mapping, keys: dict, loc: tuple, t: int, out: list[float]) -> None:
        x, y = loc
        finite = math.isfinite(x) and math.isfinite(y)
        prev: dict[tuple[Entity, bool], tuple[int, float, float] | None] = {}
        for (e, cp), horizon in self._spd.items():
            k = keys[e]
            if k is None:
                continue
            slot = f"located/{e.value}/{'pos' if cp else 'any'}"
            st = self.state.get(slot, k)
            prev[(e, cp)] = None if st is None else (st.t, st.x, st.y)
            if finite and (not cp or event.get("channel") == _POS):
                if st is None:
                    st = LastEvent(t, x, y)
                st.t, st.x, st.y = t, x, y
                self.state.put(slot, k, st, t + horizon)
        for i, k, horizon, min_ms in self._spd_out:
            p = prev.get(k)
            if p is None or t - p[0] >= horizon:
                continue
            dx, dy = x - p[1], y - p[2]
            dist = math.sqrt(dx * dx + dy * dy)
            out[i] = dist * 3_600_000.0 / max(t - p[0], min_ms)

    def _stateless(self, keys: dict, loc: tuple, t: int, cents: int, out: list[float]) -> None:
        for i, d in self._plain_out:
            if isinstance(d, Calendar):
                out[i] = calendar_value(d, t)
            elif isinstance(d, Amount):
                out[i] = cents / 100.0
            elif isinstance(d, DistanceFromHome):
                home = self._homes.get(keys[Entity.CUSTOMER])
                if home is not None:
                    dx, dy = loc[0] - home[0], loc[1] - home[1]
                    out[i] = math.sqrt(dx * dx + dy * dy)

    # ----------------------------------------------------------------- labels
    def _release_labels(self, now: int) -> None:
        for avail, _, tj, keys, fraud in self._queue.pop_due(self.state, now):
            for e, k in zip(self._lab_entities, keys, strict=True):
                if k is None:
                    continue
                self._hist.add_label(self.state, e, k, avail, tj, fraud)
                if e not in self._lab:
                    continue
                slot = "labels/" + e.value
                st = self.state.get(slot, k)
                if st is None:
                    st = LabelKey([LabelWindow(w, d) for w, d in self._lab[e]])
                st.add(tj, fraud, now)
                self.state.put(slot, k, st, st.latest + self._lab_horizon[e])

    def _label_features(self, keys: dict, t: int, out: list[float]) -> None:
        got: dict[Entity, LabelKey | None] = {}
        for e in self._lab_entities:
            k = keys[e]
            if k is None:
                continue
            st = self.state.get("labels/" + e.value, k)
            if st is not None:
                for lw in st.windows:
                    lw.advance(t)
                self.state.put("labels/" + e.value, k, st, st.latest + self._lab_horizon[e])
            got[e] = st
        for i, e, wi, stat in self._lab_out:
            if e not in got:
                continue
            st = got[e]
            n = frauds = 0
            if st is not None:
                lw = st.windows[wi]
                n, frauds = lw.n, lw.frauds
            if stat is LabelStat.LABELLED_COUNT:
                out[i] = float(n)
            elif stat is LabelStat.FRAUD_COUNT:
                out[i] = float(frauds)
            else:
                out[i] = frauds / n if n else 0.0

    def _register_label(self, label: tuple | None, keys: dict, t: int, eid: int) -> None:
        lab_keys = tuple([keys[e] for e in self._lab_entities])
        if all(k is None for k in lab_keys):
            return
        if label is None:
            self.state.put("labels/target", eid, LabelTarget(t, lab_keys), t + self._lab_reach)
            return
        fraud, avail_ms = label
        if avail_ms < t + self._lab_reach:
            self._queue.push(self.state, avail_ms, t, lab_keys, fraud)
