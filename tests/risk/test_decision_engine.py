"""DecisionEngine: online decisions end to end, batch == online, reasons consistent with the
score, refusal of mismatched models and policies, JSON records, rules-only engines."""

from __future__ import annotations

import datetime as dt
import json
import math
import pickle
from decimal import Decimal

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fintwin.data import World
from fintwin.exceptions import DataError, ParameterError
from fintwin.features import (
    DAY,
    Amount,
    Entity,
    FeatureSet,
    LabelRisk,
    LabelStat,
    Recency,
    compute_offline,
    handbook_feature_set,
    iter_events,
)
from fintwin.governance import (
    IsotonicCalibrator,
    LoadedModel,
    ModelMetadata,
    ModelRegistry,
    PlattCalibrator,
    ScoreScale,
)
from fintwin.risk import (
    DECISION_SCHEMA,
    Action,
    Decision,
    DecisionEngine,
    Explain,
    builtin_policy_path,
    load_policy,
)
from fintwin.risk._scorer import ModelScorer

MS_PER_DAY = 86_400_000
TRAIN_DAYS = 20
TEST_END = 28


def _events(world: World) -> pa.Table:
    tx = world.arrow("transactions")
    return tx.take(
        pc.sort_indices(tx, [("timestamp", "ascending"), ("transaction_id", "ascending")])
    )


def _day(tx: pa.Table) -> np.ndarray:
    """Day of each event, counted from the midnight before the first."""
    t = tx.column("timestamp").cast(pa.int64()).to_numpy()
    return (t - (t.min() - t.min() % MS_PER_DAY)) // MS_PER_DAY


def _period(world: World) -> pa.Table:
    """The first 28 days: 20 of training, 8 of test (the tests' online replays stay short)."""
    tx = _events(world)
    return tx.filter(pa.array(_day(tx) < TEST_END))


@pytest.fixture(scope="module")
def feature_set() -> FeatureSet:
    return handbook_feature_set()


@pytest.fixture(scope="module")
def booster(handbook_world: World, feature_set: FeatureSet) -> lgb.Booster:
    """A tiny model on the first 20 days, using only labels known at the end of day 20."""
    tx = _events(handbook_world)
    feats = compute_offline(feature_set, tx)
    t = tx.column("timestamp").cast(pa.int64()).to_numpy()
    cutoff = t.min() - t.min() % MS_PER_DAY + TRAIN_DAYS * MS_PER_DAY
    avail = tx.column("label_available_at").cast(pa.int64()).to_numpy()
    train = (_day(tx) < TRAIN_DAYS) & (avail <= cutoff)
    x = np.column_stack([feats.column(n).to_numpy() for n in feature_set.names])[train]
    y = tx.column("is_fraud").to_numpy(zero_copy_only=False)[train].astype(int)
    params = {
        "objective": "binary",
        "num_leaves": 7,
        "learning_rate": 0.1,
        "min_data_in_leaf": 20,
        "verbosity": -1,
        "seed": 3,
        "deterministic": True,
        "num_threads": 1,
    }
    data = lgb.Dataset(x, y, feature_name=feature_set.names)
    return lgb.train(params, data, num_boost_round=30)


def _register(
    registry: ModelRegistry,
    booster: lgb.Booster,
    fs: FeatureSet,
    calibrator=None,
    *,
    definitions_hash: str | None = None,
) -> LoadedModel:
    meta = ModelMetadata(
        "fraud-test",
        tuple(booster.feature_name()),
        fs.definitions_hash() if definitions_hash is None else definitions_hash,
        dt.datetime(2018, 4, 1),
        dt.datetime(2018, 4, 21),
        dt.datetime(2018, 4, 21),
        "test-data",
    )
    return registry.load(registry.register("fraud-test", booster, meta, calibrator).model_id)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    return ModelRegistry(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="module")
def model(registry: ModelRegistry, booster: lgb.Booster, feature_set: FeatureSet) -> LoadedModel:
    # an isotonic calibrator fitted on made-up labels: what matters is that it is applied
    rng = np.random.default_rng(5)
    raw = rng.uniform(0, 1, 400)
    cal = IsotonicCalibrator.fit(raw, rng.random(400) < raw**2)
    return _register(registry, booster, feature_set, cal)


