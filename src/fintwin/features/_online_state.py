"""Per-key state objects of the online engine (what a :class:`StateBackend` stores).

Each is a small ``__slots__`` class of plain containers (deques, dicts, heaps of tuples), so it
pickles for a shared backend, and each has ``__len__``: the entries it holds, which is what
``StateBackend.size`` adds up. :class:`LabelQueue` is the exception: it stores nothing itself
but keeps pending labels in hourly buckets in a backend, for both the online engine and the
graph engine.
"""

from __future__ import annotations

import bisect
import heapq
from collections import OrderedDict, deque
from collections.abc import Hashable

from fintwin.features.state import StateBackend


class VelocityKey:
    """Events of one key value inside its longest velocity window, with running aggregates of
    every window.

    The events live once, in parallel lists (time, cents, values of the entities counted
    distinctly); window k starts at absolute index ``heads[k]`` and keeps its exact sum in
    cents (``totals[k]``), a monotone deque whose head is its maximum (``maxq[k]``, if asked
    for) and a count per non-null value of each distinct-counted entity (``distinct[k][j]``).
    Events before the longest window's head are cut off in batches, so memory stays within
    twice the window.

    ``plan`` (held by the engine, not stored) is one ``(w, want_max, positions)`` per window,
    shortest first; ``positions`` index the values tuple passed to :meth:`push`.
    """

    __slots__ = ("base", "cents", "distinct", "heads", "maxq", "ofs", "times", "totals")

    def __init__(self, plan: tuple[tuple[int, bool, tuple[int, ...]], ...]) -> None:
        self.times: list[int] = []
        self.cents: list[int] = []
        self.ofs: list[tuple] = []
        self.base = 0
        self.heads = [0] * len(plan)
        self.totals = [0] * len(plan)
        self.maxq: list[deque[tuple[int, int]] | None] = [
            deque() if want_max else None for _, want_max, _ in plan
        ]
        self.distinct: list[list[dict]] = [[{} for _ in pos] for _, _, pos in plan]

    def push(self, plan: tuple, t: int, cents: int, ofs: tuple | None) -> None:
        """Add the event at ``t``; then drop from each window the events at or before
        ``t - w``."""
        times, cl, ol = self.times, self.cents, self.ofs
        times.append(t)
        cl.append(cents)
        if ofs is not None:
            ol.append(ofs)
        base, heads, totals = self.base, self.heads, self.totals
        for k, (w, want_max, pos) in enumerate(plan):
            lim = t - w
            i = heads[k] - base
            # terminates: the event just added is later than lim
            while times[i] <= lim:
                totals[k] -= cl[i]
                if pos:
                    row = ol[i]
                    for counts, p in zip(self.distinct[k], pos, strict=True):
                        v = row[p]
                        if v is not None:
                            left = counts[v] - 1
                            if left:
                                counts[v] = left
                            else:
                                del counts[v]
                i += 1
            heads[k] = i + base
            totals[k] += cents
            if pos:
                for counts, p in zip(self.distinct[k], pos, strict=True):
                    v = ofs[p]
                    if v is not None:
                        counts[v] = counts.get(v, 0) + 1
            if want_max:
                maxq = self.maxq[k]
                while maxq and maxq[0][0] <= lim:
                    maxq.popleft()
                while maxq and maxq[-1][1] <= cents:
                    maxq.pop()
                maxq.append((t, cents))
        drop = heads[-1] - base  # the longest window, last, starts earliest
        if drop > 32 and 2 * drop > len(times):
            del times[:drop], cl[:drop]
            if ol:
                del ol[:drop]
            self.base = base + drop

    def count(self, k: int) -> int:
        return self.base + len(self.times) - self.heads[k]

    def __len__(self) -> int:
        return len(self.times)


class LastEvent:
    """Time (and location) of the key's previous event (recency) or located event (speed)."""

    __slots__ = ("t", "x", "y")

    def __init__(self, t: int, x: float = 0.0, y: float = 0.0) -> None:
        self.t, self.x, self.y = t, x, y

    def __len__(self) -> int:
        return 1


