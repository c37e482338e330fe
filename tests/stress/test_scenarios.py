"""Macro scenarios: YAML errors naming file, field and line; the shipped three; the Vasicek
factor and conditional PD (TTC mean identity by quadrature); loss projections by hand."""

from __future__ import annotations

import datetime as dt
import math
import pickle
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from numpy.polynomial.hermite_e import hermegauss

from fintwin.exceptions import DataError, ParameterError
from fintwin.stress.scenarios import (
    BUILTIN_SCENARIOS,
    DEFAULT_LINK,
    LOSS_COLUMNS,
    FactorLink,
    Scenario,
    builtin_scenario,
    builtin_scenario_path,
    builtin_scenarios,
    conditional_pd,
    load_scenario,
    parse_scenario,
    project_losses,
    quarterly_pd,
    scenario_frame,
    scenario_quarters,
    systematic_factor,
)
from fintwin.world.lending import LendingParams
from fintwin.world.macro import MacroParams, simulate_macro

# Sums of a few dozen float64 products: rounding is below 1e-13 of the values; 1e-12 still
# catches any change of formula (the smallest effect tested is 1e-4).
RTOL = 1e-12

# Line numbers in the expected messages are 1-based lines of this text.
VALID = """\
name: test
description: a test scenario
frequency: quarterly
start: 2027-01-01
paths:
  gdp_growth: [1.0, -2.0, 0.5]
  unemployment: [5.5, 6.5, 7.0]
  house_price_index: [99.0, 95.0, 93.0]
lgd_shift: [0.0, 0.02, 0.03]
"""


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_scenario_reads_every_field(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, VALID))
    assert s.name == "test" and s.description == "a test scenario"
    assert s.start == dt.date(2027, 1, 1)
    assert s.horizon == 3
    assert s.variables == ("gdp_growth", "unemployment", "house_price_index")
    assert s.paths["unemployment"].tolist() == [5.5, 6.5, 7.0]
    assert s.lgd_shift.tolist() == [0.0, 0.02, 0.03]
    assert s.source == str(tmp_path / "scenario.yaml")


def test_scenario_arrays_are_read_only() -> None:
    s = parse_scenario(VALID)
    with pytest.raises(ValueError, match="read-only"):
        s.paths["unemployment"][0] = 99.0
    with pytest.raises(ValueError, match="read-only"):
        s.lgd_shift[0] = 0.5
    with pytest.raises(TypeError):
        s.paths["policy_rate"] = np.zeros(3)  # type: ignore[index]


def test_scenario_pickles() -> None:
    s = parse_scenario(VALID, file="mine.yaml")
    back = pickle.loads(pickle.dumps(s))
    assert (back.name, back.start, back.source) == ("test", dt.date(2027, 1, 1), "mine.yaml")
    assert back.paths["unemployment"].tolist() == [5.5, 6.5, 7.0]
    assert not back.paths["unemployment"].flags.writeable


