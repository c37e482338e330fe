"""Scoring and explaining with a registered model: one row at a time, or a whole matrix.

One row goes through LightGBM's single-row C API (``LGBM_BoosterPredictForMatSingleRowFast``,
public in ``c_api.h``), prepared once per prediction type: ``Booster.predict`` on a one-row
array spends about 50 us in Python-side checks and conversions around a prediction that
takes a few, which would be most of the decision's budget. Where the C API cannot be reached
(a LightGBM build without it, or the private ``lightgbm.basic._LIB`` handle renamed) the scorer
falls back to ``Booster.predict``; both give bit-identical values (a test compares them).

Explanations are LightGBM's ``pred_contrib``: exact path-dependent tree SHAP. For a row ``x``
the contributions ``phi_1 .. phi_n`` and the bias ``phi_0`` (the expected margin over the
training data) satisfy ``phi_0 + sum(phi_i) == margin(x)``, the raw log-odds before the sigmoid
and before calibration. Calibration is monotone, so a positive contribution raises the
calibrated probability as it raises the margin.
"""

from __future__ import annotations

import ctypes
import weakref
from enum import IntEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fintwin.exceptions import ParameterError
from fintwin.governance import LoadedModel, PlattCalibrator, ScoreScale
from fintwin.risk.decision import FeatureContribution

__all__ = ["ModelScorer", "top_contributions"]


class _PredictType(IntEnum):
    """``C_API_PREDICT_*`` of LightGBM's ``c_api.h``."""

    NORMAL = 0
    RAW_SCORE = 1
    CONTRIB = 3


_C_API_DTYPE_FLOAT64 = 1


def top_contributions(
    names: tuple[str, ...], values: list[float], contributions: list[float], k: int
) -> tuple[FeatureContribution, ...]:
    """The ``k`` largest positive contributions, largest first.

    Only features that raise the score are reasons for a decision against the customer (the
    adverse-action convention); those that lower it stay in the full contributions. Ties are
    broken by feature order, so the result is a function of the inputs.

    Parameters
    ----------
    names : tuple of str, length n
    values : list of float, length n
        Feature values, in ``names`` order.
    contributions : list of float, length n (a trailing bias, if present, is ignored)
    k : int
    """
    ranked = sorted(
        (i for i in range(len(names)) if contributions[i] > 0.0),
        key=lambda i: (-contributions[i], i),
    )
    return tuple(FeatureContribution(names[i], values[i], contributions[i]) for i in ranked[:k])


class _SingleRow:
    """A prepared single-row prediction of one type through the C API."""

    def __init__(self, booster: Any, lib: Any, ptype: _PredictType, n: int, n_iter: int) -> None:
        handle = ctypes.c_void_p()
        code = lib.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle,
            ctypes.c_int(ptype),
            ctypes.c_int(0),
            ctypes.c_int(n_iter),
            ctypes.c_int(_C_API_DTYPE_FLOAT64),
            ctypes.c_int32(n),
            ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(handle),
        )
        if code != 0:
            raise RuntimeError(lib.LGBM_GetLastError().decode())
        self._lib = lib
        self._handle = handle
        self.out = np.zeros(n + 1 if ptype is _PredictType.CONTRIB else 1)
        self._out_ptr = self.out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._out_len = ctypes.c_int64()
        # called through PyDLL, which keeps the GIL: a single-row prediction takes
        # microseconds, and releasing the GIL for it would make the caller queue to get it
        # back behind every other busy thread (up to the 5 ms switch interval each time)
        self._predict = ctypes.PyDLL(lib._name, handle=lib._handle)[
            "LGBM_BoosterPredictForMatSingleRowFast"
        ]
        # The prepared configuration points into the booster: keep it alive until freed.
        weakref.finalize(self, _free_config, lib, handle, booster)

    def __call__(self, row_ptr: ctypes.c_void_p) -> NDArray[np.float64]:
        if self._predict(self._handle, row_ptr, ctypes.byref(self._out_len), self._out_ptr):
            raise RuntimeError(self._lib.LGBM_GetLastError().decode())
        return self.out


def _free_config(lib: Any, handle: ctypes.c_void_p, booster: Any) -> None:
    """Free a prepared configuration; ``booster`` is passed only to outlive it."""
    lib.LGBM_FastConfigFree(handle)