class NoveltyKey:
    """For one key value, per (of, window): the last time each value was used, oldest first."""

    __slots__ = ("seen",)

    def __init__(self, n: int) -> None:
        self.seen: list[OrderedDict[Hashable, int]] = [OrderedDict() for _ in range(n)]

    def check_and_add(self, k: int, value: Hashable, t: int, w: int) -> bool:
        """Whether ``value`` is new (not used within ``(t - w, t)``); then record it at ``t``."""
        seen = self.seen[k]
        lim = t - w
        while seen:
            oldest = next(iter(seen.values()))
            if oldest > lim:
                break
            seen.popitem(last=False)
        new = value not in seen
        seen[value] = t
        seen.move_to_end(value)
        return new

    def __len__(self) -> int:
        return sum(len(s) for s in self.seen)


class LabelWindow:
    """Available labels of one key for one (window w, delay d): events with
    ``now - d - w < t_j <= now - d``.

    Labels arrive out of event-time order, so both stages are heaps on ``t_j``: ``waiting``
    (too recent: ``t_j > now - d``) and ``inside`` (in the window, counted in ``n`` and
    ``frauds``).
    """

    __slots__ = ("d", "frauds", "inside", "n", "w", "waiting")

    def __init__(self, w: int, d: int) -> None:
        self.w, self.d = w, d
        self.waiting: list[tuple[int, int]] = []
        self.inside: list[tuple[int, int]] = []
        self.n = 0
        self.frauds = 0

    def add(self, tj: int, fraud: int, now: int) -> None:
        hi = now - self.d
        if tj <= hi - self.w:
            return
        if tj <= hi:
            heapq.heappush(self.inside, (tj, fraud))
            self.n += 1
            self.frauds += fraud
        else:
            heapq.heappush(self.waiting, (tj, fraud))

    def advance(self, now: int) -> None:
        hi = now - self.d
        lo = hi - self.w
        waiting, inside = self.waiting, self.inside
        while waiting and waiting[0][0] <= hi:
            tj, fraud = heapq.heappop(waiting)
            if tj > lo:
                heapq.heappush(inside, (tj, fraud))
                self.n += 1
                self.frauds += fraud
        while inside and inside[0][0] <= lo:
            _, fraud = heapq.heappop(inside)
            self.n -= 1
            self.frauds -= fraud

    def __len__(self) -> int:
        return len(self.waiting) + len(self.inside)


class LabelKey:
    """All label windows of one key value; ``latest`` is the newest ``t_j`` held."""

    __slots__ = ("latest", "windows")

    def __init__(self, windows: list[LabelWindow]) -> None:
        self.windows = windows
        self.latest = -(1 << 62)

    def add(self, tj: int, fraud: int, now: int) -> None:
        for lw in self.windows:
            lw.add(tj, fraud, now)
        self.latest = max(self.latest, tj)

    def __len__(self) -> int:
        return sum(len(w) for w in self.windows)


#: Width of a pending-label bucket (ms): labels are grouped by the hour they become available.
HOUR_MS = 3_600_000


class PendingLabels:
    """One bucket of labels not yet available: a heap on ``label_available_at``.

    Items: ``(available_at, seq, t_j, keys, is_fraud)`` with ``keys`` the event's values of
    the label entities and ``seq`` the push order within the bucket (unique, so items never
    compare further).
    """

    __slots__ = ("heap", "seq")

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, int, tuple, int]] = []
        self.seq = 0

    def push(self, available_at: int, tj: int, keys: tuple, fraud: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (available_at, self.seq, tj, keys, fraud))

    def __len__(self) -> int:
        return len(self.heap)


class PendingIndex:
    """Where the buckets of a :class:`LabelQueue` are: the hours
    (``available_at // HOUR_MS``) holding one, ascending, and the earliest ``available_at``
    held (None: no label pending)."""

    __slots__ = ("head", "hours")

    def __init__(self) -> None:
        self.head: int | None = None
        self.hours: list[int] = []

    def __len__(self) -> int:
        return len(self.hours)