# (old text, new text, field and line named, what the message says)
BAD_FILES = [
    pytest.param(
        "  house_price_index:",
        "  house_prices:",
        "paths.house_prices (line 8)",
        "unknown variable 'house_prices' (the twin's macro variables: gdp_growth, "
        "unemployment, policy_rate, house_price_index)",
        id="unknown-variable",
    ),
    pytest.param(
        "unemployment: [5.5, 6.5, 7.0]",
        "unemployment: [5.5, 6.5]",
        "paths.unemployment (line 7)",
        "holds 2 values but paths.gdp_growth holds 3",
        id="unequal-lengths",
    ),
    pytest.param(
        "lgd_shift: [0.0, 0.02, 0.03]",
        "lgd_shift: [0.0, 0.02, 0.03, 0.04]",
        "lgd_shift (line 9)",
        "holds 4 values but paths.gdp_growth holds 3",
        id="lgd-shift-length",
    ),
    pytest.param(
        "unemployment: [5.5, 6.5, 7.0]",
        "unemployment: [5.5, .nan, 7.0]",
        "paths.unemployment[1] (line 7)",
        "must be a finite number (got nan)",
        id="nan",
    ),
    pytest.param(
        "lgd_shift: [0.0, 0.02, 0.03]",
        "lgd_shift: [0.0, 0.02, -.inf]",
        "lgd_shift[2] (line 9)",
        "must be a finite number (got -inf)",
        id="infinite",
    ),
    pytest.param(
        "gdp_growth: [1.0, -2.0, 0.5]",
        "gdp_growth: [1.0, nan, 0.5]",  # YAML reads "nan" as a string, not a number
        "paths.gdp_growth[1] (line 6)",
        "must be a number (got 'nan')",
        id="string-nan",
    ),
    pytest.param(
        "gdp_growth: [1.0, -2.0, 0.5]",
        "gdp_growth: [1.0, '-2.0', 0.5]",
        "paths.gdp_growth[1] (line 6)",
        "must be a number (got '-2.0')",
        id="quoted-number",
    ),
    pytest.param(
        "gdp_growth: [1.0, -2.0, 0.5]",
        "gdp_growth: [true, -2.0, 0.5]",
        "paths.gdp_growth[0] (line 6)",
        "must be a number (got True)",
        id="boolean",
    ),
    pytest.param(
        "gdp_growth: [1.0, -2.0, 0.5]",
        "gdp_growth: 1.0",
        "paths.gdp_growth (line 6)",
        "must be a list of numbers, one per quarter (got 1.0)",
        id="scalar-path",
    ),
    pytest.param(
        "name: test",
        "name: 5",
        "name (line 1)",
        "must be a string (got 5)",
        id="name-type",
    ),
    pytest.param(
        "name: test",
        "name: '  '",
        "name (line 1)",
        "must not be empty",
        id="name-blank",
    ),
    pytest.param(
        "unemployment: [5.5, 6.5, 7.0]",
        "unemployment: [5.5, 6.5, 150]",
        "paths.unemployment[2] (line 7)",
        "must be a rate in % within [0, 100] (got 150.0)",
        id="unemployment-150",
    ),
    pytest.param(
        "unemployment: [5.5, 6.5, 7.0]",
        "unemployment: [-0.5, 6.5, 7.0]",
        "paths.unemployment[0] (line 7)",
        "must be a rate in % within [0, 100] (got -0.5)",
        id="unemployment-negative",
    ),
    pytest.param(
        "house_price_index: [99.0, 95.0, 93.0]",
        "house_price_index: [99.0, 0, 93.0]",
        "paths.house_price_index[1] (line 8)",
        "must be an index above 0 (got 0.0)",
        id="index-zero",
    ),
    pytest.param(
        "lgd_shift: [0.0, 0.02, 0.03]",
        "lgd_shift: [0.0, 1.5, 0.03]",
        "lgd_shift[1] (line 9)",
        "must be a change of LGD within [-1, 1] (got 1.5)",
        id="lgd-shift-range",
    ),
    pytest.param(
        "gdp_growth: [1.0, -2.0, 0.5]",
        "gdp_growth: []",
        "paths.gdp_growth (line 6)",
        "must hold at least one value, one per quarter (got an empty list)",
        id="empty",
    ),
    pytest.param(
        "  unemployment: [5.5, 6.5, 7.0]\n",
        "",
        "paths (line 5)",
        "a path for 'unemployment' is required",
        id="missing-unemployment",
    ),
    pytest.param(
        "lgd_shift:",
        "lgd_shfit:",
        "lgd_shfit (line 9)",
        "unknown key 'lgd_shfit' (allowed: name, description, frequency, start, paths, lgd_shift)",
        id="misspelt-key",
    ),
    pytest.param(
        "frequency: quarterly",
        "frequency: monthly",
        "frequency (line 3)",
        "must be 'quarterly', the twin's only frequency (got 'monthly')",
        id="frequency",
    ),
    pytest.param(
        "start: 2027-01-01",
        "start: 2027-02-01",
        "start (line 4)",
        "must be the first day of a quarter (1 January, April, July or October; got 2027-02-01)",
        id="start-mid-quarter",
    ),
    pytest.param(
        "start: 2027-01-01",
        "start: soon",
        "start (line 4)",
        "must be a date such as 2027-01-01 (got 'soon')",
        id="start-not-a-date",
    ),
]


