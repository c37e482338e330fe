"""IFRS 9 expected credit loss: staging rules, ECL by stage worked by hand, scenario paths and
the probability weighting of scenarios."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fintwin.exceptions import DataError, ParameterError
from fintwin.stress.ecl import (
    Stage,
    StagingRule,
    annual_lgd_path,
    annual_pd_path,
    assign_stage,
    expected_credit_loss,
    lifetime_pd,
    weighted_ecl,
)
from fintwin.stress.scenarios import (
    Scenario,
    builtin_scenario,
    builtin_scenarios,
    conditional_pd,
    systematic_factor,
)

# A handful of float64 products and sums: rounding is below 1e-15 relative; 1e-12 still
# catches any change of convention (half a year of discounting at 5 % moves ECL by 2.4 %).
RTOL = 1e-12


# --- staging ------------------------------------------------------------------------------------


def stage_of(now: float, origination: float, dpd: int = 0, defaulted: bool = False, **rule: float):
    stages = assign_stage([now], [origination], [dpd], [defaulted], rule=StagingRule(**rule))
    return Stage(int(stages[0]))


def test_days_past_due_backstop_moves_to_stage_2_without_pd_increase() -> None:
    # IFRS 9 5.5.11: "more than 30 days past due"
    assert stage_of(0.02, 0.02, dpd=30) is Stage.STAGE_1
    assert stage_of(0.02, 0.02, dpd=31) is Stage.STAGE_2
    assert stage_of(0.01, 0.02, dpd=60) is Stage.STAGE_2  # even when the PD has fallen


def test_ninety_days_past_due_or_default_is_stage_3() -> None:
    assert stage_of(0.02, 0.02, dpd=90) is Stage.STAGE_2
    assert stage_of(0.02, 0.02, dpd=91) is Stage.STAGE_3
    assert stage_of(0.02, 0.02, dpd=0, defaulted=True) is Stage.STAGE_3
    # stage 3 wins over a significant increase
    assert stage_of(0.2, 0.02, dpd=120) is Stage.STAGE_3


def test_doubling_of_lifetime_pd_is_a_significant_increase() -> None:
    assert stage_of(0.02, 0.01) is Stage.STAGE_2  # x2 and +1 point
    assert stage_of(0.0199, 0.01) is Stage.STAGE_1  # not quite double
    assert stage_of(0.05, 0.02) is Stage.STAGE_2
    assert stage_of(0.01, 0.02) is Stage.STAGE_1  # improvement
    # A tiny PD doubling (0.1 % -> 0.2 %) is not significant: the absolute rise (0.1 point)
    # is below 0.5 point ...
    assert stage_of(0.002, 0.001) is Stage.STAGE_1
    # ... unless the absolute test is switched off
    assert stage_of(0.002, 0.001, absolute_pd_increase=0.0) is Stage.STAGE_2
    # A large absolute rise that is not a doubling is not significant either.
    assert stage_of(0.15, 0.10) is Stage.STAGE_1
    assert stage_of(0.15, 0.10, relative_pd_increase=1.5) is Stage.STAGE_2


def test_assign_stage_vectorised_and_returns_stage_values() -> None:
    stages = assign_stage(
        [0.02, 0.05, 0.02, 0.02, 0.02, 0.002],
        [0.02, 0.02, 0.02, 0.02, 0.02, 0.001],
        np.array([0, 0, 31, 91, 0, 0]),
        np.array([0, 0, 0, 0, 1, 0]),
    )
    assert stages.dtype == np.int8
    assert stages.tolist() == [1, 2, 2, 3, 3, 1]
    assert [Stage(int(s)) for s in stages][1] is Stage.STAGE_2


def test_staging_rule_and_inputs_are_checked() -> None:
    with pytest.raises(ParameterError, match="relative_pd_increase must be finite and at least 1"):
        StagingRule(relative_pd_increase=0.5)
    with pytest.raises(ParameterError, match=r"absolute_pd_increase must be in \[0, 1\]"):
        StagingRule(absolute_pd_increase=-0.01)
    with pytest.raises(ParameterError, match="credit_impaired_days must be above"):
        StagingRule(days_past_due_backstop=90, credit_impaired_days=60)
    with pytest.raises(ParameterError, match="days_past_due_backstop must be a non-negative int"):
        StagingRule(days_past_due_backstop=30.5)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="days_past_due must be whole days, at least 0"):
        assign_stage([0.02], [0.02], [-1], [False])
    with pytest.raises(DataError, match="days_past_due must be whole days"):
        assign_stage([0.02], [0.02], [1.5], [False])
    with pytest.raises(DataError, match=r"pd_lifetime_now must be a probability in \[0, 1\]"):
        assign_stage([1.2], [0.02], [0], [False])
    with pytest.raises(ParameterError, match="days_past_due must hold one value per loan"):
        assign_stage([0.02, 0.03], [0.02, 0.02], [0], [False, False])
    with pytest.raises(DataError, match="defaulted must hold booleans or 0/1"):
        assign_stage([0.02], [0.02], [0], [2])


# --- ECL by stage, by hand ----------------------------------------------------------------------

PATH = [[0.02, 0.03, 0.04]]  # annual PDs given survival, years 1-3


def ecl(stage: int, path=PATH, lgd=0.45, ead=1000.0, rate=0.05, years=3.0) -> float:
    result = expected_credit_loss(path, lgd, ead, rate, [stage], remaining_years=years)
    return float(result[0])


def test_stage_1_is_twelve_month_ecl_discounted_half_a_year() -> None:
    # 0.02 x 0.45 x 1000 = 9, defaults mid-year: 9 / 1.05^0.5 = 8.78310...
    assert ecl(1) == pytest.approx(9.0 / math.sqrt(1.05), rel=RTOL)
    assert ecl(1) == pytest.approx(8.7831006565, rel=1e-10)
    assert ecl(1, rate=0.0) == pytest.approx(9.0, rel=RTOL)


def test_stage_2_is_lifetime_ecl_from_marginal_pds() -> None:
    # Survival 1, 0.98, 0.98 x 0.97 = 0.9506; marginal PDs 0.02, 0.98 x 0.03 = 0.0294,
    # 0.9506 x 0.04 = 0.038024 (sum 0.087424 = 1 - 0.98 x 0.97 x 0.96).
    # Undiscounted: 450 x 0.087424 = 39.3408.
    assert ecl(2, rate=0.0) == pytest.approx(39.3408, rel=RTOL)
    # Discounted mid-year at 5 %: 450 x (0.02 / 1.05^0.5 + 0.0294 / 1.05^1.5 + 0.038024 / 1.05^2.5)
    #   = 450 x (0.0195180 + 0.0273252 + 0.0336577) = 36.22541
    expected = 450 * (0.02 * 1.05**-0.5 + 0.0294 * 1.05**-1.5 + 0.038024 * 1.05**-2.5)
    assert ecl(2) == pytest.approx(expected, rel=RTOL)
    assert ecl(2) == pytest.approx(36.22541, rel=1e-6)
    # Stage 1 is the first term of the stage 2 sum.
    assert ecl(1) == pytest.approx(450 * 0.02 * 1.05**-0.5, rel=RTOL)


def test_stage_2_with_amortising_exposure_and_lgd_path() -> None:
    # EAD 1000, 600, 200 and LGD 0.4, 0.5, 0.6 by year, undiscounted:
    #   0.02 x 0.4 x 1000 + 0.0294 x 0.5 x 600 + 0.038024 x 0.6 x 200 = 8 + 8.82 + 4.56288
    got = ecl(2, lgd=[[0.4, 0.5, 0.6]], ead=[[1000.0, 600.0, 200.0]], rate=0.0)
    assert got == pytest.approx(21.38288, rel=RTOL)


def test_stage_3_is_lgd_times_ead() -> None:
    assert ecl(3) == pytest.approx(450.0, rel=RTOL)
    assert ecl(3, lgd=[[0.3, 0.9, 0.9]], ead=[[800.0, 1.0, 1.0]]) == pytest.approx(240.0, rel=RTOL)


def test_partial_years_take_part_of_the_hazard() -> None:
    # 1.5 years left: year 2 counts for half, PD 1 - 0.97^0.5, default at 1.25 years.
    year_2 = 0.98 * (1 - math.sqrt(0.97)) * 450 * 1.05**-1.25
    assert ecl(2, years=1.5) == pytest.approx(450 * 0.02 * 1.05**-0.5 + year_2, rel=RTOL)
    # Half a year left: the 12-month ECL is the lifetime one, PD 1 - 0.98^0.5 at 0.25 years.
    half = (1 - math.sqrt(0.98)) * 450 * 1.05**-0.25
    assert ecl(1, years=0.5) == pytest.approx(half, rel=RTOL)
    assert ecl(2, years=0.5) == pytest.approx(half, rel=RTOL)
    # Two years left on a three-year path: the third year is ignored.
    two = 450 * (0.02 * 1.05**-0.5 + 0.0294 * 1.05**-1.5)
    assert ecl(2, years=2.0) == pytest.approx(two, rel=RTOL)


def test_vectorised_ecl_matches_one_loan_at_a_time() -> None:
    rng = np.random.default_rng(8)
    n = 50
    path = rng.uniform(0, 0.2, (n, 6))
    lgd, ead = rng.uniform(0.1, 0.9, n), rng.uniform(0, 1e5, n)
    rate, years = rng.uniform(0, 0.15, n), rng.uniform(0.2, 6.0, n)
    stage = rng.integers(1, 4, n)
    together = expected_credit_loss(path, lgd, ead, rate, stage, remaining_years=years)
    for i in range(n):
        alone = expected_credit_loss(
            path[i : i + 1], lgd[i], ead[i], rate[i], [stage[i]], remaining_years=years[i]
        )
        assert together[i] == pytest.approx(alone[0], rel=RTOL)
    # lifetime >= 12-month >= 0, and lifetime <= LGD x EAD
    lifetime = expected_credit_loss(path, lgd, ead, rate, np.full(n, 2), remaining_years=years)
    twelve = expected_credit_loss(path, lgd, ead, rate, np.full(n, 1), remaining_years=years)
    assert np.all(lifetime >= twelve - 1e-9) and np.all(twelve >= 0)
    assert np.all(lifetime <= lgd * ead + 1e-9)


def test_undiscounted_lifetime_ecl_is_lgd_ead_times_lifetime_pd() -> None:
    path = [[0.02, 0.03, 0.04], [0.1, 0.1, 0.1]]
    life = lifetime_pd(path, remaining_years=[3, 2.5])
    assert life[0] == pytest.approx(1 - 0.98 * 0.97 * 0.96, rel=RTOL)
    assert life[1] == pytest.approx(1 - 0.9**2.5, rel=RTOL)
    got = expected_credit_loss(path, 0.5, 200.0, 0.0, [2, 2], remaining_years=[3, 2.5])
    np.testing.assert_allclose(got, 100.0 * life, rtol=RTOL)


def test_ecl_refuses_bad_inputs() -> None:
    with pytest.raises(ParameterError, match="holds 3 year"):
        ecl(2, years=3.5)
    assert ecl(1, years=10.0) == pytest.approx(ecl(1), rel=RTOL)  # 12-month needs year 1 only
    with pytest.raises(DataError, match=r"pd_annual_path must hold probabilities .* year 2"):
        ecl(1, path=[[0.02, 1.3, 0.04]])
    with pytest.raises(ParameterError, match="must be two-dimensional"):
        ecl(1, path=[0.02, 0.03])
    with pytest.raises(DataError, match="stage must be 1, 2 or 3"):
        ecl(4)
    with pytest.raises(DataError, match="remaining_years must be positive"):
        ecl(1, years=0.0)
    with pytest.raises(DataError, match=r"lgd must be a share in \[0, 1\]"):
        ecl(1, lgd=1.5)
    with pytest.raises(DataError, match="ead must be at least 0"):
        ecl(1, ead=-5.0)
    with pytest.raises(ParameterError, match="as a path must have the shape"):
        ecl(1, ead=[[1.0, 2.0]])
    with pytest.raises(DataError, match="effective_rate must be above -1"):
        ecl(1, rate=-1.0)


# --- paths under a scenario ---------------------------------------------------------------------


def test_annual_pd_path_compounds_quarters_then_reverts_to_ttc() -> None:
    s = builtin_scenario("severely_adverse")  # 12 quarters = 3 years
    path = annual_pd_path([0.02, 0.05], 0.12, s, years=5)
    assert path.shape == (2, 5)
    # Year 1 by hand: the four quarters' PDs from the conditional annual PDs.
    annual = conditional_pd(0.02, 0.12, systematic_factor(s)[:4])
    quarterly = 1 - (1 - annual) ** 0.25
    assert path[0, 0] == pytest.approx(1 - np.prod(1 - quarterly), rel=RTOL)
    # Years 4 and 5 are beyond the scenario: the TTC PD.
    np.testing.assert_allclose(path[:, 3:], [[0.02, 0.02], [0.05, 0.05]], rtol=RTOL)
    assert np.all(path[:, :3] > np.array([[0.02], [0.05]]))  # stressed years
    # Correlation 0: the TTC PD throughout.
    flat = annual_pd_path([0.02], 0.0, s, years=4)
    np.testing.assert_allclose(flat, [[0.02] * 4], rtol=RTOL)


def test_annual_lgd_path_averages_the_shift_per_year() -> None:
    s = Scenario(
        "x",
        {"gdp_growth": [0.0] * 6, "unemployment": [6.0] * 6},
        lgd_shift=[0.0, 0.1, 0.2, 0.3, 0.8, -0.9],
    )
    # year 1: 0.4 + mean(0, .1, .2, .3) = 0.55; year 2: clip(1.2) = 1, clip(-0.5) = 0, then
    # two quarters beyond the horizon at 0.4: mean(1, 0, 0.4, 0.4) = 0.45; year 3: 0.4
    np.testing.assert_allclose(annual_lgd_path([0.4], s, years=3), [[0.55, 0.45, 0.4]], rtol=RTOL)


def test_ecl_is_ordered_by_scenario_severity() -> None:
    rng = np.random.default_rng(9)
    n = 300
    pd_ttc, lgd = rng.uniform(0.005, 0.1, n), rng.uniform(0.2, 0.7, n)
    ead, years = rng.uniform(1e3, 5e4, n), rng.uniform(1, 5, n)
    totals = []
    for s in builtin_scenarios().values():
        path = annual_pd_path(pd_ttc, 0.09, s, years=5)
        lgd_path = annual_lgd_path(lgd, s, years=5)
        totals.append(
            expected_credit_loss(path, lgd_path, ead, 0.06, np.full(n, 2), remaining_years=years)
        )
    base, adverse, severe = (t.sum() for t in totals)
    assert base < adverse < severe
    assert np.all(totals[0] <= totals[1]) and np.all(totals[1] <= totals[2])


# --- probability weighting ----------------------------------------------------------------------


def test_weighted_ecl_by_hand() -> None:
    # 0.6 x [100, 10] + 0.3 x [180, 20] + 0.1 x [300, 50] = [144, 17]
    got = weighted_ecl(
        {"base": [100.0, 10.0], "adverse": [180.0, 20.0], "severe": [300.0, 50.0]},
        {"severe": 0.1, "base": 0.6, "adverse": 0.3},
    )
    np.testing.assert_allclose(got, [144.0, 17.0], rtol=RTOL)
    seq = weighted_ecl([[100.0, 10.0], [180.0, 20.0], [300.0, 50.0]], [0.6, 0.3, 0.1])
    np.testing.assert_allclose(seq, [144.0, 17.0], rtol=RTOL)
    assert float(weighted_ecl([5.0], [1.0])) == 5.0


def test_weights_must_be_probabilities_summing_to_one() -> None:
    ecls = {"a": 1.0, "b": 2.0, "c": 3.0}
    # 0.1 + 0.2 + 0.7 is 0.9999999999999999 in floating point: accepted
    assert float(weighted_ecl(ecls, {"a": 0.1, "b": 0.2, "c": 0.7})) == pytest.approx(2.6)
    with pytest.raises(ParameterError, match="weights must sum to 1"):
        weighted_ecl(ecls, {"a": 0.6, "b": 0.3, "c": 0.0})
    with pytest.raises(ParameterError, match="weights must sum to 1"):
        weighted_ecl(ecls, {"a": 0.5, "b": 0.3, "c": 0.2001})
    with pytest.raises(ParameterError, match=r"weight of scenario b must be a probability"):
        weighted_ecl(ecls, {"a": 0.8, "b": -0.1, "c": 0.3})
    with pytest.raises(ParameterError, match="must be a number"):
        weighted_ecl(ecls, {"a": True, "b": 0.0, "c": 0.0})
    with pytest.raises(ParameterError, match=r"missing: \['c'\]; unknown: \['d'\]"):
        weighted_ecl(ecls, {"a": 0.5, "b": 0.3, "d": 0.2})
    with pytest.raises(ParameterError, match="one weight per scenario"):
        weighted_ecl([1.0, 2.0], [1.0])
    with pytest.raises(ParameterError, match="must be a sequence"):
        weighted_ecl([1.0, 2.0], {"a": 1.0})
    with pytest.raises(ParameterError, match="same shape"):
        weighted_ecl([[1.0, 2.0], [1.0]], [0.5, 0.5])
    with pytest.raises(DataError, match="must be finite and at least 0"):
        weighted_ecl([[1.0, math.nan], [1.0, 1.0]], [0.5, 0.5])
    with pytest.raises(DataError, match="must be finite and at least 0"):
        weighted_ecl([[1.0, -1.0], [1.0, 1.0]], [0.5, 0.5])
    with pytest.raises(ParameterError, match="at least one scenario"):
        weighted_ecl([], [])


def test_weighting_losses_exceeds_the_loss_of_the_weighted_scenario() -> None:
    # Losses are convex in the economy over this range: weight the ECLs, not the scenarios.
    scenarios = builtin_scenarios()
    weights = {"baseline": 0.6, "adverse": 0.3, "severely_adverse": 0.1}
    average = Scenario(
        "average",
        {
            v: sum(w * scenarios[k].paths[v] for k, w in weights.items())
            for v in ("gdp_growth", "unemployment")
        },
        lgd_shift=sum(w * scenarios[k].lgd_shift for k, w in weights.items()),
    )

    def lifetime(s: Scenario) -> float:
        path = annual_pd_path([0.03], 0.09, s, years=3)
        lgd = annual_lgd_path([0.45], s, years=3)
        return float(expected_credit_loss(path, lgd, 1000.0, 0.05, [2], remaining_years=3)[0])

    weighted = float(weighted_ecl({k: lifetime(scenarios[k]) for k in weights}, weights))
    assert weighted > 1.05 * lifetime(average)
