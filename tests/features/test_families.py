"""Hand-computed values of every family, through both engines."""

from __future__ import annotations

import math

import pytest
from _feature_streams import (
    T0,
    assert_tables_identical,
    column,
    customers_table,
    every_family,
    offline,
    online,
    to_table,
)

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
    ProfileStat,
    Recency,
    SpeedFromPrevious,
    Velocity,
    compute_offline,
)

H = HOUR * 1000
NAN = math.nan


def ev(i: int, hours: float, **kw) -> dict:
    """Event i at T0 + hours; unspecified keys null, label genuine and available at once."""
    t = T0 + round(hours * H)
    base = {
        "transaction_id": i,
        "timestamp": t,
        "customer_id": 0,
        "card_id": None,
        "terminal_id": 0,
        "device_id": None,
        "ip_prefix": None,
        "country": "NL",
        "channel": "pos",
        "location_x": 0.0,
        "location_y": 0.0,
        "amount_cents": 100,
        "is_fraud": False,
        "label_available_at": t,
    }
    base.update(kw)
    if "delay_h" in kw:
        base["label_available_at"] = t + round(kw.pop("delay_h") * H)
        del base["delay_h"]
    return base


def both(fs: FeatureSet, events: list[dict], customers=None) -> dict[str, list]:
    """Values from the offline engine, after checking the online engine gives the same."""
    off = offline(fs, events, customers)
    assert_tables_identical(off, online(fs, events, customers))
    return {n: column(off, n) for n in ["transaction_id", *fs.names]}


def same(got: list, want: list) -> bool:
    return len(got) == len(want) and all(
        (math.isnan(a) and math.isnan(b)) if isinstance(b, float) and math.isnan(b) else a == b
        for a, b in zip(got, want, strict=True)
    )


EVENTS = [
    ev(1, 0, card_id=7, terminal_id=1, amount_cents=1000),
    ev(2, 1, card_id=7, terminal_id=2, amount_cents=2000),
    ev(3, 1, card_id=8, terminal_id=1, amount_cents=500),
    ev(4, 2, card_id=7, terminal_id=1, amount_cents=3000),
    ev(5, 25, card_id=7, terminal_id=1, amount_cents=100),  # 1 h after ev 2 leaves the window
    ev(6, 25, card_id=None, terminal_id=1, amount_cents=100),
]


def test_velocity_window_is_open_at_the_start_and_includes_the_event() -> None:
    card = Entity.CARD
    fs = FeatureSet(
        [
            Velocity(card, DAY),
            Velocity(card, DAY, Aggregation.SUM),
            Velocity(card, DAY, Aggregation.MEAN),
            Velocity(card, DAY, Aggregation.MAX),
            Velocity(card, DAY, Aggregation.DISTINCT_COUNT, of=Entity.TERMINAL),
        ]
    )
    got = both(fs, EVENTS)
    # event 5 at 25 h: window (1 h, 25 h] holds events 4 and 5 (event 2 at exactly 1 h is out)
    assert got["card_count_1d"][:5] == [1, 2, 1, 3, 2]
    assert got["card_amount_sum_1d"][:5] == [10.0, 30.0, 5.0, 60.0, 31.0]
    assert got["card_amount_mean_1d"][:5] == [10.0, 15.0, 5.0, 20.0, 15.5]
    assert got["card_amount_max_1d"][:5] == [10.0, 20.0, 5.0, 30.0, 30.0]
    assert got["card_distinct_terminal_1d"][:5] == [1, 2, 1, 2, 1]
    assert all(math.isnan(v[5]) for k, v in got.items() if k != "transaction_id")


def test_events_are_ordered_by_time_then_id() -> None:
    # Two events at the same time: the smaller id comes first and does not see the other.
    events = [ev(9, 0, card_id=1), ev(3, 0, card_id=1)]
    got = both(FeatureSet([Velocity(Entity.CARD, HOUR), Recency(Entity.CARD)]), events)
    assert got["transaction_id"] == [3, 9]
    assert got["card_count_1h"] == [1, 2]
    assert same(got["card_seconds_since_prev_30d"], [NAN, 0.0])


