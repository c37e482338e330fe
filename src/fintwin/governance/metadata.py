"""What a registered model records about itself: :class:`ModelMetadata`.

Everything needed to tell, later, what a model is and whether it still fits the data it scores:
its ordered input features and the hash of their definitions, the training window and the label
cut-off (labels known after it were not used), a hash of the training table, its metrics and
training parameters, the library versions it was built with, and free-form notes.

Timestamps keep the time zone they are given: the twin's tables use naive local time, so a
window taken from a world is naive; ``created_at`` is aware UTC. JSON holds them in ISO 8601.

Examples
--------
>>> import datetime as dt
>>> meta = ModelMetadata(
...     name="fraud-handbook",
...     feature_names=("amount", "tx_count_1d"),
...     feature_definitions_hash="ab12",
...     training_start=dt.datetime(2018, 4, 1),
...     training_end=dt.datetime(2018, 4, 8),
...     label_cutoff=dt.datetime(2018, 4, 15),
...     data_hash="cd34",
...     metrics={"auc_roc": 0.87},
... )
>>> ModelMetadata.from_json(meta.to_json()) == meta
True
>>> sorted(meta.library_versions)
['fintwin', 'lightgbm', 'numpy', 'python']
"""

from __future__ import annotations

import datetime as dt
import json
import math
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib import metadata as importlib_metadata
from numbers import Real
from typing import Any

import numpy as np

from fintwin import __version__
from fintwin.exceptions import DataError, ParameterError

__all__ = ["METADATA_FORMAT", "ModelMetadata", "check_model_name", "current_library_versions"]

METADATA_FORMAT = 1
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_TIMESTAMPS = ("training_start", "training_end", "label_cutoff", "created_at")


def check_model_name(name: object) -> str:
    """Refuse a name that is not 1-100 of ``A-Z a-z 0-9 . _ -``, starting alphanumeric.

    Names become folder names, so no separators, no leading dot.
    """
    if not (isinstance(name, str) and _NAME.fullmatch(name)):
        raise ParameterError(
            "model name must be 1-100 characters of letters, digits, '.', '_' or '-',"
            f" starting with a letter or digit (got {name!r})"
        )
    return name


def current_library_versions() -> dict[str, str]:
    """Versions of fintwin, LightGBM, NumPy and Python in this process."""
    try:
        lightgbm = importlib_metadata.version("lightgbm")
    except importlib_metadata.PackageNotFoundError:
        lightgbm = "not installed"
    return {
        "fintwin": __version__,
        "lightgbm": lightgbm,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _as_datetime(name: str, value: object) -> dt.datetime:
    """A plain ``datetime`` from a datetime (incl. pandas Timestamp) or numpy datetime64."""
    if isinstance(value, np.datetime64):
        value = value.astype("datetime64[us]").item()
    if not isinstance(value, dt.datetime):
        raise ParameterError(f"{name} must be a datetime (got {value!r})")
    # Rebuilt field by field so subclasses (pandas Timestamp) become plain datetimes and
    # compare equal after a JSON round trip.
    return dt.datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=value.tzinfo,
        fold=value.fold,
    )


