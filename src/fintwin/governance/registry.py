"""A file-based registry of versioned models: LightGBM text and JSON, never pickles.

Layout::

    ROOT/
      fraud-handbook/                  one folder per model name
        0001/                          one folder per version (id "fraud-handbook/1")
          manifest.json                name, version, registered_at, SHA-256 of every file below
          model.txt                    the booster in LightGBM's own text format
          metadata.json                ModelMetadata
          calibrator.json              optional: a Calibrator
        0002/ ...

Writing is atomic: the files go to a hidden ``.partial-*`` folder, the next version number is
claimed by ``os.mkdir`` of its (empty) folder, which succeeds for exactly one process, and the
partial folder is renamed over the claimed one only when complete. A version folder therefore
either holds a full manifest or is empty (registration in progress, or interrupted, in which case
that number is skipped); concurrent registrations get distinct, increasing versions.

Loading reads every file the manifest lists, refuses a file whose SHA-256 differs (naming it),
and parses only LightGBM model text and JSON: loading a model never executes code from it.
The manifest's own SHA-256 is the version's :attr:`ModelVersion.digest`, a single value a
decision record can cite.

Examples
--------
>>> import datetime as dt, tempfile, numpy as np, lightgbm as lgb
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(300, 2)); y = (X[:, 0] + rng.normal(size=300) > 1).astype(int)
>>> booster = lgb.train({"objective": "binary", "verbosity": -1, "num_leaves": 4},
...                     lgb.Dataset(X, y, feature_name=["amount", "velocity"]), 5)
>>> meta = ModelMetadata("demo", ("amount", "velocity"), "f0", dt.datetime(2018, 4, 1),
...                      dt.datetime(2018, 4, 8), dt.datetime(2018, 4, 15), "d0")
>>> registry = ModelRegistry(tempfile.mkdtemp())
>>> registry.register("demo", booster, meta).model_id
'demo/1'
>>> loaded = registry.load("demo/1")
>>> bool((loaded.predict(X) == booster.predict(X)).all())
True
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fintwin import __version__
from fintwin.exceptions import (
    CorruptModelError,
    DataError,
    IncompleteModelError,
    ModelNotFoundError,
    ModelRegistryError,
    ParameterError,
)
from fintwin.governance.calibration import (
    Calibrator,
    PlattCalibrator,
    ScoreScale,
    calibrator_from_json,
)
from fintwin.governance.metadata import ModelMetadata, check_model_name

if TYPE_CHECKING:
    import lightgbm

__all__ = ["LoadedModel", "ModelRegistry", "ModelVersion", "parse_model_id"]

REGISTRY_FORMAT = 1
MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.txt"
METADATA_FILE = "metadata.json"
CALIBRATOR_FILE = "calibrator.json"
_REQUIRED_FILES = frozenset({MODEL_FILE, METADATA_FILE})
_KNOWN_FILES = _REQUIRED_FILES | {CALIBRATOR_FILE}
_VERSION_DIR = re.compile(r"[0-9]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PARTIAL = ".partial-"


def parse_model_id(model_id: str) -> tuple[str, int]:
    """Split ``"name/3"`` into ``("name", 3)``; :class:`ParameterError` if malformed."""
    name, sep, version = model_id.partition("/") if isinstance(model_id, str) else ("", "", "")
    if not (sep and _VERSION_DIR.fullmatch(version) and int(version) > 0):
        raise ParameterError(f"model id must look like 'name/3' (got {model_id!r})")
    return check_model_name(name), int(version)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_bytes(obj: Mapping[str, Any]) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@dataclass(frozen=True)
class ModelVersion:
    """One registered version, as its manifest describes it.

    Attributes
    ----------
    name : str
    version : int
        1, 2, ... in order of registration.
    path : Path
        Its folder.
    registered_at : datetime
        Aware, UTC.
    files : dict of str to str
        File name -> SHA-256 hex digest.
    digest : str
        SHA-256 of ``manifest.json``: identifies the exact artefact.
    """

    name: str
    version: int
    path: Path
    registered_at: dt.datetime
    files: dict[str, str]
    digest: str

    @property
    def model_id(self) -> str:
        """``"name/version"``, e.g. ``"fraud-handbook/3"``."""
        return f"{self.name}/{self.version}"


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A verified model version, ready to score.

    Attributes
    ----------
    version : ModelVersion
    booster : lightgbm.Booster
    metadata : ModelMetadata
    calibrator : Calibrator or None
    """

    version: ModelVersion
    booster: lightgbm.Booster
    metadata: ModelMetadata
    calibrator: Calibrator | None

    @property
    def model_id(self) -> str:
        return self.version.model_id

    def predict(self, features: ArrayLike) -> NDArray[np.float64]:
        """Probabilities for rows of ``features`` (shape (n, n_features), columns in
        ``metadata.feature_names`` order); shape (n,).

        The calibrator, if any, is applied to ``booster.predict(features)``, or to the raw
        margin for a :class:`PlattCalibrator` with ``scale=MARGIN``: fit calibrators on the same.
        """
        cal = self.calibrator
        if isinstance(cal, PlattCalibrator) and cal.scale is ScoreScale.MARGIN:
            return cal.transform(self.booster.predict(features, raw_score=True))
        scores = self.booster.predict(features)
        return scores if cal is None else cal.transform(scores)