def test_recency_within_horizon_only() -> None:
    got = both(FeatureSet([Recency(Entity.CARD, DAY)]), EVENTS)
    # event 5 comes 23 h after event 4 (< 24 h); event 6 has no card
    assert same(got["card_seconds_since_prev_1d"], [NAN, 3600.0, NAN, 3600.0, 82800.0, NAN])
    got = both(FeatureSet([Recency(Entity.CARD, 23 * HOUR)]), EVENTS)
    assert same(got["card_seconds_since_prev_23h"], [NAN, 3600.0, NAN, 3600.0, NAN, NAN])


def test_novelty_first_use_within_window() -> None:
    fs = FeatureSet(
        [
            Novelty(Entity.CARD, Entity.TERMINAL, DAY),
            Novelty(Entity.CARD, Entity.TERMINAL, 23 * HOUR),
        ]
    )
    got = both(fs, EVENTS)
    assert same(got["card_new_terminal_1d"], [1.0, 1.0, 1.0, 0.0, 0.0, NAN])
    # terminal 1 was last used by card 7 at 2 h; 23 h later it is new again for a 23 h window
    assert same(got["card_new_terminal_23h"], [1.0, 1.0, 1.0, 0.0, 1.0, NAN])


def test_novelty_null_value_is_missing() -> None:
    events = [ev(1, 0, card_id=1, device_id=None), ev(2, 1, card_id=1, device_id=4)]
    got = both(FeatureSet([Novelty(Entity.CARD, Entity.DEVICE, DAY)]), events)
    assert same(got["card_new_device_1d"], [NAN, 1.0])


def test_distance_from_home() -> None:
    events = [
        ev(1, 0, customer_id=0, location_x=3.0, location_y=4.0),
        ev(2, 1, customer_id=1, location_x=10.0, location_y=5.5),
        ev(3, 2, customer_id=2, location_x=1.0, location_y=1.0),  # no home known
    ]
    got = both(FeatureSet([DistanceFromHome()]), events, customers_table())
    assert same(got["distance_from_home_km"], [5.0, 0.0, NAN])


def test_speed_from_previous_card_present_location() -> None:
    events = [
        ev(1, 0, card_id=1, channel="pos", location_x=0.0, location_y=0.0),
        # an e-commerce payment 30 min later, 300 km away (its IP): measured, not a location
        ev(2, 0.5, card_id=1, channel="ecom", location_x=300.0, location_y=0.0),
        ev(3, 2, card_id=1, channel="pos", location_x=30.0, location_y=40.0),
        ev(4, 2, card_id=1, channel="pos", location_x=30.0, location_y=40.0),
        ev(5, 2 + 10 / 3600, card_id=1, channel="pos", location_x=33.0, location_y=44.0),
    ]
    fs = FeatureSet([SpeedFromPrevious(Entity.CARD, DAY)])
    got = both(fs, events)["card_speed_from_prev_pos_kmh_1d"]
    # 300 km in 0.5 h; 50 km in 2 h; 0 km in 0 s; 5 km in 10 s, counted as the 60 s minimum
    assert same(got, [NAN, 600.0, 25.0, 0.0, 300.0])


def test_calendar() -> None:
    # T0 is Monday 2024-01-01 00:00; +125 h is Saturday 05:00, +150 h Sunday 06:00
    events = [ev(1, 0), ev(2, 5.99), ev(3, 6), ev(4, 23), ev(5, 125), ev(6, 150)]
    fs = FeatureSet(
        [
            Calendar(CalendarField.HOUR_OF_DAY),
            Calendar(CalendarField.WEEKEND),
            Calendar(CalendarField.NIGHT),
            Calendar(CalendarField.NIGHT, night_start_hour=22, night_end_hour=7),
        ]
    )
    got = both(fs, events)
    assert got["hour_of_day"] == [0, 5, 6, 23, 5, 6]
    assert got["is_weekend"] == [0, 0, 0, 0, 1, 1]
    assert got["is_night"] == [1, 1, 0, 0, 1, 0]
    assert got["is_night_22_7h"] == [1, 1, 1, 1, 1, 1]


def test_amount_is_exact_currency_units() -> None:
    got = both(FeatureSet([Amount()]), [ev(1, 0, amount_cents=1), ev(2, 1, amount_cents=123456)])
    assert got["amount"] == [0.01, 1234.56]


