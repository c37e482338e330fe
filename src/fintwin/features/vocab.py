"""The vocabulary of feature definitions: entities, aggregations, statistics, durations."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "DAY",
    "HOUR",
    "MINUTE",
    "Aggregation",
    "CalendarField",
    "Entity",
    "Family",
    "LabelAgeStat",
    "LabelStat",
    "ProfileStat",
    "Value",
]

MINUTE = 60
HOUR = 3_600
DAY = 86_400


class Entity(StrEnum):
    """What a feature is keyed by; each maps to one column of the event table."""

    CUSTOMER = "customer"
    CARD = "card"
    TERMINAL = "terminal"
    DEVICE = "device"
    IP = "ip"
    COUNTRY = "country"
    CHANNEL = "channel"
    SOURCE_ACCOUNT = "src_account"
    DESTINATION_ACCOUNT = "dst_account"

    @property
    def column(self) -> str:
        """Column of the event table holding this entity."""
        return _ENTITY_COLUMNS[self]


_ENTITY_COLUMNS = {
    Entity.CUSTOMER: "customer_id",
    Entity.CARD: "card_id",
    Entity.TERMINAL: "terminal_id",
    Entity.DEVICE: "device_id",
    Entity.IP: "ip_prefix",
    Entity.COUNTRY: "country",
    Entity.CHANNEL: "channel",
    Entity.SOURCE_ACCOUNT: "src_account_id",
    Entity.DESTINATION_ACCOUNT: "dst_account_id",
}


class Aggregation(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"
    MAX = "max"
    DISTINCT_COUNT = "distinct_count"


class Value(StrEnum):
    """Numeric column a sum, mean or max aggregates (the amount, in exact cents)."""

    AMOUNT = "amount"


class CalendarField(StrEnum):
    HOUR_OF_DAY = "hour_of_day"
    WEEKEND = "weekend"
    NIGHT = "night"


class LabelStat(StrEnum):
    FRAUD_RATE = "fraud_rate"
    FRAUD_COUNT = "fraud_count"
    LABELLED_COUNT = "labelled_count"


class ProfileStat(StrEnum):
    """What :class:`~fintwin.features.AmountProfile` returns about the key's earlier amounts."""

    MEAN = "mean"
    STD = "std"
    RATIO = "ratio"
    ZSCORE = "zscore"


class LabelAgeStat(StrEnum):
    """Which known label :class:`~fintwin.features.LabelAge` measures the age of."""

    FIRST_FRAUD = "first_fraud"
    LAST_FRAUD = "last_fraud"
    LAST_GENUINE = "last_genuine"


class Family(StrEnum):
    VELOCITY = "velocity"
    RECENCY = "recency"
    NOVELTY = "novelty"
    DISTANCE_FROM_HOME = "distance_from_home"
    SPEED_FROM_PREVIOUS = "speed_from_previous"
    CALENDAR = "calendar"
    LABEL_RISK = "label_risk"
    AMOUNT = "amount"
    AMOUNT_PROFILE = "amount_profile"
    FRAUD_DISTANCE = "fraud_distance"
    COMPONENT_SIZE = "component_size"
    SHORT_CYCLE = "short_cycle"
    LABEL_AGE = "label_age"
