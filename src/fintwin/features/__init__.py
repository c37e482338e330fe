"""Features defined once, computed by two engines that agree exactly.

- :mod:`~fintwin.features.definitions`: one frozen dataclass per family (velocity, recency,
  novelty, distance from home, speed, calendar, delayed-label risk, amount); the semantics
  both engines follow are stated in that module's docstring.
- :mod:`~fintwin.features.history`: families over a key's history (the amount against the
  key's earlier amounts, the age of the key's known labels).
- :mod:`~fintwin.features.graph`: relationship-graph families (distance to confirmed fraud
  and component size in the card–device graph, short cycles of transfers).
- :class:`FeatureSet`: ordered definitions with stable names and a content hash;
  :func:`handbook_feature_set` (the Fraud Detection Handbook's features) and
  :func:`retail_feature_set`.
- :func:`compute_offline` / :func:`compute_world`: a whole table at once, vectorised.
- :class:`OnlineFeatureEngine`: one event at a time, state behind a :class:`StateBackend`;
  :func:`iter_events` turns a table into its events.
- :class:`InMemoryState` (one process) and :class:`RedisState` (shared by several processes).

Examples
--------
>>> import pyarrow as pa
>>> from decimal import Decimal
>>> fs = FeatureSet([Velocity(Entity.CARD, DAY, Aggregation.SUM)])
>>> events = pa.table({
...     "transaction_id": [1, 2],
...     "timestamp": pa.array([0, 1000], pa.timestamp("ms")),
...     "card_id": [7, 7],
...     "amount": pa.array([Decimal("1.10"), Decimal("2.20")], pa.decimal128(18, 2)),
... })
>>> compute_offline(fs, events).column("card_amount_sum_1d").to_pylist()
[1.1, 3.3]
>>> eng = OnlineFeatureEngine(fs)
>>> [eng.update(e)["card_amount_sum_1d"] for e in events.to_pylist()]
[1.1, 3.3]
"""

from fintwin.features.definitions import (
    DAY,
    HOUR,
    MINUTE,
    Aggregation,
    Amount,
    AmountProfile,
    Calendar,
    CalendarField,
    ComponentSize,
    DistanceFromHome,
    Entity,
    FeatureDefinition,
    FraudDistance,
    LabelAge,
    LabelAgeStat,
    LabelRisk,
    LabelStat,
    Novelty,
    ProfileStat,
    Recency,
    ShortCycle,
    SpeedFromPrevious,
    Value,
    Velocity,
    definition_from_json,
)
from fintwin.features.feature_set import FeatureSet, handbook_feature_set, retail_feature_set
from fintwin.features.offline import compute_offline, compute_world
from fintwin.features.online import OnlineFeatureEngine, iter_events
from fintwin.features.redis_state import RedisState
from fintwin.features.state import InMemoryState, StateBackend

__all__ = [
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
]
