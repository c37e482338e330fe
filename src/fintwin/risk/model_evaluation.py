"""Evaluating fraud models offline: a registered model on a world, and prequential folds.

- :func:`evaluate_model`: score the test period of a world (simulated or imported) with a
  registered model, recomputing the features its metadata records; on the world and split it
  was trained with it reproduces the metrics recorded at training.
- :func:`score_test_period`: the same model's test scores with the features and split behind
  them (for curves and reports); :func:`evaluate_model` evaluates them.
- :func:`prequential_evaluation`: train (as :func:`~fintwin.risk.train_fraud_model` does) and
  test one model per prequential fold and average the metrics, as the Fraud Detection Handbook
  reports its results.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from fintwin.data import World
from fintwin.exceptions import CorruptModelError, DataError, ParameterError
from fintwin.features import FeatureSet
from fintwin.governance import LoadedModel, ModelRegistry
from fintwin.risk._arrays import check_days
from fintwin.risk.evaluation import FraudEvaluation
from fintwin.risk.protocols import TimeSplit
from fintwin.risk.replay import (
    Protocol,
    ProtocolPlan,
    WorldFeatures,
    evaluate_split,
    load_events,
    protocol_splits,
    resolve_protocol,
    resolve_splits,
    world_features,
    world_fingerprint,
)
from fintwin.risk.training import _features, _fit, _lgb_params, _predictor

__all__ = [
    "PrequentialEvaluation",
    "ScoredTestPeriod",
    "evaluate_model",
    "model_feature_set",
    "prequential_evaluation",
    "score_test_period",
]


def model_feature_set(model: LoadedModel) -> FeatureSet:
    """The feature definitions a registered model records (``parameters["feature_set"]``).

    Raises
    ------
    CorruptModelError
        None recorded, or they do not match the model's ``feature_definitions_hash`` and
        ``feature_names``.
    """
    meta = model.metadata
    try:
        fs = FeatureSet.from_json(meta.parameters["feature_set"])
    except (KeyError, TypeError, ParameterError) as exc:
        raise CorruptModelError(
            f"model {model.model_id} does not record its feature set definitions ({exc})"
        ) from None
    if fs.definitions_hash() != meta.feature_definitions_hash or tuple(fs.names) != tuple(
        meta.feature_names
    ):
        raise CorruptModelError(
            f"model {model.model_id}: the recorded feature set does not match its "
            "feature_definitions_hash and feature_names"
        )
    return fs


@dataclass(frozen=True, eq=False)
class ScoredTestPeriod:
    """A registered model's scores on the test period of a world, from
    :func:`score_test_period`.

    Attributes
    ----------
    model : LoadedModel
    features : WorldFeatures
        Offline features of every event of the model's table (``features.events`` are the
        events in processing order; split indices are their rows).
    split : TimeSplit
    plan : ProtocolPlan or None
        The resolved protocol (None when a split was given).
    scores : ndarray of float64, shape (len(split.test),)
        Calibrated fraud probabilities of the test events, in ``split.test`` order.
    """

    model: LoadedModel
    features: WorldFeatures
    split: TimeSplit
    plan: ProtocolPlan | None
    scores: np.ndarray

    def evaluate(self, **options: Any) -> FraudEvaluation:
        """:func:`~fintwin.risk.replay.evaluate_split` of these scores; ``options`` as for
        :func:`fintwin.risk.evaluate_scores`."""
        return evaluate_split(self.features, self.split, lambda _x: self.scores, **options)


def score_test_period(
    world: World,
    model: str | LoadedModel,
    *,
    split: TimeSplit | None = None,
    protocol: Protocol | str | None = None,
    registry: ModelRegistry | None = None,
) -> ScoredTestPeriod:
    """Score the test period of ``world`` with a registered model (what
    :func:`evaluate_model` evaluates); parameters and errors as for it."""
    if isinstance(model, str):
        if registry is None:
            raise ParameterError(f"registry is needed to load model {model!r}")
        model = registry.load(model)
    if not isinstance(model, LoadedModel):
        raise ParameterError(f"model must be a model id or a LoadedModel (got {model!r})")
    fs = model_feature_set(model)
    events = load_events(world, model.metadata.parameters.get("table", "transactions"))
    features = world_features(world, fs, events)
    if protocol is None:
        recorded_plan = model.metadata.parameters.get("protocol") or {}
        protocol = recorded_plan.get("protocol", Protocol.HANDBOOK)
    splits, plan = resolve_splits(world, events, split, protocol)
    the_split = splits[0]
    recorded = model.metadata.parameters.get("world") or {}
    cutoff = int(np.datetime64(model.metadata.label_cutoff, "ms").astype(np.int64))
    same_data = recorded.get("fingerprint") == world_fingerprint(world, events.table)
    if same_data and the_split.test_start_ms < cutoff:
        raise DataError(
            f"model {model.model_id} was trained on this table with labels up to "
            f"{model.metadata.label_cutoff}, after the test start "
            f"{np.datetime64(the_split.test_start_ms, 'ms')}: its test metrics would be leaked"
        )
    scores = model.predict(features.matrix(the_split.test))
    return ScoredTestPeriod(model, features, the_split, plan, scores)


def evaluate_model(
    world: World,
    model: str | LoadedModel,
    *,
    split: TimeSplit | None = None,
    protocol: Protocol | str | None = None,
    registry: ModelRegistry | None = None,
    **options: Any,
) -> FraudEvaluation:
    """Score the test period of ``world`` with a registered model; every fraud metric.

    Features are recomputed offline with the definitions the model records, and scores are
    its calibrated probabilities (:meth:`~fintwin.governance.LoadedModel.predict`), so a model
    evaluated on the world and split it was trained with reproduces its recorded metrics.

    Parameters
    ----------
    world : World
        Any world with the model's table and the columns its features need (imported data
        included).
    model : str or LoadedModel
        A registry id (then ``registry`` is needed) or a loaded model.
    split : TimeSplit, optional
        Explicit split (rows of :func:`load_events`); its test events are scored.
    protocol : Protocol or str, optional
        Used when ``split`` is None: the test period of fold 0. By default the protocol the
        model was trained under (resolved again on ``world``), else ``"handbook"``.
    registry : ModelRegistry, optional
    **options
        Passed to :func:`fintwin.risk.evaluate_scores` (``rate``, ``threshold``, ``k``).

    Returns
    -------
    FraudEvaluation

    Raises
    ------
    DataError
        The model was trained on this very table with labels known after the test start
        (its ``label_cutoff`` is later), so the metrics would be leaked; or labels are missing.
    ParameterError
        ``model`` is an id but no ``registry`` was given, or the world is too short.
    """
    scored = score_test_period(world, model, split=split, protocol=protocol, registry=registry)
    return scored.evaluate(**options)


@dataclass(frozen=True, eq=False)
class PrequentialEvaluation:
    """Per-fold evaluations and their means, from :func:`prequential_evaluation`.

    Attributes
    ----------
    folds : tuple of FraudEvaluation
        Fold 0 (the latest) first.
    splits : tuple of TimeSplit
    num_boost_rounds : tuple of int
    mean : dict of str to float
        Mean over folds of ``auc_roc``, ``average_precision`` and ``card_precision_at_{k}``.
    plan : ProtocolPlan
    timings : dict of str to float
    """

    folds: tuple[FraudEvaluation, ...]
    splits: tuple[TimeSplit, ...]
    num_boost_rounds: tuple[int, ...]
    mean: Mapping[str, float]
    plan: ProtocolPlan
    timings: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the means, each fold's headline metrics and training window."""
        k = self.folds[0].k
        folds = []
        for ev, s, rounds in zip(self.folds, self.splits, self.num_boost_rounds, strict=True):
            folds.append(
                {
                    "train_start_day": s.train_start_day,
                    "test_start_day": s.test_start_day,
                    "num_boost_round": rounds,
                    "auc_roc": ev.auc_roc,
                    "average_precision": ev.average_precision,
                    f"card_precision_at_{k}": ev.card_precision_at_k,
                    "n_events": ev.n_events,
                    "n_frauds": ev.n_frauds,
                }
            )
        return {
            "mean": dict(self.mean),
            "folds": folds,
            "protocol": self.plan.to_json(),
            "timings": dict(self.timings),
        }