@pytest.fixture(scope="module")
def policy(feature_set: FeatureSet):
    return load_policy(builtin_policy_path("handbook"), feature_set.names)


@pytest.fixture(scope="module")
def online_all(handbook_world, feature_set, model, policy) -> list[Decision]:
    """Every event of the first 28 days decided online, every decision explained."""
    engine = DecisionEngine(feature_set, model, policy, explain=Explain.ALL)
    return [engine.decide(e) for e in iter_events(_period(handbook_world))]


# -- end to end ---------------------------------------------------------------------------------


def test_decide_on_a_small_world(handbook_world, online_all, model, policy) -> None:
    tx = _period(handbook_world)
    assert [d.transaction_id for d in online_all] == tx.column("transaction_id").to_pylist()
    assert [d.timestamp for d in online_all] == tx.column("timestamp").cast(pa.int64()).to_pylist()
    actions = {a: sum(d.action is a for d in online_all) for a in Action}
    # the handbook policy approves most payments and acts on some
    assert actions[Action.APPROVE] > 0.8 * len(online_all)
    assert actions[Action.DECLINE] > 0 and actions[Action.REVIEW] > 0
    fraud = tx.column("is_fraud").to_numpy(zero_copy_only=False)
    scores = np.array([d.score for d in online_all])
    assert ((scores >= 0) & (scores <= 1)).all()
    # after training, frauds must score higher than genuine payments on average
    test = _day(tx) >= TRAIN_DAYS
    assert scores[test & fraud].mean() > 3 * scores[test & ~fraud].mean()
    # latency recorded around the whole decision
    lat = np.array([d.latency_s for d in online_all])
    assert (lat > 0).all() and (lat < 1.0).all()
    d = online_all[-1]
    assert (d.model_id, d.model_digest) == (model.model_id, model.version.digest)
    assert (d.policy, d.policy_version, d.policy_hash) == (
        policy.name,
        policy.version,
        policy.content_hash,
    )
    assert set(d.features) == set(handbook_feature_set().names)
    with pytest.raises(TypeError):
        d.features["amount"] = 0.0  # type: ignore[index]  # the snapshot is read-only


def test_rules_and_reason_codes_follow_the_policy(online_all, policy) -> None:
    for d in online_all[:2000]:
        again = policy.decide(d.features, d.score)
        assert d.action is again.action
        assert d.reasons == again.reasons
        assert d.rules == tuple(r.name for r in again.fired)
        assert d.band == again.band.threshold


def test_an_out_of_order_event_is_refused(handbook_world, feature_set, model, policy) -> None:
    engine = DecisionEngine(feature_set, model, policy)
    events = list(iter_events(_events(handbook_world).slice(0, 3)))
    engine.decide(events[1])
    with pytest.raises(DataError, match="out of order"):
        engine.decide(events[0])


# -- batch == online ----------------------------------------------------------------------------


def _assert_same(batch: pa.Table, online: list[Decision]) -> None:
    assert batch.schema.equals(DECISION_SCHEMA)
    rows = batch.to_pylist()
    assert len(rows) == len(online)
    for row, d in zip(rows, online, strict=True):
        assert row["transaction_id"] == d.transaction_id
        assert row["timestamp"] == dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=d.timestamp)
        # the same trees on the same float64 values: equal to rounding at most
        assert abs(row["score"] - d.score) <= 1e-12
        assert row["action"] == d.action.value
        assert row["band"] == d.band
        assert tuple(row["rules"]) == d.rules
        assert tuple(row["reasons"]) == d.reasons
        if d.explanation is None:
            assert row["margin"] is None and row["top_features"] is None
            continue
        assert abs(row["margin"] - d.explanation.margin) <= 1e-12
        assert abs(row["bias"] - d.explanation.bias) <= 1e-12
        top = [(c["feature"], c["value"]) for c in row["top_features"]]
        assert top == [(c.feature, c.value) for c in d.explanation.top]
        for c, e in zip(row["top_features"], d.explanation.top, strict=True):
            assert abs(c["contribution"] - e.contribution) <= 1e-12


