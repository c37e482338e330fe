"""Calibrators: correct fits, monotone, better probabilities, exact JSON round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fintwin.exceptions import DataError, ParameterError
from fintwin.governance import (
    IsotonicCalibrator,
    PlattCalibrator,
    ScoreScale,
    calibrator_from_json,
)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _over_confident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores that rank well but claim too much: true p = sigmoid(z), score = sigmoid(3z + 3)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-2.0, 1.0, n)
    y = (rng.random(n) < _sigmoid(z)).astype(int)
    return _sigmoid(3 * z + 3), y


def _brier(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    # Isotonic fits give exact 0 and 1 at the ends; clipping keeps one such held-out point from
    # making the loss infinite while leaving ordinary probabilities untouched.
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _fit(kind: str, scores: np.ndarray, labels: np.ndarray, **kw):
    return (IsotonicCalibrator if kind == "isotonic" else PlattCalibrator).fit(scores, labels, **kw)


@pytest.mark.parametrize("kind", ["isotonic", "platt"])
def test_calibration_reduces_brier_and_log_loss_on_held_out_data(kind: str) -> None:
    s_fit, y_fit = _over_confident(20_000, seed=1)
    s_test, y_test = _over_confident(20_000, seed=2)
    cal = _fit(kind, s_fit, y_fit)
    p = cal.transform(s_test)
    # Calibration cuts Brier score by ~20% and log-loss by ~24% here (measured over seeds, each
    # ratio within +-0.01); requiring 10% leaves a wide margin yet fails if nothing improves.
    assert _brier(p, y_test) < 0.9 * _brier(s_test, y_test)
    assert _log_loss(p, y_test) < 0.9 * _log_loss(s_test, y_test)
    # Calibrated probabilities match the held-out fraud rate (standard error ~0.002).
    assert abs(p.mean() - y_test.mean()) < 0.01


@pytest.mark.parametrize("kind", ["isotonic", "platt"])
def test_calibration_is_monotone(kind: str) -> None:
    s, y = _over_confident(5_000, seed=3)
    grid = np.linspace(-0.5, 1.5, 10_001)  # beyond the scores on both sides
    p = _fit(kind, s, y).transform(grid)
    assert np.all(np.diff(p) >= 0)
    assert p.min() >= 0 and p.max() <= 1


def test_isotonic_matches_scipy_pava() -> None:
    scipy_optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(4)
    s = rng.integers(0, 300, 3_000) / 300  # many ties
    y = (rng.random(3_000) < s**2).astype(int)
    w = rng.uniform(0.5, 2.0, 3_000)
    cal = IsotonicCalibrator.fit(s, y, sample_weight=w)
    ux, inv = np.unique(s, return_inverse=True)
    uw = np.bincount(inv, weights=w)
    expected = scipy_optimize.isotonic_regression(np.bincount(inv, weights=w * y) / uw, weights=uw)
    # Both are exact weighted means of the same blocks; only summation order differs.
    np.testing.assert_allclose(cal.transform(ux), expected.x, rtol=0, atol=1e-12)


def test_isotonic_preserves_the_weighted_mean() -> None:
    s, y = _over_confident(4_000, seed=5)
    w = np.random.default_rng(5).uniform(0, 3, 4_000)
    p = IsotonicCalibrator.fit(s, y, sample_weight=w).transform(s)
    # Pool adjacent violators keeps each block's weighted sum: the mean is exact up to rounding.
    assert abs(np.average(p, weights=w) - np.average(y, weights=w)) < 1e-12


def test_platt_recovers_known_parameters() -> None:
    rng = np.random.default_rng(6)
    z = rng.normal(0, 2, 200_000)
    y = (rng.random(z.size) < _sigmoid(0.5 * z - 1.0)).astype(int)
    cal = PlattCalibrator.fit(z, y, scale=ScoreScale.MARGIN)
    # Standard errors at n = 200,000 are about 0.003 for a and b; Platt's target smoothing
    # moves them by ~1e-5. 0.02 is several standard errors.
    assert cal.a == pytest.approx(0.5, abs=0.02)
    assert cal.b == pytest.approx(-1.0, abs=0.02)


def test_platt_on_probabilities_equals_platt_on_margins() -> None:
    rng = np.random.default_rng(7)
    z = rng.normal(-1, 1.5, 5_000)
    y = (rng.random(z.size) < _sigmoid(z / 2)).astype(int)
    on_margin = PlattCalibrator.fit(z, y, scale="margin")
    on_prob = PlattCalibrator.fit(_sigmoid(z), y)
    # logit(sigmoid(z)) = z up to float rounding; the optimum moves by far less than 1e-6.
    assert on_prob.a == pytest.approx(on_margin.a, abs=1e-6)
    assert on_prob.b == pytest.approx(on_margin.b, abs=1e-6)


@pytest.mark.parametrize("kind", ["isotonic", "platt"])
def test_integer_weights_equal_repeated_rows(kind: str) -> None:
    s, y = _over_confident(2_000, seed=8)
    w = np.random.default_rng(8).integers(1, 4, s.size)
    weighted = _fit(kind, s, y, sample_weight=w).transform(np.linspace(0, 1, 101))
    repeated = _fit(kind, np.repeat(s, w), np.repeat(y, w)).transform(np.linspace(0, 1, 101))
    # Same objective, summed in a different order: equal to rounding.
    np.testing.assert_allclose(weighted, repeated, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", ["isotonic", "platt"])
def test_json_round_trip_is_exact(kind: str) -> None:
    s, y = _over_confident(3_000, seed=9)
    cal = _fit(kind, s, y)
    back = calibrator_from_json(json.loads(json.dumps(cal.to_json())))
    assert type(back) is type(cal)
    grid = np.linspace(0, 1, 1_001)
    assert np.array_equal(back.transform(grid), cal.transform(grid))
    assert back.to_json() == cal.to_json()


@pytest.mark.parametrize(
    ("scores", "labels", "match"),
    [
        ([0.1, 0.2, 0.3], [0, 1], "equal length"),
        ([0.1, np.nan, 0.3], [0, 1, 1], "finite"),
        ([0.1, 0.2, 0.3], [0, 1, 2], "0 or 1"),
        ([0.1, 0.2, 0.3], [1, 1, 1], "both classes"),
    ],
)
@pytest.mark.parametrize("kind", ["isotonic", "platt"])
def test_bad_fit_inputs_are_refused(kind: str, scores: list, labels: list, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        _fit(kind, np.asarray(scores), np.asarray(labels))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"kind": "spline"}, "'kind' must be one of"),
        ([1, 2], "'kind' must be one of"),
        ({"kind": "isotonic", "thresholds": [0.1, 0.2], "values": [0.5, 0.4]}, "must not decrease"),
        ({"kind": "isotonic", "thresholds": [0.2, 0.1], "values": [0.1, 0.2]}, "increase strictly"),
        ({"kind": "isotonic", "thresholds": [0.1], "values": [1.5]}, r"\[0, 1\]"),
        ({"kind": "isotonic", "thresholds": "x", "values": [0.5]}, "thresholds"),
        ({"kind": "platt", "a": 1.0, "b": 0.0, "scale": "logit"}, "scale"),
        ({"kind": "platt", "a": 1.0}, "'b'"),
    ],
)
def test_malformed_json_is_refused(data: object, match: str) -> None:
    with pytest.raises(DataError, match=match):
        calibrator_from_json(data)  # type: ignore[arg-type]