@pytest.mark.parametrize(("old", "new", "where", "what"), BAD_FILES)
def test_bad_file_names_file_field_and_line(
    tmp_path: Path, old: str, new: str, where: str, what: str
) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1), "adverse_mine.yaml")
    with pytest.raises(DataError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"file {path}: {where}: "), message
    assert what in message, message
    assert info.value.file == str(path)


def test_syntax_error_duplicate_key_and_alias_name_the_line(tmp_path: Path) -> None:
    cases = {
        "name: [unclosed\n": "line 2: YAML syntax error",
        VALID + "name: again\n": "line 10: duplicate key 'name' (first at line 1)",
        VALID.replace("lgd_shift: [0.0, 0.02, 0.03]", "lgd_shift: *anchor").replace(
            "gdp_growth: [", "gdp_growth: &anchor ["
        ): "YAML aliases (*name) are not allowed",
    }
    for text, what in cases.items():
        path = write(tmp_path, text)
        with pytest.raises(DataError, match=r"^file .*scenario\.yaml: ") as info:
            load_scenario(path)
        assert what in str(info.value)


def test_not_a_mapping_unreadable_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"scenario\.yaml: a scenario must be a YAML mapping"):
        load_scenario(write(tmp_path, "- 1\n- 2\n"))
    with pytest.raises(DataError, match=r"scenario\.yaml: a scenario must be a YAML mapping"):
        load_scenario(write(tmp_path, ""))
    with pytest.raises(DataError, match=r"nope\.yaml: cannot read the file"):
        load_scenario(tmp_path / "nope.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.yaml: not UTF-8"):
        load_scenario(bad)


def test_several_problems_are_counted(tmp_path: Path) -> None:
    text = VALID.replace("name: test", "name: 5").replace("frequency: quarterly", "frequency: 1")
    with pytest.raises(DataError, match=r"\(and 1 more problem\(s\)\)"):
        parse_scenario(text)


def test_scenario_built_in_code_is_checked_the_same_way() -> None:
    good = {"gdp_growth": [1.0, 2.0], "unemployment": [5.0, 6.0]}
    with pytest.raises(DataError, match=r"^file <mine>: paths\.unemployment\[1\]: must be a rate"):
        Scenario("x", good | {"unemployment": [5.0, 101.0]}, source="<mine>")
    with pytest.raises(DataError, match=r"paths\.wages: unknown variable 'wages'"):
        Scenario("x", good | {"wages": [1.0, 2.0]})
    with pytest.raises(DataError, match=r"paths\.gdp_growth: must be a list of numbers"):
        Scenario("x", good | {"gdp_growth": ["1", "2"]})
    with pytest.raises(DataError, match=r"lgd_shift: holds 3 values"):
        Scenario("x", good, lgd_shift=[0.0, 0.0, 0.0])
    with pytest.raises(DataError, match="start: must be the first day of a quarter"):
        Scenario("x", good, start=dt.date(2027, 3, 31))
    with pytest.raises(DataError, match="name must be a non-empty string"):
        Scenario("", good)


# --- the shipped scenarios ---------------------------------------------------------------------