def test_label_risk_uses_only_available_labels_of_earlier_events() -> None:
    term = Entity.TERMINAL
    fs = FeatureSet(
        [
            LabelRisk(term, DAY),
            LabelRisk(term, DAY, stat=LabelStat.LABELLED_COUNT),
            LabelRisk(term, DAY, stat=LabelStat.FRAUD_COUNT),
        ]
    )
    events = [
        ev(1, 0, is_fraud=True, delay_h=0.5),
        ev(2, 1, is_fraud=False, delay_h=0),  # its own label is available at once: not to itself
        ev(3, 1, is_fraud=True, delay_h=100),
        ev(4, 1.25, is_fraud=False, delay_h=0),
        ev(5, 24.75, is_fraud=False),  # window (0.75 h, 24.75 h]: event 1 is out
        ev(6, 25, is_fraud=False),  # (1 h, 25 h]: events 2 and 3 at exactly 1 h are out
        ev(7, 2, terminal_id=5),  # another terminal
    ]
    got = both(fs, events)
    assert got["transaction_id"] == [1, 2, 3, 4, 7, 5, 6]
    assert got["terminal_labelled_count_1d"] == [0, 1, 2, 2, 0, 2, 2]
    assert got["terminal_fraud_count_1d"] == [0, 1, 1, 1, 0, 0, 0]
    assert got["terminal_fraud_rate_1d"] == [0.0, 1.0, 0.5, 0.5, 0.0, 0.0, 0.0]


def test_label_risk_with_a_delay_window() -> None:
    # Window shifted back by d = 1 day: events j with t - 2 d < t_j <= t - 1 d.
    fs = FeatureSet([LabelRisk(Entity.TERMINAL, DAY, DAY, LabelStat.FRAUD_COUNT)])
    events = [
        ev(1, 0, is_fraud=True, delay_h=2),  # known at 2 h, counts from 24 h to before 48 h
        ev(2, 10, is_fraud=True, delay_h=30),  # known at 40 h, in the window from 40 h
        ev(3, 23.9),
        ev(4, 24),
        ev(5, 39.9),
        ev(6, 40),
        ev(7, 47.99),
        ev(8, 48),  # event 1 leaves at exactly 48 h
        ev(9, 58),  # event 2 leaves at exactly 58 h
    ]
    got = both(fs, events)["terminal_fraud_count_1d_delay_1d"]
    assert got == [0, 0, 0, 1, 1, 2, 2, 1, 0]


def test_label_risk_label_known_late_joins_then_leaves_at_the_edge() -> None:
    # A label that waits (t_j > now - d when it arrives) must leave at exactly t_j + d + w, even
    # when no event of the key came in between.
    fs = FeatureSet([LabelRisk(Entity.TERMINAL, 2 * HOUR, 30 * MINUTE, LabelStat.FRAUD_COUNT)])
    events = [
        ev(1, 0, is_fraud=True, delay_h=0.25),
        ev(2, 0.25, terminal_id=9),  # releases the label while it is still waiting
        ev(3, 2.5),  # t_j + d + w: out
    ]
    got = both(fs, events)["terminal_fraud_count_2h_delay_30m"]
    assert got == [0, 0, 0]
    got = both(fs, [*events[:2], ev(3, 2.49)])["terminal_fraud_count_2h_delay_30m"]
    assert got == [0, 0, 1]


@pytest.mark.parametrize("delay_h", [0.0, 1.0])
def test_label_known_only_after_the_window_never_counts(delay_h: float) -> None:
    fs = FeatureSet(
        [LabelRisk(Entity.TERMINAL, HOUR, round(delay_h * HOUR), LabelStat.FRAUD_COUNT)]
    )
    events = [ev(1, 0, is_fraud=True, delay_h=delay_h + 1), ev(2, delay_h + 1)]
    name = fs.names[0]
    assert both(fs, events)[name] == [0, 0]


def test_amount_profile_compares_with_earlier_amounts_only() -> None:
    card = Entity.CARD
    fs = FeatureSet([AmountProfile(card, DAY, s) for s in ProfileStat])
    got = both(fs, EVENTS)
    # card 7: 10, 20, 30 within 2 h, then 1.00 at 25 h whose window (1 h, 25 h) holds only 30
    assert same(got["card_prev_amount_mean_1d"], [NAN, 10.0, NAN, 15.0, 30.0, NAN])
    assert same(got["card_prev_amount_std_1d"], [NAN, NAN, NAN, 5.0, NAN, NAN])
    assert same(got["card_amount_ratio_prev_1d"], [NAN, 2.0, NAN, 2.0, 1 / 30, NAN])
    # (30 - 15) / max(5, 1 % of 15) = 3
    assert same(got["card_amount_zscore_prev_1d"], [NAN, NAN, NAN, 3.0, NAN, NAN])


