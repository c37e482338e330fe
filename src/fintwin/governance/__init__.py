"""Model governance: a versioned model registry with metadata and calibration.

- :mod:`fintwin.governance.registry`: :class:`ModelRegistry` (one folder per model version,
  LightGBM text and JSON with SHA-256 verified on load; never pickles).
- :mod:`fintwin.governance.metadata`: :class:`ModelMetadata`, what a model records about itself.
- :mod:`fintwin.governance.calibration`: :class:`IsotonicCalibrator`, :class:`PlattCalibrator`.

LightGBM is imported only when a model is registered or loaded.
"""

from fintwin.governance.calibration import (
    Calibrator,
    IsotonicCalibrator,
    PlattCalibrator,
    ScoreScale,
    calibrator_from_json,
)
from fintwin.governance.metadata import ModelMetadata, current_library_versions
from fintwin.governance.registry import LoadedModel, ModelRegistry, ModelVersion, parse_model_id

__all__ = [
    "Calibrator",
    "IsotonicCalibrator",
    "LoadedModel",
    "ModelMetadata",
    "ModelRegistry",
    "ModelVersion",
    "PlattCalibrator",
    "ScoreScale",
    "calibrator_from_json",
    "current_library_versions",
    "parse_model_id",
]
