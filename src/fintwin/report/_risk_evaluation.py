"""The fraud evaluation report's model: every figure the page and ``--json`` show, computed once.

:func:`risk_evaluation` scores a registered model on a world's test period
(:func:`fintwin.risk.model_evaluation.score_test_period`: the features the model records, the
protocol it was trained under unless another is given, refusing leaked labels), evaluates the
scores at an alert rate, draws the ROC curve, times the decision engine on a sample of test
events and, for the prequential protocol, retrains the model's recipe on each fold. Nothing here
renders: :mod:`fintwin.report.risk_report` turns a :class:`RiskEvaluation` into HTML.

Latency, precisely
------------------
The latencies are those of :meth:`fintwin.risk.DecisionEngine.decide` (online features from
incremental state, the model's score, the policy and, for alerts, the tree-SHAP reasons), one
event at a time, in this process. The engine first replays, untimed, up to ``latency_warmup``
events just before the test period, so that its windows hold state; the next ``latency_sample``
events from the first test event on are timed. They are not the batch scoring's time per event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fintwin._validation import to_enum
from fintwin.data import World
from fintwin.exceptions import ParameterError
from fintwin.features import FeatureSet, iter_events
from fintwin.governance import LoadedModel, ModelMetadata
from fintwin.risk import (
    DEFAULT_ALERT_RATE,
    DecisionEngine,
    FraudEvaluation,
    Policy,
    PrequentialEvaluation,
    Protocol,
    ProtocolPlan,
    TimeSplit,
    prequential_evaluation,
)
from fintwin.risk._arrays import check_rate
from fintwin.risk.model_evaluation import ScoredTestPeriod, model_feature_set, score_test_period
from fintwin.risk.model_policy import score_only_policy
from fintwin.risk.replay import world_fingerprint

__all__ = [
    "BOOK_BEST",
    "LATENCY_SAMPLE",
    "LATENCY_WARMUP",
    "RiskEvaluation",
    "RocCurve",
    "engine_latencies",
    "risk_evaluation",
    "roc_curve",
]

LATENCY_SAMPLE = 2000
"""Test events whose decision latency is timed by default."""
LATENCY_WARMUP = 2000
"""Events replayed (untimed) before them by default, so that the engine's windows hold state."""
ROC_POINTS = 200
"""Most points kept on the ROC curve (evenly spaced in rank, both ends kept)."""
BOOK_BEST: Mapping[str, float] = {
    "auc_roc": 0.879,
    "average_precision": 0.694,
    "card_precision_at_100": 0.305,
}
"""The Fraud Detection Handbook's best published test results (means over its 4 folds)."""


@dataclass(frozen=True, eq=False)
class RocCurve:
    """The ROC curve: false and true positive rates when flagging ``score >= threshold``.

    Attributes
    ----------
    fpr, tpr : ndarray of float64, shape (n_points + 1,)
        Rates, increasing; the first point is (0, 0) (nothing flagged).
    threshold : ndarray of float64, shape (n_points,)
        The distinct scores used as thresholds, decreasing (points 1 ...).
    """

    fpr: np.ndarray
    tpr: np.ndarray
    threshold: np.ndarray

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready lists."""
        return {
            "fpr": self.fpr.tolist(),
            "tpr": self.tpr.tolist(),
            "threshold": self.threshold.tolist(),
        }


def roc_curve(y_true: np.ndarray, score: np.ndarray, *, max_points: int = ROC_POINTS) -> RocCurve:
    """The ROC curve at the distinct scores (tied events enter together), for a plot.

    Parameters
    ----------
    y_true : ndarray of bool, shape (n_events,)
        True for fraud; both classes present.
    score : ndarray of float, shape (n_events,)
        Fraud score, higher is more suspicious.
    max_points : int
        Keep at most this many thresholds, evenly spaced in rank, the lowest one kept (so the
        curve ends at (1, 1)).

    Returns
    -------
    RocCurve

    Examples
    --------
    >>> c = roc_curve(np.array([0, 0, 1, 1], bool), np.array([0.1, 0.4, 0.35, 0.8]))
    >>> c.fpr.tolist(), c.tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ParameterError(f"y_true and score must be 1-D of one length ({y.shape}, {s.shape})")
    if y.all() or not y.any():
        raise ParameterError("the ROC curve needs both frauds and genuine events")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(y)[last]
    fps = last + 1 - tps
    if last.size > max_points:
        keep = np.unique(np.linspace(0, last.size - 1, max_points).round().astype(int))
        tps, fps, last = tps[keep], fps[keep], last[keep]
    return RocCurve(
        fpr=np.r_[0.0, fps / fps[-1]],
        tpr=np.r_[0.0, tps / tps[-1]],
        threshold=s[last].copy(),
    )


