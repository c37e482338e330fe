"""The hourly-bucketed pending-label queue: the release order of one global heap, buckets that
hold one hour each, an old single-heap state migrated in order, and per-event writes bounded
by an hour of labels rather than by every label pending."""

from __future__ import annotations

import heapq
from typing import Any

from _feature_streams import T0
from hypothesis import given, settings
from hypothesis import strategies as st

from fintwin.features import DAY, Entity, FeatureSet, LabelRisk, OnlineFeatureEngine
from fintwin.features._online_state import (
    HOUR_MS,
    LabelQueue,
    PendingIndex,
    PendingLabels,
)
from fintwin.features._state_codec import decode_state, encode_state
from fintwin.features.state import InMemoryState


class CodecState(InMemoryState):
    """An in-memory state that stores encoded bytes, as RedisState does: a value changed but
    not written back is lost, and every value must round-trip through the codec."""

    def get(self, slot: str, key: Any) -> Any:
        raw = super().get(slot, key)
        return None if raw is None else decode_state(raw)

    def put(self, slot: str, key: Any, value: Any, expires_at: int | None) -> None:
        super().put(slot, key, encode_state(value), expires_at)

    def size(self) -> int:
        return sum(len(decode_state(raw)) for raw in self._values.values())


# (push: available_at offset, or pop: now offset), times within three days of T0 so that
# several hour buckets, hour edges and ties are hit
_OPS = st.lists(
    st.tuples(
        st.booleans(),
        st.one_of(
            st.integers(0, 3 * DAY * 1000),
            st.integers(0, 72).map(lambda h: h * HOUR_MS),  # on an hour edge
            st.integers(0, 72).map(lambda h: h * HOUR_MS - 1),  # the last ms of an hour
        ),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(ops=_OPS, codec=st.booleans())
def test_release_order_is_that_of_one_global_heap(ops, codec) -> None:
    state = CodecState() if codec else InMemoryState()
    queue = LabelQueue("labels/pending")
    ref: list[tuple] = []
    now, seq = T0, 0
    for n, (push, offset) in enumerate(ops):
        if push:  # any time, also already due (a live label known late)
            seq += 1
            heapq.heappush(ref, (T0 + offset, seq, n, (n % 3, None), n % 2))
            queue.push(state, T0 + offset, n, (n % 3, None), n % 2)
        else:  # the engine's clock never goes back
            now = max(now, T0 + offset)
            want = []
            while ref and ref[0][0] <= now:
                avail, _, tj, keys, fraud = heapq.heappop(ref)
                want.append((avail, tj, keys, fraud))
            got = [(a, tj, k, f) for a, _, tj, k, f in queue.pop_due(state, now)]
            assert got == want
        index = state.get("labels/pending", 0)
        if index is None:
            assert not ref
            continue
        # the index lists exactly the non-empty buckets, each holding its hour only
        hours = sorted({a // HOUR_MS for a, *_ in ref})
        assert index.hours == hours
        assert index.head == (min(ref)[0] if ref else None)
        for h in hours:
            bucket = state.get("labels/pending/hour", h)
            assert bucket.heap and {a // HOUR_MS for a, *_ in bucket.heap} == {h}
    assert state.size() == len(ref) + len(state.get("labels/pending", 0) or [])


def test_a_state_holding_one_global_heap_is_migrated_in_order() -> None:
    # What a state written before the heap was bucketed holds under ("labels/pending", 0).
    old = PendingLabels()
    times = [T0 + 5 * HOUR_MS, T0 + 10, T0 + 5 * HOUR_MS, T0 + 30 * HOUR_MS, T0 + 10]
    for n, t in enumerate(times):
        old.push(t, n, (n,), n % 2)
    state = CodecState()
    state.put("labels/pending", 0, old, None)
    queue = LabelQueue("labels/pending")
    want = [(a, tj) for a, _, tj, _, _ in sorted(old.heap)]
    assert [(a, tj) for a, _, tj, _, _ in queue.pop_due(state, T0 + 6 * HOUR_MS)] == want[:4]
    assert isinstance(state.get("labels/pending", 0), PendingIndex)
    queue.push(state, T0 + 7 * HOUR_MS, 99, (99,), 1)
    got = [(a, tj) for a, _, tj, _, _ in queue.pop_due(state, T0 + 40 * HOUR_MS)]
    assert got == [(T0 + 7 * HOUR_MS, 99), want[4]]


class Recording(InMemoryState):
    """Records the size of every pending-label value written."""

    def __init__(self) -> None:
        super().__init__()
        self.buckets: list[int] = []
        self.indexes: list[int] = []

    def put(self, slot: str, key: Any, value: Any, expires_at: int | None) -> None:
        if slot == "labels/pending/hour":
            self.buckets.append(len(value))
        elif slot == "labels/pending":
            self.indexes.append(len(value))
        super().put(slot, key, value, expires_at)


def test_an_event_writes_an_hour_of_labels_not_all_pending_ones() -> None:
    # One payment a minute for 9 days, labels known 7 days later: about 10,000 labels pend at
    # once, but a bucket holds an hour of them (60) and the index a bucket per hour (7 days).
    fs = FeatureSet([LabelRisk(Entity.TERMINAL, DAY, 7 * DAY)])
    state = Recording()
    eng = OnlineFeatureEngine(fs, state=state)
    minute = 60_000
    n = 9 * 24 * 60
    for i in range(n):
        t = T0 + i * minute
        eng.update({"transaction_id": i, "timestamp": t, "terminal_id": i % 5,
                    "is_fraud": i % 10 == 0, "label_available_at": t + 7 * DAY * 1000})  # fmt: skip
        if i == 8 * 24 * 60:
            pending = sum(len(state.get("labels/pending/hour", h)) for h in
                          state.get("labels/pending", 0).hours)  # fmt: skip
            assert pending == 7 * 24 * 60  # a full week pending
    assert max(state.buckets) == 60
    assert max(state.indexes) <= 7 * 24 + 1
    # the index is rewritten when a bucket opens or its head moves: at most twice an event
    assert len(state.indexes) <= 2 * n
    # the labels did come out: the terminal's labelled count over 1 day, 7 days back
    out = eng.update({"transaction_id": n, "timestamp": T0 + n * minute, "terminal_id": 0})
    assert out["terminal_fraud_rate_1d_delay_7d"] == 1.0 / 2
