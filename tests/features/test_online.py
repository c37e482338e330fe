"""The online engine: order, input checks, live labels, bounded state, resuming."""

from __future__ import annotations

import datetime as dt
import pickle
from decimal import Decimal

import numpy as np
import pytest
from _feature_streams import T0, customers_table, every_family, offline, to_event

from fintwin.exceptions import DataError, ParameterError
from fintwin.features import (
    DAY,
    Aggregation,
    Amount,
    AmountProfile,
    DistanceFromHome,
    Entity,
    FeatureSet,
    InMemoryState,
    LabelAge,
    LabelAgeStat,
    LabelRisk,
    LabelStat,
    Novelty,
    OnlineFeatureEngine,
    ProfileStat,
    Recency,
    SpeedFromPrevious,
    Velocity,
)
from fintwin.features._event_values import to_cents, to_ms

FS = FeatureSet([Velocity(Entity.CARD, DAY, Aggregation.SUM), Recency(Entity.CARD)])


def event(i: int, t: int, **kw) -> dict:
    return {"transaction_id": i, "timestamp": t, "card_id": 1, "amount": "1.00", **kw}


@pytest.mark.parametrize(
    ("second", "why"),
    [
        (event(1, T0 - 1), "earlier timestamp"),
        (event(1, T0), "same timestamp, smaller id"),
        (event(2, T0), "the same event again"),
    ],
)
def test_out_of_order_events_are_refused(second, why) -> None:
    eng = OnlineFeatureEngine(FS)
    eng.update(event(2, T0))
    with pytest.raises(DataError, match="out of order"):
        eng.update(second)
    # the refused event left no trace: the next event in order sees only the first
    assert eng.update(event(3, T0 + 1000))["card_amount_sum_1d"] == 2.0, why
    assert eng.clock == (T0 + 1000, 3)


def test_a_state_of_another_feature_set_is_refused() -> None:
    state = InMemoryState()
    OnlineFeatureEngine(FS, state=state).update(event(1, T0))
    OnlineFeatureEngine(FS, state=state)  # the same definitions: resumes
    other = FeatureSet([Velocity(Entity.CARD, 2 * DAY, Aggregation.SUM)])
    with pytest.raises(ParameterError, match="use a fresh state"):
        OnlineFeatureEngine(other, state=state)


def test_same_timestamp_larger_id_is_in_order() -> None:
    eng = OnlineFeatureEngine(FS)
    eng.update(event(1, T0))
    assert eng.update(event(2, T0))["card_seconds_since_prev_30d"] == 0.0


@pytest.mark.parametrize(
    ("bad", "column"),
    [
        ({"amount": "1.001"}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"amount": None}, "amount"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": None}, "timestamp"),
    ],
)
def test_malformed_fields_name_the_column(bad, column) -> None:
    eng = OnlineFeatureEngine(FS)
    with pytest.raises(DataError, match=column):
        eng.update({**event(1, T0), **bad})


def test_an_event_without_an_id_is_refused() -> None:
    with pytest.raises(DataError, match="transaction_id"):
        OnlineFeatureEngine(FS).update({"timestamp": T0, "card_id": 1, "amount": 1})


@pytest.mark.parametrize(
    ("value", "cents"),
    [(Decimal("12.34"), 1234), (12, 1200), (12.5, 1250), ("0.07", 7), (Decimal("-3.10"), -310)],
)
def test_amounts_become_exact_cents(value, cents) -> None:
    assert to_cents(value) == cents


