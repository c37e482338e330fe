"""Fraud models: LightGBM on offline features, trained under a time protocol and registered.

:func:`train_fraud_model` trains on a split's training period (only labels known at the test
start: :func:`~fintwin.risk.protocols.check_no_label_leakage` is asserted), calibrates, scores
the test period and registers the model with its metadata.
:func:`~fintwin.risk.evaluate_model` scores a registered model on a world and
:func:`~fintwin.risk.prequential_evaluation` trains one model per prequential fold.

Training, step by step
----------------------
1. Features: :func:`fintwin.features.compute_world` over the whole table, so every event sees
   its own history whichever period it falls in; the online engine gives the same values.
2. Rows: the split's ``train`` events (labelled by the test start). The last quarter of the
   training days (:data:`VALIDATION_FRACTION`, at least one day) is the *validation slice*, the
   rest the *fit slice*; no test event is ever used.
3. Stage 1: LightGBM on the fit slice, early stopping on the validation slice's log-loss
   (patience :data:`EARLY_STOPPING_ROUNDS`, at most :data:`MAX_ROUNDS` rounds).
4. Calibration: Platt scaling of the stage-1 margin on the validation slice, out of time.
5. Stage 2: the same parameters refitted on the whole training period for the number of
   rounds stage 1 chose, so the latest days, the closest to the test period, are learnt too.
6. Test: the calibrated probabilities of the test events, :func:`fintwin.risk.evaluate_scores`.

Determinism: ``seed``, ``deterministic=True``, ``force_col_wise=True`` and a fixed
``num_threads`` (1 by default) make the model text a function of the data and parameters.

Choices, and the measurements behind them
-----------------------------------------
Chosen on the book's *validation* folds (4 prequential folds from day 101 of the
``handbook`` world, :func:`~fintwin.risk.handbook_plus_feature_set`); the test folds from day
136 only report. Means over the 4 validation folds, AUC / average precision / CP@100, with
everything else as finally chosen (``bench/bench_training.py --validation`` reruns the choice).

Features and L2, means over the worlds of seeds 0, 1 and 2 (the 4 validation folds of each):

- **Features.** The earlier 31-feature set: 0.886 / 0.707 / 0.309. Adding the amount against
  the customer's earlier payments (:class:`~fintwin.features.AmountProfile` over 7, 30 and 90
  days: mean, standard deviation, ratio, z-score): 0.885 / 0.724 / 0.311. Adding then the
  terminal's label ages (:class:`~fintwin.features.LabelAge`: first fraud label of 35 and 60
  days, last fraud and genuine labels of 60 days): 0.888 / 0.724 / 0.309; keeping only the
  ratio and z-score of the amount profile gave the same (0.888 / 0.724 / 0.309): the 41
  features of the set. More delayed-label windows (fraud counts and rates over 6 h, 12 h, 2,
  3, 14, 35 and 60 days) added nothing (0.888 / 0.723 / 0.309 with 57 features).
- **L2 regularisation** ``lambda_l2=3``: 0.890 / 0.728 / 0.311 against 0.888 / 0.724 / 0.309
  without; 10 and 30 gave 0.888 / 0.727 / 0.311 and 0.888 / 0.726 / 0.312. Feature and
  bagging fractions of 0.8 (0.887 / 0.724 / 0.311), 31 leaves (0.884 / 0.724 / 0.311) and
  ``min_child_samples=100`` (0.887 / 0.722 / 0.308) did worse.

The figures below were measured on seed 0 alone, with the earlier 31-feature set:

- **Class imbalance: none.** Plain log-loss 0.881 / 0.703 / 0.317; ``scale_pos_weight=5``
  0.877 / 0.693 / 0.314; balanced bagging (every fraud, a fifth of the genuine events per tree)
  0.873 / 0.691 / 0.313; ``is_unbalance`` 0.852 / 0.287 / 0.291 (its log-loss stops early).
  Reweighting frauds buys nothing the ranking metrics see; the calibrator, not the loss, maps
  scores to probabilities. ``min_child_samples=200``: a leaf's fraud rate needs events behind
  it when 0.8 % of events are frauds (100 and 400 did no better; nor did 7 or 31 leaves, a
  0.02 learning rate, or feature or bagging fractions; for L2 see above).
- **Calibration: Platt, not isotonic.** Isotonic regression is a step function: the events it
  ties lose their order (AP 0.683 against 0.703) and its out-of-time log-loss was worse (0.0188
  against 0.0171). Platt scaling is strictly increasing, so AUC, AP and CP@100 are those of the
  raw scores, and its mean probability was within 1 % of the test fraud rate.
- **Early stopping on log-loss, not AP.** The AP of a two-day slice with ~150 frauds is noisy:
  it stopped anywhere between 76 and 520 rounds, log-loss between 90 and 209; AUC 0.881
  against 0.879, AP equal.
- **Refit on the whole period** (stage 2) rather than keeping the stage-1 model: AP 0.703
  against 0.691 and CP@100 0.317 against 0.315, though AUC 0.881 against 0.886.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from fintwin._validation import to_enum
from fintwin.data import World
from fintwin.exceptions import DataError, ParameterError
from fintwin.features import FeatureSet
from fintwin.governance import (
    ModelMetadata,
    ModelRegistry,
    ModelVersion,
    PlattCalibrator,
    ScoreScale,
)
from fintwin.governance.metadata import check_model_name
from fintwin.risk.evaluation import FraudEvaluation
from fintwin.risk.fraud_features import default_feature_set
from fintwin.risk.protocols import TimeSplit, check_no_label_leakage
from fintwin.risk.replay import (
    Protocol,
    ProtocolPlan,
    WorldFeatures,
    evaluate_split,
    load_events,
    resolve_splits,
    world_features,
    world_fingerprint,
)

__all__ = [
    "DEFAULT_PARAMS",
    "EARLY_STOPPING_ROUNDS",
    "MAX_ROUNDS",
    "VALIDATION_FRACTION",
    "TrainResult",
    "train_fraud_model",
]

DEFAULT_PARAMS: Mapping[str, Any] = MappingProxyType(
    {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_child_samples": 200,
        "lambda_l2": 3.0,
        "num_threads": 1,
        "deterministic": True,
        "force_col_wise": True,
        "verbosity": -1,
    }
)
"""LightGBM parameters used unless overridden by ``params`` (``seed`` comes from ``seed``)."""
MAX_ROUNDS = 1000
"""Most boosting rounds of stage 1 (override with ``params={"num_boost_round": ...}``)."""
EARLY_STOPPING_ROUNDS = 50
"""Stage 1 stops when the validation log-loss has not improved for this many rounds."""
VALIDATION_FRACTION = 0.25
"""Share of the training days (rounded, at least one) held out at the end for early stopping
and calibration."""
_CLASS_IMBALANCE = "none: plain log-loss, then Platt calibration on an out-of-time slice"
_METRIC_KEYS = (
    "auc_roc",
    "average_precision",
    "card_precision_at_k",
    "alert_rate",
    "threshold",
    "recall",
    "precision",
    "fraud_amount_caught",
)


@dataclass(frozen=True, eq=False)
class TrainResult:
    """What :func:`train_fraud_model` returns.

    Attributes
    ----------
    model_id : str
        Registry id, e.g. ``"fraud-handbook/3"``.
    version : ModelVersion
    evaluation : FraudEvaluation
        Metrics of the calibrated model on the split's test events.
    split : TimeSplit
    plan : ProtocolPlan or None
        The resolved protocol (None when a split was given).
    num_boost_round : int
        Rounds of the registered booster (chosen by early stopping).
    timings : dict of str to float
        Seconds: ``features`` (reading the events and computing features), ``split``, ``fit``
        (both stages and calibration), ``evaluate``, ``register`` and ``total``.
    """

    model_id: str
    version: ModelVersion
    evaluation: FraudEvaluation
    split: TimeSplit
    plan: ProtocolPlan | None
    num_boost_round: int
    timings: Mapping[str, float]

    @property
    def metrics(self) -> dict[str, Any]:
        """The evaluation as a JSON-ready dict."""
        return self.evaluation.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: ``model_id``, metrics, rounds and timings."""
        return {
            "model_id": self.model_id,
            "num_boost_round": self.num_boost_round,
            "protocol": None if self.plan is None else self.plan.to_json(),
            "metrics": self.metrics,
            "timings": dict(self.timings),
        }