def test_builtin_scenarios_load_with_the_expected_shape() -> None:
    scenarios = builtin_scenarios()
    assert tuple(scenarios) == BUILTIN_SCENARIOS == ("baseline", "adverse", "severely_adverse")
    for name, s in scenarios.items():
        assert s.name == name and s.description
        assert s.horizon == 12 and s.start is None
        assert set(s.variables) == {
            "gdp_growth",
            "unemployment",
            "policy_rate",
            "house_price_index",
        }
        assert builtin_scenario_path(name).is_file()
    base, adverse, severe = scenarios.values()
    # Baseline near the twin's central values: growth 1.8-2 %, unemployment 5 %.
    assert np.all((base.paths["gdp_growth"] >= 1.8) & (base.paths["gdp_growth"] <= 2.0))
    assert np.all(base.paths["unemployment"] == 5.0)
    assert np.all(base.lgd_shift == 0.0)
    # Peaks: + 3 and + 5 points of unemployment, in the order of severity.
    peaks = [float(s.paths["unemployment"].max()) for s in scenarios.values()]
    assert peaks == [5.0, 8.0, 10.0]
    # GDP falls: cumulative contraction over the first five quarters (rates are annualised).
    contraction = [float(s.paths["gdp_growth"][:5].sum() / 4) for s in (adverse, severe)]
    assert contraction == [-2.75, -6.0]
    # House prices and LGD shifts worsen with severity.
    assert base.paths["house_price_index"].min() > 100 > adverse.paths["house_price_index"].min()
    assert adverse.paths["house_price_index"].min() > severe.paths["house_price_index"].min()
    assert 0 < adverse.lgd_shift.max() < severe.lgd_shift.max()


def test_builtin_files_ship_inside_the_package() -> None:
    # The wheel takes everything under src/fintwin (hatch packages = ["src/fintwin"]), as it
    # does the risk policies; the files must sit in the package directory.
    import fintwin.stress

    folder = Path(fintwin.stress.__file__).parent / "scenarios"
    assert sorted(p.name for p in folder.glob("*.yaml")) == sorted(
        f"{n}.yaml" for n in BUILTIN_SCENARIOS
    )


def test_unknown_builtin_scenario_lists_the_available_ones() -> None:
    with pytest.raises(ParameterError, match="available: adverse, baseline, severely_adverse"):
        builtin_scenario("apocalypse")


# --- dates --------------------------------------------------------------------------------------


def test_scenario_starts_the_quarter_after_the_world_macro_table() -> None:
    macro = simulate_macro(dt.date(2024, 2, 1), dt.date(2026, 12, 31), np.random.default_rng(0))
    s = builtin_scenario("adverse")
    quarters = scenario_quarters(s, macro.table())
    assert quarters[0] == np.datetime64("2027-01-01")
    assert quarters[-1] == np.datetime64("2029-10-01")
    assert quarters.size == 12
    frame = scenario_frame(s, macro.table().to_pandas())
    assert frame["quarter_start"].iloc[4] == pd.Timestamp("2028-01-01")
    assert frame["unemployment"].tolist() == s.paths["unemployment"].tolist()


def test_explicit_start_wins_and_no_start_needs_the_macro_table() -> None:
    s = parse_scenario(VALID)
    assert scenario_quarters(s).astype(str).tolist() == ["2027-01-01", "2027-04-01", "2027-07-01"]
    with pytest.raises(ParameterError, match="has no start: give the world's macro table"):
        scenario_quarters(builtin_scenario("baseline"))
    assert scenario_frame(builtin_scenario("baseline"))["quarter_start"].isna().all()


# --- the systematic factor ----------------------------------------------------------------------


def test_factor_link_defaults_are_the_twin_lending_model() -> None:
    # If the twin's PD model or macro centre changes, the link must be recalibrated.
    lending, macro = LendingParams(), MacroParams()
    assert DEFAULT_LINK.unemployment_coef == lending.pd_unemployment
    assert DEFAULT_LINK.growth_coef == lending.pd_growth
    assert DEFAULT_LINK.natural_unemployment == macro.natural_unemployment
    assert DEFAULT_LINK.potential_growth == macro.potential_growth


