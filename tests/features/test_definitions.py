"""Definitions: names, canonical JSON, the definitions hash and parameter validation."""

from __future__ import annotations

import json

import pytest

from fintwin.exceptions import ParameterError
from fintwin.features import (
    DAY,
    HOUR,
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
    Novelty,
    ProfileStat,
    Recency,
    SpeedFromPrevious,
    Velocity,
    definition_from_json,
    handbook_feature_set,
    retail_feature_set,
)

#: The handbook set's hash, pinned: it is recorded with every trained model, so a change here
#: must be deliberate (and makes old models refuse to load against the new definitions).
HANDBOOK_HASH = "e6e18ebd868f4a51d2d11e5bda0b73b46d5feb87687c971f1e6f4cfc339834cf"


def test_handbook_hash_is_stable() -> None:
    assert handbook_feature_set().definitions_hash() == HANDBOOK_HASH


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Velocity(Entity.CARD, DAY), Velocity(Entity.CARD, 2 * DAY)),
        (Velocity(Entity.CARD, DAY), Velocity(Entity.DEVICE, DAY)),
        (LabelRisk(Entity.TERMINAL, DAY, DAY), LabelRisk(Entity.TERMINAL, DAY, 2 * DAY)),
        (Calendar(CalendarField.NIGHT), Calendar(CalendarField.NIGHT, night_end_hour=7)),
        (SpeedFromPrevious(), SpeedFromPrevious(card_present_only=False)),
    ],
)
def test_hash_changes_with_any_parameter(a, b) -> None:
    assert FeatureSet([a]).definitions_hash() != FeatureSet([b]).definitions_hash()


def test_hash_changes_with_order() -> None:
    a, b = Amount(), Velocity(Entity.CARD, DAY)
    assert FeatureSet([a, b]).definitions_hash() != FeatureSet([b, a]).definitions_hash()


def test_handbook_set_names() -> None:
    assert handbook_feature_set().names == [
        "amount",
        "is_weekend",
        "is_night_0_7h",
        "customer_count_1d",
        "customer_amount_mean_1d",
        "customer_count_7d",
        "customer_amount_mean_7d",
        "customer_count_30d",
        "customer_amount_mean_30d",
        "terminal_labelled_count_1d_delay_7d",
        "terminal_fraud_rate_1d_delay_7d",
        "terminal_labelled_count_7d_delay_7d",
        "terminal_fraud_rate_7d_delay_7d",
        "terminal_labelled_count_30d_delay_7d",
        "terminal_fraud_rate_30d_delay_7d",
    ]


@pytest.mark.parametrize(
    ("definition", "name"),
    [
        (Velocity(Entity.CARD, DAY, Aggregation.SUM), "card_amount_sum_1d"),
        (Velocity(Entity.CARD, HOUR, Aggregation.MAX), "card_amount_max_1h"),
        (
            Velocity(Entity.CARD, DAY, Aggregation.DISTINCT_COUNT, of=Entity.TERMINAL),
            "card_distinct_terminal_1d",
        ),
        (
            Velocity(Entity.DEVICE, 30 * DAY, Aggregation.DISTINCT_COUNT, of=Entity.CARD),
            "device_distinct_card_30d",
        ),
        (Velocity(Entity.IP, 90 * 60, Aggregation.COUNT), "ip_count_90m"),
        (Velocity(Entity.IP, 45, Aggregation.COUNT), "ip_count_45s"),
        (Recency(Entity.DEVICE, 7 * DAY), "device_seconds_since_prev_7d"),
        (Novelty(Entity.CARD, Entity.COUNTRY, 90 * DAY), "card_new_country_90d"),
        (DistanceFromHome(), "distance_from_home_km"),
        (SpeedFromPrevious(), "card_speed_from_prev_pos_kmh_1d"),
        (LabelRisk(Entity.TERMINAL, 7 * DAY), "terminal_fraud_rate_7d"),
        (Calendar(CalendarField.NIGHT), "is_night"),
        (
            AmountProfile(Entity.CUSTOMER, 30 * DAY, ProfileStat.MEAN),
            "customer_prev_amount_mean_30d",
        ),
        (AmountProfile(Entity.CARD, 7 * DAY, ProfileStat.STD), "card_prev_amount_std_7d"),
        (
            AmountProfile(Entity.CUSTOMER, 90 * DAY, ProfileStat.RATIO),
            "customer_amount_ratio_prev_90d",
        ),
        (AmountProfile(Entity.CUSTOMER, 7 * DAY), "customer_amount_zscore_prev_7d"),
        (LabelAge(Entity.TERMINAL, 35 * DAY), "terminal_first_fraud_label_age_35d"),
        (
            LabelAge(Entity.TERMINAL, 60 * DAY, LabelAgeStat.LAST_GENUINE),
            "terminal_last_genuine_label_age_60d",
        ),
        (
            LabelAge(Entity.DEVICE, DAY, LabelAgeStat.LAST_FRAUD, max_label_delay_seconds=HOUR),
            "device_last_fraud_label_age_1d_max_delay_1h",
        ),
    ],
)
def test_names(definition, name) -> None:
    assert definition.name == name


