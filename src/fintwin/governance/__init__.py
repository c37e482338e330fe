"""Model governance: a versioned model registry with metadata and calibration.

- :mod:`fintwin.governance.registry`: :class:`ModelRegistry` (one folder per model version,
  LightGBM text and JSON with SHA-256 verified on load; never pickles).
- :mod:`fintwin.governance.metadata`: :class:`ModelMetadata`, what a model records about itself.
- :mod:`fintwin.governance.calibration`: :class:`IsotonicCalibrator`, :class:`PlattCalibrator`.
- :mod:`fintwin.governance.ledger`: the tamper-evident audit :class:`Ledger` (hash chain, Merkle
  checkpoints), :func:`verify_ledger`, :func:`export_ledger`, :func:`verify_export`.

LightGBM is imported only when a model is registered or loaded.
"""

from fintwin.governance.calibration import (
    Calibrator,
    IsotonicCalibrator,
    PlattCalibrator,
    ScoreScale,
    calibrator_from_json,
)
from fintwin.governance.ledger import (
    Checkpoint,
    Entry,
    Ledger,
    RecordKind,
    VerifyReport,
    verify_export,
)
from fintwin.governance.ledger import export as export_ledger
from fintwin.governance.ledger import open_store as open_ledger_store
from fintwin.governance.ledger import verify as verify_ledger
from fintwin.governance.metadata import ModelMetadata, current_library_versions
from fintwin.governance.registry import LoadedModel, ModelRegistry, ModelVersion, parse_model_id

__all__ = [
    "Calibrator",
    "Checkpoint",
    "Entry",
    "IsotonicCalibrator",
    "Ledger",
    "LoadedModel",
    "ModelMetadata",
    "ModelRegistry",
    "ModelVersion",
    "PlattCalibrator",
    "RecordKind",
    "ScoreScale",
    "VerifyReport",
    "calibrator_from_json",
    "current_library_versions",
    "export_ledger",
    "open_ledger_store",
    "parse_model_id",
    "verify_export",
    "verify_ledger",
]
