"""The WoE scorecard: points scaling by hand, the regression behind the points, reasons, files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from fintwin.credit.applications import CreditData, FeatureKind, feature_kinds, normalise_features
from fintwin.credit.binning import BinningConfig, fit_binning, woe_matrix
from fintwin.credit.scorecard import PointsScaling, Reason, Scorecard, ScorecardConfig
from fintwin.exceptions import DataError, ParameterError

# Points are sums of a few hundred-point terms computed in a different order from the check
# (per-variable shares of the offset against one offset): float rounding is ~1e-13 there.
# 1e-9 is far above that and far below what a wrong formula would give (a point or more).
RTOL = 1e-9


def frame_data(frame: pd.DataFrame, bad: np.ndarray) -> CreditData:
    kinds = feature_kinds(frame)
    return CreditData(
        normalise_features(frame, kinds), bad, pd.DataFrame(index=frame.index), kinds, "synthetic"
    )


def synthetic(n: int, seed: int) -> CreditData:
    """Bad rate rises with x1, falls with x2, is highest for category C; a missing x1 is risky."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    cat = rng.choice(np.array(["A", "B", "C"], dtype=object), size=n)
    x1_missing = rng.random(n) < 0.10
    logit = -1.2 + np.where(x1_missing, 1.0, x1) - 0.8 * x2 + 1.2 * (cat == "C")
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    x1[x1_missing] = np.nan
    return frame_data(pd.DataFrame({"x1": x1, "x2": x2, "cat": cat}), bad)


@pytest.fixture(scope="module")
def data() -> CreditData:
    return synthetic(3000, 5)


@pytest.fixture(scope="module")
def card(data: CreditData) -> Scorecard:
    return Scorecard.fit(data)


# --- points scaling -------------------------------------------------------------------------


def test_points_scaling_hand_computed() -> None:
    s = PointsScaling(base_score=600, base_odds=50, points_to_double_odds=20)
    # factor = 20 / ln 2 = 28.8539008177793; offset = 600 - factor * ln 50
    #        = 600 - 28.8539008177793 * 3.91202300542815 = 487.122876...
    assert s.factor == pytest.approx(28.8539008177793, rel=1e-13)
    assert s.offset == pytest.approx(600 - 28.8539008177793 * 3.91202300542815, rel=1e-13)
    assert s.offset == pytest.approx(487.1228762045055, rel=1e-13)
    assert s.score(math.log(50)) == pytest.approx(600.0, rel=1e-13)
    assert s.score(math.log(100)) == pytest.approx(620.0, rel=1e-13)  # odds doubled: +PDO
    assert s.score(math.log(25)) == pytest.approx(580.0, rel=1e-13)  # odds halved: -PDO
    assert s.score(0.0) == pytest.approx(s.offset, rel=1e-13)  # even odds
    # bad rate is the inverse: odds of good 50 at 600 means 1 bad in 51.
    assert s.bad_rate(600.0) == pytest.approx(1 / 51, rel=1e-12)
    assert s.bad_rate(620.0) == pytest.approx(1 / 101, rel=1e-12)
    assert s.bad_rate(s.offset) == pytest.approx(0.5, rel=1e-12)
    z = np.linspace(-5, 8, 27)
    np.testing.assert_allclose(s.bad_rate(s.score(z)), 1 / (1 + np.exp(z)), rtol=1e-12)


def test_points_scaling_other_parameters() -> None:
    # base 500 at odds 1:1 and PDO 50: offset 500 exactly; odds 4 -> two doublings -> 600.
    s = PointsScaling(base_score=500, base_odds=1, points_to_double_odds=50)
    assert s.offset == 500.0
    assert s.score(math.log(4)) == pytest.approx(600.0, rel=1e-13)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_odds": 0}, "base_odds"),
        ({"base_odds": -2}, "base_odds"),
        ({"points_to_double_odds": 0}, "points_to_double_odds"),
    ],
)
def test_points_scaling_refuses_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        PointsScaling(**kwargs)


def test_scorecard_config_refuses_non_positive_regularisation() -> None:
    with pytest.raises(ParameterError, match="regularisation"):
        ScorecardConfig(regularisation=0.0)


# --- the points are the regression ---------------------------------------------------------