class ModelRegistry:
    """Versioned models in folders under ``root`` (created on first registration).

    Parameters
    ----------
    root : str or Path
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- writing --------------------------------------------------------------------------------
    def register(
        self,
        name: str,
        booster: lightgbm.Booster,
        metadata: ModelMetadata,
        calibrator: Calibrator | None = None,
    ) -> ModelVersion:
        """Store ``booster`` with its metadata as the next version of ``name``.

        Raises
        ------
        ParameterError
            If the name is invalid, ``metadata.name`` differs from it, or the booster's
            feature names differ from ``metadata.feature_names``.
        ModelRegistryError
            If the files cannot be written (nothing is left behind).
        """
        import lightgbm

        check_model_name(name)
        if not isinstance(booster, lightgbm.Booster):
            raise ParameterError(f"booster must be a lightgbm.Booster (got {type(booster)})")
        if not isinstance(metadata, ModelMetadata):
            raise ParameterError(f"metadata must be a ModelMetadata (got {type(metadata)})")
        if metadata.name != name:
            raise ParameterError(f"metadata.name is {metadata.name!r}, registering as {name!r}")
        if tuple(booster.feature_name()) != metadata.feature_names:
            raise ParameterError(
                f"booster features {booster.feature_name()} differ from"
                f" metadata.feature_names {list(metadata.feature_names)}"
            )
        if calibrator is not None and not isinstance(calibrator, Calibrator):
            raise ParameterError(f"calibrator must be a Calibrator (got {type(calibrator)})")

        contents = {
            MODEL_FILE: booster.model_to_string().encode(),
            METADATA_FILE: _json_bytes(metadata.to_json()),
        }
        if calibrator is not None:
            contents[CALIBRATOR_FILE] = _json_bytes(calibrator.to_json())
        folder = self.root / name
        claimed: Path | None = None
        tmp = folder / f"{_PARTIAL}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp.mkdir()
            for file_name, data in contents.items():
                _write_durably(tmp / file_name, data)
            version, claimed = self._claim_version(folder)
            registered_at = dt.datetime.now(dt.UTC)
            manifest = {
                "format": REGISTRY_FORMAT,
                "name": name,
                "version": version,
                "registered_at": registered_at.isoformat(),
                "fintwin_version": __version__,
                "files": {f: _sha256(data) for f, data in contents.items()},
            }
            manifest_bytes = _json_bytes(manifest)
            _write_durably(tmp / MANIFEST_FILE, manifest_bytes)
            # POSIX rename replaces an empty directory atomically.
            os.replace(tmp, claimed)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if claimed is not None and not (claimed / MANIFEST_FILE).exists():
                with contextlib.suppress(OSError):
                    claimed.rmdir()
            if isinstance(exc, OSError) and not isinstance(exc, ModelRegistryError):
                raise ModelRegistryError(
                    f"cannot register model {name!r} in {folder}: {exc}"
                ) from exc
            raise
        return ModelVersion(
            name, version, claimed, registered_at, manifest["files"], _sha256(manifest_bytes)
        )

    def _highest_version(self, folder: Path) -> int:
        """Highest version number claimed in ``folder`` (complete or not), 0 if none."""
        return max(
            (int(p.name) for p in folder.iterdir() if _VERSION_DIR.fullmatch(p.name)), default=0
        )

    def _claim_version(self, folder: Path) -> tuple[int, Path]:
        version = self._highest_version(folder) + 1
        while True:
            path = folder / f"{version:04d}"
            try:
                path.mkdir()
            except FileExistsError:
                version += 1  # another process claimed it first
            else:
                return version, path

    # -- reading --------------------------------------------------------------------------------
    def get(self, model_id: str) -> ModelVersion:
        """The manifest of ``model_id`` (files are not read; :meth:`load` verifies them).

        Raises
        ------
        ParameterError
            If ``model_id`` is not ``"name/N"``.
        ModelNotFoundError
            If no such version exists.
        IncompleteModelError
            If its folder has no manifest (registration in progress or interrupted).
        CorruptModelError
            If the manifest is malformed.
        """
        name, version = parse_model_id(model_id)
        path = self.root / name / f"{version:04d}"
        if not path.is_dir():
            known = [v.model_id for v in self.list(name)]
            hint = f"versions of {name!r}: {', '.join(known)}" if known else self._names_hint()
            raise ModelNotFoundError(f"no model {model_id!r} in registry {self.root} ({hint})")
        try:
            data = (path / MANIFEST_FILE).read_bytes()
        except FileNotFoundError:
            raise IncompleteModelError(
                f"{path} has no {MANIFEST_FILE}: its registration is in progress or was interrupted"
            ) from None
        return self._parse_manifest(data, path, name, version)

    def _names_hint(self) -> str:
        names = sorted({v.name for v in self.list()})
        return f"models: {', '.join(names)}" if names else "the registry is empty"

    @staticmethod
    def _parse_manifest(data: bytes, path: Path, name: str, version: int) -> ModelVersion:
        where = path / MANIFEST_FILE
        try:
            m = json.loads(data)
            files = m["files"]
            ok = (
                m["format"] == REGISTRY_FORMAT
                and isinstance(files, dict)
                and _REQUIRED_FILES <= set(files) <= _KNOWN_FILES
                and all(isinstance(h, str) and _SHA256.fullmatch(h) for h in files.values())
            )
            if not ok:
                raise ValueError(
                    f"expected format {REGISTRY_FORMAT} and SHA-256 digests of"
                    f" {sorted(_REQUIRED_FILES)} (optionally {CALIBRATOR_FILE})"
                )
            if (m["name"], m["version"]) != (name, version):
                raise ValueError(f"it names {m['name']}/{m['version']}, not {name}/{version}")
            registered_at = dt.datetime.fromisoformat(m["registered_at"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptModelError(f"{where} is malformed: {exc}") from None
        return ModelVersion(name, version, path, registered_at, dict(files), _sha256(data))

    def load(self, model_id: str) -> LoadedModel:
        """Read and verify ``model_id``: every file's SHA-256, then parse.

        Raises
        ------
        ModelNotFoundError, IncompleteModelError
            If the version or a file its manifest lists is missing.
        CorruptModelError
            If a file's SHA-256 differs from the manifest, or it cannot be parsed, or the
            booster's features differ from the metadata's.
        """
        import lightgbm

        version = self.get(model_id)
        contents: dict[str, bytes] = {}
        for file_name, expected in sorted(version.files.items()):
            path = version.path / file_name
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                raise IncompleteModelError(
                    f"{path} is missing (listed in the manifest of {model_id})"
                ) from None
            actual = _sha256(data)
            if actual != expected:
                raise CorruptModelError(
                    f"{path} was changed after registration: its SHA-256 is {actual},"
                    f" the manifest of {model_id} records {expected}"
                )
            contents[file_name] = data

        def parse_json(file_name: str) -> Any:
            try:
                return json.loads(contents[file_name])
            except ValueError as exc:
                raise CorruptModelError(
                    f"{version.path / file_name}: invalid JSON ({exc})"
                ) from None

        try:
            metadata = ModelMetadata.from_json(parse_json(METADATA_FILE))
        except DataError as exc:
            raise CorruptModelError(f"{version.path / METADATA_FILE}: {exc}") from None
        calibrator = None
        if CALIBRATOR_FILE in contents:
            try:
                calibrator = calibrator_from_json(parse_json(CALIBRATOR_FILE))
            except DataError as exc:
                raise CorruptModelError(f"{version.path / CALIBRATOR_FILE}: {exc}") from None
        # Parsed from the verified bytes, not re-read from disk, so what is checked is what runs.
        try:
            booster = lightgbm.Booster(model_str=contents[MODEL_FILE].decode())
        except (lightgbm.basic.LightGBMError, UnicodeDecodeError) as exc:
            raise CorruptModelError(
                f"{version.path / MODEL_FILE}: not a LightGBM model ({exc})"
            ) from None
        if tuple(booster.feature_name()) != metadata.feature_names:
            raise CorruptModelError(
                f"{version.path / MODEL_FILE}: features {booster.feature_name()} differ from"
                f" {METADATA_FILE} {list(metadata.feature_names)}"
            )
        return LoadedModel(version, booster, metadata, calibrator)

    def list(self, name: str | None = None) -> builtins.list[ModelVersion]:
        """Complete versions, sorted by name then version; of ``name`` only if given.

        Versions still being registered are left out; a malformed manifest raises
        :class:`CorruptModelError`.
        """
        if name is not None:
            names = [check_model_name(name)]
        elif self.root.is_dir():
            names = sorted(
                p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
            )
        else:
            names = []
        out = []
        for model_name in names:
            folder = self.root / model_name
            if not folder.is_dir():
                continue
            for number in sorted(
                int(p.name) for p in folder.iterdir() if _VERSION_DIR.fullmatch(p.name)
            ):
                path = folder / f"{number:04d}"
                try:
                    data = (path / MANIFEST_FILE).read_bytes()
                except FileNotFoundError:
                    continue
                out.append(self._parse_manifest(data, path, model_name, number))
        return out

    def latest(self, name: str) -> ModelVersion:
        """The highest complete version of ``name``; :class:`ModelNotFoundError` if none."""
        versions = self.list(name)
        if not versions:
            raise ModelNotFoundError(
                f"no versions of model {name!r} in registry {self.root} ({self._names_hint()})"
            )
        return versions[-1]
