"""Credit metrics: hand-computed cases, scipy and scikit-learn on random data, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from scipy.stats import ks_2samp

from fintwin.credit.metrics import (
    CreditMetrics,
    brier_score,
    calibration_by_band,
    credit_metrics,
    ks_statistic,
    population_stability_index,
)
from fintwin.exceptions import DataError, ParameterError

# Our sums and cumulative shares run in a different order from scipy's and scikit-learn's;
# 1e-12 is far above float64 rounding for a few thousand values and far below any change of
# definition (one applicant moved changes KS by 1/n ~ 1e-3).
RTOL = 1e-12


# --- KS -------------------------------------------------------------------------------------


def test_ks_hand_computed() -> None:
    # Perfect separation: every bad above every good.
    assert ks_statistic([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    # Interleaved: after 0.1 goods are at 1/2, bads at 0 -> gap 1/2, never larger.
    assert ks_statistic([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4]) == 0.5
    # Reversed order: the gap is as large, KS is an absolute difference.
    assert ks_statistic([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 1.0


def test_ks_with_three_goods_and_two_bads() -> None:
    # Sorted: 0.1 g, 0.3 g, 0.4 b, 0.5 g, 0.9 b. Cumulative goods 1/3, 2/3, 2/3, 1, 1;
    # bads 0, 0, 1/2, 1/2, 1. Largest gap 2/3 (after 0.3).
    assert ks_statistic([0, 0, 1, 0, 1], [0.1, 0.3, 0.4, 0.5, 0.9]) == pytest.approx(
        2 / 3, rel=RTOL
    )


def test_ks_counts_tied_scores_together() -> None:
    # A bad and a good share 0.5: the cut between them is not available, so the gap after
    # 0.2 (goods 1/2, bads 0) is the largest, 1/2; splitting the tie would give 1.
    assert ks_statistic([0, 0, 1, 1], [0.2, 0.5, 0.5, 0.9]) == 0.5
    assert ks_statistic([1, 0], [0.3, 0.3]) == 0.0


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("decimals", [None, 1])
def test_ks_equals_scipy_ks_2samp(seed: int, decimals: int | None) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 3000))
    bad = rng.random(n) < rng.uniform(0.05, 0.5)
    bad[:2] = [True, False]
    risk = rng.normal(size=n) + 0.7 * bad
    if decimals is not None:  # many ties, across classes
        risk = risk.round(decimals)
    expected = ks_2samp(risk[bad], risk[~bad]).statistic
    assert ks_statistic(bad, risk) == pytest.approx(expected, rel=RTOL)


# --- AUC, Gini, Brier -----------------------------------------------------------------------


def test_brier_hand_computed() -> None:
    # (0.2 - 0)^2 = 0.04, (0.6 - 1)^2 = 0.16, (1 - 1)^2 = 0, (0.5 - 0)^2 = 0.25: mean 0.1125.
    assert brier_score([0, 1, 1, 0], [0.2, 0.6, 1.0, 0.5]) == pytest.approx(0.1125, rel=RTOL)
    assert brier_score([True, False], [1.0, 0.0]) == 0.0
    assert brier_score([True, False], [0.0, 1.0]) == 1.0


def test_credit_metrics_hand_computed() -> None:
    bad = [0, 0, 1, 1]
    pd_ = [0.1, 0.4, 0.35, 0.8]
    m = credit_metrics(bad, pd_)
    assert isinstance(m, CreditMetrics)
    # Bads 0.35 and 0.8 against goods 0.1 and 0.4: 3 of 4 pairs in order.
    assert m.auc == 0.75
    assert m.gini == pytest.approx(0.5, rel=RTOL)
    # Sorted 0.1 g, 0.35 b, 0.4 g, 0.8 b: gaps 1/2, 0, 1/2, 0.
    assert m.ks == 0.5
    assert m.brier == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4, rel=RTOL)
    assert (m.n, m.bad_rate) == (4, 0.5)
    assert m.to_dict() == {
        "auc": m.auc, "gini": m.gini, "ks": m.ks, "brier": m.brier, "n": 4, "bad_rate": 0.5,
    }  # fmt: skip


@pytest.mark.parametrize("seed", range(3))
def test_credit_metrics_equal_sklearn_and_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2000
    bad = rng.random(n) < 0.2
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * bad - 1.5)))
    m = credit_metrics(bad, p)
    assert m.auc == pytest.approx(skm.roc_auc_score(bad, p), rel=RTOL)
    assert m.gini == pytest.approx(2 * m.auc - 1, rel=RTOL)
    assert m.gini == pytest.approx(2 * skm.roc_auc_score(bad, p) - 1, rel=1e-10)
    assert m.brier == pytest.approx(skm.brier_score_loss(bad, p), rel=RTOL)
    assert m.ks == pytest.approx(ks_2samp(p[bad], p[~bad]).statistic, rel=RTOL)
    assert m.bad_rate == pytest.approx(bad.mean(), rel=RTOL)


def test_reversed_risk_gives_negative_gini() -> None:
    m = credit_metrics([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1])
    assert (m.auc, m.gini, m.ks) == (0.0, -1.0, 1.0)


# --- PSI ------------------------------------------------------------------------------------


def test_psi_of_identical_populations_is_zero() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=5000)
    assert population_stability_index(x, x) == pytest.approx(0.0, abs=1e-15)
    assert population_stability_index(x, rng.permutation(x)) == pytest.approx(0.0, abs=1e-15)


def test_psi_hand_computed_two_bands() -> None:
    # Bands split at the median of expected, 1.5: expected shares (1/2, 1/2), actual
    # (3/4, 1/4). PSI = (3/4 - 1/2) ln(3/2) + (1/4 - 1/2) ln(1/2) = 1/4 ln 3.
    psi = population_stability_index([0.0, 1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 3.0], bins=2)
    assert psi == pytest.approx(0.25 * math.log(3), rel=RTOL)


def test_psi_floors_an_empty_band() -> None:
    # Actual is all in the lower band: shares (1, 1e-4) against (1/2, 1/2).
    psi = population_stability_index([0.0, 1.0, 2.0, 3.0], [0.0, 0.5, 1.0], bins=2)
    expected = 0.5 * math.log(2) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert psi == pytest.approx(expected, rel=RTOL)
    assert math.isfinite(psi)


def test_psi_grows_with_the_shift_and_is_about_symmetric() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    a = rng.normal(size=n)
    small, large = rng.normal(0.1, 1, size=n), rng.normal(0.5, 1, size=n)
    psi_small = population_stability_index(a, small)
    psi_large = population_stability_index(a, large)
    assert 0 < psi_small < 0.1 < psi_large
    # Swapping the populations changes only the band edges (deciles of the other sample).
    # Reflecting x -> 0.5 - x maps N(0, 1) to N(0.5, 1) and back, so both directions have
    # the same distribution; with 20,000 draws each they agree within a few percent (sampling
    # noise of a PSI near 0.25 is ~0.005). 10 % leaves room and still catches a one-sided
    # definition.
    reverse = population_stability_index(large, a)
    assert reverse == pytest.approx(psi_large, rel=0.10)


def test_psi_refuses_bad_inputs() -> None:
    with pytest.raises(ParameterError, match="bins"):
        population_stability_index([1.0, 2.0], [1.0, 2.0], bins=1)
    with pytest.raises(DataError, match="expected must be finite"):
        population_stability_index([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(DataError, match="actual must be finite"):
        population_stability_index([1.0, 2.0], [np.inf, 2.0])
    with pytest.raises(DataError, match="both populations"):
        population_stability_index([1.0, 2.0], [])


# --- calibration by band --------------------------------------------------------------------


def test_calibration_by_band_hand_computed() -> None:
    # Median of the predictions is 0.2, the one band edge; 0.2 itself belongs above it.
    bad = [0, 0, 0, 1, 1, 1]
    p = [0.1, 0.1, 0.2, 0.2, 0.8, 0.9]
    table = calibration_by_band(bad, p, bands=2)
    expected = pd.DataFrame(
        {
            "band": [1, 2],
            "n": [2, 4],
            "min_predicted": [0.1, 0.2],
            "max_predicted": [0.1, 0.9],
            "mean_predicted": [0.1, (0.2 + 0.2 + 0.8 + 0.9) / 4],
            "observed": [0.0, 3 / 4],
        }
    )
    pd.testing.assert_frame_equal(table, expected, check_dtype=False, rtol=RTOL)


def test_calibration_by_band_on_calibrated_random_data() -> None:
    rng = np.random.default_rng(4)
    n = 50_000
    p = rng.uniform(0.01, 0.5, size=n)
    bad = rng.random(n) < p  # calibrated by construction
    table = calibration_by_band(bad, p, bands=10)
    assert table["band"].tolist() == list(range(1, 11))
    assert table["n"].sum() == n
    assert (np.diff(table["mean_predicted"]) > 0).all()
    # 5,000 applicants a band with a bad rate <= 0.5: binomial standard error <= 0.0071.
    # Four standard errors (0.03) keep a true model from failing by chance and still catch a
    # band mislabelled by a decile.
    np.testing.assert_allclose(table["observed"], table["mean_predicted"], atol=0.03)


def test_calibration_by_band_refuses_bad_bands() -> None:
    with pytest.raises(ParameterError, match="bands"):
        calibration_by_band([0, 1], [0.2, 0.3], bands=0)


# --- bad inputs name the argument -----------------------------------------------------------


@pytest.mark.parametrize(
    "metric", [brier_score, credit_metrics, lambda b, p: calibration_by_band(b, p, bands=2)]
)
def test_probability_outside_zero_one_is_refused(metric) -> None:
    with pytest.raises(
        DataError, match=r"predicted_bad_rate must be in \[0, 1\] \(got 1.5 at position 1\)"
    ):
        metric([0, 1, 0], [0.2, 1.5, 0.3])
    with pytest.raises(
        DataError, match=r"predicted_bad_rate must be in \[0, 1\] \(got -0.1 at position 2\)"
    ):
        metric([0, 1, 0], [0.2, 0.5, -0.1])


@pytest.mark.parametrize(
    "metric", [brier_score, credit_metrics, lambda b, p: calibration_by_band(b, p, bands=2)]
)
def test_nan_probability_is_refused(metric) -> None:
    with pytest.raises(DataError, match="predicted_bad_rate must be finite"):
        metric([0, 1, 0], [0.2, np.nan, 0.3])


@pytest.mark.parametrize(
    "metric", [brier_score, credit_metrics, lambda b, p: calibration_by_band(b, p, bands=2)]
)
def test_length_mismatch_is_refused(metric) -> None:
    with pytest.raises(ParameterError, match=r"predicted_bad_rate .*as bad does.*got 2 .*3"):
        metric([0, 1, 0], [0.2, 0.3])


def test_ks_bad_inputs_name_the_argument() -> None:
    with pytest.raises(DataError, match="risk must be finite"):
        ks_statistic([0, 1], [0.2, np.nan])
    with pytest.raises(ParameterError, match="risk must hold one value"):
        ks_statistic([0, 1, 1], [0.2, 0.3])
    with pytest.raises(DataError, match="bad must hold 0/1"):
        ks_statistic([0, 2], [0.2, 0.3])
    with pytest.raises(DataError, match="both classes"):
        ks_statistic([1, 1], [0.2, 0.3])