class LabelQueue:
    """Labels not yet available, bucketed by the hour they become available.

    A :class:`PendingIndex` is stored under ``(slot, 0)`` and one :class:`PendingLabels`
    bucket per hour ``h`` under ``(slot + "/hour", h)``. An event reads the index (small) and
    only the buckets it touches: the one its label enters, and the due ones when the index's
    head says something is due; a serialising backend so rewrites about an hour of labels, not
    all of them. Labels come out in ``(available_at, push order)`` order, as from one heap:
    buckets in hour order, each in its heap order. Not stored itself: it holds no state.

    Parameters
    ----------
    slot : str
        The index slot (``"labels/pending"``, ``"graph/pending"``).
    """

    __slots__ = ("bucket_slot", "slot")

    def __init__(self, slot: str) -> None:
        self.slot, self.bucket_slot = slot, slot + "/hour"

    def push(
        self, state: StateBackend, available_at: int, tj: int, keys: tuple, fraud: int
    ) -> None:
        """Hold the label of the event at ``tj`` until ``available_at`` (ms)."""
        index = state.get(self.slot, 0)
        if index is None:
            index = PendingIndex()
            state.put(self.slot, 0, index, None)
        elif type(index) is PendingLabels:
            index = self._migrate(state, index)
        self._push(state, index, available_at, tj, keys, fraud)

    def pop_due(self, state: StateBackend, now: int) -> list[tuple[int, int, int, tuple, int]]:
        """Remove and return the labels with ``available_at <= now``, in release order."""
        index = state.get(self.slot, 0)
        if index is None:
            return []
        if type(index) is PendingLabels:
            index = self._migrate(state, index)
        if index.head is None or index.head > now:
            return []
        hours, slot = index.hours, self.bucket_slot
        due: list[tuple[int, int, int, tuple, int]] = []
        head = None
        while hours and hours[0] * HOUR_MS <= now:
            h = hours[0]
            bucket = state.get(slot, h)
            heap = bucket.heap
            if (h + 1) * HOUR_MS - 1 <= now:  # the whole hour is due: no heap pops needed
                heap.sort()
                due += heap
            else:
                while heap and heap[0][0] <= now:
                    due.append(heapq.heappop(heap))
                if heap:
                    state.put(slot, h, bucket, None)
                    head = heap[0][0]
                    break
            state.delete(slot, h)
            del hours[0]
        if head is None and hours:
            head = state.get(slot, hours[0]).heap[0][0]
        index.head = head
        state.put(self.slot, 0, index, None)
        return due

    def _push(
        self, state: StateBackend, index: PendingIndex, avail: int, tj: int, keys, fraud
    ) -> None:
        h = avail // HOUR_MS
        hours = index.hours
        if hours and hours[-1] == h:  # the usual case: labels come in about time order
            bucket, changed = state.get(self.bucket_slot, h), False
        else:
            i = bisect.bisect_left(hours, h)
            bucket = state.get(self.bucket_slot, h) if i < len(hours) and hours[i] == h else None
            changed = bucket is None
            if changed:
                bucket = PendingLabels()
                hours.insert(i, h)
        bucket.push(avail, tj, keys, fraud)
        state.put(self.bucket_slot, h, bucket, None)
        if index.head is None or avail < index.head:
            index.head = avail
            changed = True
        if changed:
            state.put(self.slot, 0, index, None)

    def _migrate(self, state: StateBackend, old: PendingLabels) -> PendingIndex:
        """A state written before labels were bucketed holds one heap under ``(slot, 0)``:
        spread it into buckets, in its order (so the release order stays the same)."""
        index = PendingIndex()
        state.put(self.slot, 0, index, None)
        for avail, _, tj, keys, fraud in sorted(old.heap):
            self._push(state, index, avail, tj, keys, fraud)
        return index


class LabelTarget:
    """An event awaiting its label (live use): its time and label-risk key values."""

    __slots__ = ("keys", "t")

    def __init__(self, t: int, keys: tuple) -> None:
        self.t, self.keys = t, keys

    def __len__(self) -> int:
        return 1


