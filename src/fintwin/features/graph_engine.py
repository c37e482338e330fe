"""The incremental algorithm of the graph families, shared by the online and offline engines.

:class:`GraphEngine` keeps windowed adjacency in a :class:`~fintwin.features.state.StateBackend`,
one value per node: ``("graph/<key>-<via>/<w>/key", card) -> {device: last edge time}`` and the
mirror ``.../via`` map, and ``("graph/transfers/<w>/out", account) -> {account: last time}`` with
its ``.../in`` mirror. Each map is insertion-ordered with the freshest edge last, so stale edges
are cut from the front when a node is touched, and a node expires with its freshest edge: memory
stays bounded by the edges inside the windows. Confirmed frauds are one time per key
(``graph/fraud/<key>``) released from a heap of pending fraud labels at their
``label_available_at``, as :class:`~fintwin.features.LabelRisk` labels are (the same
hourly-bucketed :class:`~fintwin.features._online_state.LabelQueue`, under ``graph/pending``).

The online engine calls :meth:`GraphEngine.update` once per event; :func:`graph_offline` runs the
same calls over a whole table in ``(timestamp, id)`` order on a private in-memory state, which is
how the two agree exactly. Offline this is a Python loop (a few microseconds per event without
graph neighbours, more inside clusters); see the throughput figures in ``docs/risk.md``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fintwin.features._columns import EventColumns, _chunk
from fintwin.features._online_state import LabelQueue, LabelTarget
from fintwin.features.graph import ComponentSize, FraudDistance, ShortCycle
from fintwin.features.state import InMemoryState, StateBackend
from fintwin.features.vocab import Entity

__all__ = ["GraphEngine", "graph_offline"]

MS = 1000
_NAN = math.nan
_SRC, _DST = Entity.SOURCE_ACCOUNT, Entity.DESTINATION_ACCOUNT
_EMPTY: OrderedDict = OrderedDict()


class Edges(OrderedDict):
    """Neighbours of one node and the time of their latest edge, oldest first."""


class FraudMark:
    """Latest time of a confirmed (label available) fraud of one key."""

    __slots__ = ("t",)

    def __init__(self, t: int) -> None:
        self.t = t

    def __len__(self) -> int:
        return 1


class _Graph:
    """One windowed graph: the two adjacency slots and the window."""

    __slots__ = ("a_slot", "b_slot", "w")

    def __init__(self, a_slot: str, b_slot: str, w: int) -> None:
        self.a_slot, self.b_slot, self.w = a_slot, b_slot, w

    def add(self, state: StateBackend, a: Hashable, b: Hashable, t: int) -> None:
        """Record the edge ``a - b`` at ``t`` in both maps, cutting their stale edges."""
        for slot, node, other in ((self.a_slot, a, b), (self.b_slot, b, a)):
            edges = state.get(slot, node)
            if edges is None:
                edges = Edges()
            edges[other] = t
            edges.move_to_end(other)
            _cut(edges, t - self.w)
            state.put(slot, node, edges, t + self.w)

    def fresh(self, state: StateBackend, slot: str, node: Hashable, lim: int) -> OrderedDict:
        """Neighbours of ``node`` by an edge later than ``lim``."""
        edges = state.get(slot, node)
        if edges is None:
            return _EMPTY
        if edges and next(iter(edges.values())) <= lim:
            _cut(edges, lim)
            if edges:
                state.put(slot, node, edges, next(reversed(edges.values())) + self.w)
        return edges


def _cut(edges: OrderedDict, lim: int) -> None:
    while edges and next(iter(edges.values())) <= lim:
        edges.popitem(last=False)


class GraphEngine:
    """Graph features of one feature set, one event at a time.

    Parameters
    ----------
    slots : sequence of (int, definition)
        Output column index and definition (FraudDistance, ComponentSize or ShortCycle).
    """

    def __init__(self, slots: Sequence[tuple[int, FraudDistance | ComponentSize | ShortCycle]]):
        self._keyvia: dict[tuple[Entity, Entity, int], _Graph] = {}
        self._transfers: dict[int, _Graph] = {}
        self._dist: list[tuple[int, _Graph, Entity, int, int, int]] = []
        self._comp: list[tuple[int, _Graph, Entity, int]] = []
        self._cyc: list[tuple[int, _Graph, int, int]] = []
        horizons: dict[Entity, int] = {}
        for i, d in slots:
            if isinstance(d, ShortCycle):
                w = d.window_seconds * MS
                g = self._transfers.setdefault(
                    w, _Graph(f"graph/transfers/{w}/out", f"graph/transfers/{w}/in", w)
                )
                self._cyc.append((i, g, d.max_length - 1, d.max_degree))
                continue
            w = d.window_seconds * MS
            base = f"graph/{d.key}-{d.via}/{w}"
            g = self._keyvia.setdefault((d.key, d.via, w), _Graph(base + "/key", base + "/via", w))
            if isinstance(d, FraudDistance):
                h = d.fraud_horizon_seconds * MS
                horizons[d.key] = max(horizons.get(d.key, 0), h)
                self._dist.append((i, g, d.key, d.max_hops, h, d.max_nodes))
            else:
                self._comp.append((i, g, d.key, d.max_size))
        self._fraud_keys = tuple(horizons)
        self._horizons = tuple(horizons.values())
        self._fraud_slots = tuple(f"graph/fraud/{e}" for e in self._fraud_keys)
        self._reach = max(self._horizons, default=0)
        self._queue = LabelQueue("graph/pending")

    # ------------------------------------------------------------------ events
    def update(
        self,
        state: StateBackend,
        keys: dict[Entity, Hashable | None],
        t: int,
        eid: int,
        label: tuple[int, int] | None,
        out: list[float],
    ) -> None:
        """Process one event: release due labels, add its edges, write its values into
        ``out``, then hold its label (``(is_fraud, available_at ms)`` or None) for later events.
        """
        if self._fraud_keys:
            self._release(state, t)
        for (key, via, _), g in self._keyvia.items():
            a, b = keys[key], keys[via]
            if a is not None and b is not None:
                g.add(state, a, b, t)
        if self._cyc:
            s, d = keys[_SRC], keys[_DST]
            if s is not None and d is not None:
                for g in self._transfers.values():
                    g.add(state, s, d, t)
        for i, g, key, max_hops, h, budget in self._dist:
            a = keys[key]
            if a is not None:
                out[i] = float(self._distance(state, g, key, a, t, max_hops, h, budget))
        for i, g, key, cap in self._comp:
            a = keys[key]
            if a is not None:
                out[i] = float(self._component(state, g, a, t, cap))
        for i, g, max_path, max_degree in self._cyc:
            s, d = keys[_SRC], keys[_DST]
            if s is not None and d is not None:
                out[i] = float(self._cycle(state, g, s, d, t, max_path, max_degree))
        if self._fraud_keys:
            self._hold_label(state, keys, t, eid, label)

    def add_label(self, state: StateBackend, event_id: int, is_fraud: bool, available_at: int):
        """Label an event processed earlier without one; False if it is unknown or too old."""
        target = state.get("graph/target", event_id)
        if target is None:
            return False
        state.delete("graph/target", event_id)
        if is_fraud and available_at < target.t + self._reach:
            self._queue.push(state, available_at, target.t, target.keys, 1)
        return True

    # ------------------------------------------------------------------ labels
    def _release(self, state: StateBackend, now: int) -> None:
        for _, _, tj, keys, _ in self._queue.pop_due(state, now):  # fraud labels only
            for slot, h, k in zip(self._fraud_slots, self._horizons, keys, strict=True):
                if k is None:
                    continue
                mark = state.get(slot, k)
                if mark is None:
                    mark = FraudMark(tj)
                mark.t = max(mark.t, tj)
                state.put(slot, k, mark, mark.t + h)

    def _hold_label(self, state, keys, t: int, eid: int, label) -> None:
        fkeys = tuple([keys[e] for e in self._fraud_keys])
        if all(k is None for k in fkeys):
            return
        if label is None:
            state.put("graph/target", eid, LabelTarget(t, fkeys), t + self._reach)
        elif label[0] and label[1] < t + self._reach:
            self._queue.push(state, label[1], t, fkeys, 1)

    # ------------------------------------------------------------------ searches
    def _distance(self, state, g: _Graph, key: Entity, a, t: int, max_hops, h, budget) -> int:
        slot = f"graph/fraud/{key}"
        lim_fraud = t - h

        def confirmed(k: Hashable) -> bool:
            mark = state.get(slot, k)
            return mark is not None and mark.t > lim_fraud

        if confirmed(a):
            return 0
        if state.get(g.a_slot, a) is None:  # no edge in the window: alone
            return max_hops + 1
        lim = t - g.w
        seen, seen_via, layer = {a}, set(), [a]
        for hop in range(1, max_hops + 1):
            if len(seen) > budget:
                break
            layer = _next_layer(state, g, layer, seen, seen_via, lim, None)
            if not layer:
                break
            if any(confirmed(k) for k in layer):
                return hop
        return max_hops + 1

    def _component(self, state, g: _Graph, a, t: int, cap: int) -> int:
        if state.get(g.a_slot, a) is None:
            return 1
        lim = t - g.w
        seen, seen_via, layer = {a}, set(), [a]
        while layer and len(seen) < cap:
            layer = _next_layer(state, g, layer, seen, seen_via, lim, cap)
        return min(len(seen), cap)

    def _cycle(self, state, g: _Graph, s, d, t: int, max_path: int, max_degree: int) -> int:
        """``1 +`` the shortest return path ``d -> .. -> s`` of at most ``max_path`` edges
        through non-hub accounts (the ends included), or 0.

        Complete layers are expanded from either end (the cheaper side first); the first
        layer that meets the other side gives the shortest length as the minimum over its
        meeting nodes (every shorter path would have met in an earlier layer)."""
        if s == d:
            return 1
        lim = t - g.w
        out_slot, in_slot = g.a_slot, g.b_slot
        hub: dict[Hashable, bool] = {}

        def is_hub(u: Hashable) -> bool:
            v = hub.get(u)
            if v is None:
                deg = len(g.fresh(state, out_slot, u, lim)) + len(g.fresh(state, in_slot, u, lim))
                v = hub[u] = deg > max_degree
            return v

        if is_hub(s) or is_hub(d):
            return 0
        fwd, bwd = {d: 0}, {s: 0}
        ff, bf = [d], [s]
        kf = kb = 0
        while kf + kb < max_path:
            cost_f = sum(len(g.fresh(state, out_slot, v, lim)) for v in ff)
            cost_b = sum(len(g.fresh(state, in_slot, v, lim)) for v in bf)
            if cost_f <= cost_b:
                mine, other, frontier, slot, depth = fwd, bwd, ff, out_slot, kf
            else:
                mine, other, frontier, slot, depth = bwd, fwd, bf, in_slot, kb
            new, best = [], 0
            for v in frontier:
                for u in g.fresh(state, slot, v, lim):
                    if u in mine or is_hub(u):
                        continue
                    mine[u] = depth + 1
                    new.append(u)
                    there = other.get(u)
                    if there is not None and (not best or depth + 1 + there < best):
                        best = depth + 1 + there
            if best:
                return best + 1
            if not new:
                return 0
            if mine is fwd:
                ff, kf = new, kf + 1
            else:
                bf, kb = new, kb + 1
        return 0


def _next_layer(state, g: _Graph, layer, seen: set, seen_via: set, lim: int, cap: int | None):
    """Keys one hop (one shared via) beyond ``layer`` not yet seen; stops early once ``seen``
    reaches ``cap`` (the component size needs no more)."""
    nxt = []
    for k in layer:
        for v in g.fresh(state, g.a_slot, k, lim):
            if v in seen_via:
                continue
            seen_via.add(v)
            for k2 in g.fresh(state, g.b_slot, v, lim):
                if k2 not in seen:
                    seen.add(k2)
                    nxt.append(k2)
                    if cap is not None and len(seen) >= cap:
                        return nxt
    return nxt


def graph_offline(
    definitions: Sequence[FraudDistance | ComponentSize | ShortCycle], ev: EventColumns
) -> list[np.ndarray]:
    """Values of the graph definitions for every event, in processing order.

    Runs :class:`GraphEngine` over the events on a private :class:`InMemoryState`, with keys as
    integer codes (equal values, equal codes), which the searches treat exactly as the online
    engine treats the raw values.

    Returns
    -------
    list of ndarray of float64, shape (n,)
        One per definition, in the order given.
    """
    engine = GraphEngine(list(enumerate(definitions)))
    entities = list(dict.fromkeys(e for d in definitions for e in _entities(d)))
    joint = _joint_codes(ev, (_SRC.column, _DST.column)) if _SRC in entities else {}
    codes = [joint[e.column] if e.column in joint else ev.codes(e.column) for e in entities]
    codes = [c.tolist() for c in codes]
    ids, times = ev.ids.tolist(), ev.t.tolist()
    with_labels = any(isinstance(d, FraudDistance) for d in definitions)
    if with_labels:
        fraud = ev.flags("is_fraud").tolist()
        avail = ev.times("label_available_at").tolist()
    state = InMemoryState()
    k = len(definitions)
    out: list[float] = [_NAN] * (k * ev.n)
    keys: dict[Entity, Hashable | None] = {}
    pairs = list(zip(entities, codes, strict=True))
    label = None
    for n in range(ev.n):
        t = times[n]
        state.expire(t)
        for e, c in pairs:
            v = c[n]
            keys[e] = v if v >= 0 else None
        if with_labels:
            label = (fraud[n], avail[n])
        row = [_NAN] * k
        engine.update(state, keys, t, ids[n], label, row)
        out[n * k : (n + 1) * k] = row
    table = np.array(out, dtype=np.float64).reshape(ev.n, k)
    return [table[:, j].copy() for j in range(k)]


def _joint_codes(ev: EventColumns, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Codes of several key columns from one dictionary (an account has one code whether it
    sends or receives), null as -1, in processing order."""
    arrays = []
    for name in names:
        arr = _chunk(ev.table, name)
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if pa.types.is_floating(arr.type):
            # ids read through pandas may arrive as floats with NaN for null
            arr = pc.if_else(pc.is_nan(arr), None, arr)
        arrays.append(arr)
    if len({a.type for a in arrays}) > 1:
        arrays = [a.cast(pa.string()) for a in arrays]
    enc = pa.concat_arrays(arrays).dictionary_encode()
    idx = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    n = ev.n
    return {name: idx[k * n : (k + 1) * n][ev.order] for k, name in enumerate(names)}


def _entities(d: FraudDistance | ComponentSize | ShortCycle) -> tuple[Entity, ...]:
    if isinstance(d, ShortCycle):
        return (_SRC, _DST)
    return (d.key, d.via)