def test_factor_scale_is_the_index_spread_over_the_twin_cycle() -> None:
    # The documented s = 0.68 is the standard deviation of a (u - u*) - b (g - g*) over the
    # twin's simulated cycle; 2,000 years of quarters pin it to about +-0.03 (runs give
    # 0.66 to 0.70), and z's mean stays within a fifth of a standard deviation of 0.
    path = simulate_macro(dt.date(1000, 1, 1), dt.date(2999, 12, 31), np.random.default_rng(2))
    z = DEFAULT_LINK.factor(path.unemployment, path.gdp_growth)
    assert abs(z.std() - 1.0) < 0.06
    assert abs(z.mean()) < 0.2


def test_systematic_factor_by_hand() -> None:
    # z = -(0.5 (u - 5) - 0.1 (g - 1.8)) / 0.68:
    #   u 5, g 1.8: 0;  u 8.4, g -1.6: -(1.7 + 0.34) / 0.68 = -3;  u 4.32, g 1.8: +0.5
    s = Scenario("x", {"gdp_growth": [1.8, -1.6, 1.8], "unemployment": [5.0, 8.4, 4.32]})
    np.testing.assert_allclose(systematic_factor(s), [0.0, -3.0, 0.5], rtol=0, atol=1e-12)
    other = FactorLink(unemployment_coef=1.0, growth_coef=0.0, scale=2.0)
    np.testing.assert_allclose(systematic_factor(s, link=other), [0.0, -1.7, 0.34], atol=1e-12)


def test_documented_correlation_reproduces_the_twin_pd_response() -> None:
    # FactorLink's note: with s = 0.68, rho = 0.09 moves the log-odds of a 4 % PD by about
    # 0.5 per point of unemployment, as the twin's lending model does (pd_unemployment).
    # "About": within 0.05 (the Vasicek response is not exactly linear in log-odds).
    def logit(p: float) -> float:
        return math.log(p / (1 - p))

    one_point = Scenario("x", {"gdp_growth": [1.8, 1.8], "unemployment": [5.0, 6.0]})
    before, after = conditional_pd(0.04, 0.09, systematic_factor(one_point))
    assert logit(after) - logit(before) == pytest.approx(LendingParams().pd_unemployment, abs=0.05)


def test_builtin_scenarios_order_the_factor() -> None:
    troughs = [systematic_factor(s).min() for s in builtin_scenarios().values()]
    assert troughs[0] > -0.1 and troughs[0] > troughs[1] > troughs[2]


def test_calibrated_link_standardises_the_history() -> None:
    rng = np.random.default_rng(5)
    u = 6 + rng.normal(size=200)
    g = 2 + 2 * rng.normal(size=200)
    link = FactorLink.calibrated(u, g)
    z = link.factor(u, g)
    assert abs(z.mean()) < 1e-12 and abs(z.std() - 1.0) < 1e-12
    with pytest.raises(DataError, match="does not move the factor"):
        FactorLink.calibrated([5.0, 5.0], [1.0, 1.0])
    with pytest.raises(ParameterError, match="same number of quarters"):
        FactorLink.calibrated([5.0, 6.0], [1.0])


def test_factor_link_refuses_bad_coefficients() -> None:
    with pytest.raises(ParameterError, match="scale must be positive"):
        FactorLink(scale=0.0)
    with pytest.raises(ParameterError, match="growth_coef must be at least 0"):
        FactorLink(growth_coef=-0.1)
    with pytest.raises(ParameterError, match="must be finite"):
        FactorLink(natural_unemployment=math.nan)


# --- conditional PD -----------------------------------------------------------------------------

PDS = [0.0003, 0.005, 0.02, 0.2, 0.5, 0.7]
RHOS = [0.03, 0.15, 0.3, 0.6]
INV = NormalDist().inv_cdf