def linear_predictor(card: Scorecard, features: pd.DataFrame) -> np.ndarray:
    """intercept + sum_j beta_j WoE_j: the log-odds of bad, from the parts, by hand."""
    woe = np.column_stack([v.woe_of(features[v.name].to_numpy()) for v in card.variables])
    return card.intercept + woe @ card.coefficients


def test_the_fit_keeps_every_informative_variable(card: Scorecard) -> None:
    assert card.variable_names == ["x1", "x2", "cat"]
    assert (card.coefficients < 0).all()


def test_coefficients_are_the_regression_on_woe(data: CreditData, card: Scorecard) -> None:
    woe = woe_matrix(list(card.variables), data.features)
    model = LogisticRegression(C=ScorecardConfig().regularisation, max_iter=1000)
    model.fit(woe, data.bad.astype(np.int64))
    # Same solver on the same matrix: equal up to the solver's own rounding.
    np.testing.assert_allclose(card.coefficients, model.coef_[0], rtol=1e-8)
    assert card.intercept == pytest.approx(model.intercept_[0], rel=1e-8)


def test_total_points_equal_offset_plus_factor_log_odds(data: CreditData, card: Scorecard) -> None:
    s = card.scaling
    expected = s.offset + s.factor * -linear_predictor(card, data.features)
    np.testing.assert_allclose(card.score(data.features), expected, rtol=RTOL)
    points = card.attribute_points(data.features)
    assert points.shape == (len(data), 3)
    np.testing.assert_allclose(points.sum(axis=1), card.score(data.features), rtol=RTOL)


def test_attribute_points_by_hand(data: CreditData, card: Scorecard) -> None:
    # points_j = (offset - factor * intercept) / k - factor * beta_j * WoE_j
    s, k = card.scaling, len(card.variables)
    share = (s.offset - s.factor * card.intercept) / k
    points = card.attribute_points(data.features)
    for j, v in enumerate(card.variables):
        woe = v.woe_of(data.features[v.name].to_numpy())
        expected = share - s.factor * card.coefficients[j] * woe
        np.testing.assert_allclose(points[:, j], expected, rtol=RTOL)


def test_predicted_bad_rate_is_the_logistic_of_the_linear_predictor(
    data: CreditData, card: Scorecard
) -> None:
    # sklearn's convention: P(bad) = 1 / (1 + exp(-(intercept + sum beta WoE))).
    expected = 1 / (1 + np.exp(-linear_predictor(card, data.features)))
    np.testing.assert_allclose(card.predicted_bad_rate(data.features), expected, rtol=RTOL)


def test_scores_order_applicants_by_the_truth(card: Scorecard) -> None:
    # Hand-picked applicants: the safest profile scores highest, the riskiest lowest.
    applicants = pd.DataFrame(
        {"x1": [-2.0, 0.0, 2.0], "x2": [2.0, 0.0, -2.0], "cat": ["A", "B", "C"]}
    )
    score = card.score(applicants)
    assert score[0] > score[1] > score[2]


# --- wrong-signed coefficients ----------------------------------------------------------------


def test_duplicated_variable_keeps_every_coefficient_non_positive() -> None:
    rng = np.random.default_rng(21)
    n = 2000
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    bad = rng.random(n) < 1 / (1 + np.exp(-(-1.2 + x1 - 0.8 * x2)))
    data = frame_data(pd.DataFrame({"x1": x1, "x1_copy": x1.copy(), "x2": x2}), bad)
    card = Scorecard.fit(data)
    assert "x2" in card.variable_names and len(card.variable_names) >= 2
    assert (card.coefficients <= 0).all()


def test_wrong_signed_collinear_variable_is_dropped() -> None:
    # x3 = x1 + noise, and the log-odds of bad are 2 x1 - x3: marginally risk rises with x3
    # (so its WoE falls), but given x1 it falls. Regressed with x1's WoE, x3's WoE takes a
    # positive (wrong) coefficient; the fit must drop it.
    rng = np.random.default_rng(0)
    n = 3000
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    x3 = x1 + 0.5 * rng.normal(size=n)
    bad = rng.random(n) < 1 / (1 + np.exp(-(-1.2 + 2 * x1 - x3 - 0.8 * x2)))
    data = frame_data(pd.DataFrame({"x1": x1, "x3": x3, "x2": x2}), bad)
    bins = fit_binning(data, BinningConfig())
    assert [b.name for b in bins] == ["x1", "x3", "x2"]
    naive = LogisticRegression(C=0.1, max_iter=1000).fit(woe_matrix(bins, data.features), bad)
    assert naive.coef_[0][1] > 0  # the case really has a wrong sign to remove
    card = Scorecard.fit(data)
    assert card.variable_names == ["x1", "x2"]
    assert (card.coefficients <= 0).all()


