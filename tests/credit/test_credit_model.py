"""The trained credit model: its record, cut-off rules, reasons, storage and governance."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fintwin.credit.applications import CreditData, feature_kinds, normalise_features
from fintwin.credit.challenger import ChallengerConfig
from fintwin.credit.cutoff import best_profit_cutoff, cutoff_table, cutoffs_between
from fintwin.credit.metrics import credit_metrics
from fintwin.credit.model import (
    ApprovalStatus,
    CreditModel,
    TrainingOptions,
    obvious_proxies,
    train_credit_model,
)
from fintwin.credit.model_card import render_model_card
from fintwin.credit.ratios import Ratio
from fintwin.exceptions import DataError, ParameterError

N = 1500
SEED = 0
PROTECTED = ["sex", "age"]
# 100 rounds instead of 500: the challenger only needs to be a working model here.
FAST = ChallengerConfig(n_estimators=100)
OPTIONS = TrainingOptions(seed=SEED, challenger=FAST)
RECORD_KEYS = {
    "ratios",
    "trained_at",
    "source",
    "approval_status",
    "n_train",
    "n_test",
    "bad_rate_train",
    "bad_rate_test",
    "features",
    "scorecard_variables",
    "protected",
    "cutoff",
    "cutoff_rule",
    "economics",
    "metrics",
    "calibration_test",
    "approval_rate_test",
    "cutoff_table_test",
    "fairness_test",
    "mitigation",
}


def synthetic(n: int = N, seed: int = SEED) -> CreditData:
    """Applicants whose bad rate falls with income, rises for renters and for singles.

    ``marital_status`` carries real signal, so the scorecard keeps it and would give it as a
    reason if nothing stopped it; ``sex`` and ``age`` are audit-only.
    """
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8.0, 0.5, size=n)
    housing = rng.choice(
        np.array(["own", "rent", "free"], dtype=object), size=n, p=[0.5, 0.35, 0.15]
    )
    marital = rng.choice(np.array(["single", "married", "divorced"], dtype=object), size=n)
    logit = (
        -2.3
        - 1.2 * (np.log(income) - 8.0) / 0.5
        + 0.8 * (housing == "rent")
        + 0.7 * (marital == "single")
    )
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame({"income": income, "housing": housing, "marital_status": marital})
    kinds = feature_kinds(frame)
    protected = pd.DataFrame(
        {
            "sex": rng.choice(np.array(["F", "M"], dtype=object), size=n),
            "age": rng.integers(19, 75, size=n).astype(float),
        }
    )
    exposure = rng.integers(1, 21, size=n) * 500.0
    return CreditData(
        normalise_features(frame, kinds), bad, protected, kinds, "synthetic", exposure
    )


@pytest.fixture(scope="module")
def data() -> CreditData:
    return synthetic()


@pytest.fixture(scope="module")
def model(data: CreditData) -> CreditModel:
    return train_credit_model(data, OPTIONS)


@pytest.fixture(scope="module")
def split(data: CreditData) -> tuple[np.ndarray, np.ndarray]:
    """The held-out split, rebuilt as the documentation states: stratified, by seed."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        np.arange(len(data)), test_size=OPTIONS.test_share, stratify=data.bad, random_state=SEED
    )
    return np.sort(train), np.sort(test)


def _fast(**changes: object) -> TrainingOptions:
    """The module's options without the mitigation search (six scorecard fits, seconds)."""
    return dataclasses.replace(OPTIONS, mitigation=False, **changes)


def test_the_synthetic_data_is_a_fair_test(data: CreditData, model: CreditModel) -> None:
    # Reasons can only be shown to skip marital_status if the scorecard uses it.
    assert 0.08 < data.bad_rate < 0.3
    assert "marital_status" in model.scorecard.variable_names
    assert 0.2 < model.record["approval_rate_test"] < 0.95


# --- the evaluation record ---------------------------------------------------------------------


def test_record_keys(model: CreditModel, data: CreditData) -> None:
    record = model.record
    assert set(record) == RECORD_KEYS
    assert record["approval_status"] == "draft"
    assert record["source"] == "synthetic"
    assert record["n_train"] + record["n_test"] == len(data)
    assert set(record["metrics"]) == {"scorecard", "challenger"}
    for metrics in record["metrics"].values():
        assert set(metrics) == {"train", "test", "psi_train_test"}
    assert set(record["fairness_test"]) == set(PROTECTED)
    json.dumps(record)  # everything in it can be stored


