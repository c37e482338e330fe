"""Online == offline, exactly, on random streams; and no feature sees a label it may not see."""

from __future__ import annotations

import random

import numpy as np
from _feature_streams import (
    assert_tables_identical,
    customers_table,
    event_streams,
    every_family,
    in_order,
    offline,
    online,
    to_event,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from fintwin.features import OnlineFeatureEngine

FS = every_family()


@settings(max_examples=120, deadline=None)
@given(event_streams(), st.randoms(use_true_random=False))
def test_online_equals_offline_exactly(events, rnd) -> None:
    # Every value is computed by the same float operations on the same exact integers (cents,
    # ms, counts) in both engines, so equality is exact: no tolerance.
    shuffled = list(events)
    rnd.shuffle(shuffled)  # the offline engine must order the rows itself
    want = offline(FS, shuffled, customers_table())
    got = online(FS, events, customers_table())
    assert_tables_identical(want, got)


@settings(max_examples=40, deadline=None)
@given(event_streams())
def test_live_labels_through_add_label_equal_replayed_labels(events) -> None:
    # Labels that arrive through add_label right after their event count exactly as labels
    # carried by the replayed events.
    eng = OnlineFeatureEngine(FS, customers=customers_table())
    rows = []
    for e in in_order(events):
        rows.append(eng.update(to_event(e, with_label=False)))
        eng.add_label(e["transaction_id"], e["is_fraud"], e["label_available_at"])
    want = offline(FS, events, customers_table())
    for name in FS.names:
        np.testing.assert_array_equal(want.column(name).to_numpy(), [r[name] for r in rows])


@settings(max_examples=60, deadline=None)
@given(event_streams(), st.integers(0, 10**6), st.randoms(use_true_random=False))
def test_labels_not_yet_available_change_nothing(events, pick, rnd) -> None:
    # At a cut time c, rewrite the label of every event whose label is not available by c
    # (future events included): no feature of an event at or before c may change.
    cut = events[pick % len(events)]["timestamp"]
    changed = [
        {**e, "is_fraud": rnd.random() < 0.5} if e["label_available_at"] > cut else e
        for e in events
    ]
    before = offline(FS, events, customers_table())
    after = offline(FS, changed, customers_table())
    ids = before.column("transaction_id").to_pylist()
    t_of = {e["transaction_id"]: e["timestamp"] for e in events}
    upto = np.array([t_of[i] <= cut for i in ids])
    for name in FS.names:
        x, y = before.column(name).to_numpy()[upto], after.column(name).to_numpy()[upto]
        np.testing.assert_array_equal(x, y, err_msg=name)


@settings(max_examples=50, deadline=None)
@given(event_streams(), st.integers(0, 10**6))
def test_an_event_never_sees_its_own_label(events, pick) -> None:
    # Even with a zero label delay, an event's own is_fraud must not reach its own features.
    i = pick % len(events)
    flipped = list(events)
    flipped[i] = {
        **events[i],
        "is_fraud": not events[i]["is_fraud"],
        "label_available_at": events[i]["timestamp"],
    }
    same_delay = list(events)
    same_delay[i] = {**events[i], "label_available_at": events[i]["timestamp"]}
    a = offline(FS, same_delay, customers_table())
    b = offline(FS, flipped, customers_table())
    row = a.column("transaction_id").to_pylist().index(events[i]["transaction_id"])
    for name in FS.names:
        x, y = a.column(name)[row].as_py(), b.column(name)[row].as_py()
        assert x == y or (x != x and y != y), name


def test_future_events_change_nothing() -> None:
    # Appending later events (any keys, any labels) leaves every earlier row as it was.
    rng = random.Random(5)
    base = [
        {
            "transaction_id": i,
            "timestamp": 1_704_067_200_000 + i * 600_000,
            "customer_id": rng.randrange(3),
            "card_id": rng.randrange(3),
            "terminal_id": rng.randrange(3),
            "device_id": rng.choice([None, 1, 2]),
            "ip_prefix": rng.choice([None, "10.0.1"]),
            "country": rng.choice(["NL", "FR"]),
            "channel": rng.choice(["pos", "ecom"]),
            "location_x": float(rng.randrange(100)),
            "location_y": float(rng.randrange(100)),
            "amount_cents": rng.randrange(10_000),
            "is_fraud": rng.random() < 0.3,
            "label_available_at": 1_704_067_200_000 + i * 600_000 + rng.randrange(10**7),
        }
        for i in range(300)
    ]
    head = offline(FS, base[:200], customers_table())
    full = offline(FS, base, customers_table()).slice(0, 200)
    assert_tables_identical(head, full)
