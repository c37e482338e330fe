"""Event streams and helpers shared by the feature tests (not a test module itself)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
from hypothesis import strategies as st

from fintwin.data.schemas import money_from_minor
from fintwin.features import (
    DAY,
    HOUR,
    MINUTE,
    Aggregation,
    Amount,
    AmountProfile,
    Calendar,
    CalendarField,
    DistanceFromHome,
    Entity,
    FeatureSet,
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
    compute_offline,
)

#: 2024-01-01 00:00, a Monday.
T0 = 1_704_067_200_000

EVENT_TYPES = {
    "transaction_id": pa.int64(),
    "timestamp": pa.timestamp("ms"),
    "customer_id": pa.int64(),
    "card_id": pa.int64(),
    "terminal_id": pa.int64(),
    "device_id": pa.int64(),
    "ip_prefix": pa.string(),
    "country": pa.dictionary(pa.int32(), pa.string()),
    "channel": pa.dictionary(pa.int32(), pa.string()),
    "location_x": pa.float64(),
    "location_y": pa.float64(),
    "is_fraud": pa.bool_(),
    "label_available_at": pa.timestamp("ms"),
}


def every_family() -> FeatureSet:
    """Every family and aggregation, windows short enough to matter in a 4-day stream."""
    card, term, dev, ip = Entity.CARD, Entity.TERMINAL, Entity.DEVICE, Entity.IP
    return FeatureSet(
        [
            Amount(),
            Calendar(CalendarField.HOUR_OF_DAY),
            Calendar(CalendarField.WEEKEND),
            Calendar(CalendarField.NIGHT),
            Calendar(CalendarField.NIGHT, night_start_hour=22, night_end_hour=5),
            Velocity(card, HOUR),
            Velocity(card, DAY),
            Velocity(card, DAY, Aggregation.SUM),
            Velocity(card, 2 * DAY, Aggregation.MEAN),
            Velocity(card, 6 * HOUR, Aggregation.MAX),
            Velocity(card, DAY, Aggregation.MAX),
            Velocity(card, DAY, Aggregation.DISTINCT_COUNT, of=term),
            Velocity(card, 2 * DAY, Aggregation.DISTINCT_COUNT, of=dev),
            Velocity(dev, DAY, Aggregation.DISTINCT_COUNT, of=card),
            Velocity(dev, DAY, Aggregation.SUM),
            Velocity(ip, 3 * HOUR, Aggregation.DISTINCT_COUNT, of=card),
            Velocity(Entity.CUSTOMER, DAY, Aggregation.MEAN),
            Recency(card, DAY),
            Recency(dev, 2 * HOUR),
            Novelty(card, term, DAY),
            Novelty(card, dev, 2 * DAY),
            Novelty(card, Entity.COUNTRY, 3 * HOUR),
            DistanceFromHome(),
            SpeedFromPrevious(card, DAY),
            SpeedFromPrevious(card, 2 * HOUR, card_present_only=False, min_seconds=1),
            LabelRisk(term, DAY),
            LabelRisk(term, DAY, stat=LabelStat.LABELLED_COUNT),
            LabelRisk(term, DAY, DAY, LabelStat.FRAUD_RATE),
            LabelRisk(term, 2 * HOUR, 30 * MINUTE, LabelStat.FRAUD_COUNT),
            LabelRisk(dev, 2 * DAY, 0, LabelStat.FRAUD_COUNT),
            AmountProfile(card, DAY, ProfileStat.MEAN),
            AmountProfile(card, DAY, ProfileStat.STD),
            AmountProfile(card, DAY, ProfileStat.RATIO),
            AmountProfile(card, DAY, ProfileStat.ZSCORE),
            AmountProfile(card, 3 * HOUR, ProfileStat.ZSCORE),
            AmountProfile(dev, 2 * DAY, ProfileStat.STD),
            LabelAge(term, DAY, LabelAgeStat.FIRST_FRAUD),
            LabelAge(term, DAY, LabelAgeStat.LAST_FRAUD),
            LabelAge(term, 2 * HOUR, LabelAgeStat.LAST_GENUINE),
            LabelAge(term, 2 * DAY, LabelAgeStat.FIRST_FRAUD, max_label_delay_seconds=DAY),
            LabelAge(dev, 3 * HOUR, LabelAgeStat.LAST_FRAUD),
            LabelAge(ip, DAY, LabelAgeStat.LAST_GENUINE, max_label_delay_seconds=HOUR),
        ]
    )


def customers_table() -> pa.Table:
    """Homes of customers 0 and 1; customer 2 has none (its distance is NaN)."""
    return pa.table({"customer_id": [0, 1], "home_x": [0.0, 10.0], "home_y": [0.0, 5.5]})


_DELAYS = [0, MINUTE * 1000, HOUR * 1000, DAY * 1000, 2 * DAY * 1000]


@st.composite
def event_streams(draw, max_events: int = 50) -> list[dict]:
    """Random events: keys from small pools, ties in time, labels with random delays."""
    n = draw(st.integers(1, max_events))
    coarse = st.integers(0, 200).map(lambda k: k * 30 * MINUTE * 1000)
    fine = st.integers(0, 4 * DAY * 1000)
    times = draw(st.lists(st.one_of(coarse, fine), min_size=n, max_size=n))
    ids = draw(st.permutations(range(100, 100 + n)))
    # a pool of one or two keys gives dense histories, five gives sparse ones (window edges)
    pool = draw(st.integers(1, 5))
    keys = st.integers(0, pool - 1)
    events = []
    for i in range(n):
        channel = draw(st.sampled_from(["pos", "ecom"]))
        delay = draw(st.one_of(st.sampled_from(_DELAYS), st.integers(0, 3 * DAY * 1000)))
        t = T0 + times[i]
        events.append(
            {
                "transaction_id": ids[i],
                "timestamp": t,
                "customer_id": draw(st.integers(0, 2)),
                "card_id": draw(keys),
                "terminal_id": draw(keys),
                "device_id": draw(st.sampled_from([None, 1, 2])),
                "ip_prefix": draw(st.sampled_from([None, "10.0.1", "10.0.2"])),
                "country": draw(st.sampled_from(["NL", "FR"])),
                "channel": channel,
                "location_x": float(draw(st.integers(0, 400))) / 4,
                "location_y": float(draw(st.integers(0, 400))) / 4,
                "amount_cents": draw(st.integers(0, 50_000)),
                "is_fraud": draw(st.booleans()),
                "label_available_at": t + delay,
            }
        )
    return events


def to_table(events: list[dict]) -> pa.Table:
    """Events as an Arrow table shaped like a world's ``transactions`` (amount as decimal)."""
    cols = {name: pa.array([e[name] for e in events], type=t) for name, t in EVENT_TYPES.items()}
    cols["amount"] = money_from_minor(np.array([e["amount_cents"] for e in events], np.int64))
    return pa.table(cols)


