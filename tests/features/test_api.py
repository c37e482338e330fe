"""Pin the public API of fintwin.features: a change here is a change users see."""

import fintwin.features


def test_features_api() -> None:
    assert set(fintwin.features.__all__) == {
        "DAY",
        "HOUR",
        "MINUTE",
        "Aggregation",
        "Amount",
        "AmountProfile",
        "Calendar",
        "CalendarField",
        "ComponentSize",
        "DistanceFromHome",
        "Entity",
        "FeatureDefinition",
        "FeatureSet",
        "FraudDistance",
        "InMemoryState",
        "LabelAge",
        "LabelAgeStat",
        "LabelRisk",
        "LabelStat",
        "Novelty",
        "OnlineFeatureEngine",
        "ProfileStat",
        "Recency",
        "RedisState",
        "ShortCycle",
        "SpeedFromPrevious",
        "StateBackend",
        "Value",
        "Velocity",
        "compute_offline",
        "compute_world",
        "definition_from_json",
        "handbook_feature_set",
        "iter_events",
        "retail_feature_set",
    }
    for name in fintwin.features.__all__:
        assert getattr(fintwin.features, name) is not None
