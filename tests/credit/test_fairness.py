"""Fairness audit of credit decisions: hand-computed cases, reweighing's invariants, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fintwin.credit.fairness import (
    AGE_BANDS,
    AdverseImpact,
    GroupRates,
    adverse_impact_ratio,
    age_band,
    age_band_labels,
    calibration_gap_by_group,
    calibration_within_groups,
    equal_opportunity_difference,
    fairness_audit,
    reweighing_weights,
)
from fintwin.exceptions import DataError, ParameterError


def _decisions(counts: dict[str, tuple[int, int]]) -> tuple[list[int], list[str]]:
    """Approvals and groups from {group: (approved, applicants)}."""
    approved: list[int] = []
    group: list[str] = []
    for name, (k, n) in counts.items():
        approved += [1] * k + [0] * (n - k)
        group += [name] * n
    return approved, group


# --- age bands ------------------------------------------------------------------------------


def test_age_band_edges() -> None:
    # Bands are completed years: 24.9 is still under 25, 34 and 34.99 are in 25-34, 65 is 65+.
    ages = [24.9, 25, 34, 34.99, 35, 64.9, 65, 90, 0, float("nan")]
    assert age_band(ages).tolist() == [
        "<25",
        "25-34",
        "25-34",
        "25-34",
        "35-44",
        "55-64",
        "65+",
        "65+",
        "<25",
        "unknown",
    ]


def test_age_band_none_is_unknown_and_custom_edges() -> None:
    assert age_band([None, 17, 18, 29, 30], edges=(18, 30)).tolist() == [
        "unknown",
        "<18",
        "18-29",
        "18-29",
        "30+",
    ]
    assert age_band_labels() == ["<25", "25-34", "35-44", "45-54", "55-64", "65+"]
    assert AGE_BANDS == (25, 35, 45, 55, 65)


@pytest.mark.parametrize("edges", [(), (35, 25), (25, 25), (25.5, 35), (0, 25), (-5, 25)])
def test_age_band_refuses_bad_edges(edges: tuple[float, ...]) -> None:
    with pytest.raises(ParameterError, match="edges"):
        age_band([30], edges=edges)


@pytest.mark.parametrize("age", [[30, -1], [30, float("inf")], ["thirty"]])
def test_age_band_refuses_bad_ages(age: list[object]) -> None:
    with pytest.raises(DataError, match="age"):
        age_band(age)


# --- adverse-impact ratio ---------------------------------------------------------------------


def test_adverse_impact_ratio_hand_computed() -> None:
    # A approves 8 of 10 (0.8), B 5 of 10 (0.5): reference A, B's ratio 0.5 / 0.8 = 0.625,
    # below four fifths: flagged.
    approved, group = _decisions({"A": (8, 10), "B": (5, 10)})
    air = adverse_impact_ratio(approved, group, min_group_size=10)
    assert air.rates == {"A": 0.8, "B": 0.5}
    assert air.reference_group == "A"
    assert air.ratios == {"A": 1.0, "B": pytest.approx(0.625)}
    assert air.flagged == ("B",)
    assert air.min_ratio == pytest.approx(0.625)
    assert air.counts == {"A": 10, "B": 10}
    assert air.compared == ("A", "B")


def test_adverse_impact_ratio_not_flagged_above_four_fifths() -> None:
    # A 10/10, B 9/10: ratio 0.9, nothing flagged; the reference is the higher rate, B not A.
    approved, group = _decisions({"B": (9, 10), "A": (10, 10)})
    air = adverse_impact_ratio(approved, group, min_group_size=10)
    assert air.reference_group == "A"
    assert air.flagged == ()
    assert air.min_ratio == pytest.approx(0.9)


def test_exactly_four_fifths_is_not_flagged() -> None:
    # A 1/5 = 0.2, B 4/25 = 0.16: exactly 4/5, though 0.16 / 0.2 is 0.7999999999999999 in
    # floats. The rule is "less than four fifths", compared exactly.
    assert 0.16 / 0.2 < 0.8
    approved, group = _decisions({"A": (1, 5), "B": (4, 25)})
    air = adverse_impact_ratio(approved, group, min_group_size=5)
    assert air.flagged == ()
    assert air.ratios["B"] == 0.8
    # One approval fewer in B: 3/25 / (1/5) = 0.6, flagged.
    approved, group = _decisions({"A": (1, 5), "B": (3, 25)})
    assert adverse_impact_ratio(approved, group, min_group_size=5).flagged == ("B",)


def test_threshold_is_a_parameter() -> None:
    # Ratio 0.625: flagged under 0.8, not under 0.6.
    approved, group = _decisions({"A": (8, 10), "B": (5, 10)})
    assert adverse_impact_ratio(approved, group, min_group_size=1, threshold=0.6).flagged == ()


def test_small_groups_are_reported_but_not_compared() -> None:
    # A 24/30 (0.8) and B 15/30 (0.5) are compared; C approves 5 of 5 (1.0) and D 0 of 4,
    # both below min_group_size=30. C has the highest rate but cannot be the reference, and D's
    # ratio of 0 is reported without being flagged.
    approved, group = _decisions({"A": (24, 30), "B": (15, 30), "C": (5, 5), "D": (0, 4)})
    air = adverse_impact_ratio(approved, group)  # default min_group_size=30
    assert air.reference_group == "A"
    assert air.compared == ("A", "B")
    assert air.ratios == pytest.approx({"A": 1.0, "B": 0.625, "C": 1.25, "D": 0.0})
    assert air.flagged == ("B",)
    assert air.min_ratio == pytest.approx(0.625)
    assert air.counts == {"A": 30, "B": 30, "C": 5, "D": 4}
    # With min_group_size=4 every group is compared: C becomes the reference; B (0.5) and
    # D (0) are flagged, A's ratio 0.8 / 1.0 is exactly four fifths and is not.
    air = adverse_impact_ratio(approved, group, min_group_size=4)
    assert air.reference_group == "C"
    assert air.flagged == ("B", "D")
    assert air.min_ratio == 0.0


def test_no_group_large_enough_is_an_error() -> None:
    approved, group = _decisions({"A": (8, 10), "B": (5, 10)})
    with pytest.raises(DataError, match=r"min_group_size=30.*'A' with 10"):
        adverse_impact_ratio(approved, group)


def test_no_approval_in_compared_groups_is_an_error() -> None:
    approved, group = _decisions({"A": (0, 10), "B": (0, 10), "C": (2, 2)})
    with pytest.raises(DataError, match="approved must hold at least one approval"):
        adverse_impact_ratio(approved, group, min_group_size=10)


def test_group_labels_of_any_type() -> None:
    # 1 and 1.0 are one group "1"; None, NaN and the text "unknown" are the group "unknown".
    approved = [1, 0, 1, 1, 0, 1]
    group = np.array([1, 1.0, None, float("nan"), "unknown", "x"], dtype=object)
    air = adverse_impact_ratio(approved, group, min_group_size=1)
    assert air.counts == {"1": 2, "unknown": 3, "x": 1}
    assert air.rates == pytest.approx({"1": 0.5, "unknown": 2 / 3, "x": 1.0})
    # A float column with a missing value keeps whole numbers as integers.
    air = adverse_impact_ratio([1, 0, 1], np.array([1.0, 2.0, np.nan]), min_group_size=1)
    assert list(air.rates) == ["1", "2", "unknown"]


def test_accepts_bool_and_pandas() -> None:
    approved, group = _decisions({"A": (8, 10), "B": (5, 10)})
    air = adverse_impact_ratio(
        pd.Series(approved, dtype=bool), pd.Series(group, dtype="category"), min_group_size=10
    )
    assert air.ratios["B"] == pytest.approx(0.625)


# --- equal opportunity ----------------------------------------------------------------------

# Group A: 4 good applicants of whom 3 approved -> TPR 3/4. Group B: 2 good, 1 approved -> 1/2.
# Group C: no good applicant -> no TPR. Difference over A and B: 0.75 - 0.5 = 0.25.
EO_APPROVED = [1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0]
EO_GOOD = [1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0]
EO_GROUP = ["A"] * 6 + ["B"] * 4 + ["C"] * 2


def test_equal_opportunity_hand_computed() -> None:
    eo = equal_opportunity_difference(EO_APPROVED, EO_GOOD, EO_GROUP)
    assert eo.true_positive_rates == {"A": 0.75, "B": 0.5}
    assert eo.difference == pytest.approx(0.25)
    assert eo.n_good == {"A": 4, "B": 2}
    assert eo.compared == ("A", "B")


def test_equal_opportunity_min_group_size() -> None:
    # B has 4 applicants: with min_group_size=5 only A is compared, so the difference is 0;
    # B's rate is still reported.
    eo = equal_opportunity_difference(EO_APPROVED, EO_GOOD, EO_GROUP, min_group_size=5)
    assert eo.compared == ("A",)
    assert eo.difference == 0.0
    assert eo.true_positive_rates["B"] == 0.5
    with pytest.raises(DataError, match="min_group_size=7"):
        equal_opportunity_difference(EO_APPROVED, EO_GOOD, EO_GROUP, min_group_size=7)


def test_equal_opportunity_needs_a_good_applicant() -> None:
    with pytest.raises(DataError, match="good must hold at least one good applicant"):
        equal_opportunity_difference([1, 0], [0, 0], ["A", "B"])


# --- calibration ----------------------------------------------------------------------------

# Population median of the predictions 0.1 ... 0.8 is 0.45: band 1 is 0.1-0.4, band 2 0.5-0.8.
#   a band 1: p 0.1, 0.2 (mean 0.15), bad 0, 1 (0.5)  -> |0.15 - 0.5| * 2 = 0.7
#   a band 2: p 0.5, 0.6 (mean 0.55), bad 1, 1 (1.0)  -> |0.55 - 1.0| * 2 = 0.9
#   b band 1: p 0.3, 0.4 (mean 0.35), bad 0, 0 (0.0)  -> 0.35 * 2 = 0.7
#   b band 2: p 0.7, 0.8 (mean 0.75), bad 0, 1 (0.5)  -> 0.25 * 2 = 0.5
# Gaps: a (0.7 + 0.9) / 4 = 0.4, b (0.7 + 0.5) / 4 = 0.3.
CAL_P = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
CAL_BAD = [0, 1, 0, 0, 1, 1, 0, 1]
CAL_GROUP = ["a", "a", "b", "b", "a", "a", "b", "b"]


def test_calibration_within_groups_hand_computed() -> None:
    table = calibration_within_groups(CAL_P, CAL_BAD, CAL_GROUP, n_bands=2)
    assert list(table.columns) == ["group", "band", "n", "mean_predicted", "observed"]
    assert table["group"].tolist() == ["a", "a", "b", "b"]
    assert table["band"].tolist() == [1, 2, 1, 2]
    assert table["n"].tolist() == [2, 2, 2, 2]
    assert table["mean_predicted"].tolist() == pytest.approx([0.15, 0.55, 0.35, 0.75])
    assert table["observed"].tolist() == [0.5, 1.0, 0.0, 0.5]


def test_calibration_gap_hand_computed() -> None:
    gaps = calibration_gap_by_group(CAL_P, CAL_BAD, CAL_GROUP, n_bands=2)
    assert gaps == pytest.approx({"a": 0.4, "b": 0.3})


def test_bands_are_cut_on_the_whole_population() -> None:
    # Group c holds only the four highest predictions: all of them are in band 2 of the
    # population's two bands, though c's own median would split them.
    table = calibration_within_groups(CAL_P, CAL_BAD, ["d"] * 4 + ["c"] * 4, n_bands=2)
    assert table[table["group"] == "c"]["band"].tolist() == [2]
    assert table[table["group"] == "c"]["n"].tolist() == [4]
    # Tied predictions share a band: with a single value everyone is in band 1.
    tied = calibration_within_groups([0.2] * 6, [0, 1, 0, 0, 1, 0], ["x"] * 6, n_bands=3)
    assert tied[["band", "n"]].to_numpy().tolist() == [[1, 6]]
    assert tied["observed"].tolist() == pytest.approx([1 / 3])


def test_calibration_perfect_model_has_zero_gap() -> None:
    # Predictions equal to the observed rate in every band.
    gaps = calibration_gap_by_group([0.5, 0.5, 1.0, 0.0], [1, 0, 1, 0], ["g"] * 4, 3)
    assert gaps == {"g": 0.0}


def test_calibration_refuses_rates_outside_0_1() -> None:
    with pytest.raises(DataError, match=r"predicted_bad_rate must be in \[0, 1\].*1.2"):
        calibration_within_groups([0.1, 1.2], [0, 1], ["a", "b"])
    with pytest.raises(DataError, match="predicted_bad_rate must be finite"):
        calibration_gap_by_group([0.1, float("nan")], [0, 1], ["a", "b"])


# --- the audit ------------------------------------------------------------------------------


def test_fairness_audit_hand_computed() -> None:
    # The equal-opportunity table, with predictions: A's mean predicted bad rate is 0.2,
    # B's 0.5, C's 0.9. Bad = not good: A 2 of 6, B 2 of 4, C 2 of 2.
    predicted = [0.2] * 6 + [0.5] * 4 + [0.9] * 2
    audit = fairness_audit(
        EO_APPROVED,
        EO_GROUP,
        good=EO_GOOD,
        predicted_bad_rate=predicted,
        attribute="sex",
        min_group_size=1,
    )
    assert audit.attribute == "sex"
    assert audit.groups == (
        GroupRates("A", 6, 4 / 6, 0.75, pytest.approx(0.2), pytest.approx(2 / 6)),
        GroupRates("B", 4, 1 / 4, 0.5, pytest.approx(0.5), pytest.approx(0.5)),
        GroupRates("C", 2, 1 / 2, None, pytest.approx(0.9), 1.0),
    )
    # Approval rates A 4/6, B 1/4, C 1/2: reference A; B 0.375 and C 0.75 are flagged.
    assert audit.adverse_impact.reference_group == "A"
    assert audit.adverse_impact.flagged == ("B", "C")
    assert audit.equal_opportunity is not None
    assert audit.equal_opportunity.difference == pytest.approx(0.25)
    # The parts equal the functions called alone.
    assert audit.adverse_impact == adverse_impact_ratio(EO_APPROVED, EO_GROUP, min_group_size=1)
    bad = 1 - np.asarray(EO_GOOD)
    assert audit.calibration_gap == calibration_gap_by_group(predicted, bad, EO_GROUP)


def test_fairness_audit_without_outcomes_or_predictions() -> None:
    approved, group = _decisions({"F": (20, 40), "M": (30, 40)})
    audit = fairness_audit(approved, group)
    assert audit.equal_opportunity is None
    assert audit.calibration_gap is None
    assert [(r.group, r.n, r.approval_rate) for r in audit.groups] == [
        ("F", 40, 0.5),
        ("M", 40, 0.75),
    ]
    assert all(
        r.true_positive_rate is None
        and r.observed_bad_rate is None
        and r.mean_predicted_bad_rate is None
        for r in audit.groups
    )
    # F's ratio (0.5 / 0.75 = 2/3) is under four fifths.
    assert audit.adverse_impact.flagged == ("F",)
    # Predictions without outcomes give the mean predicted rate but no calibration.
    audit = fairness_audit(approved, group, predicted_bad_rate=[0.1] * 40 + [0.3] * 40)
    assert [r.mean_predicted_bad_rate for r in audit.groups] == pytest.approx([0.1, 0.3])
    assert audit.calibration_gap is None


def test_fairness_audit_min_group_size_reaches_both_measures() -> None:
    # C (2 applicants) is below min_group_size=4: out of both comparisons.
    audit = fairness_audit(EO_APPROVED, EO_GROUP, good=EO_GOOD, min_group_size=4)
    assert audit.adverse_impact.compared == ("A", "B")
    assert audit.equal_opportunity is not None
    assert audit.equal_opportunity.compared == ("A", "B")
    assert audit.min_group_size == 4


def test_fairness_audit_to_dict_is_plain_json() -> None:
    rng = np.random.default_rng(7)
    n = 500
    group = rng.choice(np.array(["F", "M", None], dtype=object), n, p=[0.45, 0.45, 0.1])
    approved = rng.random(n) < 0.6
    good = rng.random(n) < 0.9
    predicted = rng.random(n) * 0.3
    audit = fairness_audit(approved, group, good=good, predicted_bad_rate=predicted)
    d = audit.to_dict()
    # A round trip through JSON changes nothing: no tuple, NumPy scalar or NaN inside.
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert [g["group"] for g in d["groups"]] == ["F", "M", "unknown"]
    assert isinstance(d["adverse_impact"]["flagged"], list)
    assert set(d["calibration_gap"]) == {"F", "M", "unknown"}
    assert fairness_audit(approved, group).to_dict()["equal_opportunity"] is None


# --- reweighing -----------------------------------------------------------------------------


def test_reweighing_formula_small_case() -> None:
    # n = 8, P(a) = P(b) = 1/2, P(bad) = 1/2. P(a, bad) = 1/8 -> w = (1/4) / (1/8) = 2;
    # P(a, good) = 3/8 -> w = 2/3; P(b, bad) = 3/8 -> 2/3; P(b, good) = 1/8 -> 2.
    w = reweighing_weights([1, 0, 0, 0, 1, 1, 1, 0], list("aaaabbbb"))
    assert w.shape == (8,)
    assert w.tolist() == pytest.approx([2, 2 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3, 2])


def test_reweighing_makes_label_independent_of_group() -> None:
    rng = np.random.default_rng(3)
    n = 2_000
    group = rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2])
    bad = rng.random(n) < np.select([group == "x", group == "y"], [0.05, 0.15], 0.30)
    w = reweighing_weights(bad, group)
    overall = bad.mean()
    for name in ["x", "y", "z"]:
        member = group == name
        # Each group keeps its weight (its size) and gets the overall bad rate.
        assert w[member].sum() == pytest.approx(member.sum())
        assert w[member & bad].sum() / w[member].sum() == pytest.approx(overall)
    assert w.sum() == pytest.approx(n)
    # The formula, from a pandas cross-tabulation.
    frame = pd.DataFrame({"g": group, "y": bad})
    p_g = frame["g"].map(frame["g"].value_counts(normalize=True))
    p_y = frame["y"].map(frame["y"].value_counts(normalize=True))
    p_gy = frame.groupby(["g", "y"])["g"].transform("size") / n
    np.testing.assert_allclose(w, p_g * p_y / p_gy, rtol=1e-12)


def test_reweighing_group_with_one_label() -> None:
    # Group c holds only goods: P(c) P(good) / P(c, good) = P(good) = 3/5.
    w = reweighing_weights([1, 0, 1, 0, 0], ["a", "a", "b", "c", "c"])
    assert w[3:].tolist() == pytest.approx([0.6, 0.6])


# --- bad inputs -------------------------------------------------------------------------------


def test_lengths_must_match() -> None:
    with pytest.raises(ParameterError, match=r"group must hold one value per event, as approved"):
        adverse_impact_ratio([1, 0, 1], ["a", "b"], min_group_size=1)
    with pytest.raises(ParameterError, match=r"good .* as approved does .*got 2 values"):
        equal_opportunity_difference([1, 0, 1], [1, 0], ["a", "b", "a"])
    with pytest.raises(ParameterError, match=r"bad .* as predicted_bad_rate"):
        calibration_within_groups([0.1, 0.2], [0], ["a", "b"])
    with pytest.raises(ParameterError, match=r"group .* as predicted_bad_rate"):
        calibration_gap_by_group([0.1, 0.2], [0, 1], ["a"])
    with pytest.raises(ParameterError, match=r"predicted_bad_rate .* as approved"):
        fairness_audit([1, 0], ["a", "b"], predicted_bad_rate=[0.1], min_group_size=1)
    with pytest.raises(ParameterError, match=r"group .* as bad"):
        reweighing_weights([1, 0], ["a"])


def test_labels_must_be_0_1() -> None:
    with pytest.raises(DataError, match="approved must hold 0/1 or boolean labels"):
        adverse_impact_ratio([1, 2], ["a", "b"], min_group_size=1)
    with pytest.raises(DataError, match="good must hold 0/1"):
        fairness_audit([1, 0], ["a", "b"], good=[1, -1], min_group_size=1)
    with pytest.raises(DataError, match="bad must hold 0/1"):
        reweighing_weights(["yes", "no"], ["a", "b"])


def test_empty_input_is_a_data_error() -> None:
    with pytest.raises(DataError, match="approved must hold at least one applicant"):
        adverse_impact_ratio([], [])
    with pytest.raises(DataError, match="approved must hold at least one applicant"):
        fairness_audit([], [])
    with pytest.raises(DataError, match="approved must hold at least one applicant"):
        equal_opportunity_difference([], [], [])
    with pytest.raises(DataError, match="predicted_bad_rate must hold at least one applicant"):
        calibration_within_groups([], [], [])
    with pytest.raises(DataError, match="bad must hold at least one applicant"):
        reweighing_weights([], [])


def test_parameters_must_keep_their_rules() -> None:
    approved, group = _decisions({"A": (8, 10), "B": (5, 10)})
    with pytest.raises(ParameterError, match=r"min_group_size must be a positive integer.*0"):
        adverse_impact_ratio(approved, group, min_group_size=0)
    with pytest.raises(ParameterError, match="min_group_size"):
        fairness_audit(approved, group, min_group_size=2.5)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"threshold must be in \(0, 1\].*1.5"):
        adverse_impact_ratio(approved, group, threshold=1.5)
    with pytest.raises(ParameterError, match="n_bands must be a positive integer"):
        calibration_within_groups([0.1], [0], ["a"], n_bands=0)
    with pytest.raises(ParameterError, match="attribute must be a non-empty string"):
        fairness_audit(approved, group, attribute="", min_group_size=1)
    with pytest.raises(ParameterError, match="approved must be one-dimensional"):
        adverse_impact_ratio([[1, 0]], ["a"])


def test_results_are_frozen() -> None:
    approved, group = _decisions({"A": (8, 10), "B": (5, 10)})
    air = adverse_impact_ratio(approved, group, min_group_size=1)
    assert isinstance(air, AdverseImpact)
    with pytest.raises(AttributeError):
        air.min_ratio = 1.0  # type: ignore[misc]
