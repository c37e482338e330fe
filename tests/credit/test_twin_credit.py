"""The twin's loan applications as credit data, their ground truth, and models trained on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fintwin.credit.alternative_data import DATA_VERSIONS, alternative_data_value, time_split
from fintwin.credit.applications import FeatureKind
from fintwin.credit.challenger import ChallengerConfig
from fintwin.credit.cutoff import RATE_TOLERANCE
from fintwin.credit.fairness import age_band_labels
from fintwin.credit.model import CreditModel, TrainingOptions
from fintwin.credit.twin import (
    APPLICATION_FEATURES,
    BUREAU_FEATURES,
    TWIN_PROTECTED,
    TwinApplications,
    true_outcomes,
    twin_applications,
)
from fintwin.credit.twin_model import TWIN_MONOTONE, TWIN_REASON_TEXTS, train_on_twin
from fintwin.data import World
from fintwin.exceptions import DataError
from fintwin.world import simulate

# 3,000 customers applying 3 times a year (the preset's 0.25 would give ~120 applications)
# over 60 days: ~1,450 applications, ~1,000 approved with ~35 defaults. Simulating takes
# about a second.
PARAMS = {"economy.lending.applications_per_year": 3}
FAST = ChallengerConfig(n_estimators=100)
TRAIN_SHARE = 0.7
BUREAU_VIEW = list(APPLICATION_FEATURES + BUREAU_FEATURES)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    out: Path = tmp_path_factory.mktemp("twin-credit") / "w"
    return simulate(out, "handbook", customers=3000, days=60, seed=3, params=PARAMS)


@pytest.fixture(scope="module")
def applications(world: World) -> TwinApplications:
    return twin_applications(world)


@pytest.fixture(scope="module")
def truth(world: World, applications: TwinApplications) -> np.ndarray:
    return true_outcomes(world, applications)


@pytest.fixture(scope="module")
def frame(applications: TwinApplications) -> pd.DataFrame:
    return applications.frame


@pytest.fixture(scope="module")
def value(applications: TwinApplications, truth: np.ndarray) -> pd.DataFrame:
    return alternative_data_value(applications, truth, train_share=TRAIN_SHARE, challenger=FAST)


@pytest.fixture(scope="module")
def model(world: World) -> CreditModel:
    # The mitigation search (six more scorecard fits) is tested elsewhere.
    options = TrainingOptions(challenger=FAST, mitigation=False)
    return train_on_twin(world, options, train_share=TRAIN_SHARE, alternative_data=False)


def test_the_world_is_big_enough(frame: pd.DataFrame) -> None:
    assert len(frame) > 1000
    assert 0.5 < frame["historical_approved"].mean() < 0.9
    assert frame["bad"].sum() >= 20  # defaults to fit on
    assert frame["thin_file"].any()


# --- twin_applications -------------------------------------------------------------------------


def test_applications_are_every_application_in_time_order(
    world: World, frame: pd.DataFrame, applications: TwinApplications
) -> None:
    assert applications.source == f"world:{world.path}"
    raw = world.frame("loan_applications", columns=["application_id"])
    assert sorted(frame["application_id"]) == sorted(raw["application_id"])
    keys = list(zip(frame["applied_at"], frame["application_id"], strict=True))
    assert keys == sorted(keys)
    assert frame["applied_at"].is_monotonic_increasing


def test_outcome_is_missing_exactly_for_declined(frame: pd.DataFrame) -> None:
    declined = ~frame["historical_approved"].to_numpy()
    assert declined.any()
    np.testing.assert_array_equal(frame["bad"].isna().to_numpy(), declined)
    assert set(frame.loc[~declined, "bad"].unique()) <= {0.0, 1.0}
    np.testing.assert_array_equal(
        frame["historical_approved"], frame["decision"].astype(str) == "approved"
    )
    np.testing.assert_array_equal(frame["exposure"], frame["requested_amount"].astype(float))


def test_protected_columns_are_present_and_banded(frame: pd.DataFrame) -> None:
    assert set(frame["sex"]) <= {"F", "M"}
    assert set(frame["age_band"]) <= set(age_band_labels())
    assert frame["age_band"].nunique() >= 4


def test_credit_data_keeps_observed_rows_and_protected_apart(
    applications: TwinApplications, frame: pd.DataFrame
) -> None:
    data = applications.credit_data(BUREAU_VIEW)
    observed = frame["bad"].notna().to_numpy()
    assert len(data) == observed.sum()
    np.testing.assert_array_equal(data.bad, frame.loc[observed, "bad"].to_numpy() == 1)
    assert list(data.features.columns) == BUREAU_VIEW
    assert list(data.protected.columns) == list(TWIN_PROTECTED)
    for name in (*TWIN_PROTECTED, "age"):
        assert name not in data.features.columns
    np.testing.assert_array_equal(data.protected["sex"], frame.loc[observed, "sex"])
    assert data.kinds["product"] is FeatureKind.CATEGORICAL
    assert data.kinds["segment"] is FeatureKind.CATEGORICAL
    assert data.kinds["bureau_score"] is FeatureKind.NUMERIC
    assert data.source == applications.source


def test_credit_data_refuses_declined_rows_without_an_outcome(
    applications: TwinApplications, frame: pd.DataFrame, truth: np.ndarray
) -> None:
    declined = int(np.flatnonzero(~frame["historical_approved"].to_numpy())[0])
    with pytest.raises(DataError, match="no outcome"):
        applications.credit_data(BUREAU_VIEW, np.array([declined]))
    # With the ground truth every application has an outcome.
    everyone = applications.credit_data(BUREAU_VIEW, np.arange(len(frame)), bad=truth)
    assert len(everyone) == len(frame)
    np.testing.assert_array_equal(everyone.bad, truth == 1)


# --- true_outcomes -----------------------------------------------------------------------------


def test_true_outcomes_equal_the_observed_ones_for_approved(
    frame: pd.DataFrame, truth: np.ndarray
) -> None:
    assert truth.shape == (len(frame),)
    assert set(np.unique(truth)) <= {0.0, 1.0}
    approved = frame["historical_approved"].to_numpy()
    np.testing.assert_array_equal(truth[approved], frame["bad"].to_numpy()[approved])
    # The historical policy declines riskier applicants: a truth misaligned with the
    # applications (wrong order) would show no such gap.
    assert truth[~approved].mean() > truth[approved].mean() + 0.02


# --- alternative_data_value --------------------------------------------------------------------


def test_alternative_data_value_table(
    value: pd.DataFrame, frame: pd.DataFrame, applications: TwinApplications
) -> None:
    assert set(value.columns) == {
        "model",
        "data",
        "auc",
        "target_bad_rate",
        "cutoff",
        "approval_rate",
        "thin_file_approval_rate",
        "expected_bad_rate",
        "realised_bad_rate",
    }
    assert len(value) == 4
    assert set(zip(value["model"], value["data"], strict=True)) == {
        (m, d) for m in ("scorecard", "challenger") for d in DATA_VERSIONS
    }
    split = time_split(applications, TRAIN_SHARE)
    target = frame["bad"].iloc[:split].mean()  # the historical policy's observed bad rate
    assert value["target_bad_rate"].tolist() == pytest.approx([target] * 4, rel=1e-12)
    assert (value["expected_bad_rate"] <= value["target_bad_rate"] + RATE_TOLERANCE).all()
    assert value["approval_rate"].between(0.3, 1).all()
    assert value["thin_file_approval_rate"].between(0, 1).all()
    assert (value["auc"] > 0.6).all()


def test_alternative_data_lets_thin_files_in(value: pd.DataFrame) -> None:
    # The module's business case: at the same expected bad rate, thin-file applicants (no
    # bureau file) are approved far more often with alternative data (~0.43 against <0.2).
    rates = value.pivot(index="model", columns="data", values="thin_file_approval_rate")
    assert (rates["with_alternative_data"] > rates["bureau_only"] + 0.1).all()


# --- train_on_twin -----------------------------------------------------------------------------


def test_train_on_twin_time_split_and_settings(
    model: CreditModel, frame: pd.DataFrame, applications: TwinApplications
) -> None:
    split = time_split(applications, TRAIN_SHARE)
    observed = np.flatnonzero(frame["bad"].notna().to_numpy())
    assert model.record["n_test"] == (observed >= split).sum()
    assert model.record["n_train"] == (observed < split).sum()
    assert "segment" in model.reason_exclude
    assert model.record["protected"] == list(TWIN_PROTECTED)
    assert not set(TWIN_PROTECTED) & set(model.features)
    assert model.features == list(DATA_VERSIONS["with_alternative_data"])
    assert dict(model.challenger.config.monotone) == TWIN_MONOTONE
    assert model.reason_texts == TWIN_REASON_TEXTS
    assert "alternative_data" not in model.record


def test_policy_comparison_over_every_later_application(
    model: CreditModel, frame: pd.DataFrame, applications: TwinApplications, truth: np.ndarray
) -> None:
    split = time_split(applications, TRAIN_SHARE)
    later = np.arange(split, len(frame))
    comparison = model.record["policy_comparison"]
    assert comparison["applications"] == later.size
    assert comparison["thin_file_share"] == frame["thin_file"].to_numpy()[later].mean()
    policies = {p["policy"]: p for p in comparison["policies"]}
    assert list(policies) == ["historical", "new"]

    historical = frame["historical_approved"].to_numpy()[later]
    flow = applications.credit_data(model.features, later, bad=truth)
    new = model.scorecard.score(flow.features) >= model.cutoff
    for name, approved in (("historical", historical), ("new", new)):
        assert policies[name]["approved"] == approved.sum()
        # the realised bad rate comes from the ground truth, declined applicants included
        assert policies[name]["observed_bad_rate"] == pytest.approx(
            truth[later][approved].mean(), rel=1e-12
        )
    assert policies["new"]["swap_in"] == (new & ~historical).sum()
    assert policies["historical"]["swap_in"] == (historical & ~new).sum()