def cdf(x: float) -> float:
    """The standard normal distribution function from math.erfc, accurate in the far tail
    (NormalDist.cdf goes through 1 + erf and loses relative precision below x = -5)."""
    return 0.5 * math.erfc(-x / math.sqrt(2))


@pytest.mark.parametrize("rho", RHOS)
def test_ttc_pd_is_the_mean_of_the_conditional_pd_over_the_factor(rho: float) -> None:
    # E_z[N((G(p) - sqrt(rho) z) / sqrt(1 - rho))] = p for z ~ N(0, 1). Gauss-Hermite
    # quadrature (probabilists', 120 nodes) integrates this smooth integrand to about 1e-16
    # (checked against scipy's adaptive quad); 1e-9 leaves ample margin while the value at
    # z = 0 differs from p by 1e-4 to 1e-1.
    nodes, weights = hermegauss(120)
    weights = weights / math.sqrt(2 * math.pi)
    mean = conditional_pd(PDS, rho, nodes) @ weights
    np.testing.assert_allclose(mean, PDS, rtol=0, atol=1e-9)


@pytest.mark.parametrize("rho", RHOS)
def test_conditional_pd_at_zero_is_not_the_ttc_pd(rho: float) -> None:
    p = np.array(PDS)
    at_zero = conditional_pd(p, rho, 0.0)
    small = p < 0.5
    assert np.all(at_zero[small] < p[small] - 1e-5)  # the median year is better than average
    assert at_zero[p == 0.5] == pytest.approx(0.5, abs=1e-15)
    assert np.all(at_zero[p > 0.5] > p[p > 0.5])
    # The formula at z = 0: N(G(p) / sqrt(1 - rho)).
    expected = [cdf(INV(q) / math.sqrt(1 - rho)) for q in PDS]
    np.testing.assert_allclose(at_zero, expected, rtol=1e-12)


def test_conditional_pd_against_an_independent_computation() -> None:
    z = np.array([-4.0, -2.5, -1.0, 0.0, 1.5, 3.0])
    got = conditional_pd([0.001, 0.03], [0.04, 0.15], z)
    assert got.shape == (2, 6)
    for i, (p, rho) in enumerate([(0.001, 0.04), (0.03, 0.15)]):
        for t, zt in enumerate(z):
            want = cdf((INV(p) - math.sqrt(rho) * zt) / math.sqrt(1 - rho))
            assert got[i, t] == pytest.approx(want, rel=1e-12)


def test_conditional_pd_falls_as_the_factor_rises() -> None:
    z = np.linspace(-6, 6, 241)
    pd_z = conditional_pd([0.0005, 0.01, 0.1, 0.6], 0.12, z)
    assert np.all(np.diff(pd_z, axis=1) < 0)
    # and rises with the correlation in bad years, falls with it in good ones
    assert conditional_pd(0.02, 0.2, -2.0) > conditional_pd(0.02, 0.1, -2.0)
    assert conditional_pd(0.02, 0.2, 2.0) < conditional_pd(0.02, 0.1, 2.0)


def test_conditional_pd_edges_and_shapes() -> None:
    assert conditional_pd([0.0, 1.0], 0.2, [-3.0, 3.0]).tolist() == [[0.0, 0.0], [1.0, 1.0]]
    np.testing.assert_allclose(
        conditional_pd([0.01, 0.3], 0.0, [-5, 0, 5]), [[0.01] * 3, [0.3] * 3]
    )
    assert np.ndim(conditional_pd(0.02, 0.1, 0.0)) == 0
    assert conditional_pd([0.02], 0.1, 0.0).shape == (1,)
    assert conditional_pd(0.02, 0.1, [0.0, 1.0]).shape == (2,)
    with pytest.raises(ParameterError, match=r"rho must be an asset correlation in \[0, 1\)"):
        conditional_pd(0.02, 1.0, 0.0)
    with pytest.raises(DataError, match=r"pd_ttc must be a probability in \[0, 1\] \(got 1.5"):
        conditional_pd([0.02, 1.5], 0.1, 0.0)
    with pytest.raises(DataError, match="z must be finite"):
        conditional_pd(0.02, 0.1, [0.0, math.nan])
    with pytest.raises(ParameterError, match="one value per obligor"):
        conditional_pd([0.02, 0.03], [0.1, 0.1, 0.1], 0.0)