def to_event(e: dict, *, with_label: bool = True) -> dict:
    """An event as the online engine receives it (amount in currency units)."""
    out = {k: v for k, v in e.items() if k != "amount_cents"}
    out["amount"] = Decimal(e["amount_cents"]).scaleb(-2)
    if not with_label:
        del out["is_fraud"], out["label_available_at"]
    return out


def in_order(events: list[dict]) -> list[dict]:
    return sorted(events, key=lambda e: (e["timestamp"], e["transaction_id"]))


def offline(fs: FeatureSet, events: list[dict], customers: pa.Table | None = None) -> pa.Table:
    return compute_offline(fs, to_table(events), customers)


def online(fs: FeatureSet, events: list[dict], customers: pa.Table | None = None) -> pa.Table:
    eng = OnlineFeatureEngine(fs, customers=customers)
    rows = [eng.update(to_event(e)) for e in in_order(events)]
    cols = {"transaction_id": [e["transaction_id"] for e in in_order(events)]}
    cols.update({n: [r[n] for r in rows] for n in fs.names})
    return pa.table(cols)


def assert_tables_identical(a: pa.Table, b: pa.Table) -> None:
    """Same ids in the same order and bit-identical feature values (NaN equal to NaN)."""
    assert a.column_names == b.column_names
    assert a.column(0).to_pylist() == b.column(0).to_pylist()
    for name in a.column_names[1:]:
        x = a.column(name).to_numpy()
        y = b.column(name).to_numpy()
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        if not same.all():
            k = int(np.flatnonzero(~same)[0])
            raise AssertionError(f"{name}: row {k} differs: {x[k]!r} != {y[k]!r}")


def column(table: pa.Table, name: str) -> list[float]:
    return table.column(name).to_pylist()