# --- explain and reasons --------------------------------------------------------------------


def test_explain_points_sum_to_the_score(data: CreditData, card: Scorecard) -> None:
    for i in (0, 1, 2, 3):
        applicant = data.features.iloc[i].to_dict()
        table = card.explain(applicant)
        assert list(table.columns) == ["variable", "value", "bin", "points", "max_points"]
        assert table["variable"].tolist() == card.variable_names
        score = card.score(data.features.iloc[[i]])[0]
        assert table["points"].sum() == pytest.approx(score, rel=RTOL)
        assert (table["points"] <= table["max_points"] + 1e-9).all()


def test_explain_missing_and_unseen_values_give_a_finite_score(card: Scorecard) -> None:
    table = card.explain({"x1": None, "x2": 0.3, "cat": "never seen"})
    assert table.set_index("variable").loc["x1", "bin"] == "Missing"
    assert table.set_index("variable").loc["cat", "bin"] == "Unseen"
    assert np.isfinite(table["points"]).all()
    absent = card.explain({"x2": 0.3})  # absent variables count as missing
    assert absent.set_index("variable").loc["cat", "bin"] == "Missing"
    assert np.isfinite(absent["points"].sum())
    frame = pd.DataFrame({"x1": [np.nan], "x2": [0.3], "cat": ["never seen"]})
    assert table["points"].sum() == pytest.approx(card.score(frame)[0], rel=RTOL)


def test_unseen_category_scores_as_woe_zero(card: Scorecard) -> None:
    # WoE 0 means the variable adds just its share of offset and intercept.
    s, k = card.scaling, len(card.variables)
    share = (s.offset - s.factor * card.intercept) / k
    points = card.explain({"x1": 0.0, "x2": 0.0, "cat": "Z"}).set_index("variable")["points"]
    assert points["cat"] == pytest.approx(share, rel=RTOL)


def test_reasons_are_the_largest_shortfalls(data: CreditData, card: Scorecard) -> None:
    features = data.features.iloc[:200]
    reasons = card.reasons(features, n=2)
    assert len(reasons) == 200
    for i, found in enumerate(reasons):
        assert len(found) <= 2
        assert all(isinstance(r, Reason) for r in found)
        shortfalls = [r.points_below_maximum for r in found]
        assert all(s > 0 for s in shortfalls)
        assert shortfalls == sorted(shortfalls, reverse=True)
        # Each shortfall is max_points - points of that variable, and no variable left out
        # has a larger one.
        table = card.explain(features.iloc[i].to_dict()).set_index("variable")
        gap = table["max_points"] - table["points"]
        for r in found:
            assert r.points_below_maximum == pytest.approx(gap[r.variable], rel=RTOL)
            assert r.bin == table.loc[r.variable, "bin"]
        others = gap.drop(index=[r.variable for r in found])
        if len(found) == 2:
            assert (others <= shortfalls[-1] + 1e-9).all()
        else:  # fewer than n reasons: every other variable is at its maximum
            assert (others <= 1e-9).all()


def test_excluded_variables_are_never_reasons(data: CreditData, card: Scorecard) -> None:
    features = data.features.iloc[:300]
    named = {r.variable for found in card.reasons(features, n=4) for r in found}
    assert "cat" in named  # so the exclusion below has something to remove
    kept = card.reasons(features, n=4, exclude=["cat"])
    assert all(r.variable != "cat" for found in kept for r in found)
    assert any(found for found in kept)


def test_reasons_refuse_n_below_one(data: CreditData, card: Scorecard) -> None:
    with pytest.raises(ParameterError, match="n must be >= 1"):
        card.reasons(data.features.iloc[:3], n=0)


def test_scoring_without_a_variable_is_refused(data: CreditData, card: Scorecard) -> None:
    with pytest.raises(DataError, match="x2"):
        card.score(data.features.drop(columns="x2"))


