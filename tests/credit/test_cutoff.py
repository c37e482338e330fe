"""Cut-off what-ifs: hand-computed cases, a naive per-cut-off loop on random data, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fintwin.credit.cutoff import (
    METRIC_COLUMNS,
    CutoffChoice,
    LoanEconomics,
    best_profit_cutoff,
    compare_policies,
    cutoff_for_bad_rate,
    cutoff_table,
    cutoffs_between,
)
from fintwin.exceptions import DataError, ParameterError

# The vectorised table sums in score order with cumulative sums, the naive loop with np.sum's
# pairwise summation: the two differ only by float rounding, about n * 2**-53 ~ 1e-13 relative
# for 1,000 applicants. 1e-9 is far above that and far below any change of definition (one
# applicant more or less moves the sums by ~1e-3 relative). Profit is a difference that can
# pass through zero, so it also gets an absolute floor of 1e-9 of the total exposure.
RTOL = 1e-9

# --- a hand-computed book of five applicants ---------------------------------------------------
#
#   applicant  score  pd    exposure  bad   loss = pd*lgd*exp   income = (1-pd)*margin*exp
#   A          500    0.20  1000      1     0.20*0.5*1000 = 100  0.80*0.1*1000 =  80
#   B          550    0.10  2000      0     0.10*0.5*2000 = 100  0.90*0.1*2000 = 180
#   C          600    0.05  1000      0     0.05*0.5*1000 =  25  0.95*0.1*1000 =  95
#   D          600    0.15  3000      1     0.15*0.5*3000 = 225  0.85*0.1*3000 = 255
#   E          700    0.01  4000      0     0.01*0.5*4000 =  20  0.99*0.1*4000 = 396
#
# with lgd = 0.5 and margin = 0.1. C and D tie at 600. Applicants are listed out of score
# order so that the sort is exercised.

SCORE = [600, 500, 700, 550, 600]  # C, A, E, B, D
PD = [0.05, 0.20, 0.01, 0.10, 0.15]
EXPOSURE = [1000.0, 1000.0, 4000.0, 2000.0, 3000.0]
BAD = [0, 1, 0, 0, 1]
ECON = LoanEconomics(lgd=0.5, margin=0.1)

# cutoff 450: A B C D E   n=5  rate 5/5=1.0  exp bad (.20+.10+.05+.15+.01)/5 = .51/5 = .102
#             obs bad 2/5 = .4   exposure 11000   loss 470   income 1006   profit 536
# cutoff 550: B C D E     n=4  rate .8   exp bad .31/4 = .0775   obs 1/4 = .25
#             exposure 10000   loss 370   income 926   profit 556
# cutoff 600: C D E       n=3  rate .6   exp bad .21/3 = .07     obs 1/3
#             exposure 8000    loss 270   income 746   profit 476      (tie C, D both in)
# cutoff 650: E           n=1  rate .2   exp bad .01             obs 0/1 = 0
#             exposure 4000    loss 20    income 396   profit 376
# cutoff 800: nobody      n=0  rate 0    exp bad NaN             obs NaN
#             exposure 0       loss 0     profit 0
HAND_TABLE = pd.DataFrame(
    {
        "cutoff": [450.0, 550.0, 600.0, 650.0, 800.0],
        "approved": [5, 4, 3, 1, 0],
        "approval_rate": [1.0, 0.8, 0.6, 0.2, 0.0],
        "expected_bad_rate": [0.102, 0.0775, 0.07, 0.01, math.nan],
        "observed_bad_rate": [0.4, 0.25, 1 / 3, 0.0, math.nan],
        "approved_exposure": [11000.0, 10000.0, 8000.0, 4000.0, 0.0],
        "expected_loss": [470.0, 370.0, 270.0, 20.0, 0.0],
        "expected_profit": [536.0, 556.0, 476.0, 376.0, 0.0],
    }
)


def test_cutoff_table_hand_computed() -> None:
    # Cut-offs given out of order and with a repeat: one row each, ascending.
    table = cutoff_table(
        SCORE, PD, EXPOSURE, [800, 450, 600, 550, 650, 600], economics=ECON, bad=BAD
    )
    assert list(table.columns) == ["cutoff", *METRIC_COLUMNS]
    assert table["approved"].dtype == np.int64
    pd.testing.assert_frame_equal(table, HAND_TABLE, rtol=1e-12, atol=1e-12)


def test_cutoff_table_without_outcomes_has_nan_observed_rate() -> None:
    table = cutoff_table(SCORE, PD, EXPOSURE, [450, 600], economics=ECON)
    assert table["observed_bad_rate"].isna().all()
    np.testing.assert_allclose(table["expected_loss"], [470.0, 270.0], rtol=1e-12)


def test_cutoff_table_approves_tied_scores_together() -> None:
    # Cut-offs just above, at and just below the tie at 600: C and D enter together.
    table = cutoff_table(SCORE, PD, EXPOSURE, [600.5, 600, 599.5], economics=ECON)
    assert table["approved"].tolist() == [3, 3, 1]  # 599.5, 600, 600.5
    assert table["approved_exposure"].tolist() == [8000.0, 8000.0, 4000.0]


def test_cutoff_table_infinite_cutoffs() -> None:
    table = cutoff_table(SCORE, PD, EXPOSURE, [-math.inf, math.inf], economics=ECON)
    assert table["approved"].tolist() == [5, 0]


def test_default_economics_used() -> None:
    # lgd 0.45, margin 0.08 on E alone: loss .01*.45*4000 = 18, income .99*.08*4000 = 316.8.
    table = cutoff_table(SCORE, PD, EXPOSURE, [650])
    assert table["expected_loss"].iloc[0] == pytest.approx(18.0, rel=1e-12)
    assert table["expected_profit"].iloc[0] == pytest.approx(316.8 - 18.0, rel=1e-12)


def test_best_profit_cutoff_hand_computed() -> None:
    table = cutoff_table(SCORE, PD, EXPOSURE, [800, 450, 600, 550, 650], economics=ECON)
    row = best_profit_cutoff(table)
    assert row["cutoff"] == 550.0
    assert row["expected_profit"] == pytest.approx(556.0, rel=1e-12)


def test_best_profit_cutoff_takes_lowest_cutoff_among_ties() -> None:
    # 560 and 590 approve the same applicants (C, D, E), hence the same profit.
    table = cutoff_table(SCORE, PD, EXPOSURE, [560, 590, 650], economics=ECON)
    assert best_profit_cutoff(table)["cutoff"] == 560.0


# --- agreement with a naive loop on random data ------------------------------------------------


def _random_book(seed: int = 20_240_607, n: int = 1_000) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    score = rng.normal(600, 60, n).round()  # rounded: many ties
    pd_ = np.clip(1 / (1 + np.exp((score - 520) / 40 + rng.normal(0, 0.5, n))), 0, 1)
    exposure = rng.lognormal(8, 1, n).round(2)
    exposure[rng.random(n) < 0.02] = 0.0  # some zero exposures
    bad = rng.random(n) < pd_
    return score, pd_, exposure, bad


def _naive_row(score, pd_, exposure, bad, cutoff, econ) -> dict[str, float]:
    m = score >= cutoff
    k = int(m.sum())
    loss = float(np.sum(pd_[m] * econ.lgd * exposure[m]))
    income = float(np.sum((1 - pd_[m]) * econ.margin * exposure[m]))
    return {
        "cutoff": float(cutoff),
        "approved": k,
        "approval_rate": k / score.size,
        "expected_bad_rate": float(pd_[m].mean()) if k else math.nan,
        "observed_bad_rate": float(bad[m].mean()) if k else math.nan,
        "approved_exposure": float(exposure[m].sum()),
        "expected_loss": loss,
        "expected_profit": income - loss,
    }


def test_cutoff_table_agrees_with_naive_loop() -> None:
    score, pd_, exposure, bad = _random_book()
    econ = LoanEconomics(lgd=0.6, margin=0.12)
    # 50 cut-offs over the range, plus some outside it and some on observed (tied) scores.
    cutoffs = np.unique(np.r_[cutoffs_between(score, 50), score.min() - 1, score.max() + 1,
                              score[:10]])  # fmt: skip
    table = cutoff_table(score, pd_, exposure, cutoffs, economics=econ, bad=bad)
    naive = pd.DataFrame([_naive_row(score, pd_, exposure, bad, c, econ) for c in cutoffs])
    assert len(table) == cutoffs.size >= 50
    assert table["approved"].tolist() == naive["approved"].tolist()
    for column in METRIC_COLUMNS[1:-1]:
        np.testing.assert_allclose(table[column], naive[column], rtol=RTOL, err_msg=column)
    np.testing.assert_allclose(
        table["expected_profit"],
        naive["expected_profit"],
        rtol=RTOL,
        atol=RTOL * exposure.sum(),
    )


def test_cutoff_table_monotone_in_cutoff() -> None:
    score, pd_, exposure, bad = _random_book(seed=7)
    table = cutoff_table(score, pd_, exposure, cutoffs_between(score, 200), bad=bad)
    for column in ("approved", "approval_rate", "approved_exposure", "expected_loss"):
        assert (np.diff(table[column]) <= 0).all(), column
    assert table["approval_rate"].iloc[0] == 1.0  # the lowest score is a cut-off
    assert table["approved"].iloc[-1] == (score == score.max()).sum()


# --- cutoffs_between ---------------------------------------------------------------------------


def test_cutoffs_between() -> None:
    c = cutoffs_between([700, 500, 600, 650], n=5)
    np.testing.assert_allclose(c, [500, 550, 600, 650, 700])
    assert c.dtype == np.float64
    assert cutoffs_between([620, 620, 620], n=10).tolist() == [620.0]
    assert cutoffs_between([1, 2], n=1).tolist() == [1.0]
    assert cutoffs_between(np.arange(1000)).size == 50


# --- cutoff_for_bad_rate -----------------------------------------------------------------------
#
# Approving by descending score on the hand book, ties together:
#   E (700)            rate .01            approval 1/5
#   + C, D (600)       rate .21/3 = .07    approval 3/5
#   + B (550)          rate .31/4 = .0775  approval 4/5
#   + A (500)          rate .51/5 = .102   approval 5/5


@pytest.mark.parametrize(
    ("limit", "cutoff", "approval", "rate"),
    [
        (0.5, 500.0, 1.0, 0.102),
        (0.102, 500.0, 1.0, 0.102),
        (0.08, 550.0, 0.8, 0.0775),
        (0.07, 600.0, 0.6, 0.07),  # equal up to rounding: .21/3 may be .07000000000000001
        (0.0699, 700.0, 0.2, 0.01),
        (0.01, 700.0, 0.2, 0.01),
    ],
)
def test_cutoff_for_bad_rate_hand_computed(
    limit: float, cutoff: float, approval: float, rate: float
) -> None:
    choice = cutoff_for_bad_rate(SCORE, PD, limit)
    assert choice.cutoff == cutoff
    assert choice.approval_rate == pytest.approx(approval, rel=1e-12)
    assert choice.expected_bad_rate == pytest.approx(rate, rel=1e-12)


def test_cutoff_for_bad_rate_all_fail() -> None:
    choice = cutoff_for_bad_rate(SCORE, PD, 0.005)  # best applicant alone has .01
    assert choice.cutoff == math.inf
    assert choice.approval_rate == 0.0
    assert math.isnan(choice.expected_bad_rate)
    # The best score is tied: .0 and .2 together give .1, above the limit; cannot split.
    tied = cutoff_for_bad_rate([700, 700, 600], [0.0, 0.2, 0.0], 0.05)
    assert tied.cutoff == math.inf


def test_cutoff_for_bad_rate_does_not_split_ties() -> None:
    # Approving 700 and the 0.01 at 600 would give .01, but the 600s come together:
    # (.01 + .01 + .30) / 3 = .1067 > .05, so only 700 is approved.
    choice = cutoff_for_bad_rate([600, 700, 600], [0.30, 0.01, 0.01], 0.05)
    assert choice == CutoffChoice(cutoff=700.0, approval_rate=1 / 3, expected_bad_rate=0.01)


def test_cutoff_for_bad_rate_takes_lowest_cutoff_when_rate_not_monotone() -> None:
    # Rates by descending score: 3 -> .01, 2 -> .255, 1 -> .51/3 = .17. Limit .2: cut-off 2
    # breaks it but the lower cut-off 1 meets it and approves more.
    choice = cutoff_for_bad_rate([3, 2, 1], [0.01, 0.5, 0.0], 0.2)
    assert choice.cutoff == 1.0
    assert choice.approval_rate == 1.0
    assert choice.expected_bad_rate == pytest.approx(0.17, rel=1e-12)


def test_cutoff_for_bad_rate_agrees_with_naive_search_and_table() -> None:
    score, pd_, exposure, _ = _random_book(seed=3)
    for limit in (0.01, 0.03, 0.08, 0.2):
        # Naive: the lowest distinct score whose approved book meets the limit.
        meets = [s for s in np.unique(score) if pd_[score >= s].mean() <= limit]
        choice = cutoff_for_bad_rate(score, pd_, limit)
        assert choice.cutoff == (min(meets) if meets else math.inf)
        if meets:
            row = cutoff_table(score, pd_, exposure, [choice.cutoff]).iloc[0]
            assert row["approval_rate"] == choice.approval_rate
            assert row["expected_bad_rate"] == pytest.approx(choice.expected_bad_rate, rel=RTOL)
            assert choice.expected_bad_rate <= limit


# --- compare_policies --------------------------------------------------------------------------
#
# Policy a approves C, D, E (score >= 600); policy b approves B, C.
#   a: n=3 rate .6  exp bad .07  obs 1/3  exposure 8000  loss 270  profit 476
#   b: n=2 rate .4  exp bad (.10 + .05)/2 = .075  obs 0/2 = 0  exposure 3000
#      loss 100 + 25 = 125  income 180 + 95 = 275  profit 150
#   a not b: D, E -> a swap_in 2, b swap_out 2;  b not a: B -> b swap_in 1, a swap_out 1


def test_compare_policies_hand_computed() -> None:
    a = np.array(SCORE) >= 600
    b = [True, False, False, True, False]  # C, A, E, B, D -> C and B
    out = compare_policies(a, b, PD, EXPOSURE, economics=ECON, bad=BAD, names=("old", "new"))
    expected = pd.DataFrame(
        {
            "approved": [3, 2],
            "approval_rate": [0.6, 0.4],
            "expected_bad_rate": [0.07, 0.075],
            "observed_bad_rate": [1 / 3, 0.0],
            "approved_exposure": [8000.0, 3000.0],
            "expected_loss": [270.0, 125.0],
            "expected_profit": [476.0, 150.0],
            "swap_in": [2, 1],
            "swap_out": [1, 2],
        },
        index=pd.Index(["old", "new"], name="policy"),
    )
    pd.testing.assert_frame_equal(out, expected, rtol=1e-12, atol=1e-12)


def test_compare_policies_matches_cutoff_table_rows() -> None:
    score, pd_, exposure, bad = _random_book(seed=11)
    table = cutoff_table(score, pd_, exposure, [560, 620], bad=bad)
    out = compare_policies(score >= 560, score >= 620, pd_, exposure, bad=bad)
    assert out.index.tolist() == ["current", "proposed"]
    assert out["swap_out"].tolist() == [0, int(((score >= 560) & (score < 620)).sum())]
    for column in METRIC_COLUMNS:
        np.testing.assert_allclose(out[column], table[column], rtol=RTOL, err_msg=column)


def test_compare_policies_without_outcomes_and_empty_policy() -> None:
    out = compare_policies([0, 0, 0, 0, 0], [1, 1, 1, 1, 1], PD, EXPOSURE)
    assert out["observed_bad_rate"].isna().all()
    assert math.isnan(out["expected_bad_rate"].iloc[0])
    assert out["expected_profit"].iloc[0] == 0.0
    assert out["swap_in"].tolist() == [0, 5]


# --- bad inputs --------------------------------------------------------------------------------


def test_loan_economics_rules() -> None:
    with pytest.raises(ParameterError, match=r"lgd must be in \[0, 1\] \(got 1.5\)"):
        LoanEconomics(lgd=1.5)
    with pytest.raises(ParameterError, match=r"lgd must be in \[0, 1\] \(got nan\)"):
        LoanEconomics(lgd=math.nan)
    with pytest.raises(ParameterError, match=r"margin must be finite and at least 0 \(got -0.1"):
        LoanEconomics(margin=-0.1)
    with pytest.raises(ParameterError, match="margin must be finite"):
        LoanEconomics(margin=math.inf)
    with pytest.raises(ParameterError, match="lgd must be a number"):
        LoanEconomics(lgd="0.4")  # type: ignore[arg-type]
    assert LoanEconomics(lgd=1, margin=0) == LoanEconomics(lgd=1.0, margin=0.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"predicted_bad_rate": [0.1, 1.2, 0.1, 0.1, 0.1]}, DataError,
         r"predicted_bad_rate must be in \[0, 1\] \(got 1.2 at position 1\)"),
        ({"predicted_bad_rate": [0.1, 0.1, -0.1, 0.1, 0.1]}, DataError,
         r"predicted_bad_rate must be in \[0, 1\] \(got -0.1 at position 2\)"),
        ({"predicted_bad_rate": [0.1, 0.1, 0.1, math.nan, 0.1]}, DataError,
         r"predicted_bad_rate must be finite \(got nan at position 3\)"),
        ({"score": [600, math.nan, 700, 550, 600]}, DataError,
         r"score must be finite \(got nan at position 1\)"),
        ({"score": []}, DataError, "score must hold at least one applicant"),
        ({"score": [[600, 500]]}, ParameterError, "score must be one-dimensional"),
        ({"exposure": [1000.0, 1000.0]}, ParameterError,
         r"exposure must hold one value per .* \(got 2 values, expected 5\)"),
        ({"predicted_bad_rate": [0.1] * 6}, ParameterError,
         r"predicted_bad_rate must hold one value per .* \(got 6 values, expected 5\)"),
        ({"exposure": [1000.0, -5.0, 1.0, 1.0, 1.0]}, DataError,
         r"exposure must be non-negative \(got -5.0 at position 1\)"),
        ({"bad": [0, 2, 0, 0, 1]}, DataError, r"bad must hold 0/1 or boolean labels \(got 2\)"),
        ({"bad": [0, 1]}, ParameterError, r"bad must hold one value per"),
        ({"cutoffs": []}, ParameterError, "cutoffs must hold at least one cut-off"),
        ({"cutoffs": [600, math.nan]}, ParameterError,
         r"cutoffs must not be NaN \(got nan at position 1\)"),
        ({"cutoffs": ["high"]}, ParameterError, "cutoffs must hold numbers"),
        ({"economics": (0.45, 0.08)}, ParameterError, "economics must be a LoanEconomics"),
    ],
)  # fmt: skip
def test_cutoff_table_refuses_bad_inputs(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    args: dict[str, object] = {
        "score": SCORE,
        "predicted_bad_rate": PD,
        "exposure": EXPOSURE,
        "cutoffs": [600],
        "bad": BAD,
    }
    args |= kwargs
    with pytest.raises(error, match=message):
        cutoff_table(**args)  # type: ignore[arg-type]


def test_cutoff_for_bad_rate_refuses_bad_inputs() -> None:
    for limit in (-0.1, 1.5, math.nan, True, "0.05"):
        with pytest.raises(ParameterError, match=r"max_bad_rate must be in \[0, 1\]"):
            cutoff_for_bad_rate(SCORE, PD, limit)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="predicted_bad_rate must be in"):
        cutoff_for_bad_rate(SCORE, [0.1, 0.1, 0.1, 0.1, 1.01], 0.1)
    with pytest.raises(DataError, match="score must be finite"):
        cutoff_for_bad_rate([600, math.inf, 1, 2, 3], PD, 0.1)
    with pytest.raises(ParameterError, match="predicted_bad_rate must hold one value per"):
        cutoff_for_bad_rate(SCORE, PD[:3], 0.1)


def test_cutoffs_between_refuses_bad_inputs() -> None:
    for n in (0, -3, 2.5, True):
        with pytest.raises(ParameterError, match="n must be a positive integer"):
            cutoffs_between(SCORE, n)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="score must be finite"):
        cutoffs_between([1.0, math.nan])


def test_best_profit_cutoff_refuses_bad_inputs() -> None:
    with pytest.raises(ParameterError, match="table must have an expected_profit column"):
        best_profit_cutoff(pd.DataFrame({"cutoff": [1.0]}))
    with pytest.raises(ParameterError, match="table must be a pandas DataFrame"):
        best_profit_cutoff([1, 2])  # type: ignore[arg-type]
    with pytest.raises(DataError, match="at least one numeric expected_profit"):
        best_profit_cutoff(pd.DataFrame({"expected_profit": [math.nan]}))


def test_compare_policies_refuses_bad_inputs() -> None:
    a = [1, 0, 1, 0, 1]
    with pytest.raises(ParameterError, match="approved_b must hold one value per"):
        compare_policies(a, [1, 0], PD, EXPOSURE)
    with pytest.raises(DataError, match="approved_b must hold 0/1"):
        compare_policies(a, [1, 0, 3, 0, 1], PD, EXPOSURE)
    with pytest.raises(DataError, match="exposure must be non-negative"):
        compare_policies(a, a, PD, [1.0, 1.0, -1.0, 1.0, 1.0])
    with pytest.raises(DataError, match=r"predicted_bad_rate must be in \[0, 1\]"):
        compare_policies(a, a, [0.1, 0.1, 0.1, 0.1, 2.0], EXPOSURE)
    with pytest.raises(ParameterError, match="names must be two distinct strings"):
        compare_policies(a, a, PD, EXPOSURE, names=("x", "x"))
    with pytest.raises(ParameterError, match="names must be two distinct strings"):
        compare_policies(a, a, PD, EXPOSURE, names=("x",))  # type: ignore[arg-type]
    with pytest.raises(DataError, match="approved_a must hold at least one applicant"):
        compare_policies([], [], [], [])