def test_quarterly_pd_compounds_back_to_the_annual_pd() -> None:
    annual = np.array([0.0, 0.01, 0.2, 0.999, 1.0])
    q = quarterly_pd(annual)
    np.testing.assert_allclose(1 - (1 - q) ** 4, annual, rtol=1e-12)
    assert quarterly_pd(1 - 0.99**4) == pytest.approx(0.01, rel=1e-13)


# --- loss projection ----------------------------------------------------------------------------


def test_project_losses_by_hand_with_zero_correlation() -> None:
    # rho = 0: every quarter's PD is the TTC one. Annual 1 - 0.99^4 is 1 % a quarter.
    # Exposure 1000 (obligor A) and 3000 (B, LGD 0.2); LGD shifts 0, +0.6, -0.7 clipped:
    #   A: LGD 0.5, 1.0 (1.1 clipped), 0.0 (-0.2 clipped);  B: 0.2, 0.8, 0.0
    #   q1: performing 4000; defaulted 1 % = 40; loss 10 x 0.5 + 30 x 0.2 = 11
    #   q2: performing 3960; defaulted 39.6; loss 9.9 x 1.0 + 29.7 x 0.8 = 33.66
    #   q3: performing 3920.4; defaulted 39.204; loss 0
    s = Scenario(
        "slump",
        {"gdp_growth": [-5.0, -6.0, -4.0], "unemployment": [8.0, 9.0, 10.0]},
        lgd_shift=[0.0, 0.6, -0.7],
        start="2030-04-01",
    )
    pd_annual = 1 - 0.99**4
    table = project_losses([pd_annual, pd_annual], [0.5, 0.2], [1000.0, 3000.0], 0.0, s)
    assert list(table.columns) == list(LOSS_COLUMNS)
    expected = {
        "quarter": [1, 2, 3],
        "performing": [2.0, 1.98, 1.9602],
        "exposure": [4000.0, 3960.0, 3920.4],
        "pd_annual": [pd_annual] * 3,
        "pd_quarterly": [0.01] * 3,
        "expected_defaults": [0.02, 0.0198, 0.019602],
        "defaulted_exposure": [40.0, 39.6, 39.204],
        "lgd": [11 / 40, 33.66 / 39.6, 0.0],
        "loss": [11.0, 33.66, 0.0],
        "cumulative_loss": [11.0, 44.66, 44.66],
    }
    for column, values in expected.items():
        np.testing.assert_allclose(table[column], values, rtol=RTOL, atol=1e-13, err_msg=column)
    np.testing.assert_allclose(table["z"], systematic_factor(s), rtol=RTOL)
    assert table["quarter_start"].dt.strftime("%Y-%m-%d").tolist() == [
        "2030-04-01",
        "2030-07-01",
        "2030-10-01",
    ]


def test_project_losses_single_obligor_under_stress_by_hand() -> None:
    # One obligor, PD 2 %, rho 0.15, LGD 0.45, EAD 100, in the severely adverse scenario's
    # first two quarters: each quarter's PD is conditional_pd at that quarter's z.
    s = builtin_scenario("severely_adverse")
    z = systematic_factor(s)[:2]
    annual = [cdf((INV(0.02) - math.sqrt(0.15) * zt) / math.sqrt(0.85)) for zt in z]
    q = [1 - (1 - a) ** 0.25 for a in annual]
    lgd = [0.45 + s.lgd_shift[0], 0.45 + s.lgd_shift[1]]
    loss = [100 * q[0] * lgd[0], 100 * (1 - q[0]) * q[1] * lgd[1]]
    table = project_losses([0.02], 0.45, 100.0, 0.15, s, quarters=2)
    np.testing.assert_allclose(table["pd_annual"], annual, rtol=1e-12)
    np.testing.assert_allclose(table["loss"], loss, rtol=1e-12)
    assert table["quarter_start"].isna().all()  # the shipped scenarios have no start


