"""Optimal binning: monotone WoE, agreement with optbinning, Missing and Unseen bins, JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fintwin.credit.applications import CreditData, FeatureKind, feature_kinds, normalise_features
from fintwin.credit.binning import (
    BinningConfig,
    MonotonicTrend,
    VariableBins,
    fit_binning,
    woe_matrix,
)
from fintwin.exceptions import DataError, ParameterError

# WoE recomputed by hand and read back from optbinning differ only by float rounding in a
# log of ratios of counts (~1e-15); 1e-10 is far above that and far below any change of
# definition (one applicant moved between bins changes a WoE by ~1e-3).
RTOL = 1e-10


def synthetic(n: int, seed: int) -> CreditData:
    """A logistic data-generating process whose truth is known.

    The bad rate rises with ``x1``, falls with ``x2``, is higher for category ``C`` of ``cat``
    and higher again when ``x1`` or ``cat`` is missing (10 % and 5 % of applicants, at
    random). ``noise`` has nothing to do with the outcome.
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    cat = rng.choice(np.array(["A", "B", "C", "D"], dtype=object), size=n)
    noise = rng.normal(size=n)
    x1_missing = rng.random(n) < 0.10
    cat_missing = rng.random(n) < 0.05
    logit = (
        -1.2
        + 1.0 * np.where(x1_missing, 0.0, x1)
        - 0.8 * x2
        + 1.2 * (cat == "C")
        + 1.0 * x1_missing
        + 1.0 * cat_missing
    )
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    x1[x1_missing] = np.nan
    cat[cat_missing] = None
    frame = pd.DataFrame({"x1": x1, "x2": x2, "cat": cat, "noise": noise})
    kinds = feature_kinds(frame)
    assert kinds["cat"] is FeatureKind.CATEGORICAL
    return CreditData(
        normalise_features(frame, kinds), bad, pd.DataFrame(index=frame.index), kinds, "synthetic"
    )


@pytest.fixture(scope="module")
def data() -> CreditData:
    # 4,000 applicants: a pure-noise variable's information value then stays near 0.005
    # (about bins / n), well under the 0.02 floor; at 2,000 it sometimes passes it.
    return synthetic(4000, 11)


@pytest.fixture(scope="module")
def all_bins(data: CreditData) -> dict[str, VariableBins]:
    bins = fit_binning(data, BinningConfig(min_information_value=0.0))
    return {b.name: b for b in bins}


def hand_woe(bad: np.ndarray, in_bin: np.ndarray) -> float:
    """ln(share of goods / share of bads) of the applicants in ``in_bin``."""
    goods, bads = (~bad).sum(), bad.sum()
    return float(np.log(((~bad) & in_bin).sum() / goods) - np.log((bad & in_bin).sum() / bads))


# --- monotonicity ---------------------------------------------------------------------------


def regular_woe(b: VariableBins) -> np.ndarray:
    return np.asarray(b.woe[: b.n_bins])


@pytest.mark.parametrize(
    "trend", [MonotonicTrend.ASCENDING, MonotonicTrend.DESCENDING, MonotonicTrend.AUTO_ASC_DESC]
)
def test_constrained_numeric_woe_is_monotone(data: CreditData, trend: MonotonicTrend) -> None:
    bins = {
        b.name: b for b in fit_binning(data, BinningConfig(trend=trend, min_information_value=0.0))
    }
    for name in ("x1", "x2", "noise"):
        steps = np.diff(regular_woe(bins[name]))
        rates = np.diff(bins[name].bad_rates[: bins[name].n_bins])
        if trend is MonotonicTrend.ASCENDING:  # bad rate up, so WoE (safety) down
            assert (steps <= 0).all() and (rates >= 0).all(), name
        elif trend is MonotonicTrend.DESCENDING:
            assert (steps >= 0).all() and (rates <= 0).all(), name
        else:
            assert (steps <= 0).all() or (steps >= 0).all(), name
    # Where the trend agrees with the truth the binning is fine, so monotonicity is not the
    # trivial monotonicity of one or two bins.
    agreeing = {
        MonotonicTrend.ASCENDING: ["x1"],
        MonotonicTrend.DESCENDING: ["x2"],
        MonotonicTrend.AUTO_ASC_DESC: ["x1", "x2"],
    }[trend]
    for name in agreeing:
        assert bins[name].n_bins >= 4, name


def test_auto_trend_finds_each_variables_direction(all_bins: dict[str, VariableBins]) -> None:
    # Bad rate rises with x1: WoE falls; it falls with x2: WoE rises.
    assert (np.diff(regular_woe(all_bins["x1"])) <= 0).all()
    assert (np.diff(regular_woe(all_bins["x2"])) >= 0).all()
    assert regular_woe(all_bins["x1"])[0] > 0 > regular_woe(all_bins["x1"])[-1]


