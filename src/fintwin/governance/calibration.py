"""Probability calibration that serialises to JSON (never to pickles).

A model's scores rank events well but are often poor probabilities: LightGBM trained with class
weights or on an undersampled table over-states the fraud rate, and thresholds in a policy or an
expected-loss figure need the real rate. A calibrator is a monotone map from score to
probability, fitted on a held-out period:

- :class:`IsotonicCalibrator`: the non-parametric least-squares monotone fit (pool adjacent
  violators). Flexible; needs a few hundred positives to be smooth.
- :class:`PlattCalibrator`: a logistic curve ``1 / (1 + exp(-(a z + b)))`` on the raw margin
  ``z`` or on the logit of a probability. Two parameters; robust with few positives.

Both are immutable, built with the class method ``fit(scores, labels)``, applied with
``transform(scores)``, and written with ``to_json()`` / read with ``from_json(data)`` (or
:func:`calibrator_from_json`, which dispatches on the ``"kind"`` key).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> p_true = rng.uniform(0, 0.2, 5_000)
>>> y = rng.random(5_000) < p_true
>>> over_confident = np.sqrt(p_true)                # the model's scores, too high
>>> cal = IsotonicCalibrator.fit(over_confident, y)
>>> bool(abs(cal.transform(over_confident).mean() - y.mean()) < 1e-9)
True
>>> calibrator_from_json(cal.to_json()).transform([0.1, 0.3]).shape
(2,)
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fintwin._validation import to_enum
from fintwin.exceptions import DataError, ParameterError

__all__ = [
    "Calibrator",
    "IsotonicCalibrator",
    "PlattCalibrator",
    "ScoreScale",
    "calibrator_from_json",
]

# Probabilities are clipped this far from 0 and 1 before taking the logit: LightGBM gives
# probabilities as small as 1e-20, whose logits would dominate a two-parameter fit.
_LOGIT_EPS = 1e-12


class ScoreScale(Enum):
    """What a :class:`PlattCalibrator` is fed."""

    PROBABILITY = "probability"  # in [0, 1]; the logit is taken first
    MARGIN = "margin"  # a raw score on the real line (LightGBM ``raw_score=True``)


class Calibrator(abc.ABC):
    """A fitted monotone map from model score to probability."""

    kind: ClassVar[str]

    @abc.abstractmethod
    def transform(self, scores: ArrayLike) -> NDArray[np.float64]:
        """Calibrated probabilities, same shape as ``scores``."""

    @abc.abstractmethod
    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict holding ``"kind"`` and the fitted parameters."""

    @classmethod
    @abc.abstractmethod
    def from_json(cls, data: Mapping[str, Any]) -> Calibrator:
        """Rebuild from :meth:`to_json` output; :class:`DataError` if malformed."""