class Stamp:
    """The definitions hash of the feature set a state was built for."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __len__(self) -> int:
        return 1


class Clock:
    """The last processed ``(timestamp, id)``."""

    __slots__ = ("id", "t")

    def __init__(self, t: int, event_id: int) -> None:
        self.t, self.id = t, event_id

    def __len__(self) -> int:
        return 1


class ProfileKey:
    """Amounts of one key value inside its longest amount-profile window, with the count, sum
    and sum of squares (exact integers, cents) of every window, the latest event excluded.

    ``windows`` (held by the engine) are the window lengths in ms, shortest first. Window k
    starts at absolute index ``heads[k]``; events before the longest window's head are cut off
    in batches, so memory stays within twice the window.
    """

    __slots__ = ("base", "cents", "heads", "s1", "s2", "times")

    def __init__(self, n_windows: int) -> None:
        self.times: list[int] = []
        self.cents: list[int] = []
        self.base = 0
        self.heads = [0] * n_windows
        self.s1 = [0] * n_windows
        self.s2 = [0] * n_windows

    def advance(self, windows: tuple[int, ...], t: int) -> list[tuple[int, int, int]]:
        """Drop from each window the events at or before ``t - w``; return each window's
        ``(n, S1, S2)`` over the earlier events that remain."""
        times, cl, base = self.times, self.cents, self.base
        end = base + len(times)
        out = []
        for k, w in enumerate(windows):
            lim = t - w
            i = self.heads[k] - base
            while i < len(times) and times[i] <= lim:
                c = cl[i]
                self.s1[k] -= c
                self.s2[k] -= c * c
                i += 1
            self.heads[k] = i + base
            out.append((end - self.heads[k], self.s1[k], self.s2[k]))
        return out

    def push(self, t: int, cents: int) -> None:
        """Add the event at ``t`` to every window (after its own features were read)."""
        self.times.append(t)
        self.cents.append(cents)
        sq = cents * cents
        for k in range(len(self.heads)):
            self.s1[k] += cents
            self.s2[k] += sq
        drop = self.heads[-1] - self.base  # the longest window, last, starts earliest
        if drop > 32 and 2 * drop > len(self.times):
            del self.times[:drop], self.cents[:drop]
            self.base += drop

    def __len__(self) -> int:
        return len(self.times)


class AgeKey:
    """Label times of one key value for label-age features, per ``(w, max delay)`` config.

    ``frauds[k]``: times (ms) at which fraud labels became available, sorted, those at or
    before ``now - w`` dropped when read; ``genuine[k]``: the latest time a genuine label
    became available (only the latest matters: when it leaves the window, all earlier ones
    have left). ``latest`` is the newest label time held.
    """

    __slots__ = ("frauds", "genuine", "latest")

    def __init__(self, n_configs: int) -> None:
        self.frauds: list[list[int]] = [[] for _ in range(n_configs)]
        self.genuine: list[int | None] = [None] * n_configs
        self.latest = -(1 << 62)

    def add(self, configs: tuple[tuple[int, int], ...], avail: int, tj: int, fraud: int) -> None:
        """Record a label of the event at ``tj`` that became available at ``avail``."""
        for k, (_, max_delay) in enumerate(configs):
            if avail - tj >= max_delay:
                continue
            if fraud:
                frauds = self.frauds[k]
                if not frauds or frauds[-1] <= avail:
                    frauds.append(avail)
                else:  # a live label added late: keep the times sorted
                    bisect.insort(frauds, avail)
            elif self.genuine[k] is None or self.genuine[k] < avail:
                self.genuine[k] = avail
        self.latest = max(self.latest, avail)

    def read(self, k: int, w: int, now: int) -> tuple[int | None, int | None, int | None]:
        """``(first fraud, last fraud, last genuine)`` label times in ``(now - w, now]``."""
        lim = now - w
        frauds = self.frauds[k]
        if frauds and frauds[0] <= lim:
            del frauds[: bisect.bisect_right(frauds, lim)]
        genuine = self.genuine[k]
        if genuine is not None and genuine <= lim:
            genuine = self.genuine[k] = None
        if not frauds:
            return None, None, genuine
        return frauds[0], frauds[-1], genuine

    def __len__(self) -> int:
        return sum(len(f) for f in self.frauds) + sum(g is not None for g in self.genuine)