def test_per_variable_trend_overrides_the_default(data: CreditData) -> None:
    config = BinningConfig(
        trend=MonotonicTrend.ASCENDING,
        trends={"x2": MonotonicTrend.DESCENDING},
        min_information_value=0.0,
    )
    bins = {b.name: b for b in fit_binning(data, config)}
    assert (np.diff(regular_woe(bins["x1"])) <= 0).all()
    assert (np.diff(regular_woe(bins["x2"])) >= 0).all()
    assert bins["x2"].n_bins >= 4


def test_trend_on_an_unknown_variable_is_refused(data: CreditData) -> None:
    with pytest.raises(ParameterError, match="income"):
        fit_binning(data, BinningConfig(trends={"income": MonotonicTrend.ASCENDING}))


# --- bins and WoE against the data and against optbinning ------------------------------------


def test_counts_and_woe_agree_with_the_training_data(
    data: CreditData, all_bins: dict[str, VariableBins]
) -> None:
    for name, b in all_bins.items():
        assigned = b.assign(data.features[name].to_numpy())
        counts = np.bincount(assigned, minlength=b.n_bins + 2)
        assert tuple(counts[:-1]) == b.counts, name
        assert counts[-1] == 0  # training values are never unseen
        for k in range(b.n_bins + 1):
            in_bin = assigned == k
            if in_bin.any():
                assert b.woe[k] == pytest.approx(hand_woe(data.bad, in_bin), rel=RTOL), (name, k)
                assert b.bad_rates[k] == pytest.approx(data.bad[in_bin].mean(), rel=RTOL)


def test_bin_assignment_agrees_with_optbinning_transform(
    data: CreditData, all_bins: dict[str, VariableBins]
) -> None:
    from optbinning import OptimalBinning

    for name, dtype in (("x1", "numerical"), ("x2", "numerical"), ("cat", "categorical")):
        values = data.features[name].to_numpy()
        if dtype == "categorical":
            values = np.array([np.nan if pd.isna(v) else v for v in values], dtype=object)
        reference = OptimalBinning(
            name,
            dtype=dtype,
            min_bin_size=0.05,
            max_n_bins=8,
            **({"monotonic_trend": "auto_asc_desc"} if dtype == "numerical" else {}),
        )
        reference.fit(values, data.bad.astype(np.int64))
        expected = reference.transform(values, metric="woe", metric_missing="empirical")
        np.testing.assert_allclose(all_bins[name].woe_of(values), expected, rtol=RTOL)
        if dtype == "numerical":
            np.testing.assert_array_equal(all_bins[name].splits, reference.splits)
            # A value on a split point goes to the bin on its right, as in optbinning.
            at_splits = np.asarray(reference.splits)
            np.testing.assert_array_equal(
                all_bins[name].assign(at_splits),
                reference.transform(at_splits, metric="indices"),
            )


def test_assign_hand_case() -> None:
    b = VariableBins(
        "x", FeatureKind.NUMERIC, (1.0, 2.5), (), (0.5, 0.0, -0.5, 0.3, 0.0), (3, 3, 3, 1),
        (0.1, 0.2, 0.3, 0.4), 0.1,
    )  # fmt: skip
    values = np.array([-5.0, 0.999, 1.0, 2.0, 2.5, 100.0, np.nan])
    np.testing.assert_array_equal(b.assign(values), [0, 0, 1, 1, 2, 2, 3])
    np.testing.assert_array_equal(b.woe_of(values), [0.5, 0.5, 0.0, 0.0, -0.5, -0.5, 0.3])


# --- Missing and Unseen ---------------------------------------------------------------------


def test_missing_values_get_the_missing_bin_and_its_woe(
    data: CreditData, all_bins: dict[str, VariableBins]
) -> None:
    for name, missing_rows in (
        ("x1", data.features["x1"].isna().to_numpy()),
        ("cat", data.features["cat"].isna().to_numpy()),
    ):
        b = all_bins[name]
        assert b.counts[-1] == missing_rows.sum() > 0
        # Missing applicants are riskier by construction: a negative, estimated WoE.
        assert b.woe[b.missing_bin] == pytest.approx(hand_woe(data.bad, missing_rows), rel=RTOL)
        assert b.woe[b.missing_bin] < -0.3
    cat = all_bins["cat"]
    # None and a float NaN are both missing.
    np.testing.assert_array_equal(cat.assign([None, np.nan]), [cat.missing_bin] * 2)
    assert all_bins["x1"].woe_of([np.nan])[0] == all_bins["x1"].woe[all_bins["x1"].missing_bin]


def test_missing_never_seen_in_training_has_woe_zero(all_bins: dict[str, VariableBins]) -> None:
    x2 = all_bins["x2"]
    assert x2.counts[-1] == 0
    assert x2.woe_of([np.nan]).tolist() == [0.0]