def _check_fit_inputs(
    scores: ArrayLike, labels: ArrayLike, sample_weight: ArrayLike | None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 1 or y.ndim != 1 or len(s) != len(y):
        raise ParameterError(
            f"scores and labels must be 1-D of equal length (got shapes {s.shape}, {y.shape})"
        )
    if not np.isfinite(s).all():
        raise ParameterError(f"scores must be finite (got {int((~np.isfinite(s)).sum())} not)")
    if not np.isin(y, (0, 1)).all():
        raise ParameterError(f"labels must be 0 or 1 (got values {np.unique(y)[:5].tolist()})")
    y = y.astype(np.float64)
    if sample_weight is None:
        w = np.ones_like(s)
    else:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != s.shape or not (np.isfinite(w).all() and (w >= 0).all()):
            raise ParameterError(
                f"sample_weight must be finite, non-negative and of shape {s.shape}"
                f" (got shape {w.shape})"
            )
    if not (w[y == 1].sum() > 0 and w[y == 0].sum() > 0):
        raise ParameterError("labels must hold both classes with positive weight")
    return s, y, w


def _pool_adjacent_violators(
    y: NDArray[np.float64], w: NDArray[np.float64]
) -> tuple[list[float], list[int]]:
    """Weighted least-squares non-decreasing fit of ``y`` (ordered by score, weights > 0).

    Returns the value of each block and the index of its last element. O(n): every element is
    pushed once and merged at most once.
    """
    values: list[float] = []
    weights: list[float] = []
    ends: list[int] = []
    for i, (yi, wi) in enumerate(zip(y.tolist(), w.tolist(), strict=True)):
        values.append(yi)
        weights.append(wi)
        ends.append(i)
        while len(values) > 1 and values[-2] >= values[-1]:
            v, wt, e = values.pop(), weights.pop(), ends.pop()
            total = weights[-1] + wt
            values[-1] = (values[-1] * weights[-1] + v * wt) / total
            weights[-1] = total
            ends[-1] = e
    return values, ends


def _float_list(data: Mapping[str, Any], key: str) -> NDArray[np.float64]:
    try:
        arr = np.asarray(data[key], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"calibrator JSON: {key!r} must be a list of numbers ({exc!r})") from None
    if arr.ndim != 1 or not np.isfinite(arr).all():
        raise DataError(f"calibrator JSON: {key!r} must be a flat list of finite numbers")
    return arr


@dataclass(frozen=True, eq=False)
class IsotonicCalibrator(Calibrator):
    """Monotone step-and-ramp calibration by pool adjacent violators.

    Attributes
    ----------
    thresholds : ndarray of shape (k,)
        Strictly increasing scores: the first and last score of every block of the fit.
    values : ndarray of shape (k,)
        Non-decreasing probabilities at ``thresholds``; scores in between are interpolated
        linearly and scores outside are clipped to the end values.
    """

    kind: ClassVar[str] = "isotonic"
    thresholds: NDArray[np.float64]
    values: NDArray[np.float64]

    def __post_init__(self) -> None:
        x = np.array(self.thresholds, dtype=np.float64)
        v = np.array(self.values, dtype=np.float64)
        if x.ndim != 1 or x.shape != v.shape or len(x) == 0:
            raise ParameterError(
                f"thresholds and values must be non-empty 1-D of equal length"
                f" (got shapes {x.shape}, {v.shape})"
            )
        if not (np.all(np.diff(x) > 0) and np.all(np.diff(v) >= 0)):
            raise ParameterError("thresholds must increase strictly and values must not decrease")
        if not (v[0] >= 0 and v[-1] <= 1):
            raise ParameterError(f"values must lie in [0, 1] (got {v[0]!r} .. {v[-1]!r})")
        x.setflags(write=False)
        v.setflags(write=False)
        object.__setattr__(self, "thresholds", x)
        object.__setattr__(self, "values", v)

    @classmethod
    def fit(
        cls, scores: ArrayLike, labels: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> IsotonicCalibrator:
        """Fit on held-out ``scores`` and 0/1 ``labels`` (both shape (n,)).

        Minimises the weighted squared error among non-decreasing maps; equal scores are
        pooled first, so the fit is a function of the score.
        """
        s, y, w = _check_fit_inputs(scores, labels, sample_weight)
        ux, inverse = np.unique(s, return_inverse=True)
        uw = np.bincount(inverse, weights=w, minlength=len(ux))
        uy = np.bincount(inverse, weights=w * y, minlength=len(ux))
        # Scores carrying no weight say nothing about the map.
        keep = uw > 0
        ux, uw, uy = ux[keep], uw[keep], uy[keep] / uw[keep]
        values, ends = _pool_adjacent_violators(uy, uw)
        starts = [0, *(e + 1 for e in ends[:-1])]
        xs: list[float] = []
        vs: list[float] = []
        for start, end, value in zip(starts, ends, values, strict=True):
            # Only a block's two end points are needed for interpolation.
            xs.extend((ux[start], ux[end]) if end > start else (ux[start],))
            vs.extend((value, value) if end > start else (value,))
        return cls(np.asarray(xs), np.clip(vs, 0.0, 1.0))

    def transform(self, scores: ArrayLike) -> NDArray[np.float64]:
        """Calibrated probabilities for ``scores`` (any shape), same shape."""
        return np.interp(np.asarray(scores, dtype=np.float64), self.thresholds, self.values)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "thresholds": self.thresholds.tolist(),
            "values": self.values.tolist(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IsotonicCalibrator:
        _check_kind(data, cls.kind)
        try:
            return cls(_float_list(data, "thresholds"), _float_list(data, "values"))
        except ParameterError as exc:
            raise DataError(f"calibrator JSON: {exc}") from None


@dataclass(frozen=True)
class PlattCalibrator(Calibrator):
    """Logistic calibration ``p = 1 / (1 + exp(-(a z + b)))``.

    Attributes
    ----------
    a, b : float
        Slope and intercept on ``z``.
    scale : ScoreScale
        ``PROBABILITY``: ``z = logit(score)`` (scores clipped to [1e-12, 1 - 1e-12]);
        ``MARGIN``: ``z = score``.
    """

    kind: ClassVar[str] = "platt"
    a: float
    b: float
    scale: ScoreScale = ScoreScale.PROBABILITY

    def __post_init__(self) -> None:
        if not (np.isfinite(self.a) and np.isfinite(self.b)):
            raise ParameterError(f"a and b must be finite (got {self.a!r}, {self.b!r})")
        object.__setattr__(self, "a", float(self.a))
        object.__setattr__(self, "b", float(self.b))
        object.__setattr__(self, "scale", to_enum(ScoreScale, "scale", self.scale))

    def _z(self, scores: ArrayLike) -> NDArray[np.float64]:
        s = np.asarray(scores, dtype=np.float64)
        if self.scale is ScoreScale.MARGIN:
            return s
        p = np.clip(s, _LOGIT_EPS, 1 - _LOGIT_EPS)
        return np.log(p) - np.log1p(-p)

    @classmethod
    def fit(
        cls,
        scores: ArrayLike,
        labels: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        scale: ScoreScale | str = ScoreScale.PROBABILITY,
        max_iter: int = 100,
    ) -> PlattCalibrator:
        """Fit ``a`` and ``b`` by weighted maximum likelihood (Newton with backtracking).

        Targets are Platt's smoothed labels, ``(N+ + 1) / (N+ + 2)`` for positives and
        ``1 / (N- + 2)`` for negatives (weighted counts), which keeps the fit finite when the
        classes are separable.
        """
        scale = to_enum(ScoreScale, "scale", scale)
        s, y, w = _check_fit_inputs(scores, labels, sample_weight)
        z = cls(0.0, 0.0, scale)._z(s)
        n_pos, n_neg = w[y == 1].sum(), w[y == 0].sum()
        t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
        # Newton on standardised z converges in a few steps whatever the scores' range.
        mean = float(np.average(z, weights=w))
        sd = float(np.sqrt(np.average((z - mean) ** 2, weights=w)))
        zs = (z - mean) / sd if sd > 0 else np.zeros_like(z)
        design = np.column_stack([zs, np.ones_like(zs)])

        def loss(theta: NDArray[np.float64]) -> float:
            u = design @ theta
            return float(np.sum(w * (np.logaddexp(0.0, u) - t * u)))

        tbar = float(np.average(t, weights=w))
        theta = np.array([0.0, np.log(tbar / (1 - tbar))])
        current = loss(theta)
        ridge = 1e-10 * w.sum()  # keeps the Hessian invertible when scores are constant
        for _ in range(max_iter):
            p = np.exp(-np.logaddexp(0.0, -(design @ theta)))
            grad = design.T @ (w * (p - t))
            hess = (design * (w * p * (1 - p))[:, None]).T @ design + ridge * np.eye(2)
            step = np.linalg.solve(hess, grad)
            size = 1.0
            while size > 1e-8 and loss(theta - size * step) > current:
                size /= 2
            theta = theta - size * step
            new = loss(theta)
            if current - new <= 1e-12 * max(abs(current), 1.0):
                current = new
                break
            current = new
        a_std, b_std = float(theta[0]), float(theta[1])
        a = a_std / sd if sd > 0 else 0.0
        return cls(a, b_std - a * mean, scale)

    def transform(self, scores: ArrayLike) -> NDArray[np.float64]:
        """Calibrated probabilities for ``scores`` (any shape), same shape."""
        u = self.a * self._z(scores) + self.b
        return np.exp(-np.logaddexp(0.0, -u))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "scale": self.scale.value, "a": self.a, "b": self.b}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlattCalibrator:
        _check_kind(data, cls.kind)
        try:
            return cls(float(data["a"]), float(data["b"]), data["scale"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"calibrator JSON: malformed platt calibrator ({exc!r})") from None


_KINDS: dict[str, type[Calibrator]] = {c.kind: c for c in (IsotonicCalibrator, PlattCalibrator)}


def _check_kind(data: Mapping[str, Any], expected: str) -> None:
    kind = data.get("kind") if isinstance(data, Mapping) else None
    if kind != expected:
        raise DataError(f"calibrator JSON: 'kind' must be {expected!r} (got {kind!r})")


def calibrator_from_json(data: Mapping[str, Any]) -> Calibrator:
    """Rebuild any calibrator from its :meth:`Calibrator.to_json` output.

    Raises
    ------
    DataError
        If ``data`` is not a calibrator document or its ``"kind"`` is unknown.
    """
    kind = data.get("kind") if isinstance(data, Mapping) else None
    if kind not in _KINDS:
        raise DataError(f"calibrator JSON: 'kind' must be one of {sorted(_KINDS)} (got {kind!r})")
    return _KINDS[kind].from_json(data)