def _customers(world: World, fs: FeatureSet) -> pa.Table | None:
    if not fs.needs_customers or "customers" not in world.tables:
        return None
    return world.arrow("customers", columns=["customer_id", "home_x", "home_y"])


def engine_latencies(
    world: World,
    scored: ScoredTestPeriod,
    policy: Policy,
    *,
    sample: int = LATENCY_SAMPLE,
    warmup: int = LATENCY_WARMUP,
) -> np.ndarray:
    """Seconds per :meth:`DecisionEngine.decide` over test events (see the module doc).

    Parameters
    ----------
    world : World
    scored : ScoredTestPeriod
        Gives the model, its events in processing order and the split.
    policy : Policy
    sample : int
        Events timed, from the first test event on (fewer if the test period ends first).
    warmup : int
        Events just before the first test event replayed untimed first.

    Returns
    -------
    ndarray of float64, shape (n_timed,)
    """
    model = scored.model
    fs = scored.features.feature_set
    events = scored.features.events
    test = scored.split.test
    first, end = int(test[0]), int(test[-1]) + 1
    lo, hi = max(0, first - warmup), min(end, first + sample)
    wanted = [events.id_column, "timestamp", *fs.columns]
    table = world.arrow(events.table, columns=list(dict.fromkeys(wanted)))
    order = pc.sort_indices(table, [("timestamp", "ascending"), (events.id_column, "ascending")])
    rows = table.take(order).slice(lo, hi - lo)
    engine = DecisionEngine(fs, model, policy, customers=_customers(world, fs))
    timed = first - lo
    out = np.empty(hi - first)
    for i, event in enumerate(iter_events(rows)):
        d = engine.decide(event)
        if i >= timed:
            out[i - timed] = d.latency_s
    return out