@dataclass(frozen=True)
class ModelMetadata:
    """Facts about one trained model, stored as ``metadata.json`` beside it.

    Attributes
    ----------
    name : str
        Model name, as registered (e.g. ``"fraud-handbook"``).
    feature_names : tuple of str
        Input features in the order the model takes them (shape (n_features,)).
    feature_definitions_hash : str
        Hash of the feature definitions the values were computed by.
    training_start, training_end : datetime
        First and last event time of the training rows (``start <= end``).
    label_cutoff : datetime
        Only labels with ``label_available_at <= label_cutoff`` were used.
    data_hash : str
        Hash of the training table.
    metrics : dict of str to float
        Finite validation figures, e.g. ``{"auc_roc": 0.88}``.
    parameters : dict
        Training parameters; any JSON-serialisable values.
    library_versions : dict of str to str
        Defaults to :func:`current_library_versions`.
    created_at : datetime
        Defaults to now, in UTC.
    notes : str
        Free text.
    """

    name: str
    feature_names: tuple[str, ...]
    feature_definitions_hash: str
    training_start: dt.datetime
    training_end: dt.datetime
    label_cutoff: dt.datetime
    data_hash: str
    metrics: dict[str, float] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    library_versions: dict[str, str] = field(default_factory=current_library_versions)
    created_at: dt.datetime = field(default_factory=_utc_now)
    notes: str = ""

    def __post_init__(self) -> None:
        check_model_name(self.name)
        names = self.feature_names
        if isinstance(names, str | bytes) or not isinstance(names, Sequence):
            raise ParameterError(f"feature_names must be a sequence of strings (got {names!r})")
        names = tuple(names)
        if not all(isinstance(n, str) and n for n in names):
            raise ParameterError(f"feature_names must be non-empty strings (got {names!r})")
        if not names or len(set(names)) != len(names):
            raise ParameterError(f"feature_names must be non-empty and unique (got {names!r})")
        object.__setattr__(self, "feature_names", names)
        for key in ("feature_definitions_hash", "data_hash", "notes"):
            if not isinstance(getattr(self, key), str):
                raise ParameterError(f"{key} must be a string (got {getattr(self, key)!r})")
        for key in _TIMESTAMPS:
            object.__setattr__(self, key, _as_datetime(key, getattr(self, key)))
        try:
            ordered = self.training_start <= self.training_end
        except TypeError:
            raise ParameterError(
                "training_start and training_end must both be naive or both be aware"
            ) from None
        if not ordered:
            raise ParameterError(
                f"training_start must not be after training_end"
                f" (got {self.training_start} > {self.training_end})"
            )
        metrics = dict(self.metrics)
        for key, value in metrics.items():
            if not (
                isinstance(key, str)
                and isinstance(value, Real)
                and not isinstance(value, bool)
                and math.isfinite(value)
            ):
                raise ParameterError(
                    f"metrics must map names to finite numbers (got {key!r}: {value!r})"
                )
            metrics[key] = float(value)
        object.__setattr__(self, "metrics", metrics)
        versions = dict(self.library_versions)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in versions.items()):
            raise ParameterError(f"library_versions must map names to strings (got {versions!r})")
        object.__setattr__(self, "library_versions", versions)
        try:
            params = json.loads(json.dumps(dict(self.parameters), allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"parameters must be JSON-serialisable ({exc})") from None
        object.__setattr__(self, "parameters", params)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (timestamps in ISO 8601, a ``format`` key for future layouts)."""
        out: dict[str, Any] = {"format": METADATA_FORMAT}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _TIMESTAMPS:
                value = value.isoformat()
            elif f.name == "feature_names":
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelMetadata:
        """Rebuild from :meth:`to_json` output.

        Raises
        ------
        DataError
            If a key is missing or unknown, a value has the wrong type, or the format is not
            one this version reads.
        """
        if not isinstance(data, Mapping):
            raise DataError(f"model metadata must be a JSON object (got {type(data).__name__})")
        if data.get("format") != METADATA_FORMAT:
            raise DataError(
                f"model metadata format must be {METADATA_FORMAT} (got {data.get('format')!r})"
            )
        expected = {f.name for f in fields(cls)}
        given = set(data) - {"format"}
        if given != expected:
            raise DataError(
                "model metadata keys differ from the expected ones"
                f" (missing {sorted(expected - given)}, unknown {sorted(given - expected)})"
            )
        kwargs = {k: data[k] for k in expected}
        try:
            for key in _TIMESTAMPS:
                kwargs[key] = dt.datetime.fromisoformat(kwargs[key])
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise DataError(f"model metadata is malformed: {exc}") from None