def test_test_metrics_equal_recomputation_on_the_held_out_rows(
    model: CreditModel, data: CreditData, split: tuple[np.ndarray, np.ndarray]
) -> None:
    train_rows, test_rows = split
    assert model.record["n_test"] == test_rows.size
    test = data.subset(test_rows)
    # Same model, same rows, same functions: the figures must be identical, not just close.
    scorecard = credit_metrics(test.bad, model.scorecard.predicted_bad_rate(test.features))
    challenger = credit_metrics(test.bad, model.challenger.predicted_bad_rate(test.features))
    assert model.record["metrics"]["scorecard"]["test"] == scorecard.to_dict()
    assert model.record["metrics"]["challenger"]["test"] == challenger.to_dict()
    assert model.record["bad_rate_test"] == test.bad_rate
    assert model.record["bad_rate_train"] == data.subset(train_rows).bad_rate
    approved = model.scorecard.score(test.features) >= model.cutoff
    assert model.record["approval_rate_test"] == approved.mean()


def test_explicit_test_rows_are_the_held_out_part(data: CreditData) -> None:
    rows = np.arange(len(data) - 300, len(data))  # e.g. the latest applications
    model = train_credit_model(data, _fast(test_rows=rows))
    test = data.subset(rows)
    expected = credit_metrics(test.bad, model.scorecard.predicted_bad_rate(test.features))
    assert model.record["n_test"] == 300
    assert model.record["metrics"]["scorecard"]["test"] == expected.to_dict()


# --- cut-off rules -----------------------------------------------------------------------------


def test_default_cutoff_is_the_most_profitable_on_training(
    model: CreditModel, data: CreditData, split: tuple[np.ndarray, np.ndarray]
) -> None:
    train_rows, _ = split
    train = data.subset(train_rows)
    score = model.scorecard.score(train.features)
    table = cutoff_table(
        score,
        model.scorecard.predicted_bad_rate(train.features),
        data.exposure[train_rows],
        cutoffs_between(score, 200),
        economics=OPTIONS.economics,
    )
    assert model.cutoff == float(best_profit_cutoff(table)["cutoff"])
    assert model.record["cutoff_rule"] == "highest expected profit on training"


def test_given_cutoff_is_used_verbatim(data: CreditData) -> None:
    model = train_credit_model(data, _fast(cutoff=571.25))
    assert model.cutoff == 571.25
    assert model.record["cutoff"] == 571.25
    assert model.record["cutoff_rule"] == "given"


def test_max_bad_rate_is_the_lowest_cutoff_within_the_limit(
    data: CreditData, split: tuple[np.ndarray, np.ndarray]
) -> None:
    limit = 0.08
    model = train_credit_model(data, _fast(max_bad_rate=limit))
    assert model.record["cutoff_rule"] == f"lowest with expected bad rate <= {limit}"
    train = data.subset(split[0])
    score = model.scorecard.score(train.features)
    bad_rate = model.scorecard.predicted_bad_rate(train.features)
    approved = score >= model.cutoff
    assert 0 < approved.mean() < 1  # the limit binds: the check below is not vacuous
    assert bad_rate[approved].mean() <= limit + 1e-12  # cutoff.RATE_TOLERANCE
    # One distinct score lower (with its ties) and the limit is broken: it is the lowest.
    lower = score[score < model.cutoff].max()
    assert bad_rate[score >= lower].mean() > limit


# --- exposure ----------------------------------------------------------------------------------


def test_exposure_comes_from_the_data_when_options_give_none(
    model: CreditModel, data: CreditData, split: tuple[np.ndarray, np.ndarray]
) -> None:
    # The lowest cut-off of the test table approves every test applicant.
    first = model.record["cutoff_table_test"][0]
    assert first["approved"] == split[1].size
    assert first["approved_exposure"] == pytest.approx(data.exposure[split[1]].sum(), rel=1e-12)
    assert first["approved_exposure"] != split[1].size  # not 1 each


def test_options_exposure_overrides_the_data(
    data: CreditData, split: tuple[np.ndarray, np.ndarray]
) -> None:
    model = train_credit_model(data, _fast(cutoff=560.0, exposure=2 * data.exposure))
    first = model.record["cutoff_table_test"][0]
    assert first["approved_exposure"] == pytest.approx(2 * data.exposure[split[1]].sum(), rel=1e-12)


