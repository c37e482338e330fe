"""The LightGBM challenger: discrimination, leaves, monotone constraints, calibration, reasons."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fintwin.credit.applications import (
    CreditData,
    FeatureKind,
    feature_kinds,
    normalise_features,
)
from fintwin.credit.challenger import (
    Challenger,
    ChallengerConfig,
    Contribution,
    LeafModel,
    RiskDirection,
)
from fintwin.exceptions import DataError, ParameterError
from fintwin.risk.metrics import auc_roc

# Few, faster-learning trees: the defaults (500 rounds at 0.03) take a second or more per fit.
FAST = {"n_estimators": 150, "learning_rate": 0.05}

# Shapley values and the margin are both sums of the same tree outputs over 150 trees, in a
# different order: float rounding is ~1e-14. 1e-9 is far above that and far below any tree
# output (~1e-3) that a missing or double-counted tree would add.
SHAP_ATOL = 1e-9


def synthetic(n: int, seed: int) -> tuple[CreditData, np.ndarray]:
    """Applicants and their true probability of bad.

    The bad rate rises with ``x1``, falls with ``x2``, is higher for category ``C``, and is
    U-shaped in ``u`` (lowest at 0): a constraint on ``u`` is visibly binding.
    """
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    u = rng.uniform(-2, 2, size=n)
    cat = rng.choice(np.array(["A", "B", "C"], dtype=object), size=n)
    logit = -1.5 + x1 - x2 + 1.0 * (cat == "C") + 0.8 * (u**2 - 4 / 3)
    truth = 1 / (1 + np.exp(-logit))
    bad = rng.random(n) < truth
    frame = pd.DataFrame({"x1": x1, "x2": x2, "u": u, "cat": cat})
    kinds = feature_kinds(frame)
    data = CreditData(
        normalise_features(frame, kinds), bad, pd.DataFrame(index=frame.index), kinds, "synth"
    )
    return data, truth


@pytest.fixture(scope="module")
def train() -> CreditData:
    return synthetic(2000, 1)[0]


@pytest.fixture(scope="module")
def test_set() -> tuple[CreditData, np.ndarray]:
    return synthetic(4000, 2)


@pytest.fixture(scope="module")
def free(train: CreditData) -> Challenger:
    return Challenger.fit(train, ChallengerConfig(**FAST))


@pytest.fixture(scope="module")
def constrained(train: CreditData) -> Challenger:
    monotone = {"u": RiskDirection.RISES, "x1": RiskDirection.RISES, "x2": RiskDirection.FALLS}
    config = ChallengerConfig(monotone=monotone, leaves=LeafModel.CONSTANT, **FAST)
    return Challenger.fit(train, config)


def grid_over(features: pd.DataFrame, row: int, name: str, grid: np.ndarray) -> pd.DataFrame:
    """Applicant ``row`` repeated, with ``name`` running over ``grid``."""
    frame = features.iloc[[row] * len(grid)].reset_index(drop=True)
    frame[name] = grid
    return frame


# --- discrimination and calibration -------------------------------------------------------


def test_beats_a_coin_on_held_out_data(
    free: Challenger, test_set: tuple[CreditData, np.ndarray]
) -> None:
    data, truth = test_set
    # The true probabilities rank this sample with AUC ~0.85; a model that learned nothing
    # scores 0.5 (+- 0.01 at 4,000 applicants). 0.7 leaves room for what 2,000 training
    # applicants cannot teach, and fails any model that ignores the inputs.
    assert auc_roc(data.bad, truth) > 0.8
    assert auc_roc(data.bad, free.predicted_bad_rate(data.features)) > 0.7


def test_calibrated_on_the_training_data(train: CreditData, free: Challenger) -> None:
    predicted = free.predicted_bad_rate(train.features)
    assert ((predicted > 0) & (predicted < 1)).all()
    # The Platt curve's intercept makes its mean prediction on the out-of-fold margins equal
    # to the (smoothed) observed rate; the refit on all data moves the margins only a little.
    # 0.01 is a third of the bad rate's 0.03-wide binomial band at n = 2,000 and far below
    # the error of an uncalibrated margin (sigmoid of the raw margin is off by >0.05 here).
    assert predicted.mean() == pytest.approx(train.bad_rate, abs=0.01)
    assert free.calibrator.a > 0  # a higher margin (log-odds of bad) means more risk


def test_predicted_bad_rate_is_the_calibrated_margin(train: CreditData, free: Challenger) -> None:
    margin = free.margin(train.features)
    np.testing.assert_array_equal(
        free.predicted_bad_rate(train.features), free.calibrator.transform(margin)
    )


# --- monotone constraints -------------------------------------------------------------------


@pytest.mark.parametrize("row", [0, 1, 2, 3])
def test_monotone_constraint_is_respected(
    train: CreditData, constrained: Challenger, free: Challenger, row: int
) -> None:
    grid = np.linspace(-2.5, 2.5, 51)
    for name, direction in (("u", 1), ("x1", 1), ("x2", -1)):
        frame = grid_over(train.features, row, name, grid)
        steps = np.diff(constrained.predicted_bad_rate(frame)) * direction
        assert (steps >= 0).all(), name
        assert (np.diff(constrained.margin(frame)) * direction >= 0).all(), name
    # Without the constraint the U in u shows: risk falls somewhere on the same grid, so the
    # check above would catch an ignored constraint.
    free_steps = np.diff(free.predicted_bad_rate(grid_over(train.features, row, "u", grid)))
    assert free_steps.min() < -0.01


def test_constraints_with_linear_leaves_are_refused() -> None:
    # LightGBM enforces a constraint at splits only; a linear leaf's slope could break it.
    with pytest.raises(ParameterError, match=r"\(on u, x1\) need constant leaves"):
        ChallengerConfig(monotone={"x1": RiskDirection.RISES, "u": RiskDirection.FALLS})
    free_only = ChallengerConfig(monotone={"x1": RiskDirection.FREE})
    assert free_only.leaves is LeafModel.LINEAR


def test_leaf_model_reaches_lightgbm(free: Challenger, constrained: Challenger) -> None:
    assert free.config.leaves is LeafModel.LINEAR
    assert "is_linear=1" in free.booster.model_to_string()
    assert "is_linear=0" in constrained.booster.model_to_string()
    assert "is_linear=1" not in constrained.booster.model_to_string()


def test_constraint_on_a_categorical_is_refused(train: CreditData) -> None:
    config = ChallengerConfig(
        monotone={"cat": RiskDirection.RISES}, leaves=LeafModel.CONSTANT, **FAST
    )
    with pytest.raises(ParameterError, match="monotone constraint on 'cat'"):
        Challenger.fit(train, config)


def test_constraint_on_an_unknown_input_is_refused(train: CreditData) -> None:
    config = ChallengerConfig(
        monotone={"income": RiskDirection.FALLS}, leaves=LeafModel.CONSTANT, **FAST
    )
    with pytest.raises(ParameterError, match="'income'"):
        Challenger.fit(train, config)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_estimators": 0}, "n_estimators"),
        ({"num_leaves": 0}, "num_leaves"),
        ({"subsample": 0.0}, "subsample"),
        ({"feature_fraction": 1.5}, "feature_fraction"),
        ({"calibration_folds": 1}, "calibration_folds"),
        ({"linear_lambda": -1.0}, "linear_lambda"),
        ({"category_prior": 0.0}, "category_prior"),
    ],
)
def test_config_refuses_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        ChallengerConfig(**kwargs)


# --- Shapley contributions and reasons ------------------------------------------------------


@pytest.fixture(scope="module")
def baseline(free: Challenger, train: CreditData) -> np.ndarray:
    # The reference: the quarter of applicants the challenger finds safest.
    risk = free.predicted_bad_rate(train.features)
    return free.baseline(train.features[risk <= np.quantile(risk, 0.25)])


@pytest.mark.parametrize("model", ["free", "constrained"])
def test_contributions_sum_to_the_margin_above_the_baseline(
    model: str, request: pytest.FixtureRequest, train: CreditData, test_set: tuple
) -> None:
    challenger: Challenger = request.getfixturevalue(model)
    features = test_set[0].features.iloc[:500]
    baseline = challenger.baseline(train.features)
    contributions = challenger.contributions(features, baseline)
    assert contributions.shape == (500, 4)
    baseline_margin = challenger.booster.predict(baseline[None, :], raw_score=True)[0]
    np.testing.assert_allclose(
        contributions.sum(axis=1),
        challenger.margin(features) - baseline_margin,
        rtol=0,
        atol=SHAP_ATOL,
    )


def test_baseline_is_the_typical_reference_applicant(free: Challenger) -> None:
    reference = pd.DataFrame(
        {
            "x1": [1.0, 2.0, 10.0, np.nan],
            "x2": [np.nan] * 4,
            "u": [0.0, 0.0, 1.0, 1.0],
            "cat": ["B", "C", "C", None],
        }
    )
    baseline = free.baseline(reference)
    assert baseline[0] == 2.0  # the median, not the mean (4.33), and missing ignored
    assert np.isnan(baseline[1])  # missing throughout: a missing baseline
    assert baseline[2] == 0.5
    # The most common category, as the trees read it; not the mean of B, C, C and missing.
    assert baseline[3] == free.category_risk.values["cat"]["C"]


def test_reasons_are_positive_sorted_and_relative_to_the_baseline(
    free: Challenger, train: CreditData, baseline: np.ndarray
) -> None:
    features = train.features.iloc[:200]
    reasons = free.reasons(features, baseline, n=3)
    relative = free.contributions(features, baseline)
    assert len(reasons) == 200
    assert any(reasons)
    for i, found in enumerate(reasons):
        assert len(found) <= 3
        assert all(isinstance(r, Contribution) for r in found)
        pushes = [r.log_odds for r in found]
        assert all(p > 0 for p in pushes)
        assert pushes == sorted(pushes, reverse=True)
        for r in found:
            j = free.feature_names.index(r.variable)
            assert r.log_odds == pytest.approx(relative[i, j], rel=1e-12)
            value = features[r.variable].iloc[i]
            assert r.value == value or (pd.isna(r.value) and pd.isna(value))


def test_excluded_variables_are_never_reasons(
    free: Challenger, train: CreditData, baseline: np.ndarray
) -> None:
    features = train.features.iloc[:300]
    named = {r.variable for found in free.reasons(features, baseline) for r in found}
    assert "cat" in named  # so the exclusion has something to remove
    kept = free.reasons(features, baseline, exclude=["cat"])
    assert all(r.variable != "cat" and r.log_odds > 0 for found in kept for r in found)
    assert any(kept)


def test_reasons_refuse_bad_arguments(
    free: Challenger, train: CreditData, baseline: np.ndarray
) -> None:
    with pytest.raises(ParameterError, match="n must be >= 1"):
        free.reasons(train.features.iloc[:2], baseline, n=0)
    with pytest.raises(ParameterError, match="baseline must hold one value per input"):
        free.reasons(train.features.iloc[:2], baseline[:2])
    with pytest.raises(ParameterError, match="at least one applicant"):
        free.baseline(train.features.iloc[:0])


# --- unusual applicants --------------------------------------------------------------------


def test_unseen_category_and_missing_values_score_finitely(free: Challenger) -> None:
    applicants = pd.DataFrame(
        {
            "x1": [0.5, np.nan, 0.5, 0.5],
            "x2": [0.0, 0.0, np.nan, 0.0],
            "u": [1.0, 1.0, 1.0, 1.0],
            "cat": ["never seen", "A", "A", None],
        }
    )
    predicted = free.predicted_bad_rate(applicants)
    assert np.isfinite(predicted).all() and ((predicted > 0) & (predicted < 1)).all()
    assert np.isfinite(free.contributions(applicants, free.baseline(applicants))).all()
    # Training had no missing category: an unseen and a missing one both score as average.
    assert predicted[0] == predicted[3]


def test_scoring_without_an_input_is_refused(free: Challenger, train: CreditData) -> None:
    with pytest.raises(DataError, match="'u'"):
        free.predicted_bad_rate(train.features.drop(columns="u"))


# --- files ---------------------------------------------------------------------------------


def test_save_and_load_give_identical_predictions(
    tmp_path: Path, constrained: Challenger, test_set: tuple[CreditData, np.ndarray]
) -> None:
    constrained.save(tmp_path)
    back = Challenger.load(tmp_path)
    features = test_set[0].features
    odd = pd.DataFrame({"x1": [np.nan], "x2": [1.0], "u": [0.0], "cat": ["never seen"]})
    for frame in (features, odd):
        np.testing.assert_array_equal(
            back.predicted_bad_rate(frame), constrained.predicted_bad_rate(frame)
        )
        baseline = constrained.baseline(features)
        np.testing.assert_array_equal(
            back.contributions(frame, baseline), constrained.contributions(frame, baseline)
        )
    assert back.config == constrained.config
    assert back.config.monotone["x2"] is RiskDirection.FALLS
    assert back.feature_names == constrained.feature_names
    assert back.category_risk == constrained.category_risk
    assert set(back.category_risk.values["cat"]) == {"A", "B", "C"}
    assert back.kinds == {
        "x1": FeatureKind.NUMERIC,
        "x2": FeatureKind.NUMERIC,
        "u": FeatureKind.NUMERIC,
        "cat": FeatureKind.CATEGORICAL,
    }


def test_load_refuses_a_wrong_directory(tmp_path: Path, free: Challenger) -> None:
    with pytest.raises(DataError, match="cannot read a challenger"):
        Challenger.load(tmp_path / "nothing here")
    free.save(tmp_path)
    meta = json.loads((tmp_path / "challenger.json").read_text())
    meta["format"] = "something-else/1"
    (tmp_path / "challenger.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="not a challenger"):
        Challenger.load(tmp_path)
    meta["format"] = "fintwin-challenger/1"
    (tmp_path / "challenger.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="must be trained again"):
        Challenger.load(tmp_path)


def test_names_with_json_punctuation(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    n = 1500
    income = rng.normal(size=n)
    purpose = rng.choice(np.array(["car", "tv", "other"], dtype=object), size=n)
    bad = rng.random(n) < 1 / (1 + np.exp(-(-1.0 - 1.2 * income + 1.0 * (purpose == "tv"))))
    names = ["income, monthly", 'purpose "main"', "{odd}: [name]"]
    frame = pd.DataFrame({names[0]: income, names[1]: purpose, names[2]: rng.normal(size=n)})
    kinds = feature_kinds(frame)
    data = CreditData(
        normalise_features(frame, kinds), bad, pd.DataFrame(index=frame.index), kinds, "p"
    )
    config = ChallengerConfig(
        monotone={names[0]: RiskDirection.FALLS}, leaves=LeafModel.CONSTANT, **FAST
    )
    model = Challenger.fit(data, config)
    assert model.feature_names == names
    predicted = model.predicted_bad_rate(data.features)
    assert auc_roc(data.bad, predicted) > 0.7
    model.save(tmp_path)
    back = Challenger.load(tmp_path)
    np.testing.assert_array_equal(back.predicted_bad_rate(data.features), predicted)
    reasons = back.reasons(data.features.iloc[:50], back.baseline(data.features))
    assert {r.variable for found in reasons for r in found} <= set(names)