def prequential_evaluation(
    world: World,
    *,
    feature_set: FeatureSet | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    table: str = "transactions",
    start_day: int | None = None,
) -> PrequentialEvaluation:
    """Train and test one model per prequential fold; the mean metrics as the book reports.

    On a handbook world these are the book's 4 test folds from day 136 (its best published
    means: AUC 0.879, AP 0.694, CP@100 0.305); ``start_day=101`` gives the book's validation
    folds, the ones to choose features and parameters on. Nothing is registered.

    Parameters
    ----------
    world, feature_set, params, seed, table
        As for :func:`~fintwin.risk.train_fraud_model`.
    start_day : int, optional
        Training start of fold 0 in place of the protocol's (days from its origin).

    Returns
    -------
    PrequentialEvaluation

    Raises
    ------
    DataError, ParameterError
        As for :func:`~fintwin.risk.train_fraud_model`; a fold outside the world's days.
    """
    t0 = time.perf_counter()
    _lgb_params(params, seed)
    prep = _features(world, feature_set, table)
    t1 = time.perf_counter()
    plan = resolve_protocol(world, prep.events, Protocol.PREQUENTIAL)
    if start_day is not None:
        check_days("start_day", start_day, 0)
        plan = replace(plan, start_day=int(start_day))
    splits = protocol_splits(plan, prep.events)
    evaluations, rounds = [], []
    for s in splits:
        fit = _fit(prep, s, params, seed)
        evaluations.append(evaluate_split(prep, s, _predictor(fit.booster, fit.calibrator)))
        rounds.append(fit.num_boost_round)
    t2 = time.perf_counter()
    k = evaluations[0].k
    mean = {
        "auc_roc": float(np.mean([e.auc_roc for e in evaluations])),
        "average_precision": float(np.mean([e.average_precision for e in evaluations])),
        f"card_precision_at_{k}": float(np.mean([e.card_precision_at_k for e in evaluations])),
    }
    return PrequentialEvaluation(
        folds=tuple(evaluations),
        splits=tuple(splits),
        num_boost_rounds=tuple(rounds),
        mean=MappingProxyType(mean),
        plan=plan,
        timings=MappingProxyType({"features": t1 - t0, "folds": t2 - t1, "total": t2 - t0}),
    )
