"""Fraud model training and offline evaluation on small worlds: determinism, no label leakage,
registered models that reproduce their metrics, metadata, protocols and errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from fintwin.data import World, open_world
from fintwin.data.world_dir import WorldWriter
from fintwin.exceptions import DataError, ParameterError
from fintwin.features import handbook_feature_set, retail_feature_set
from fintwin.governance import ModelRegistry, PlattCalibrator
from fintwin.risk.fraud_features import default_feature_set, handbook_plus_feature_set
from fintwin.risk.model_evaluation import evaluate_model, prequential_evaluation
from fintwin.risk.protocols import KnownCompromised, handbook_split
from fintwin.risk.replay import Protocol, load_events, protocol_splits, resolve_protocol
from fintwin.risk.training import TrainResult, train_fraud_model
from fintwin.world import simulate

# Few, small trees keep each training under a second on the 40-day, 500-customer world; the
# properties tested do not depend on the model's quality.
FAST = {
    "num_boost_round": 40,
    "early_stopping_rounds": 10,
    "num_leaves": 7,
    "min_child_samples": 40,
}
FS = handbook_feature_set()


def _train(world: World, registry: ModelRegistry, name: str = "fraud-test", **kw) -> TrainResult:
    kw.setdefault("protocol", Protocol.FRACTIONS)
    kw.setdefault("feature_set", FS)
    return train_fraud_model(world, registry=registry, name=name, params=FAST, **kw)


def _copy_world(
    world: World, out: Path, transactions: pa.Table, preset: str | None = None
) -> World:
    """The same world with another transactions table (and optionally another preset)."""
    with WorldWriter(out) as writer:
        for table in world.tables:
            writer.write_table(
                table, transactions if table == "transactions" else world.arrow(table)
            )
        m = world.manifest
        writer.commit(
            preset=preset or m.preset,
            seed=m.seed,
            start=m.start,
            days=m.days,
            parameters=m.parameters,
        )
    return open_world(out)


@pytest.fixture(scope="module")
def trained(handbook_world: World, tmp_path_factory: pytest.TempPathFactory):
    registry = ModelRegistry(tmp_path_factory.mktemp("registry"))
    return registry, _train(handbook_world, registry)


def test_training_is_deterministic_for_a_seed(handbook_world: World, trained) -> None:
    registry, first = trained
    again = _train(handbook_world, registry)
    assert again.model_id != first.model_id
    text = [(r.version.path / "model.txt").read_bytes() for r in (first, again)]
    assert text[0] == text[1]
    cal = [(r.version.path / "calibrator.json").read_bytes() for r in (first, again)]
    assert cal[0] == cal[1]
    assert again.evaluation.to_dict() == first.evaluation.to_dict()


def test_future_and_test_labels_do_not_change_the_model(
    handbook_world: World, trained, tmp_path: Path
) -> None:
    registry, first = trained
    cutoff = first.split.test_start_ms
    tx = handbook_world.arrow("transactions")
    available = tx.column("label_available_at").cast(pa.int64()).to_numpy()
    fraud = tx.column("is_fraud").to_numpy()
    late = np.flatnonzero(available > cutoff)  # the delay and test periods' labels, mostly
    shuffled = fraud.copy()
    shuffled[late] = np.random.default_rng(0).permutation(fraud[late])
    # Fraud is rare, so a permutation moves most fraud labels: the test must see a change.
    assert (shuffled != fraud).sum() > 0.5 * fraud[late].sum()
    changed = tx.set_column(
        tx.schema.get_field_index("is_fraud"), "is_fraud", pa.array(shuffled, pa.bool_())
    )
    other = _copy_world(handbook_world, tmp_path / "shuffled", changed)
    result = _train(other, registry)
    same = [(r.version.path / "model.txt").read_bytes() for r in (first, result)]
    assert same[0] == same[1]
    assert result.evaluation.auc_roc != first.evaluation.auc_roc  # the test labels did change

    # Control: one training label flipped does change the model.
    events = load_events(handbook_world)
    k = int(first.split.train[np.flatnonzero(~events.is_fraud[first.split.train])[0]])
    flip = fraud.copy()
    row = int(np.flatnonzero(tx.column("transaction_id").to_numpy() == events.ids[k])[0])
    flip[row] = True
    flipped = _copy_world(
        handbook_world,
        tmp_path / "flipped",
        tx.set_column(tx.schema.get_field_index("is_fraud"), "is_fraud", pa.array(flip)),
    )
    control = _train(flipped, registry)
    assert (control.version.path / "model.txt").read_bytes() != same[0]


def test_registered_model_reproduces_its_metrics(handbook_world: World, trained) -> None:
    registry, result = trained
    # By default the protocol the model was trained under ("fractions").
    by_id = evaluate_model(handbook_world, result.model_id, registry=registry)
    assert by_id.to_dict() == result.evaluation.to_dict()
    loaded = registry.load(result.model_id)
    again = evaluate_model(handbook_world, loaded, split=result.split)
    assert again.auc_roc == result.evaluation.auc_roc
    recorded = loaded.metadata.metrics
    assert recorded["auc_roc"] == result.evaluation.auc_roc
    assert recorded["average_precision"] == result.evaluation.average_precision
    assert recorded["card_precision_at_100"] == result.evaluation.card_precision_at_k


def test_metadata_records_features_window_cutoff_data_and_versions(
    handbook_world: World, trained
) -> None:
    registry, result = trained
    loaded = registry.load(result.model_id)
    meta = loaded.metadata
    assert meta.feature_names == tuple(FS.names)
    assert meta.feature_definitions_hash == FS.definitions_hash()
    events = load_events(handbook_world)
    train_ts = events.timestamp_ms[result.split.train]
    as_dt = lambda ms: np.datetime64(int(ms), "ms").astype("datetime64[us]").item()  # noqa: E731
    assert meta.training_start == as_dt(train_ts.min())
    assert meta.training_end == as_dt(train_ts.max())
    assert meta.label_cutoff == as_dt(result.split.test_start_ms)
    assert (events.label_available_at_ms[result.split.train] <= result.split.test_start_ms).all()
    assert len(meta.data_hash) == 64
    assert {"auc_roc", "average_precision", "card_precision_at_100", "alert_rate"} <= set(
        meta.metrics
    )
    lgb_params = meta.parameters["lightgbm"]
    assert lgb_params["seed"] == 0 and lgb_params["deterministic"] is True
    assert lgb_params["num_threads"] >= 1
    assert (
        meta.parameters["num_boost_round"] == result.num_boost_round == loaded.booster.num_trees()
    )
    assert meta.parameters["protocol"]["protocol"] == "fractions"
    assert meta.parameters["training_rows"] == result.split.train.size
    assert {"lightgbm", "numpy", "fintwin", "python"} <= set(meta.library_versions)
    assert isinstance(loaded.calibrator, PlattCalibrator)
    assert result.timings["total"] >= result.timings["fit"] > 0


def test_data_hash_follows_the_training_table(handbook_world: World, trained) -> None:
    registry, result = trained
    other = _train(handbook_world, registry, feature_set=handbook_feature_set(label_delay_days=3))
    meta = [registry.load(r.model_id).metadata for r in (result, other)]
    assert meta[0].data_hash != meta[1].data_hash
    assert meta[0].feature_definitions_hash != meta[1].feature_definitions_hash


def test_fraction_protocols_on_a_world_that_is_not_the_handbook(
    handbook_world: World, tmp_path: Path
) -> None:
    imported = _copy_world(
        handbook_world, tmp_path / "imported", handbook_world.arrow("transactions"), "import"
    )
    events = load_events(imported)
    # 40 days, 7-day genuine label delay: 24 training days, the delay, 9 test days.
    plan = resolve_protocol(imported, events, Protocol.HANDBOOK)
    assert (plan.book, plan.start_day, plan.train_days, plan.delay_days, plan.test_days) == (
        False,
        0,
        24,
        7,
        9,
    )
    assert plan.known_compromised is KnownCompromised.LABELS
    # Prequential: E = (40 - 7) // 5 = 6; fold 0 tests days 34-39, trains days 21-26.
    pre = resolve_protocol(imported, events, "prequential")
    splits = protocol_splits(pre, events)
    assert [(s.train_start_day, s.test_start_day) for s in splits] == [
        (21, 34),
        (15, 28),
        (9, 22),
        (3, 16),
    ]
    result = prequential_evaluation(imported, feature_set=FS, params=FAST)
    per_fold = [f.auc_roc for f in result.folds]
    assert result.mean["auc_roc"] == pytest.approx(np.mean(per_fold))
    assert len(per_fold) == 4 and all(0.5 < a <= 1 for a in per_fold)


def test_the_book_protocol_on_a_handbook_world(handbook_world: World) -> None:
    with pytest.raises(ParameterError, match=r"protocol='handbook'.*days 0 to 156"):
        resolve_protocol(handbook_world, load_events(handbook_world), Protocol.HANDBOOK)


def test_too_short_a_world_names_the_protocol(handbook_world: World, tmp_path: Path) -> None:
    tx = handbook_world.arrow("transactions")
    ts = tx.column("timestamp").cast(pa.int64()).to_numpy()
    short = _copy_world(
        handbook_world, tmp_path / "short", tx.filter(pa.array(ts < ts.min() + 8 * 86_400_000))
    )
    with pytest.raises(ParameterError, match=r"protocol='fractions'.*2 training days"):
        train_fraud_model(
            short, protocol="fractions", registry=ModelRegistry(tmp_path / "r"), name="x"
        )


def test_a_world_without_fraud_labels_is_refused(handbook_world: World, tmp_path: Path) -> None:
    tx = handbook_world.arrow("transactions")
    no_labels = tx.set_column(
        tx.schema.get_field_index("is_fraud"), "is_fraud", pa.array(np.zeros(tx.num_rows, bool))
    )
    no_labels = no_labels.set_column(
        no_labels.schema.get_field_index("fraud_scenario"),
        "fraud_scenario",
        pa.nulls(tx.num_rows, tx.schema.field("fraud_scenario").type),
    )
    world = _copy_world(handbook_world, tmp_path / "unlabelled", no_labels)
    with pytest.raises(DataError, match="is_fraud"):
        _train(world, ModelRegistry(tmp_path / "r"))


def test_training_labels_after_the_test_start_are_refused(
    handbook_world: World, tmp_path: Path
) -> None:
    events = load_events(handbook_world)
    # Without label times the split keeps every training label, so with no delay period the
    # last training days' labels (known 7 days later) are not yet available at the test start.
    split = handbook_split(
        events.timestamp_ms,
        events.card,
        events.is_fraud,
        start_day=10,
        train_days=10,
        delay_days=0,
        test_days=5,
        origin=dt.date(2018, 4, 1),
    )
    with pytest.raises(DataError, match="after the test start"):
        _train(handbook_world, ModelRegistry(tmp_path / "r"), split=split)


def test_evaluating_on_the_training_labels_is_refused(handbook_world: World, trained) -> None:
    registry, result = trained
    events = load_events(handbook_world)
    early = handbook_split(
        events.timestamp_ms,
        events.card,
        events.is_fraud,
        events.label_available_at_ms,
        start_day=2,
        origin=dt.date(2018, 4, 1),
    )
    with pytest.raises(DataError, match="leaked"):
        evaluate_model(handbook_world, result.model_id, registry=registry, split=early)


def test_parameters_are_checked(handbook_world: World, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "r")
    with pytest.raises(ParameterError, match="protocol must be one of"):
        train_fraud_model(handbook_world, protocol="weekly", registry=registry, name="x")
    with pytest.raises(ParameterError, match="num_boost_round"):
        train_fraud_model(
            handbook_world,
            protocol="fractions",
            registry=registry,
            name="x",
            params={"num_boost_round": 0},
        )
    with pytest.raises(ParameterError, match="seed"):
        train_fraud_model(
            handbook_world, protocol="fractions", registry=registry, name="x", seed=-1
        )
    with pytest.raises(ParameterError, match="registry"):
        evaluate_model(handbook_world, "fraud-test/1")


def test_defaults_on_a_world_with_cards(tmp_path: Path) -> None:
    world = simulate(tmp_path / "retail", "retail-bank", customers=300, days=30, seed=3)
    events = load_events(world)
    assert events.card_column == "card_id"
    fs = default_feature_set(world, events)
    assert fs == retail_feature_set()  # the retail-bank world has every column it needs
    plan = resolve_protocol(world, events, Protocol.HANDBOOK)
    # Genuine labels arrive after 7 days: 18 training days, 7 delay days, 5 test days.
    assert (plan.book, plan.train_days, plan.delay_days, plan.test_days) == (False, 18, 7, 5)
    assert plan.known_compromised is KnownCompromised.LABELS


def test_defaults_on_a_handbook_world(handbook_world: World) -> None:
    events = load_events(handbook_world)
    assert events.card_column == "customer_id"
    fs = default_feature_set(handbook_world, events)
    assert fs == handbook_plus_feature_set(label_delay_days=7)
    assert fs.names[: len(FS)] == FS.names


def test_prequential_start_day_moves_the_folds(handbook_world: World, tmp_path: Path) -> None:
    imported = _copy_world(
        handbook_world, tmp_path / "imported", handbook_world.arrow("transactions"), "import"
    )
    result = prequential_evaluation(imported, feature_set=FS, params=FAST, start_day=18)
    assert [s.train_start_day for s in result.splits] == [18, 12, 6, 0]
    with pytest.raises(ParameterError, match="start_day"):
        prequential_evaluation(imported, feature_set=FS, params=FAST, start_day=-1)
