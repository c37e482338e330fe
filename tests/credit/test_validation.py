"""Repeated cross-validation: shapes, summary, determinism, workers, folds fitted by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import RepeatedStratifiedKFold

from fintwin.credit.applications import CreditData, feature_kinds, normalise_features
from fintwin.credit.challenger import Challenger, ChallengerConfig
from fintwin.credit.metrics import ks_statistic
from fintwin.credit.scorecard import Scorecard
from fintwin.credit.validation import CrossValidation, ModelKind, cross_validate
from fintwin.exceptions import ParameterError
from fintwin.risk.metrics import auc_roc

# Small and fast: 600 applicants, 60 trees, three calibration folds.
CHALLENGER = ChallengerConfig(n_estimators=60, learning_rate=0.05, calibration_folds=3)
FOLDS, REPEATS = 3, 2


@pytest.fixture(scope="module")
def data() -> CreditData:
    """Bad rate rising with x1, falling with x2, highest for category C (true AUC ~0.8)."""
    rng = np.random.default_rng(3)
    n = 600
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    cat = rng.choice(np.array(["A", "B", "C"], dtype=object), size=n)
    bad = rng.random(n) < 1 / (1 + np.exp(-(-1.2 + x1 - x2 + 1.0 * (cat == "C"))))
    frame = pd.DataFrame({"x1": x1, "x2": x2, "cat": cat})
    kinds = feature_kinds(frame)
    return CreditData(
        normalise_features(frame, kinds), bad, pd.DataFrame(index=frame.index), kinds, "synth"
    )


def run(data: CreditData, *, seed: int = 0, workers: int = 1) -> CrossValidation:
    return cross_validate(
        data, folds=FOLDS, repeats=REPEATS, seed=seed, challenger=CHALLENGER, workers=workers
    )


@pytest.fixture(scope="module")
def result(data: CreditData) -> CrossValidation:
    return run(data)


def test_one_figure_per_test_fold(result: CrossValidation) -> None:
    assert (result.folds, result.repeats, result.seed) == (FOLDS, REPEATS, 0)
    assert set(result.auc) == set(result.ks) == set(ModelKind)
    for kind in ModelKind:
        for figures in (result.auc[kind], result.ks[kind]):
            assert figures.shape == (FOLDS * REPEATS,)
            assert ((figures >= 0) & (figures <= 1)).all()
        # Test folds of 200 applicants with ~70 bads: an AUC's standard error is ~0.035.
        # The truth ranks at ~0.8, so 0.65 (4 standard errors below) fails only a model
        # that learned little or was scored on the wrong applicants.
        assert (result.auc[kind] > 0.65).all(), kind


def test_summary(result: CrossValidation) -> None:
    summary = result.summary()
    assert set(summary) == {"scorecard", "challenger"}
    for kind in ModelKind:
        figures = summary[kind.value]
        assert set(figures) == {"auc_mean", "auc_std", "ks_mean", "ks_std"}
        auc, ks = result.auc[kind], result.ks[kind]
        # The summary is these sums over six numbers: equal up to float rounding.
        assert figures["auc_mean"] == pytest.approx(auc.sum() / 6, rel=1e-12)
        assert figures["ks_mean"] == pytest.approx(ks.sum() / 6, rel=1e-12)
        sd = np.sqrt(((auc - auc.mean()) ** 2).sum() / 5)  # ddof = 1
        assert figures["auc_std"] == pytest.approx(sd, rel=1e-12)
        assert figures["ks_std"] == pytest.approx(np.std(ks, ddof=1), rel=1e-12)
        assert figures["auc_std"] > 0  # folds differ


def test_first_fold_equals_a_fit_by_hand(data: CreditData, result: CrossValidation) -> None:
    # Everything is learnt on the fold's training part only, and figures come in fold order.
    splitter = RepeatedStratifiedKFold(n_splits=FOLDS, n_repeats=REPEATS, random_state=0)
    train_rows, test_rows = next(iter(splitter.split(data.features, data.bad)))
    train, test = data.subset(train_rows), data.subset(test_rows)
    scorecard_risk = -Scorecard.fit(train).score(test.features)
    challenger_risk = Challenger.fit(train, CHALLENGER).predicted_bad_rate(test.features)
    for kind, risk in (
        (ModelKind.SCORECARD, scorecard_risk),
        (ModelKind.CHALLENGER, challenger_risk),
    ):
        assert result.auc[kind][0] == auc_roc(test.bad, risk)
        assert result.ks[kind][0] == ks_statistic(test.bad, risk)


def test_same_seed_gives_identical_results(data: CreditData, result: CrossValidation) -> None:
    again = run(data)
    for kind in ModelKind:
        np.testing.assert_array_equal(again.auc[kind], result.auc[kind])
        np.testing.assert_array_equal(again.ks[kind], result.ks[kind])


def test_another_seed_gives_other_folds(data: CreditData, result: CrossValidation) -> None:
    other = run(data, seed=1)
    assert other.seed == 1
    assert not np.array_equal(other.auc[ModelKind.SCORECARD], result.auc[ModelKind.SCORECARD])


def test_workers_do_not_change_the_results(data: CreditData, result: CrossValidation) -> None:
    # Run after LightGBM has trained in this process (the fixtures above): worker processes
    # must not inherit its state.
    parallel = run(data, workers=2)
    for kind in ModelKind:
        np.testing.assert_array_equal(parallel.auc[kind], result.auc[kind])
        np.testing.assert_array_equal(parallel.ks[kind], result.ks[kind])


@pytest.mark.parametrize("kwargs", [{"folds": 1}, {"folds": 0}, {"repeats": 0}, {"workers": 0}])
def test_bad_settings_are_refused(data: CreditData, kwargs: dict) -> None:
    with pytest.raises(ParameterError, match="folds must be >= 2"):
        cross_validate(data, **kwargs)