def test_batch_equals_online_every_decision_explained(
    handbook_world, feature_set, model, policy, online_all
) -> None:
    engine = DecisionEngine(feature_set, model, policy, explain="all")
    batch = engine.decide_batch(_period(handbook_world))
    _assert_same(batch, online_all)
    meta = batch.schema.metadata
    assert meta[b"model_id"].decode() == model.model_id
    assert meta[b"policy_hash"].decode() == policy.content_hash


def test_batch_equals_online_alerts_explained(handbook_world, feature_set, model, policy) -> None:
    # the first 12 days, rows shuffled: the batch orders them itself
    tx = _events(handbook_world)
    tx = tx.filter(pa.array(_day(tx) < 12))
    online = DecisionEngine(feature_set, model, policy)
    decisions = [online.decide(e) for e in iter_events(tx)]
    assert any(d.explanation is None for d in decisions)
    assert all((d.explanation is None) == (d.action is Action.APPROVE) for d in decisions)
    shuffled = tx.take(np.random.default_rng(2).permutation(tx.num_rows))
    batch = DecisionEngine(feature_set, model, policy).decide_batch(shuffled, num_threads=2)
    _assert_same(batch, decisions)


def test_batch_does_not_touch_the_online_state(handbook_world, feature_set, model, policy) -> None:
    engine = DecisionEngine(feature_set, model, policy)
    engine.decide_batch(_events(handbook_world).slice(0, 500))
    assert engine.online.clock is None


# -- reasons consistent with the score ----------------------------------------------------------


def test_contributions_add_up_to_the_raw_margin(online_all, model) -> None:
    explained = [d for d in online_all if d.explanation is not None]
    assert len(explained) == len(online_all)
    names = model.metadata.feature_names
    x = np.array([[d.features[n] for n in names] for d in explained])
    raw = model.booster.predict(x, raw_score=True)
    for d, margin in zip(explained, raw, strict=True):
        e = d.explanation
        assert list(e.contributions) == list(names)
        # SHAP's local accuracy: bias + contributions == margin, to float rounding over 16 terms
        assert math.isclose(e.bias + sum(e.contributions.values()), margin, abs_tol=1e-9)
        assert math.isclose(e.margin, margin, abs_tol=1e-9)


def test_top_reasons_are_the_largest_positive_contributions(online_all) -> None:
    pushed_up = 0
    for d in online_all:
        e = d.explanation
        positive = sorted((v for v in e.contributions.values() if v > 0), reverse=True)
        assert [c.contribution for c in d.top_features] == positive[:3]
        for c in d.top_features:
            assert c.contribution > 0 and c.contribution == e.contributions[c.feature]
            assert c.value == d.features[c.feature] or (c.value != c.value)
        if e.margin > e.bias:
            # a score above the average needs some feature pushing it up: the top reason
            pushed_up += 1
            assert d.top_features and d.top_features[0].contribution > 0
    assert pushed_up > 0


def test_higher_scores_come_with_larger_top_contributions(online_all) -> None:
    # the explanation is of this score: decisions in the top 1% of scores carry larger top
    # contributions than the median decision
    scores = np.array([d.score for d in online_all])
    top1 = np.array([d.top_features[0].contribution if d.top_features else 0.0 for d in online_all])
    high = scores >= np.quantile(scores, 0.99)
    assert np.median(top1[high]) > 2 * np.median(top1)


