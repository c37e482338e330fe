"""Exact baseline Shapley values of LightGBM trees, constant or linear leaves."""

from __future__ import annotations

import itertools
import math

import lightgbm as lgb
import numpy as np
import pytest

from fintwin.credit.tree_shapley import TreeEnsemble
from fintwin.exceptions import ParameterError

N_FEATURES = 5


def training_data() -> tuple[np.ndarray, np.ndarray]:
    """Missing values in every input, exact zeros in the last (for missing_type "Zero")."""
    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(size=(n, N_FEATURES))
    x[rng.random(x.shape) < 0.1] = np.nan
    x[:, 4] = np.where(rng.random(n) < 0.3, 0.0, x[:, 4])
    filled = np.nan_to_num(x)
    signal = filled[:, 0] + filled[:, 1] * filled[:, 2] - filled[:, 4]
    return x, (signal + rng.normal(size=n) > 0).astype(int)


# Each setting makes LightGBM write a different missing_type or leaf kind into its trees.
SETTINGS = {
    "constant leaves": {},
    "missing as zero": {"zero_as_missing": True},
    "missing ignored": {"use_missing": False},
    "linear leaves": {"linear_tree": True},
    "linear leaves, missing ignored": {"linear_tree": True, "use_missing": False},
}


@pytest.fixture(scope="module", params=list(SETTINGS))
def booster(request: pytest.FixtureRequest) -> lgb.Booster:
    x, y = training_data()
    params = {
        "objective": "binary",
        "num_leaves": 4,
        "min_data_in_leaf": 10,
        "verbosity": -1,
        "num_threads": 1,
        "deterministic": True,
        **SETTINGS[request.param],
    }
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=100)


def brute_force_shapley(booster: lgb.Booster, x: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """The definition, over all 2**5 coalitions of the model's inputs, LightGBM predicting."""
    d = len(x)
    out = np.zeros(d)
    for player in range(d):
        others = [j for j in range(d) if j != player]
        for size in range(d):
            weight = math.factorial(size) * math.factorial(d - size - 1) / math.factorial(d)
            for coalition in itertools.combinations(others, size):
                without = baseline.copy()
                without[list(coalition)] = x[list(coalition)]
                with_player = without.copy()
                with_player[player] = x[player]
                pair = booster.predict(np.stack([with_player, without]), raw_score=True)
                out[player] += weight * (pair[0] - pair[1])
    return out


def test_margin_is_lightgbms_raw_score(booster: lgb.Booster) -> None:
    x, _ = training_data()
    # Same leaf values summed in the same order; only the linear leaves' dot products may
    # round differently (~1e-16 each).
    np.testing.assert_allclose(
        TreeEnsemble.from_booster(booster).margin(x), booster.predict(x, raw_score=True),
        rtol=0, atol=1e-12,
    )  # fmt: skip


def test_values_are_the_shapley_definition(booster: lgb.Booster) -> None:
    x, _ = training_data()
    baseline = np.nanmedian(x, axis=0)
    ensemble = TreeEnsemble.from_booster(booster)
    values = ensemble.shapley(x[:6], baseline)
    for i in range(6):
        # Both are exact; they differ by float rounding over 100 trees (~1e-15).
        np.testing.assert_allclose(
            values[i], brute_force_shapley(booster, x[i], baseline), rtol=0, atol=1e-10
        )


def test_values_add_up_to_the_margin_above_the_baseline(booster: lgb.Booster) -> None:
    x, _ = training_data()
    baseline = x[7].copy()  # a baseline with missing values works as well
    ensemble = TreeEnsemble.from_booster(booster)
    values = ensemble.shapley(x, baseline)
    expected = ensemble.margin(x) - ensemble.margin(baseline[None, :])[0]
    np.testing.assert_allclose(values.sum(axis=1), expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ensemble.shapley(baseline[None, :], baseline), 0.0, atol=1e-12)


def test_bad_shapes_are_refused(booster: lgb.Booster) -> None:
    ensemble = TreeEnsemble.from_booster(booster)
    with pytest.raises(ParameterError, match=r"features must have shape \(n, 5\)"):
        ensemble.margin(np.zeros((3, 4)))
    with pytest.raises(ParameterError, match=r"baseline must have shape \(5,\)"):
        ensemble.shapley(np.zeros((3, 5)), np.zeros(4))


def test_categorical_splits_are_refused() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 4, size=(400, 1)).astype(float)
    y = (x[:, 0] == 2).astype(int)
    params = {"objective": "binary", "verbosity": -1, "min_data_per_group": 5}
    model = lgb.train(params, lgb.Dataset(x, y, categorical_feature=[0]), 5)
    with pytest.raises(ParameterError, match="categorical splits are not supported"):
        TreeEnsemble.from_booster(model)


def test_chunks_of_applicants_change_nothing(
    booster: lgb.Booster, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, _ = training_data()
    baseline = np.nanmedian(x, axis=0)
    ensemble = TreeEnsemble.from_booster(booster)
    whole = ensemble.shapley(x[:50], baseline)
    # A few applicants per chunk, and 50 not a multiple of any chunk size that results.
    monkeypatch.setattr("fintwin.credit.tree_shapley._CHUNK_ELEMENTS", 7_000)
    # The matrix products sum in an order that depends on their shapes: the last bit may
    # differ (~1e-16), a tree dropped or counted twice in a chunk would not (~1e-3).
    np.testing.assert_allclose(ensemble.shapley(x[:50], baseline), whole, rtol=0, atol=1e-12)