def test_project_losses_closed_portfolio_identities() -> None:
    rng = np.random.default_rng(3)
    n = 500
    pd_ttc = rng.uniform(0.001, 0.2, n)
    lgd = rng.uniform(0.1, 0.9, n)
    ead = rng.uniform(0, 10_000, n)
    table = project_losses(pd_ttc, lgd, ead, rng.uniform(0.03, 0.2, n), builtin_scenario("adverse"))
    exposure = table["exposure"].to_numpy()
    defaulted = table["defaulted_exposure"].to_numpy()
    # exposure leaves the book only by default, and the rates tie the columns together
    np.testing.assert_allclose(exposure[0], ead.sum(), rtol=RTOL)
    np.testing.assert_allclose(exposure[1:], exposure[:-1] - defaulted[:-1], rtol=RTOL)
    np.testing.assert_allclose(defaulted, table["pd_quarterly"] * exposure, rtol=RTOL)
    np.testing.assert_allclose(table["loss"], table["lgd"] * defaulted, rtol=RTOL)
    np.testing.assert_allclose(table["cumulative_loss"], table["loss"].cumsum(), rtol=RTOL)
    assert table["expected_defaults"].sum() < n


def test_cumulative_loss_is_ordered_by_severity() -> None:
    rng = np.random.default_rng(4)
    n = 2_000
    args = (rng.uniform(0.002, 0.08, n), rng.uniform(0.2, 0.7, n), rng.uniform(1, 5e4, n), 0.09)
    total = {
        name: float(project_losses(*args, s)["cumulative_loss"].iloc[-1])
        for name, s in builtin_scenarios().items()
    }
    assert total["baseline"] < total["adverse"] < total["severely_adverse"]
    # The baseline sits at z ~ 0, the median year: below the TTC expected loss of the same
    # run-off (a correlation of 0 gives the TTC path), as the TTC PD is a mean over the cycle.
    ttc = float(
        project_losses(*args[:3], 0.0, builtin_scenario("baseline"))["cumulative_loss"].iloc[-1]
    )
    assert total["baseline"] < ttc < total["adverse"]


def test_project_losses_refuses_bad_inputs() -> None:
    s = builtin_scenario("baseline")
    with pytest.raises(DataError, match=r"pd_ttc must be a probability in \[0, 1\]"):
        project_losses([0.02, -0.1], 0.4, 1.0, 0.1, s)
    with pytest.raises(DataError, match=r"lgd must be a share in \[0, 1\]"):
        project_losses([0.02], 1.2, 1.0, 0.1, s)
    with pytest.raises(DataError, match="ead must be at least 0"):
        project_losses([0.02], 0.4, -1.0, 0.1, s)
    with pytest.raises(ParameterError, match="one value per obligor"):
        project_losses([0.02, 0.03], 0.4, [1.0, 2.0, 3.0], 0.1, s)
    with pytest.raises(ParameterError, match=r"rho must be an asset correlation"):
        project_losses([0.02], 0.4, 1.0, -0.1, s)
    with pytest.raises(ParameterError, match=r"quarters must be in \[1, 12\]"):
        project_losses([0.02], 0.4, 1.0, 0.1, s, quarters=13)
    with pytest.raises(ParameterError, match="scenario must be a Scenario"):
        project_losses([0.02], 0.4, 1.0, 0.1, "adverse")  # type: ignore[arg-type]