@pytest.mark.parametrize(
    "calibrator",
    [
        None,
        IsotonicCalibrator(np.array([0.0, 0.2, 1.0]), np.array([0.0, 0.5, 0.9])),
        PlattCalibrator(1.3, -0.4, ScoreScale.PROBABILITY),
        PlattCalibrator(0.8, 0.1, ScoreScale.MARGIN),
    ],
    ids=["none", "isotonic", "platt-probability", "platt-margin"],
)
def test_single_row_scores_equal_the_registry_predict(
    registry, booster, feature_set, handbook_world, calibrator
) -> None:
    loaded = _register(registry, booster, feature_set, calibrator)
    feats = compute_offline(feature_set, _events(handbook_world).slice(0, 300))
    x = np.column_stack([feats.column(n).to_numpy() for n in feature_set.names])
    expected = loaded.predict(x)
    contrib = booster.predict(x, pred_contrib=True)
    for fast in (True, False):
        scorer = ModelScorer(loaded, fast=fast)
        assert scorer.uses_c_api is fast
        for i in range(len(x)):
            scorer.row[:] = x[i]
            assert scorer.score_row() == expected[i]
            assert scorer.contributions_row() == contrib[i].tolist()


# -- refusals -----------------------------------------------------------------------------------


def test_a_model_of_other_feature_definitions_is_refused(
    registry, booster, feature_set, policy
) -> None:
    # the model claims the definitions of a 3-day label delay: its hash differs
    other = handbook_feature_set(label_delay_days=3)
    assert other.definitions_hash() != feature_set.definitions_hash()
    stale = _register(registry, booster, feature_set, definitions_hash=other.definitions_hash())
    with pytest.raises(ParameterError, match="trained on feature definitions"):
        DecisionEngine(feature_set, stale, policy)


def test_a_model_taking_unknown_features_is_refused(registry, feature_set, policy) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 2)), rng.random(200) < 0.3
    names = ["amount", "device_count_1d"]
    b = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_leaves": 4},
        lgb.Dataset(x, y.astype(int), feature_name=names),
        3,
    )
    alien = _register(registry, b, feature_set)
    with pytest.raises(ParameterError, match="device_count_1d"):
        DecisionEngine(feature_set, alien, policy)


def test_a_policy_using_unknown_features_is_refused(feature_set, model) -> None:
    text = (
        "policy: wide\nversion: 2\nmodel: null\nthresholds: {review: 0.5}\n"
        "rules:\n  - {name: shared_device, when: 'device_cards_30d > 3.0', action: review,"
        " reason: SHARED_DEVICE}\n"
        "default: {bands: {review: review}, otherwise: approve}\n"
    )
    wide = load_policy(text, [*feature_set.names, "device_cards_30d"])
    with pytest.raises(ParameterError, match=r"wide.*device_cards_30d"):
        DecisionEngine(feature_set, model, wide)


def test_a_policy_naming_another_model_is_refused(feature_set, model) -> None:
    text = builtin_policy_path("handbook").read_text().replace("model: null", "model: other/7")
    pinned = load_policy(text, feature_set.names)
    with pytest.raises(ParameterError, match="expects model 'other/7'"):
        DecisionEngine(feature_set, model, pinned)
    with pytest.raises(ParameterError, match="expects model 'other/7', got None"):
        DecisionEngine(feature_set, None, pinned)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"top_reasons": -1}, "top_reasons"),
        ({"top_reasons": 1.5}, "top_reasons"),
        ({"explain": "some"}, "explain must be one of"),
    ],
)
def test_bad_parameters_are_refused(feature_set, model, policy, kwargs, match) -> None:
    with pytest.raises(ParameterError, match=match):
        DecisionEngine(feature_set, model, policy, **kwargs)


# -- records and rules-only engines -------------------------------------------------------------


def test_decision_to_dict_is_json(online_all) -> None:
    flagged = next(d for d in online_all if d.action is not Action.APPROVE)
    for d in (online_all[0], flagged):
        record = json.loads(json.dumps(d.to_dict(), allow_nan=False))
        assert record["action"] == d.action.value
        assert record["transaction_id"] == d.transaction_id
        assert record["reasons"] == list(d.reasons)
        assert [c["feature"] for c in record["top_features"]] == [c.feature for c in d.top_features]
        assert record["explanation"]["margin"] == d.explanation.margin