def test_exposure_of_the_wrong_length_is_refused(data: CreditData) -> None:
    with pytest.raises(ParameterError, match="one value per applicant"):
        train_credit_model(data, _fast(exposure=np.ones(len(data) - 1)))


# --- decisions and reasons ---------------------------------------------------------------------


def test_declines_have_one_to_four_reasons_approvals_none(
    model: CreditModel, data: CreditData
) -> None:
    decisions = model.decide(data.features)
    assert len(decisions) == len(data)
    approved = [d for d in decisions if d.approved]
    declined = [d for d in decisions if not d.approved]
    assert approved
    assert declined
    assert all(d.reasons == [] for d in approved)
    assert all(1 <= len(d.reasons) <= 4 for d in declined)
    for d in declined:
        assert d.score < model.cutoff
        points = [r["points_below_maximum"] for r in d.reasons]
        assert points == sorted(points, reverse=True)
        assert all(p > 0 for p in points)
        assert {"variable", "bin", "points_below_maximum", "text"} == set(d.reasons[0])
    assert all(d.score >= model.cutoff for d in approved)


def test_reasons_never_name_protected_columns_or_obvious_proxies(
    model: CreditModel, data: CreditData
) -> None:
    assert obvious_proxies(list(data.features.columns)) == ["marital_status"]
    assert "marital_status" in model.reason_exclude
    declined = [d for d in model.decide(data.features) if not d.approved]
    named = {r["variable"] for d in declined for r in d.reasons}
    assert named
    assert named.isdisjoint({*PROTECTED, "marital_status"})
    # Without the exclusion, marital status would be a reason for some of the declined.
    raw = model.scorecard.reasons(data.features)
    scores = model.scorecard.score(data.features)
    unfiltered = {r.variable for i in np.flatnonzero(scores < model.cutoff) for r in raw[i]}
    assert "marital_status" in unfiltered


def test_obvious_proxies_by_name() -> None:
    names = [
        "age",
        "applicant_age",
        "age_in_years",
        "CustomerAge",
        "personal_status_and_sex",
        "Gender",
        "marital_status",
        "foreign_worker",
        "date_of_birth",
        "nationality",
        "race",
        "religion",
    ]
    not_proxies = [
        "income",
        "agent_id",
        "installment_rate_in_percentage_of_disposable_income",
        "mortgage_balance",
        "average_balance",
        "grace_period_days",
        "manager_id",
    ]
    assert obvious_proxies(names + not_proxies) == names


def test_protected_columns_are_not_inputs(model: CreditModel) -> None:
    assert model.record["protected"] == PROTECTED
    assert model.record["features"] == ["income", "housing", "marital_status"]
    for name in PROTECTED:
        assert name not in model.features
        assert name not in model.scorecard.variable_names


# --- storage and governance --------------------------------------------------------------------


def test_save_and_load_give_identical_decisions(
    model: CreditModel, data: CreditData, tmp_path: Path
) -> None:
    model.save(tmp_path / "m")
    loaded = CreditModel.load(tmp_path / "m")
    assert loaded.cutoff == model.cutoff
    assert loaded.reason_exclude == model.reason_exclude
    assert loaded.record == json.loads(json.dumps(model.record))
    assert loaded.decide(data.features) == model.decide(data.features)


def test_set_status_records_history(model: CreditModel, tmp_path: Path) -> None:
    directory = model.save(tmp_path / "m")
    copy = CreditModel.load(directory)
    copy.set_status(directory, ApprovalStatus.REJECTED, "bob")
    copy.set_status(directory, ApprovalStatus.APPROVED, "alice")
    again = CreditModel.load(directory)
    assert again.status is ApprovalStatus.APPROVED
    history = again.record["status_history"]
    assert [(h["status"], h["by"]) for h in history] == [("rejected", "bob"), ("approved", "alice")]
    for h in history:
        at = dt.datetime.fromisoformat(h["at"])
        assert abs(dt.datetime.now(dt.UTC) - at) < dt.timedelta(minutes=5)
    assert model.status is ApprovalStatus.DRAFT  # the fixture's own record is untouched