@dataclass(frozen=True, eq=False)
class RiskEvaluation:
    """Everything the fraud evaluation report shows; :meth:`to_dict` is the ``--json`` output.

    Attributes
    ----------
    model_id, model_digest : str
        Registry id and manifest SHA-256 of the model.
    metadata : ModelMetadata
    world_path, world_preset : str
    world_fingerprint : str
        SHA-256 over the evaluated table's file digests.
    table : str
    plan : ProtocolPlan
    split : TimeSplit
    alert_rate_target : float
        The alert rate that set the threshold (the realised one is ``evaluation.alert_rate``).
    evaluation : FraudEvaluation
        Metrics of the test events; ``latency`` holds the engine's latencies (or None).
    roc : RocCurve
    policy_name, policy_version, policy_hash : str
        The policy the engine ran for the latency sample.
    latency_warmup : int
        Events replayed untimed before the timed ones.
    prequential : PrequentialEvaluation or None
        The model's recipe retrained and tested on each prequential fold (that protocol only).
    """

    model_id: str
    model_digest: str
    metadata: ModelMetadata
    world_path: str
    world_preset: str
    world_fingerprint: str
    table: str
    plan: ProtocolPlan
    split: TimeSplit
    alert_rate_target: float
    evaluation: FraudEvaluation
    roc: RocCurve
    policy_name: str
    policy_version: str
    policy_hash: str
    latency_warmup: int
    prequential: PrequentialEvaluation | None

    @property
    def book_reference(self) -> bool:
        """Whether the book's published results compare: its days on a handbook world."""
        return self.plan.book

    @property
    def latency_source(self) -> str:
        """One sentence saying what the latency percentiles measure."""
        lat = self.evaluation.latency
        if lat is None:
            return "not measured (latency sample 0)"
        return (
            f"DecisionEngine.decide, one event at a time in one process (online features, "
            f"model score, policy {self.policy_name!r}, reasons for alerts), over {lat.count} "
            f"test events after {self.latency_warmup} untimed warm-up events"
        )

    def model_summary(self) -> dict[str, Any]:
        """The model's metadata that the report shows, JSON-ready."""
        m = self.metadata
        p = m.parameters
        return {
            "name": m.name,
            "training_start": m.training_start.isoformat(),
            "training_end": m.training_end.isoformat(),
            "label_cutoff": m.label_cutoff.isoformat(),
            "data_hash": m.data_hash,
            "feature_definitions_hash": m.feature_definitions_hash,
            "features": list(m.feature_names),
            "num_boost_round": p.get("num_boost_round"),
            "training_rows": p.get("training_rows"),
            "training_frauds": p.get("training_frauds"),
            "trained_on": p.get("world"),
            "recorded_metrics": dict(m.metrics),
            "library_versions": dict(m.library_versions),
            "created_at": m.created_at.isoformat(),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the evaluation's metrics at the top level, then context.

        Keys include ``auc_roc``, ``average_precision``, ``card_precision_at_100`` (and its
        ``_per_day`` list with ``card_precision_days``), ``alert_rate``, ``threshold``,
        ``recall``, ``precision``, ``fraud_amount_caught``, ``recall_by_scenario``,
        ``frauds_by_scenario``, ``latency`` (seconds) with ``latency_source``, then
        ``model_id``, ``world``, ``protocol``, ``split``, ``policy``, ``model`` and
        ``prequential`` (None unless that protocol).
        """
        s = self.split
        out = self.evaluation.to_dict()
        out.update(
            {
                "alert_rate_target": self.alert_rate_target,
                "latency_source": self.latency_source,
                "model_id": self.model_id,
                "model_digest": self.model_digest,
                "world": {
                    "path": self.world_path,
                    "preset": self.world_preset,
                    "table": self.table,
                    "fingerprint": self.world_fingerprint,
                },
                "protocol": self.plan.to_json(),
                "split": {
                    "origin": str(np.datetime64(s.origin_ms, "ms")),
                    "train_start_day": s.train_start_day,
                    "train_end_day": s.train_end_day,
                    "test_start_day": s.test_start_day,
                    "test_end_day": s.test_end_day,
                    "test_events_removed": int(s.test_removed.size),
                },
                "policy": {
                    "name": self.policy_name,
                    "version": self.policy_version,
                    "hash": self.policy_hash,
                },
                "model": self.model_summary(),
                "prequential": None if self.prequential is None else self.prequential.to_dict(),
            }
        )
        return out


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ParameterError(f"{name} must be an integer >= 0 (got {value!r})")
    return value


def risk_evaluation(
    world: World,
    model: LoadedModel,
    *,
    protocol: Protocol | str | None = None,
    rate: float = DEFAULT_ALERT_RATE,
    policy: Policy | None = None,
    latency_sample: int = LATENCY_SAMPLE,
    latency_warmup: int = LATENCY_WARMUP,
) -> RiskEvaluation:
    """Evaluate a registered model on a world: the report's model.

    Parameters
    ----------
    world : World
        Simulated or imported; its table needs labels (``is_fraud``, ``label_available_at``).
    model : LoadedModel
    protocol : Protocol or str, optional
        Whose test period is scored (fold 0 for ``prequential``); by default the protocol the
        model was trained under. ``prequential`` also retrains the model's recipe (its feature
        set, LightGBM parameters and seed) on each of the 4 folds: the book's mean metrics.
    rate : float
        Alert rate in (0, 1] that sets the alert threshold (default 0.5 %): recall, precision,
        fraud amount caught and recall per fraud scenario are read at it.
    policy : Policy, optional
        The policy the engine runs for the latency sample; by default
        :func:`~fintwin.risk.model_policy.score_only_policy`.
    latency_sample, latency_warmup : int
        Events timed, and replayed untimed before them (module doc); 0 timed: no latency.

    Returns
    -------
    RiskEvaluation

    Raises
    ------
    DataError
        The world lacks labels or columns the features need, or the model was trained on this
        table's labels after the test start (leaked metrics).
    ParameterError
        The world is too short for the protocol, or a parameter is invalid.
    """
    if not isinstance(model, LoadedModel):
        raise ParameterError(f"model must be a LoadedModel (got {type(model).__name__})")
    _check_count("latency_sample", latency_sample)
    _check_count("latency_warmup", latency_warmup)
    check_rate("rate", rate)
    if protocol is not None:
        protocol = to_enum(Protocol, "protocol", protocol)
    scored = score_test_period(world, model, protocol=protocol)
    plan = cast(ProtocolPlan, scored.plan)  # a protocol, not an explicit split, was resolved
    if policy is None:
        policy = score_only_policy(model)
    latency = None
    if latency_sample:
        latency = engine_latencies(
            world, scored, policy, sample=latency_sample, warmup=latency_warmup
        )
    evaluation = scored.evaluate(rate=rate, latency_s=latency)
    events = scored.features.events
    y = events.is_fraud[scored.split.test]
    prequential = None
    if plan.protocol is Protocol.PREQUENTIAL:
        params = dict(model.metadata.parameters.get("lightgbm") or {})
        seed = int(params.pop("seed", 0))
        prequential = prequential_evaluation(
            world,
            feature_set=model_feature_set(model),
            params={k: v for k, v in params.items() if k != "metric"},
            seed=seed,
            table=events.table,
        )
    return RiskEvaluation(
        model_id=model.model_id,
        model_digest=model.version.digest,
        metadata=model.metadata,
        world_path=str(world.path),
        world_preset=str(world.manifest.preset),
        world_fingerprint=world_fingerprint(world, events.table),
        table=events.table,
        plan=plan,
        split=scored.split,
        alert_rate_target=float(rate),
        evaluation=evaluation,
        roc=roc_curve(y, scored.scores),
        policy_name=policy.name,
        policy_version=policy.version,
        policy_hash=policy.content_hash,
        latency_warmup=min(latency_warmup, int(scored.split.test[0])) if latency_sample else 0,
        prequential=prequential,
    )
