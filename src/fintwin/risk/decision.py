"""What the decision engine returns: :class:`Decision`, its :class:`Explanation` and the
batch layout :data:`DECISION_SCHEMA`.

A decision is a frozen record: JSON-ready through :meth:`Decision.to_dict` (NaN becomes null),
picklable, its feature snapshot read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any

import pyarrow as pa

from fintwin.risk.policy import Action

__all__ = [
    "DECISION_SCHEMA",
    "Decision",
    "Explain",
    "Explanation",
    "FeatureContribution",
]


@dataclass(frozen=True, slots=True)
class FeatureContribution:
    """One feature's part in a model score.

    Attributes
    ----------
    feature : str
        The feature's name.
    value : float
        Its value for the event (NaN when missing).
    contribution : float
        Its exact tree-SHAP contribution to the raw margin (log-odds); positive raises the score.
    """

    feature: str
    value: float
    contribution: float

    def to_dict(self) -> dict[str, Any]:
        value = self.value
        return {
            "feature": self.feature,
            "value": None if value != value else value,
            "contribution": self.contribution,
        }


class Explain(Enum):
    """Which decisions carry the model's feature contributions."""

    ALL = "all"
    ALERTS = "alerts"  # decisions other than approve
    NONE = "none"


def _json_float(value: float) -> float | None:
    return None if value != value else value


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why the model scored an event as it did: exact tree SHAP on the raw margin.

    Attributes
    ----------
    margin : float
        The model's raw score (log-odds, before sigmoid and calibration):
        ``bias + sum(contributions.values())``.
    bias : float
        The expected margin over the training data (SHAP's ``phi_0``).
    contributions : mapping of str to float
        Every model feature's contribution, in the model's feature order.
    top : tuple of FeatureContribution
        Up to ``top_reasons`` features with the largest positive contributions, largest first:
        the features that pushed the score up. Negative ones are in :attr:`contributions`.
    """

    margin: float
    bias: float
    contributions: Mapping[str, float]
    top: tuple[FeatureContribution, ...]

    def __reduce__(self) -> tuple[Any, ...]:
        # a mappingproxy cannot be pickled: send a dict, wrap it again on arrival
        return (_explanation, (self.margin, self.bias, dict(self.contributions), self.top))

    def to_dict(self) -> dict[str, Any]:
        return {
            "margin": self.margin,
            "bias": self.bias,
            "contributions": dict(self.contributions),
            "top": [c.to_dict() for c in self.top],
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision on one event.

    Attributes
    ----------
    transaction_id : int
        The event's id (``transaction_id`` or ``transfer_id``).
    timestamp : int
        Event time, ms since the epoch (naive local time, as the tables hold it).
    action : Action
    score : float
        The model's calibrated fraud probability in [0, 1]; 0.0 without a model.
    band : str or None
        The score threshold the score reached (None: below every threshold).
    rules : tuple of str
        Names of the rules that fired, in policy order.
    reasons : tuple of str
        Their reason codes.
    explanation : Explanation or None
        The model's contributions, when this decision is explained (see :class:`Explain`).
    features : mapping of str to float
        The feature snapshot the decision used (NaN where a feature is undefined).
    latency_s : float
        Seconds spent in :meth:`DecisionEngine.decide` (features, score, policy, reasons).
    model_id, model_digest : str or None
        Registry id and manifest SHA-256 of the model; None without a model.
    policy, policy_version, policy_hash : str
        The policy's name, version and content hash.
    """

    transaction_id: int
    timestamp: int
    action: Action
    score: float
    band: str | None
    rules: tuple[str, ...]
    reasons: tuple[str, ...]
    explanation: Explanation | None
    features: Mapping[str, float]
    latency_s: float
    model_id: str | None
    model_digest: str | None
    policy: str
    policy_version: str
    policy_hash: str

    def __reduce__(self) -> tuple[Any, ...]:
        values = [getattr(self, f) for f in self.__slots__]
        values[self.__slots__.index("features")] = dict(self.features)
        return (_decision, tuple(values))

    @property
    def top_features(self) -> tuple[FeatureContribution, ...]:
        """The model's top contributing features; empty when not explained."""
        return () if self.explanation is None else self.explanation.top

    def to_dict(self) -> dict[str, Any]:
        """The decision as JSON-ready data (NaN becomes None, the action its value)."""
        return {
            "transaction_id": self.transaction_id,
            "timestamp": self.timestamp,
            "action": self.action.value,
            "score": self.score,
            "band": self.band,
            "rules": list(self.rules),
            "reasons": list(self.reasons),
            "top_features": [c.to_dict() for c in self.top_features],
            "explanation": None if self.explanation is None else self.explanation.to_dict(),
            "features": {k: _json_float(v) for k, v in self.features.items()},
            "latency_s": _json_float(self.latency_s),
            "model_id": self.model_id,
            "model_digest": self.model_digest,
            "policy": self.policy,
            "policy_version": self.policy_version,
            "policy_hash": self.policy_hash,
        }


def _explanation(
    margin: float, bias: float, contributions: dict[str, float], top: tuple
) -> Explanation:
    return Explanation(margin, bias, MappingProxyType(contributions), top)


def _decision(*values: Any) -> Decision:
    decision = Decision(*values)
    object.__setattr__(decision, "features", MappingProxyType(decision.features))
    return decision


_CONTRIBUTION = pa.struct(
    [("feature", pa.string()), ("value", pa.float64()), ("contribution", pa.float64())]
)

DECISION_SCHEMA = pa.schema(
    [
        ("transaction_id", pa.int64()),
        ("timestamp", pa.timestamp("ms")),
        ("action", pa.string()),
        ("score", pa.float64()),
        ("band", pa.string()),
        ("rules", pa.list_(pa.string())),
        ("reasons", pa.list_(pa.string())),
        ("margin", pa.float64()),
        ("bias", pa.float64()),
        ("top_features", pa.list_(_CONTRIBUTION)),
    ]
)
"""Columns of :meth:`DecisionEngine.decide_batch`: one row per event in ``(timestamp, id)``
order; ``margin``, ``bias`` and ``top_features`` are null for decisions not explained. The model
and policy ids are in the schema metadata (``model_id``, ``model_digest``, ``policy``,
``policy_version``, ``policy_hash``)."""