def test_times_in_every_accepted_form() -> None:
    when = dt.datetime(2024, 1, 1, 0, 0, 1, 500_000)
    assert to_ms(when, "timestamp") == T0 + 1500
    assert to_ms(np.datetime64("2024-01-01T00:00:01.500"), "timestamp") == T0 + 1500
    assert to_ms(T0, "timestamp") == T0
    aware = dt.datetime(2024, 1, 1, 1, 0, 1, 500_000, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert to_ms(aware, "timestamp") == T0 + 1500


def test_distance_needs_customers() -> None:
    with pytest.raises(DataError, match="customers"):
        OnlineFeatureEngine(FeatureSet([DistanceFromHome()]))


def test_add_label_counts_from_its_available_time() -> None:
    fs = FeatureSet([LabelRisk(Entity.TERMINAL, DAY, stat=LabelStat.FRAUD_COUNT)])
    eng = OnlineFeatureEngine(fs)
    h = 3_600_000

    def pay(i: int, t: int) -> float:
        return eng.update(event(i, t, terminal_id=5))["terminal_fraud_count_1d"]

    assert pay(1, T0) == 0
    assert eng.add_label(1, True, T0 + 2 * h)
    assert not eng.add_label(1, True, T0 + 2 * h)  # a second label for the same event
    assert not eng.add_label(99, True, T0)  # unknown event
    assert pay(2, T0 + h) == 0  # not yet available
    assert pay(3, T0 + 2 * h) == 1
    assert pay(4, T0 + 24 * h) == 0  # out of the window
    assert eng.add_label(4, True, dt.datetime(2024, 1, 2, 1))
    assert pay(5, T0 + 25 * h) == 1


def test_a_label_known_too_late_for_any_window_is_not_kept() -> None:
    fs = FeatureSet([LabelRisk(Entity.TERMINAL, DAY)])
    eng = OnlineFeatureEngine(fs)
    eng.update(event(1, T0, terminal_id=5))
    assert not eng.add_label(1, True, T0 + DAY * 1000)
    assert eng.state.size() == 2  # only the clock and the feature-set stamp


def test_resuming_from_a_pickled_copy_of_the_state() -> None:
    # What a shared backend does: the state leaves the process (pickled) and another engine
    # carries on from it, with values equal to one uninterrupted run.
    rng = np.random.default_rng(3)
    events = _stream(rng, n=400, days=6)
    fs = every_family()
    want = offline(fs, events, customers_table())
    first = OnlineFeatureEngine(fs, state=InMemoryState(), customers=customers_table())
    rows = [first.update(to_event(e)) for e in events[:200]]
    state = pickle.loads(pickle.dumps(first.state))
    second = OnlineFeatureEngine(fs, state=state, customers=customers_table())
    assert second.clock == first.clock
    rows += [second.update(to_event(e)) for e in events[200:]]
    for name in fs.names:
        np.testing.assert_array_equal(want.column(name).to_numpy(), [r[name] for r in rows])


def _stream(rng: np.random.Generator, n: int, days: int, new_card_every: int = 0) -> list[dict]:
    """n events spread evenly over ``days``; cards replaced every ``new_card_every`` events."""
    t = T0 + np.sort(rng.integers(0, days * DAY * 1000, n))
    out = []
    for i in range(n):
        card = i // new_card_every if new_card_every else int(rng.integers(0, 3))
        out.append(
            {
                "transaction_id": i,
                "timestamp": int(t[i]),
                "customer_id": int(rng.integers(0, 3)),
                "card_id": card,
                "terminal_id": int(rng.integers(0, 40)),
                "device_id": None if rng.random() < 0.5 else int(rng.integers(0, 30)),
                "ip_prefix": None,
                "country": "NL",
                "channel": "pos" if rng.random() < 0.5 else "ecom",
                "location_x": float(rng.integers(0, 100)),
                "location_y": float(rng.integers(0, 100)),
                "amount_cents": int(rng.integers(1, 10_000)),
                "is_fraud": bool(rng.random() < 0.05),
                "label_available_at": int(t[i]) + int(rng.integers(0, 3 * DAY * 1000)),
            }
        )
    return out


def test_state_stays_bounded_by_the_windows() -> None:
    # 120 days at a constant rate, each card used for 20 payments then never again: without
    # expiry the state would grow with every card; with it, it holds only the last 7 days.
    fs = FeatureSet(
        [
            Velocity(Entity.CARD, 7 * DAY, Aggregation.SUM),
            Velocity(Entity.CARD, DAY, Aggregation.DISTINCT_COUNT, of=Entity.TERMINAL),
            Velocity(Entity.TERMINAL, 7 * DAY, Aggregation.MAX),
            Recency(Entity.CARD, 7 * DAY),
            Novelty(Entity.CARD, Entity.DEVICE, 7 * DAY),
            SpeedFromPrevious(Entity.CARD, DAY),
            LabelRisk(Entity.TERMINAL, 7 * DAY, 2 * DAY),
            LabelRisk(Entity.CARD, 7 * DAY),
            AmountProfile(Entity.CARD, 7 * DAY, ProfileStat.ZSCORE),
            AmountProfile(Entity.TERMINAL, 3 * DAY, ProfileStat.STD),
            LabelAge(Entity.TERMINAL, 7 * DAY, LabelAgeStat.FIRST_FRAUD, 4 * DAY),
            LabelAge(Entity.CARD, 7 * DAY, LabelAgeStat.LAST_GENUINE, 4 * DAY),
        ]
    )
    events = _stream(np.random.default_rng(7), n=12_000, days=120, new_card_every=20)
    eng = OnlineFeatureEngine(fs)
    sizes, keys = {}, {}
    for e in events:
        eng.update(to_event(e))
        day = (e["timestamp"] - T0) // (DAY * 1000)
        sizes[day], keys[day] = eng.state.size(), eng.state.keys()
    # 100 payments a day; 7-day windows hold ~700 of them per feature. Day 60 and day 119 see
    # the same rate, so their sizes agree within Poisson noise (a few %); 15% catches growth.
    assert sizes[119] <= 1.15 * sizes[60], (sizes[60], sizes[119])
    assert keys[119] <= 1.15 * keys[60]
    cards_seen = events[-1]["card_id"] + 1
    assert keys[119] < cards_seen  # cards gone quiet were dropped


def test_a_refused_event_changes_no_state() -> None:
    # The malformed event is later than a pending label's time: had it advanced the state, the
    # label would leak into the next (valid, earlier) event.
    fs = FeatureSet([Amount(), LabelRisk(Entity.TERMINAL, DAY, stat=LabelStat.FRAUD_COUNT)])
    eng = OnlineFeatureEngine(fs)
    h = 3_600_000
    eng.update(event(1, T0, terminal_id=5, is_fraud=True, label_available_at=T0 + h))
    for bad in ({"amount": "x"}, {"label_available_at": "soon"}):
        with pytest.raises(DataError):
            eng.update(event(2, T0 + 2 * h, terminal_id=5, is_fraud=False, **bad))
    assert eng.update(event(3, T0 + h // 2, terminal_id=5))["terminal_fraud_count_1d"] == 0
    assert eng.update(event(4, T0 + h, terminal_id=5))["terminal_fraud_count_1d"] == 1
