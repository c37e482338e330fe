"""ModelMetadata: validated on construction, exact JSON round trip, clear errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import platform

import numpy as np
import pandas as pd
import pytest

from fintwin.exceptions import DataError, ParameterError
from fintwin.governance import ModelMetadata, current_library_versions


def _meta(**changes: object) -> ModelMetadata:
    base: dict[str, object] = {
        "name": "fraud-handbook",
        "feature_names": ("amount", "tx_count_1d", "terminal_risk_7d"),
        "feature_definitions_hash": "9f" * 32,
        "training_start": dt.datetime(2018, 4, 1),
        "training_end": dt.datetime(2018, 4, 7, 23, 59, 59, 999_000),
        "label_cutoff": dt.datetime(2018, 4, 15),
        "data_hash": "ab" * 32,
        "metrics": {"auc_roc": 0.88, "average_precision": 0.7},
        "parameters": {"num_leaves": 31, "learning_rate": 0.05, "nested": {"a": [1, 2]}},
        "notes": "trained by the handbook protocol",
    }
    base.update(changes)
    return ModelMetadata(**base)  # type: ignore[arg-type]


def test_json_round_trip_is_exact() -> None:
    meta = _meta()
    text = json.dumps(meta.to_json())
    back = ModelMetadata.from_json(json.loads(text))
    assert back == meta
    assert back.feature_names == ("amount", "tx_count_1d", "terminal_risk_7d")
    # Naive twin time stays naive; created_at is aware UTC.
    assert back.training_start.tzinfo is None
    assert back.created_at.utcoffset() == dt.timedelta(0)


def test_defaults_record_this_process() -> None:
    meta = _meta()
    assert meta.library_versions == current_library_versions()
    assert meta.library_versions["python"] == platform.python_version()
    assert meta.library_versions["numpy"] == np.__version__
    assert abs(dt.datetime.now(dt.UTC) - meta.created_at) < dt.timedelta(minutes=1)


def test_pandas_and_numpy_timestamps_become_datetimes() -> None:
    meta = _meta(
        training_start=pd.Timestamp("2018-04-01 00:00:00"),
        training_end=np.datetime64("2018-04-08T00:00:00.123"),
    )
    assert type(meta.training_start) is dt.datetime
    assert meta.training_end == dt.datetime(2018, 4, 8, 0, 0, 0, 123_000)
    assert ModelMetadata.from_json(meta.to_json()) == meta


def test_metadata_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        _meta().name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"name": "../escape"}, "model name"),
        ({"name": ".hidden"}, "model name"),
        ({"feature_names": "amount"}, "sequence of strings"),
        ({"feature_names": ("a", "a")}, "unique"),
        ({"feature_names": ()}, "non-empty"),
        ({"feature_names": ("a", "")}, "non-empty strings"),
        ({"training_start": dt.datetime(2018, 5, 1)}, "not be after"),
        ({"training_start": dt.datetime(2018, 4, 1, tzinfo=dt.UTC)}, "both be naive"),
        ({"label_cutoff": "2018-04-15"}, "label_cutoff must be a datetime"),
        ({"metrics": {"auc": float("nan")}}, "finite numbers"),
        ({"metrics": {"auc": "high"}}, "finite numbers"),
        ({"parameters": {"objective": object()}}, "JSON-serialisable"),
        ({"parameters": {"alpha": float("inf")}}, "JSON-serialisable"),
        ({"data_hash": None}, "data_hash must be a string"),
    ],
)
def test_invalid_metadata_is_refused(changes: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        _meta(**changes)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.pop("data_hash"), r"missing \['data_hash'\]"),
        (lambda d: d.update(extra=1), r"unknown \['extra'\]"),
        (lambda d: d.update(format=99), "format must be 1"),
        (lambda d: d.update(training_end="yesterday"), "malformed"),
        (lambda d: d.update(feature_names=["a", "a", "b"]), "malformed.*unique"),
    ],
)
def test_malformed_json_is_refused(edit, match: str) -> None:
    data = _meta().to_json()
    edit(data)
    with pytest.raises(DataError, match=match):
        ModelMetadata.from_json(data)


def test_non_object_json_is_refused() -> None:
    with pytest.raises(DataError, match="JSON object"):
        ModelMetadata.from_json([1, 2])  # type: ignore[arg-type]