def test_load_from_a_wrong_directory_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"model\.json") as error:
        CreditModel.load(tmp_path)
    assert error.value.file == str(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"format": "something-else/1"}))
    with pytest.raises(DataError, match="fintwin-credit-model/2") as error:
        CreditModel.load(tmp_path)
    assert error.value.file == str(tmp_path / "model.json")


# --- mitigation --------------------------------------------------------------------------------


def test_mitigation_record_per_protected_attribute(model: CreditModel) -> None:
    mitigation = model.record["mitigation"]
    assert set(mitigation) == set(PROTECTED)
    for name in PROTECTED:
        entry = mitigation[name]
        assert set(entry) == {"candidates", "proposed"}
        strengths = [c["strength"] for c in entry["candidates"]]
        assert strengths == [0.0, 0.5, 1.0]
        assert entry["candidates"][0]["auc_cost"] == 0.0
        assert entry["candidates"][0]["profit_cost"] == 0.0
        # strength 0 is the unweighted refit of the same training data: the champion itself
        champion = model.record["metrics"]["scorecard"]["test"]["auc"]
        assert entry["candidates"][0]["auc"] == pytest.approx(champion, abs=1e-12)
        assert entry["proposed"] is None or entry["proposed"]["strength"] > 0


def test_no_mitigation_when_not_asked(data: CreditData) -> None:
    model = train_credit_model(data, _fast(cutoff=560.0))
    assert "mitigation" not in model.record


# --- derived ratios ----------------------------------------------------------------------------


def test_a_ratio_is_derived_for_every_applicant_scored(tmp_path: Path) -> None:
    # Risk follows debt / income only: the scorecard needs the ratio to see it.
    rng = np.random.default_rng(3)
    n = 1500
    income = rng.lognormal(8.0, 0.4, size=n)
    debt = income * rng.uniform(0.05, 0.6, size=n)
    bad = rng.random(n) < 1 / (1 + np.exp(-(-3.5 + 8.0 * debt / income)))
    frame = pd.DataFrame({"income": income, "debt": debt})
    kinds = feature_kinds(frame)
    data = CreditData(
        normalise_features(frame, kinds), bad, pd.DataFrame(index=frame.index), kinds, "dti"
    )
    ratio = Ratio("debt_to_income", "debt", "income")
    model = train_credit_model(data, _fast(ratios=[ratio]))

    assert model.features == ["income", "debt", "debt_to_income"]
    assert list(model.input_kinds) == ["income", "debt"]
    assert "debt_to_income" in model.scorecard.variable_names
    assert model.record["ratios"] == ["debt_to_income=debt/income"]
    card = render_model_card(model)
    assert "- **Derived ratios** (1): `debt_to_income=debt/income`." in card
    decisions = model.decide(data.features)  # raw inputs: the model derives the ratio
    derived = data.with_ratios([ratio]).features
    score = model.scorecard.score(derived)
    assert [d.score for d in decisions] == score.tolist()
    # A column of the ratio's name sent along is ignored, never trusted.
    assert model.decide(derived.assign(debt_to_income=0.0)) == decisions

    model.save(tmp_path / "m")
    loaded = CreditModel.load(tmp_path / "m")
    assert loaded.ratios == (ratio,)
    assert loaded.decide(data.features) == decisions


def test_a_ratio_of_a_proxy_is_never_a_reason() -> None:
    rng = np.random.default_rng(4)
    n = 1000
    frame = pd.DataFrame(
        {
            "debt": rng.uniform(100, 1000, n),
            "applicant_age": rng.uniform(20, 70, n),
            "income": rng.uniform(1000, 5000, n),
        }
    )
    bad = rng.random(n) < 1 / (1 + np.exp(-(-2.0 + frame["debt"] / frame["income"] * 4)))
    kinds = feature_kinds(frame)
    data = CreditData(frame, bad.to_numpy(), pd.DataFrame(index=frame.index), kinds, "p")
    ratios = [
        Ratio("debt_per_year", "debt", "applicant_age"),  # built on a proxy of age
        Ratio("per_income", "debt_per_year", "income"),  # built on that ratio
        Ratio("debt_to_income", "debt", "income"),
    ]
    model = train_credit_model(data, _fast(ratios=ratios))
    assert {"applicant_age", "debt_per_year", "per_income"} <= set(model.reason_exclude)
    assert "debt_to_income" not in model.reason_exclude