def test_unseen_category_gets_the_unseen_bin_with_woe_zero(
    all_bins: dict[str, VariableBins],
) -> None:
    cat = all_bins["cat"]
    values = np.array(["A", "never seen", "C", ""], dtype=object)
    bins = cat.assign(values)
    assert bins[1] == bins[3] == cat.unseen_bin
    woe = cat.woe_of(values)
    assert woe[1] == woe[3] == 0.0
    assert np.isfinite(woe).all()
    # Category C is the risky one: its bin has the lowest WoE of the regular bins.
    assert woe[2] == min(regular_woe(cat))


def test_woe_matrix_columns_follow_the_bins(
    data: CreditData, all_bins: dict[str, VariableBins]
) -> None:
    bins = [all_bins["cat"], all_bins["x1"]]
    matrix = woe_matrix(bins, data.features)
    assert matrix.shape == (len(data), 2)
    np.testing.assert_array_equal(matrix[:, 0], bins[0].woe_of(data.features["cat"].to_numpy()))
    assert np.isfinite(matrix).all()
    with pytest.raises(DataError, match="x1"):
        woe_matrix(bins, data.features.drop(columns="x1"))


# --- information-value floor ----------------------------------------------------------------


def test_information_value_floor_drops_pure_noise(
    data: CreditData, all_bins: dict[str, VariableBins]
) -> None:
    assert all_bins["noise"].information_value < 0.02
    assert min(all_bins[n].information_value for n in ("x1", "x2", "cat")) > 0.1
    kept = fit_binning(data)  # default floor 0.02
    assert [b.name for b in kept] == ["x1", "x2", "cat"]


def test_no_variable_above_the_floor_is_an_error(data: CreditData) -> None:
    with pytest.raises(DataError, match="no variable reaches the information value 10") as caught:
        fit_binning(data, BinningConfig(min_information_value=10.0))
    assert "'x1'" in str(caught.value)  # the strongest variable, by construction


# --- labels and JSON ------------------------------------------------------------------------


def test_labels() -> None:
    numeric = VariableBins(
        "x", FeatureKind.NUMERIC, (1.0, 2.5), (), (0.1, 0.0, -0.1, 0.0, 0.0), (1, 1, 1, 0),
        (0.1, 0.2, 0.3, 0.0), 0.1,
    )  # fmt: skip
    assert numeric.labels() == ["< 1", "[1, 2.5)", ">= 2.5", "Missing", "Unseen"]
    single = VariableBins("x", FeatureKind.NUMERIC, (), (), (0.0, 0.0, 0.0), (5, 0), (0.2, 0), 0)
    assert single.labels() == ["all values", "Missing", "Unseen"]
    categorical = VariableBins(
        "c", FeatureKind.CATEGORICAL, (), (("a", "b"), ("c",)), (0.2, -0.3, 0.0, 0.0),
        (4, 2, 0), (0.1, 0.3, 0.0), 0.1,
    )  # fmt: skip
    assert categorical.labels() == ["a, b", "c", "Missing", "Unseen"]


def test_labels_of_fitted_bins_count_bins_plus_two(all_bins: dict[str, VariableBins]) -> None:
    for b in all_bins.values():
        labels = b.labels()
        assert len(labels) == len(b.woe) == b.n_bins + 2
        assert labels[-2:] == ["Missing", "Unseen"]


def test_json_round_trip(data: CreditData, all_bins: dict[str, VariableBins]) -> None:
    for b in all_bins.values():
        back = VariableBins.from_json(json.loads(json.dumps(b.to_json())))
        assert back == b
        values = data.features[b.name].to_numpy()
        np.testing.assert_array_equal(back.woe_of(values), b.woe_of(values))


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.pop("woe"),
        lambda d: d.update(kind="ordinal"),
        lambda d: d.update(counts=["many"]),
        lambda d: d.update(splits=None),
    ],
)
def test_malformed_json_is_a_data_error(all_bins: dict[str, VariableBins], damage) -> None:
    payload = all_bins["x1"].to_json()
    damage(payload)
    with pytest.raises(DataError, match="malformed"):
        VariableBins.from_json(payload)


# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_bin_share": 0.0}, "min_bin_share"),
        ({"min_bin_share": 0.6}, "min_bin_share"),
        ({"max_bins": 1}, "max_bins"),
        ({"min_information_value": -0.01}, "min_information_value"),
    ],
)
def test_binning_config_refuses_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        BinningConfig(**kwargs)


def test_max_bins_is_respected(data: CreditData) -> None:
    bins = fit_binning(data, BinningConfig(max_bins=3, min_information_value=0.0))
    assert max(b.n_bins for b in bins) <= 3