# --- points table and files -----------------------------------------------------------------


def test_points_table(card: Scorecard) -> None:
    table = card.points_table()
    assert list(table.columns) == [
        "variable", "bin", "count", "bad_rate", "woe", "coefficient", "points",
    ]  # fmt: skip
    assert len(table) == sum(v.n_bins + 2 for v in card.variables)
    for v, beta in zip(card.variables, card.coefficients, strict=True):
        rows = table[table["variable"] == v.name]
        assert rows["bin"].tolist() == v.labels()
        np.testing.assert_array_equal(rows["woe"], v.woe)
        assert (rows["coefficient"] == beta).all()
        assert rows["count"].tolist() == [*v.counts, 0]
        assert np.isnan(rows["bad_rate"].iloc[-1])  # Unseen
    x1 = table[table["variable"] == "x1"].set_index("bin")
    assert x1.loc["Missing", "count"] > 0  # missing x1 values were seen in training
    explained = card.explain({"x1": None, "x2": 0.0, "cat": "A"}).set_index("variable")
    assert x1.loc["Missing", "points"] == pytest.approx(explained.loc["x1", "points"], rel=RTOL)


def test_json_save_and_load_give_identical_scores(
    tmp_path: Path, data: CreditData, card: Scorecard
) -> None:
    path = tmp_path / "card.json"
    card.save(path)
    back = Scorecard.load(path)
    assert back.variable_names == card.variable_names
    assert back.intercept == card.intercept
    np.testing.assert_array_equal(back.coefficients, card.coefficients)
    np.testing.assert_array_equal(back.score(data.features), card.score(data.features))
    odd = pd.DataFrame({"x1": [np.nan], "x2": [1.0], "cat": ["never seen"]})
    np.testing.assert_array_equal(back.score(odd), card.score(odd))
    assert back.to_json() == card.to_json()


def test_csv_save_writes_the_points_table(tmp_path: Path, card: Scorecard) -> None:
    path = tmp_path / "card.csv"
    card.save(path)
    back = pd.read_csv(path, keep_default_na=False, na_values=[""])
    expected = card.points_table()
    pd.testing.assert_frame_equal(back, expected, check_dtype=False, check_exact=True)


def test_scorecard_with_punctuation_in_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 1500
    x, c = rng.normal(size=n), rng.choice(np.array(["a", "b", "c"], dtype=object), size=n)
    bad = rng.random(n) < 1 / (1 + np.exp(-(-1 + 1.2 * x + 1.0 * (c == "c"))))
    names = ["income, monthly", 'purpose "main"']
    data = frame_data(pd.DataFrame({names[0]: x, names[1]: c}), bad)
    card = Scorecard.fit(data)
    assert card.variable_names == names
    card.save(tmp_path / "card.json")
    back = Scorecard.load(tmp_path / "card.json")
    np.testing.assert_array_equal(back.score(data.features), card.score(data.features))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "cannot read a scorecard"),
        ('{"format": "something-else/1"}', "not a scorecard"),
        ('{"format": "fintwin-scorecard/1", "intercept": 0.1}', "malformed"),
        (
            '{"format": "fintwin-scorecard/1", "intercept": 0.1, "coefficients": [-1],'
            ' "scaling": {}, "variables": [{"name": "x"}]}',
            "malformed",
        ),
    ],
)
def test_malformed_json_is_a_data_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "card.json"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as caught:
        Scorecard.load(path)
    assert caught.value.file == str(path)


def test_absent_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read a scorecard"):
        Scorecard.load(tmp_path / "nowhere.json")


def test_coefficients_must_match_the_variables(card: Scorecard) -> None:
    with pytest.raises(ParameterError, match="one value per variable"):
        Scorecard(card.variables, [-1.0], 0.0, PointsScaling())


def test_loaded_json_is_plain_data(tmp_path: Path, card: Scorecard) -> None:
    card.save(tmp_path / "card.json")
    payload = json.loads((tmp_path / "card.json").read_text())
    assert payload["format"] == "fintwin-scorecard/1"
    assert [v["name"] for v in payload["variables"]] == card.variable_names
    assert {v["kind"] for v in payload["variables"]} == {
        FeatureKind.NUMERIC.value,
        FeatureKind.CATEGORICAL.value,
    }
