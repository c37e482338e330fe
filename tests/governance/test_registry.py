"""ModelRegistry: exact round trips, increasing versions, verified loads, no pickles."""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from fintwin.exceptions import (
    CorruptModelError,
    IncompleteModelError,
    ModelNotFoundError,
    ModelRegistryError,
    ParameterError,
)
from fintwin.governance import (
    IsotonicCalibrator,
    ModelMetadata,
    ModelRegistry,
    PlattCalibrator,
    ScoreScale,
)
from fintwin.governance import registry as registry_module

FEATURES = ("amount", "tx_count_1d", "terminal_risk_7d", "night")


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(FEATURES)))
    logit = 1.5 * X[:, 0] - X[:, 1] + 0.8 * X[:, 2] * X[:, 3] - 2.5
    return X, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)


@pytest.fixture(scope="module")
def booster() -> lgb.Booster:
    X, y = _data(3_000, seed=1)
    params = {
        "objective": "binary",
        "num_leaves": 8,
        "learning_rate": 0.1,
        "verbosity": -1,
        "seed": 1,
        "deterministic": True,
        "num_threads": 1,
    }
    return lgb.train(params, lgb.Dataset(X, y, feature_name=list(FEATURES)), num_boost_round=30)


def _meta(name: str = "fraud-test", **changes: object) -> ModelMetadata:
    fields: dict[str, object] = {
        "name": name,
        "feature_names": FEATURES,
        "feature_definitions_hash": "f" * 64,
        "training_start": dt.datetime(2018, 4, 1),
        "training_end": dt.datetime(2018, 4, 8),
        "label_cutoff": dt.datetime(2018, 4, 15),
        "data_hash": "d" * 64,
        "metrics": {"auc_roc": 0.9},
        "parameters": {"num_leaves": 8},
        "notes": "test model",
    }
    fields.update(changes)
    return ModelMetadata(**fields)  # type: ignore[arg-type]


@pytest.fixture
def calibrator(booster: lgb.Booster) -> IsotonicCalibrator:
    X, y = _data(2_000, seed=2)
    return IsotonicCalibrator.fit(booster.predict(X), y)


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "registry")


def test_round_trip_gives_identical_predictions(
    registry: ModelRegistry, booster: lgb.Booster, calibrator: IsotonicCalibrator
) -> None:
    version = registry.register("fraud-test", booster, _meta(), calibrator)
    assert version.model_id == "fraud-test/1"
    assert version.path == registry.root / "fraud-test" / "0001"
    loaded = registry.load("fraud-test/1")
    X, _ = _data(1_000, seed=3)
    assert np.array_equal(loaded.booster.predict(X), booster.predict(X))
    # Exact SHAP contributions survive too (the engine's reason codes use them).
    assert np.array_equal(
        loaded.booster.predict(X, pred_contrib=True), booster.predict(X, pred_contrib=True)
    )
    assert np.array_equal(loaded.predict(X), calibrator.transform(booster.predict(X)))
    assert loaded.metadata.feature_names == FEATURES
    assert loaded.metadata.metrics == {"auc_roc": 0.9}
    assert loaded.version == version
    assert loaded.model_id == "fraud-test/1"


def test_metadata_is_stored_exactly(registry: ModelRegistry, booster: lgb.Booster) -> None:
    meta = _meta()
    registry.register("fraud-test", booster, meta)
    loaded = registry.load("fraud-test/1")
    assert loaded.metadata == meta
    assert loaded.calibrator is None


def test_predict_with_a_margin_platt_calibrator(
    registry: ModelRegistry, booster: lgb.Booster
) -> None:
    X, y = _data(2_000, seed=4)
    platt = PlattCalibrator.fit(booster.predict(X, raw_score=True), y, scale=ScoreScale.MARGIN)
    registry.register("fraud-test", booster, _meta(), platt)
    loaded = registry.load("fraud-test/1")
    assert loaded.calibrator == platt
    assert np.array_equal(loaded.predict(X), platt.transform(booster.predict(X, raw_score=True)))


def test_versions_increase_and_are_listed(registry: ModelRegistry, booster: lgb.Booster) -> None:
    assert registry.list() == []
    ids = [registry.register("fraud-test", booster, _meta()).model_id for _ in range(3)]
    other = registry.register("aml-test", booster, _meta("aml-test"))
    assert ids == ["fraud-test/1", "fraud-test/2", "fraud-test/3"]
    assert other.model_id == "aml-test/1"
    assert [v.model_id for v in registry.list()] == ["aml-test/1", *ids]
    assert [v.model_id for v in registry.list("fraud-test")] == ids
    assert registry.latest("fraud-test").model_id == "fraud-test/3"
    assert registry.get("fraud-test/2").version == 2
    # Each version is its own artefact: manifests differ (version, time), so digests differ.
    assert len({v.digest for v in registry.list()}) == 4