def _c_api(booster: Any) -> Any | None:
    """LightGBM's loaded library if it offers the single-row fast path, else None."""
    try:
        from lightgbm.basic import _LIB
    except ImportError:
        return None
    needed = (
        "LGBM_BoosterPredictForMatSingleRowFastInit",
        "LGBM_BoosterPredictForMatSingleRowFast",
        "LGBM_FastConfigFree",
    )
    if not all(hasattr(_LIB, name) for name in needed) or not hasattr(booster, "_handle"):
        return None
    return _LIB


class ModelScorer:
    """Calibrated probabilities and tree-SHAP contributions of a binary LightGBM model.

    Parameters
    ----------
    model : LoadedModel
        A binary-classification model from the registry.
    fast : bool
        Use the C API for single rows when available (the ``Booster.predict`` fallback is
        slower, never different).

    Attributes
    ----------
    feature_names : tuple of str
        The model's inputs, in column order.
    row : ndarray of float64, shape (n_features,)
        The buffer :meth:`score_row` and :meth:`contributions_row` read: fill it first.
    """

    def __init__(self, model: LoadedModel, *, fast: bool = True) -> None:
        self.model = model
        booster = model.booster
        if booster.num_model_per_iteration() != 1:
            raise ParameterError(
                f"model {model.model_id} has {booster.num_model_per_iteration()} outputs per"
                " iteration; the decision engine scores binary (fraud / genuine) models"
            )
        self.feature_names = tuple(model.metadata.feature_names)
        n = len(self.feature_names)
        cal = model.calibrator
        self._raw = isinstance(cal, PlattCalibrator) and cal.scale is ScoreScale.MARGIN
        # as Booster.predict(num_iteration=None): the best iteration if recorded, else all
        self._n_iter = booster.best_iteration if booster.best_iteration > 0 else -1
        self.row = np.zeros(n, dtype=np.float64)
        self._row_ptr = self.row.ctypes.data_as(ctypes.c_void_p)
        self._row_2d = self.row.reshape(1, n)
        lib = _c_api(booster) if fast else None
        self.uses_c_api = lib is not None
        if lib is not None:
            kind = _PredictType.RAW_SCORE if self._raw else _PredictType.NORMAL
            self._score_fn = _SingleRow(booster, lib, kind, n, self._n_iter)
            self._contrib_fn = _SingleRow(booster, lib, _PredictType.CONTRIB, n, self._n_iter)

    def _calibrate(self, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        cal = self.model.calibrator
        return scores if cal is None else cal.transform(scores)

    def score_row(self) -> float:
        """Calibrated probability of :attr:`row`; equals ``model.predict([row])[0]``."""
        if self.uses_c_api:
            out = self._score_fn(self._row_ptr)
        else:
            out = self.model.booster.predict(
                self._row_2d, raw_score=self._raw, num_iteration=self._n_iter, num_threads=1
            )
        if self.model.calibrator is None:
            return float(out[0])
        return float(self._calibrate(out)[0])

    def contributions_row(self) -> list[float]:
        """Tree-SHAP contributions of :attr:`row`, then the bias; length n_features + 1."""
        if self.uses_c_api:
            return self._contrib_fn(self._row_ptr).tolist()
        return self.model.booster.predict(
            self._row_2d, pred_contrib=True, num_iteration=self._n_iter, num_threads=1
        )[0].tolist()

    def score_matrix(self, x: NDArray[np.float64], num_threads: int = 1) -> NDArray[np.float64]:
        """Calibrated probabilities of the rows of ``x`` (shape (m, n_features)); shape (m,)."""
        if len(x) == 0:
            return np.zeros(0)
        out = self.model.booster.predict(
            x, raw_score=self._raw, num_iteration=self._n_iter, num_threads=num_threads
        )
        return self._calibrate(out)

    def contributions_matrix(
        self, x: NDArray[np.float64], num_threads: int = 1
    ) -> NDArray[np.float64]:
        """Contributions and bias of the rows of ``x``; shape (m, n_features + 1)."""
        if len(x) == 0:
            return np.zeros((0, len(self.feature_names) + 1))
        return self.model.booster.predict(
            x, pred_contrib=True, num_iteration=self._n_iter, num_threads=num_threads
        )