def test_amount_profile_z_floor_keeps_a_constant_history_finite() -> None:
    fs = FeatureSet([AmountProfile(Entity.CARD, DAY, ProfileStat.ZSCORE)])
    events = [ev(i, i, card_id=1, amount_cents=c) for i, c in enumerate([5000, 5000, 7500, 50])]
    got = both(fs, events)["card_amount_zscore_prev_1d"]
    # std 0 over two 50.00 payments: floored at 1 % of the mean, 0.50, so z = 25.00 / 0.50
    assert same(got[:3], [NAN, NAN, 50.0])
    # then the std (11.79) is above the floor: a plain z-score
    mean, std = 17500 / 3, math.sqrt((3 * (2 * 5000**2 + 7500**2) - 17500**2) / 9)
    assert got[3] == (50 - mean) / std


def test_amount_profile_of_tiny_amounts_uses_a_one_unit_floor() -> None:
    fs = FeatureSet([AmountProfile(Entity.CARD, DAY, ProfileStat.ZSCORE)])
    events = [ev(i, i, card_id=1, amount_cents=c) for i, c in enumerate([10, 10, 60])]
    # mean 0.10, std 0: the floor is 1 % of one currency unit (1 cent), so z = 50 cents / 1 cent
    assert same(both(fs, events)["card_amount_zscore_prev_1d"], [NAN, NAN, 50.0])


def test_label_age_measures_from_when_labels_became_known() -> None:
    term = Entity.TERMINAL
    fs = FeatureSet(
        [
            LabelAge(term, DAY, LabelAgeStat.FIRST_FRAUD),
            LabelAge(term, DAY, LabelAgeStat.LAST_FRAUD),
            LabelAge(term, DAY, LabelAgeStat.LAST_GENUINE),
            LabelAge(term, DAY, LabelAgeStat.FIRST_FRAUD, max_label_delay_seconds=2 * HOUR),
        ]
    )
    events = [
        ev(1, 0, is_fraud=True, delay_h=1),  # known at 1 h, until (not at) 25 h
        ev(2, 0.5, is_fraud=True, delay_h=3),  # known at 3.5 h: too late for a 2 h max delay
        ev(3, 0.5, is_fraud=False, delay_h=0),  # known at once, but not to itself
        ev(4, 2),
        ev(5, 4),
        ev(6, 25),  # the first fraud label left at exactly 25 h
        ev(7, 27.5),  # the second at 27.5 h
    ]
    got = both(fs, events)
    s = 3600.0
    assert same(got["terminal_first_fraud_label_age_1d"], [NAN, NAN, NAN, s, 3 * s, 21.5 * s, NAN])
    assert same(got["terminal_last_fraud_label_age_1d"], [NAN, NAN, NAN, s, 0.5 * s, 21.5 * s, NAN])
    # events 3 to 7 are genuine, each known at once: the previous one is the latest
    last_genuine = [NAN, NAN, NAN, 1.5 * s, 2 * s, 21 * s, 2.5 * s]
    assert same(got["terminal_last_genuine_label_age_1d"], last_genuine)
    assert same(
        got["terminal_first_fraud_label_age_1d_max_delay_2h"], [NAN, NAN, NAN, s, 3 * s, NAN, NAN]
    )


def test_label_age_never_sees_a_label_before_it_is_known() -> None:
    # Zero delay at the same timestamp: the event with the smaller id is earlier and its label
    # is known to the later one, not the other way round.
    fs = FeatureSet([LabelAge(Entity.TERMINAL, HOUR, LabelAgeStat.LAST_FRAUD)])
    events = [ev(2, 0, is_fraud=True), ev(1, 0, is_fraud=True), ev(3, 0)]
    assert same(both(fs, events)["terminal_last_fraud_label_age_1h"], [NAN, 0.0, 0.0])


def test_an_empty_table_gives_an_empty_result() -> None:
    fs = every_family()
    table = to_table([ev(1, 0)]).slice(0, 0)
    out = compute_offline(fs, table, customers_table())
    assert out.num_rows == 0
    assert out.column_names == ["transaction_id", *fs.names]