def test_decisions_pickle(online_all) -> None:
    flagged = next(d for d in online_all if d.action is not Action.APPROVE)
    back = pickle.loads(pickle.dumps(flagged))
    assert back == flagged and back.to_dict() == flagged.to_dict()
    with pytest.raises(TypeError):
        back.features["amount"] = 0.0  # type: ignore[index]


def _rules_policy(features: list[str]):
    text = (
        "policy: rules-only\nversion: 1\nmodel: null\nthresholds: {review: 0.5}\n"
        "rules:\n"
        "  - {name: big, when: 'amount > 220.0', action: decline, reason: BIG}\n"
        "  - {name: burst, when: 'score > 0.9 || amount > 100.0', action: review, reason: MID}\n"
        "default: {bands: {review: review}, otherwise: approve}\n"
    )
    return load_policy(text, features)


def test_a_rules_only_engine_scores_zero() -> None:
    fs = FeatureSet([Amount(), Recency(Entity.CUSTOMER, DAY)])
    engine = DecisionEngine(fs, None, _rules_policy(fs.names), explain=Explain.ALL)
    events = [
        {"transaction_id": 1, "timestamp": 0, "customer_id": 5, "amount": "20.00"},
        {"transaction_id": 2, "timestamp": 1000, "customer_id": 5, "amount": "150.00"},
        {"transaction_id": 3, "timestamp": 2000, "customer_id": 6, "amount": "300.00"},
    ]
    got = [engine.decide(e) for e in events]
    assert [d.action for d in got] == [Action.APPROVE, Action.REVIEW, Action.DECLINE]
    assert [d.reasons for d in got] == [(), ("MID",), ("BIG", "MID")]
    assert all(d.score == 0.0 and d.explanation is None and d.model_id is None for d in got)
    assert all(d.latency_s > 0 for d in got)
    # the first payment of a customer has no recency: NaN in the snapshot, null in JSON
    assert math.isnan(got[2].features[fs.names[1]])
    record = json.loads(json.dumps(got[2].to_dict(), allow_nan=False))
    assert record["features"][fs.names[1]] is None and record["model_id"] is None
    batch = engine.decide_batch(
        pa.table(
            {
                "transaction_id": [e["transaction_id"] for e in events],
                "timestamp": pa.array([e["timestamp"] for e in events], pa.timestamp("ms")),
                "customer_id": [e["customer_id"] for e in events],
                "amount": pa.array([Decimal(e["amount"]) for e in events], pa.decimal128(18, 2)),
            }
        )
    )
    assert batch.column("action").to_pylist() == ["approve", "review", "decline"]
    assert batch.column("score").to_pylist() == [0.0, 0.0, 0.0]


def test_add_label_reaches_the_features() -> None:
    fs = FeatureSet([Amount(), LabelRisk(Entity.TERMINAL, 7 * DAY, 0, LabelStat.FRAUD_COUNT)])
    text = (
        "policy: known-fraud\nversion: 1\nmodel: null\nthresholds: {review: 0.5}\nrules:\n"
        f"  - {{name: bad_terminal, when: '{fs.names[1]} >= 1.0', action: decline,"
        " reason: TERMINAL}\n"
        "default: {bands: {review: review}, otherwise: approve}\n"
    )
    engine = DecisionEngine(fs, None, load_policy(text, fs.names))
    first = engine.decide({"transaction_id": 1, "timestamp": 0, "terminal_id": 9, "amount": 5})
    assert first.action is Action.APPROVE
    assert engine.add_label(1, True, available_at=60_000)
    later = engine.decide(
        {"transaction_id": 2, "timestamp": 120_000, "terminal_id": 9, "amount": 5}
    )
    assert later.action is Action.DECLINE and later.reasons == ("TERMINAL",)
    assert not engine.add_label(99, True, available_at=0)


def test_explain_later_equals_explain_now(online_all, feature_set, model, policy) -> None:
    engine = DecisionEngine(feature_set, model, policy, explain=Explain.NONE)
    for d in online_all[:50]:
        assert engine.explain(d.features) == d.explanation
    rules_only = DecisionEngine(feature_set, None, policy)
    with pytest.raises(ParameterError, match="no model"):
        rules_only.explain(online_all[0].features)