def test_a_version_claimed_by_another_process_is_skipped(
    registry: ModelRegistry, booster: lgb.Booster, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.register("fraud-test", booster, _meta())
    registry.register("fraud-test", booster, _meta())
    # As if another process had read the folder before those two were claimed.
    monkeypatch.setattr(ModelRegistry, "_highest_version", lambda self, folder: 0)
    assert registry.register("fraud-test", booster, _meta()).model_id == "fraud-test/3"


def test_an_unfinished_version_is_skipped(registry: ModelRegistry, booster: lgb.Booster) -> None:
    registry.register("fraud-test", booster, _meta())
    (registry.root / "fraud-test" / "0002").mkdir()  # claimed, still being written
    assert [v.version for v in registry.list("fraud-test")] == [1]
    assert registry.latest("fraud-test").version == 1
    with pytest.raises(IncompleteModelError, match=r"0002 has no manifest\.json"):
        registry.load("fraud-test/2")
    assert registry.register("fraud-test", booster, _meta()).version == 3


_WORKER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import lightgbm as lgb
    from fintwin.governance import ModelMetadata, ModelRegistry

    root, model_file, meta_file, ready, go, count = sys.argv[1:]
    booster = lgb.Booster(model_file=model_file)
    meta = ModelMetadata.from_json(json.loads(Path(meta_file).read_text()))
    registry = ModelRegistry(root)
    Path(ready).touch()
    deadline = time.monotonic() + 120
    while not Path(go).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    for _ in range(int(count)):
        print(registry.register("fraud-test", booster, meta).model_id, flush=True)
    """
)


# Slow only because each worker imports LightGBM (~2 s of CPU); the retry on a taken version
# is also covered, fast, by test_a_version_claimed_by_another_process_is_skipped.
@pytest.mark.slow
def test_parallel_processes_get_distinct_versions(tmp_path: Path, booster: lgb.Booster) -> None:
    model_file, meta_file = tmp_path / "model.txt", tmp_path / "meta.json"
    booster.save_model(model_file)
    meta_file.write_text(json.dumps(_meta().to_json()))
    go = tmp_path / "go"
    n_procs, per_proc = 4, 5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(tmp_path / "reg"), str(model_file),
             str(meta_file), str(tmp_path / f"ready-{i}"), str(go), str(per_proc)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(n_procs)
    ]  # fmt: skip
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{i}").exists() for i in range(n_procs)):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(p.poll() is None for p in procs), "a worker died"
        time.sleep(0.01)
    go.touch()  # all workers race from here
    ids = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        ids += out.split()
    expected = [f"fraud-test/{v}" for v in range(1, n_procs * per_proc + 1)]
    assert sorted(ids, key=lambda i: int(i.split("/")[1])) == expected
    registry = ModelRegistry(tmp_path / "reg")
    assert [v.model_id for v in registry.list()] == expected
    for model_id in expected:
        registry.load(model_id)
    assert not [p for p in (tmp_path / "reg" / "fraud-test").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("file_name", ["model.txt", "metadata.json", "calibrator.json"])
def test_a_changed_byte_is_refused(
    registry: ModelRegistry,
    booster: lgb.Booster,
    calibrator: IsotonicCalibrator,
    file_name: str,
) -> None:
    version = registry.register("fraud-test", booster, _meta(), calibrator)
    path = version.path / file_name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptModelError, match=rf"{file_name} was changed after registration"):
        registry.load("fraud-test/1")


@pytest.mark.parametrize("file_name", ["model.txt", "metadata.json", "calibrator.json"])
def test_a_missing_file_is_refused(
    registry: ModelRegistry,
    booster: lgb.Booster,
    calibrator: IsotonicCalibrator,
    file_name: str,
) -> None:
    version = registry.register("fraud-test", booster, _meta(), calibrator)
    (version.path / file_name).unlink()
    with pytest.raises(IncompleteModelError, match=rf"{file_name} is missing"):
        registry.load("fraud-test/1")


def _rewrite(version_path: Path, file_name: str, data: bytes) -> None:
    """Replace a file and its hash in the manifest, as a careless hand edit would."""
    (version_path / file_name).write_bytes(data)
    manifest_path = version_path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][file_name] = registry_module._sha256(data)
    manifest_path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("file_name", "content", "match"),
    [
        ("metadata.json", b"{not json", r"metadata\.json: invalid JSON"),
        ("metadata.json", b'{"format": 1, "name": "fraud-test"}', r"metadata\.json: .*missing"),
        ("calibrator.json", b'{"kind": "magic"}', r"calibrator\.json: .*'kind'"),
        ("model.txt", b"tree\nnothing here\n", r"model\.txt: not a LightGBM model"),
    ],
)
def test_unparsable_files_are_refused(
    registry: ModelRegistry,
    booster: lgb.Booster,
    calibrator: IsotonicCalibrator,
    file_name: str,
    content: bytes,
    match: str,
) -> None:
    version = registry.register("fraud-test", booster, _meta(), calibrator)
    _rewrite(version.path, file_name, content)
    with pytest.raises(CorruptModelError, match=match):
        registry.load("fraud-test/1")


def test_features_differing_from_metadata_are_refused(
    registry: ModelRegistry, booster: lgb.Booster
) -> None:
    version = registry.register("fraud-test", booster, _meta())
    meta = _meta(feature_names=("amount", "tx_count_1d", "night", "terminal_risk_7d"))
    _rewrite(version.path, "metadata.json", json.dumps(meta.to_json()).encode())
    with pytest.raises(CorruptModelError, match=r"differ from metadata\.json"):
        registry.load("fraud-test/1")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: m.update(version=2), "names fraud-test/2, not fraud-test/1"),
        (lambda m: m["files"].pop("model.txt"), "SHA-256 digests"),
        (lambda m: m["files"].update({"../../etc/passwd": "0" * 64}), "SHA-256 digests"),
        (lambda m: m.update(format=2), "expected format 1"),
        (lambda m: m.pop("registered_at"), "registered_at"),
    ],
)
def test_a_malformed_manifest_is_refused(
    registry: ModelRegistry, booster: lgb.Booster, edit, match: str
) -> None:
    version = registry.register("fraud-test", booster, _meta())
    manifest_path = version.path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    edit(manifest)
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(CorruptModelError, match=rf"manifest\.json is malformed: .*{match}"):
        registry.load("fraud-test/1")


def test_unknown_models_are_reported(registry: ModelRegistry, booster: lgb.Booster) -> None:
    with pytest.raises(ModelNotFoundError, match="the registry is empty"):
        registry.load("fraud-test/1")
    with pytest.raises(ModelNotFoundError, match="no versions of model 'fraud-test'"):
        registry.latest("fraud-test")
    registry.register("fraud-test", booster, _meta())
    with pytest.raises(ModelNotFoundError, match="versions of 'fraud-test': fraud-test/1"):
        registry.load("fraud-test/7")
    with pytest.raises(ModelNotFoundError, match="models: fraud-test"):
        registry.load("other/1")
    # Also a LookupError, so generic callers can catch it.
    with pytest.raises(LookupError):
        registry.get("other/1")


@pytest.mark.parametrize("model_id", ["fraud-test", "fraud-test/0", "fraud-test/x", "../x/1", ""])
def test_malformed_ids_are_refused(registry: ModelRegistry, model_id: str) -> None:
    with pytest.raises(ParameterError, match="model"):
        registry.load(model_id)


@pytest.mark.parametrize(
    ("name", "changes", "match"),
    [
        ("other", {}, "metadata.name is 'fraud-test'"),
        ("fraud-test", {"feature_names": ("a", "b", "c", "d")}, "booster features"),
        ("bad/name", {}, "model name"),
    ],
)
def test_invalid_registrations_leave_nothing(
    registry: ModelRegistry, booster: lgb.Booster, name: str, changes: dict, match: str
) -> None:
    with pytest.raises(ParameterError, match=match):
        registry.register(name, booster, _meta(**changes))
    assert not registry.root.exists()


def test_a_failed_write_leaves_nothing(
    registry: ModelRegistry, booster: lgb.Booster, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(registry_module.os, "replace", fail)
    with pytest.raises(ModelRegistryError, match="cannot register model 'fraud-test'"):
        registry.register("fraud-test", booster, _meta())
    assert list((registry.root / "fraud-test").iterdir()) == []
    monkeypatch.undo()
    assert registry.register("fraud-test", booster, _meta()).version == 1


def test_loading_never_unpickles(
    registry: ModelRegistry,
    booster: lgb.Booster,
    calibrator: IsotonicCalibrator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry.register("fraud-test", booster, _meta(), calibrator)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the registry must not unpickle")

    for attr in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, attr, refuse)
    loaded = registry.load("fraud-test/1")
    X, _ = _data(10, seed=5)
    assert np.array_equal(loaded.booster.predict(X), booster.predict(X))


def test_version_files_are_plain_text(registry: ModelRegistry, booster: lgb.Booster) -> None:
    version = registry.register("fraud-test", booster, _meta())
    names = sorted(os.listdir(version.path))
    assert names == ["manifest.json", "metadata.json", "model.txt"]
    assert (version.path / "model.txt").read_text().startswith("tree\nversion=")
    manifest = json.loads((version.path / "manifest.json").read_text())
    assert manifest["files"] == version.files
    assert set(manifest) == {
        "format",
        "name",
        "version",
        "registered_at",
        "fintwin_version",
        "files",
    }