def test_json_round_trip_of_both_sets() -> None:
    for fs in (handbook_feature_set(), retail_feature_set()):
        back = FeatureSet.from_json(json.loads(fs.canonical_json()))
        assert back == fs
        assert back.definitions_hash() == fs.definitions_hash()
        assert FeatureSet.from_json(fs.canonical_json()) == fs


def test_json_round_trip_of_the_history_families() -> None:
    defs = [
        AmountProfile(Entity.CUSTOMER, 30 * DAY, ProfileStat.RATIO),
        LabelAge(Entity.TERMINAL, 35 * DAY, LabelAgeStat.LAST_FRAUD, max_label_delay_seconds=DAY),
    ]
    for d in defs:
        assert definition_from_json(json.loads(json.dumps(d.to_json()))) == d
    assert defs[1].to_json() == {
        "family": "label_age",
        "key": "terminal",
        "window_seconds": 35 * DAY,
        "stat": "last_fraud",
        "max_label_delay_seconds": DAY,
    }


def test_strings_are_read_as_enums_from_json() -> None:
    d = definition_from_json(
        {"family": "velocity", "key": "card", "window_seconds": 60, "aggregation": "sum"}
    )
    assert d == Velocity(Entity.CARD, 60, Aggregation.SUM)
    assert d.value is not None  # the amount, filled in for sums


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Velocity(Entity.CARD, 0), "window_seconds must be positive"),
        (lambda: Velocity(Entity.CARD, 1.5), "whole number of seconds"),
        (lambda: Velocity(Entity.CARD, DAY, Aggregation.DISTINCT_COUNT), "needs `of`"),
        (
            lambda: Velocity(Entity.CARD, DAY, Aggregation.DISTINCT_COUNT, of=Entity.CARD),
            "entity other than the key",
        ),
        (lambda: Velocity(Entity.CARD, DAY, of=Entity.DEVICE), "distinct_count only"),
        (lambda: Velocity("cardd", DAY), "Velocity.key must be one of"),
        (lambda: Novelty(Entity.CARD, Entity.CARD), "must differ"),
        (lambda: LabelRisk(Entity.TERMINAL, DAY, -1), "delay_seconds must be non-negative"),
        (lambda: Calendar(CalendarField.NIGHT, night_end_hour=25), "hour in 0..24"),
        (lambda: Calendar(CalendarField.NIGHT, 3, 3), "must differ"),
        (lambda: SpeedFromPrevious(card_present_only="yes"), "must be a bool"),
        (lambda: AmountProfile(Entity.CARD, 0), "AmountProfile.window_seconds must be positive"),
        (lambda: AmountProfile(Entity.CARD, DAY, "median"), "AmountProfile.stat must be one of"),
        (lambda: LabelAge(Entity.TERMINAL, DAY, "oldest"), "LabelAge.stat must be one of"),
        (
            lambda: LabelAge(Entity.TERMINAL, DAY, max_label_delay_seconds=0),
            "max_label_delay_seconds must be positive",
        ),
        (lambda: FeatureSet([Amount(), Amount()]), "appears twice"),
        (lambda: FeatureSet([]), "at least one"),
        (lambda: definition_from_json({"family": "velocity", "key": "card", "w": 1}), "unknown"),
        (lambda: definition_from_json({"family": "nope"}), "family must be one of"),
        (lambda: FeatureSet.from_json({"format": 99, "features": []}), "format 1"),
    ],
)
def test_invalid_definitions_are_refused_with_the_rule(make, message) -> None:
    with pytest.raises(ParameterError, match=message):
        make()


def test_restricted_to_drops_what_the_columns_cannot_feed() -> None:
    handbook_columns = ["customer_id", "terminal_id", "amount", "is_fraud", "label_available_at"]
    fs = retail_feature_set().restricted_to(handbook_columns, customers=False)
    assert "customer_count_1d" in fs.names
    assert "terminal_fraud_rate_7d_delay_7d" in fs.names
    assert not any(n.startswith(("card_", "device_", "ip_")) for n in fs.names)
    assert "distance_from_home_km" not in fs.names


def test_feature_set_reports_the_columns_it_reads() -> None:
    assert handbook_feature_set().columns == [
        "amount",
        "customer_id",
        "is_fraud",
        "label_available_at",
        "terminal_id",
    ]
    assert retail_feature_set().needs_customers
    assert not handbook_feature_set().needs_customers