# --- fitting --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Fit:
    booster: Any
    calibrator: PlattCalibrator
    num_boost_round: int
    params: dict[str, Any]
    data_hash: str
    n_train: int
    n_train_frauds: int
    validation_start_day: int


def _lgb_params(params: Mapping[str, Any] | None, seed: int) -> tuple[dict[str, Any], int, int]:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer (got {seed!r})")
    if params is not None and not isinstance(params, Mapping):
        raise ParameterError(f"params must be a mapping of LightGBM parameters (got {params!r})")
    merged = {**DEFAULT_PARAMS, **(params or {}), "seed": int(seed)}
    rounds = merged.pop("num_boost_round", MAX_ROUNDS)
    patience = merged.pop("early_stopping_rounds", EARLY_STOPPING_ROUNDS)
    for name, value in (("num_boost_round", rounds), ("early_stopping_rounds", patience)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParameterError(f"params[{name!r}] must be a positive integer (got {value!r})")
    if merged.get("objective") != "binary":
        raise ParameterError(f"params['objective'] must be 'binary' (got {merged['objective']!r})")
    merged["metric"] = "binary_logloss"
    return merged, int(rounds), int(patience)


def _data_hash(names: list[str], ids: np.ndarray, x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update("\x1f".join(names).encode())
    for arr in (ids.astype(np.int64), np.ascontiguousarray(x), y.astype(np.uint8)):
        h.update(arr.tobytes())
    return h.hexdigest()


def _features(world: World, feature_set: FeatureSet | None, table: str) -> WorldFeatures:
    events = load_events(world, table)
    if not events.is_fraud.any():
        raise DataError(
            f"no event is labelled fraud ({len(events)} events); a fraud model needs "
            "confirmed frauds",
            file=table,
            column="is_fraud",
        )
    fs = default_feature_set(world, events) if feature_set is None else feature_set
    return world_features(world, fs, events)


def _both_classes(y: np.ndarray, what: str, split: TimeSplit) -> None:
    if y.size == 0 or y.all() or not y.any():
        raise DataError(
            f"the {what} (training days {split.train_start_day} to {split.train_end_day - 1}) "
            f"holds {int(y.sum())} fraud(s) among {y.size} labelled event(s); training needs "
            "both frauds and genuine events"
        )


def _fit(
    prep: WorldFeatures, split: TimeSplit, params: Mapping[str, Any] | None, seed: int
) -> _Fit:
    import lightgbm as lgb

    ev = prep.events
    check_no_label_leakage(ev.label_available_at_ms, split.train, split.test_start_ms)
    lgb_params, max_rounds, patience = _lgb_params(params, seed)
    train = split.train
    train_days = split.train_end_day - split.train_start_day
    valid_days = max(1, round(VALIDATION_FRACTION * train_days))
    if train_days < 2:
        raise ParameterError(
            f"the training period must span at least 2 days to hold out a validation slice "
            f"(got {train_days})"
        )
    valid_start = split.train_end_day - valid_days
    in_valid = ev.day(split.origin_ms)[train] >= valid_start
    x = prep.matrix(train)
    y = ev.is_fraud[train]
    _both_classes(y[~in_valid], "fit slice of the training period", split)
    _both_classes(y[in_valid], "validation slice at the end of the training period", split)
    names = prep.feature_set.names

    fit_set = lgb.Dataset(x[~in_valid], y[~in_valid], feature_name=names, free_raw_data=True)
    valid_set = lgb.Dataset(x[in_valid], y[in_valid], reference=fit_set)
    stage1 = lgb.train(
        lgb_params,
        fit_set,
        num_boost_round=max_rounds,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(patience, verbose=False)],
    )
    rounds = max(1, int(stage1.best_iteration or stage1.current_iteration()))
    calibrator = PlattCalibrator.fit(
        stage1.predict(x[in_valid], num_iteration=rounds, raw_score=True),
        y[in_valid],
        scale=ScoreScale.MARGIN,
    )
    if not calibrator.a > 0:
        raise DataError(
            f"the model ranks the validation slice (training days {valid_start} to "
            f"{split.train_end_day - 1}) no better than chance (calibration slope "
            f"{calibrator.a:.3g}); more labelled frauds are needed"
        )
    final = lgb.train(lgb_params, lgb.Dataset(x, y, feature_name=names), num_boost_round=rounds)
    return _Fit(
        booster=final,
        calibrator=calibrator,
        num_boost_round=rounds,
        params=lgb_params,
        data_hash=_data_hash(names, ev.ids[train], x, y),
        n_train=int(y.size),
        n_train_frauds=int(y.sum()),
        validation_start_day=valid_start,
    )


def _predictor(booster: Any, calibrator: PlattCalibrator) -> Any:
    # What LoadedModel.predict does for a margin calibrator, so that the metrics recorded at
    # training are those of the registered model.
    return lambda x: calibrator.transform(booster.predict(x, raw_score=True))


# --- public API -----------------------------------------------------------------------------


def _naive(ms: int) -> Any:
    return np.datetime64(int(ms), "ms").astype("datetime64[us]").item()


def _metric_dict(evaluation: FraudEvaluation) -> dict[str, float]:
    out = {}
    for key in _METRIC_KEYS:
        value = getattr(evaluation, key)
        if key == "card_precision_at_k":
            key = f"card_precision_at_{evaluation.k}"
        if value is not None and np.isfinite(value):
            out[key] = float(value)
    return out


def train_fraud_model(
    world: World,
    *,
    feature_set: FeatureSet | None = None,
    split: TimeSplit | None = None,
    protocol: Protocol | str = Protocol.HANDBOOK,
    registry: ModelRegistry,
    name: str,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    table: str = "transactions",
) -> TrainResult:
    """Train, calibrate, test and register a LightGBM fraud model (steps in the module doc).

    Parameters
    ----------
    world : World
        An opened world directory (simulated or imported) with labelled ``table``.
    feature_set : FeatureSet, optional
        Default: :func:`fintwin.risk.handbook_plus_feature_set` on tables without cards,
        :func:`fintwin.features.retail_feature_set` (restricted to the table's columns) with.
    split : TimeSplit, optional
        Explicit split over the rows of :func:`fintwin.risk.replay.load_events`; when given,
        ``protocol`` is not used.
    protocol : Protocol or str, default "handbook"
        Used when ``split`` is None; a prequential protocol trains on fold 0 (the latest).
    registry : ModelRegistry
    name : str
        Model name in the registry.
    params : mapping, optional
        LightGBM parameters over :data:`DEFAULT_PARAMS`, plus ``num_boost_round`` and
        ``early_stopping_rounds``; ``objective`` must stay ``binary``.
    seed : int, default 0
    table : str, default "transactions"

    Returns
    -------
    TrainResult

    Raises
    ------
    DataError
        The table lacks labels, a period holds no event, a training slice lacks frauds or
        genuine events, or a training label was not available at the test start.
    ParameterError
        The world is too short for ``protocol``, or a parameter is invalid.
    """
    t0 = time.perf_counter()
    check_model_name(name)
    _lgb_params(params, seed)  # refuse bad parameters before the features are computed
    protocol = to_enum(Protocol, "protocol", protocol)
    prep = _features(world, feature_set, table)
    t1 = time.perf_counter()
    splits, plan = resolve_splits(world, prep.events, split, protocol)
    the_split = splits[0]
    t2 = time.perf_counter()
    fit = _fit(prep, the_split, params, seed)
    t3 = time.perf_counter()
    evaluation = evaluate_split(prep, the_split, _predictor(fit.booster, fit.calibrator))
    t4 = time.perf_counter()
    ev = prep.events
    train_ts = ev.timestamp_ms[the_split.train]
    metadata = ModelMetadata(
        name=name,
        feature_names=tuple(prep.feature_set.names),
        feature_definitions_hash=prep.feature_set.definitions_hash(),
        training_start=_naive(train_ts.min()),
        training_end=_naive(train_ts.max()),
        label_cutoff=_naive(the_split.test_start_ms),
        data_hash=fit.data_hash,
        metrics=_metric_dict(evaluation),
        parameters={
            "lightgbm": fit.params,
            "num_boost_round": fit.num_boost_round,
            "early_stopping": {
                "metric": "binary_logloss",
                "validation_start_day": fit.validation_start_day,
            },
            "class_imbalance": _CLASS_IMBALANCE,
            "calibration": "platt on the margin, fitted on the validation slice (stage 1)",
            "feature_set": prep.feature_set.to_json(),
            "table": table,
            "card_column": ev.card_column,
            "protocol": None if plan is None else plan.to_json(),
            "split": {
                "origin": str(np.datetime64(the_split.origin_ms, "ms")),
                "train_start_day": the_split.train_start_day,
                "train_end_day": the_split.train_end_day,
                "test_start_day": the_split.test_start_day,
                "test_end_day": the_split.test_end_day,
            },
            "training_rows": fit.n_train,
            "training_frauds": fit.n_train_frauds,
            "world": {
                "path": str(world.path),
                "preset": world.manifest.preset,
                "seed": world.manifest.seed,
                "fingerprint": world_fingerprint(world, table),
            },
        },
        notes="fintwin.risk.train_fraud_model; metrics on the split's test period",
    )
    version = registry.register(name, fit.booster, metadata, fit.calibrator)
    t5 = time.perf_counter()
    timings = {
        "features": t1 - t0,
        "split": t2 - t1,
        "fit": t3 - t2,
        "evaluate": t4 - t3,
        "register": t5 - t4,
        "total": t5 - t0,
    }
    return TrainResult(
        model_id=version.model_id,
        version=version,
        evaluation=evaluation,
        split=the_split,
        plan=plan,
        num_boost_round=fit.num_boost_round,
        timings=MappingProxyType(timings),
    )
