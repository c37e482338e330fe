"""The quarterly macro cycle: regimes that move growth, unemployment, rates and house prices."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from fintwin.data.schemas import TABLE_SPECS
from fintwin.data.schemas.economy import MacroRegime
from fintwin.exceptions import ParameterError
from fintwin.world.macro import MacroParams, simulate_macro, two_state_chain

START = dt.date(2000, 1, 1)


@pytest.fixture(scope="module")
def long_path():
    """400 years of quarters (1,600): enough recessions (about 300 quarters) for averages."""
    return simulate_macro(START, dt.date(2399, 12, 31), np.random.default_rng(2024))


def test_tables_match_their_specs() -> None:
    path = simulate_macro(dt.date(2024, 2, 10), dt.date(2025, 3, 1), np.random.default_rng(0))
    TABLE_SPECS["macro"].conform(path.table())
    TABLE_SPECS["macro_regimes"].conform(path.regime_table())
    assert path.size == 5  # 2024Q1 .. 2025Q1


def test_quarters_are_calendar_quarters_published_after_they_end() -> None:
    path = simulate_macro(dt.date(2024, 2, 10), dt.date(2025, 3, 1), np.random.default_rng(0))
    table = path.table().to_pydict()
    starts = table["quarter_start"]
    assert starts[0] == dt.date(2024, 1, 1)
    assert all(d.day == 1 and d.month in (1, 4, 7, 10) for d in starts)
    for q_start, published in zip(starts, table["available_at"], strict=True):
        assert published > q_start + dt.timedelta(days=89)
    assert table["house_price_index"][0] == pytest.approx(100, abs=10)


def test_two_state_chain_equals_the_sequential_definition() -> None:
    rng = np.random.default_rng(5)
    n = 2_000
    p_up = rng.uniform(0, 0.5, n)
    p_down = rng.uniform(0, 0.5, n)
    u = rng.random(n)
    state = [True]
    for t in range(1, n):
        if state[-1]:
            state.append(not u[t] > 1 - p_down[t])
        else:
            state.append(bool(u[t] < p_up[t]))
    assert two_state_chain(p_up, p_down, u, True).tolist() == state


def test_regime_share_matches_the_markov_chain(long_path) -> None:
    # Stationary recession share 0.07 / (0.07 + 0.30) = 0.189. Quarters are autocorrelated
    # (lambda = 0.63), so 1,600 quarters are worth about 360 independent ones: sd 0.021;
    # allow 3 sd.
    assert abs(long_path.recession.mean() - 0.189) < 0.063


def test_recession_quarters_have_lower_growth_and_higher_unemployment(long_path) -> None:
    rec = long_path.recession
    g, u = long_path.gdp_growth, long_path.unemployment
    # Regime means differ by 4.6 points of growth against shocks of sd 0.8 (the AR deviation
    # has sd 0.92): a 2-point margin cannot be missed by chance.
    assert g[rec].mean() < g[~rec].mean() - 2.0
    # Okun: each recession quarter adds about 0.4 point of unemployment; the level gap was
    # 1.3 to 1.6 points over five seeds. Half a point keeps a wide margin while failing if
    # unemployment ignored growth (gap 0).
    assert u[rec].mean() > u[~rec].mean() + 0.5
    # Unemployment rises during recessions and falls during expansions.
    du = np.diff(u)
    assert du[rec[1:]].mean() > 0.2
    assert du[~rec[1:]].mean() < 0


def test_okun_link_is_recovered_by_regression(long_path) -> None:
    # du_t = -okun / 4 (g_t - g*) + kappa (u* - u_{t-1}) + e: least squares over 1,600 quarters
    # recovers -0.125 with se about 0.003 (shock sd 0.1 over g's spread of 2.1); 0.02 is ~6 se.
    u, g = long_path.unemployment, long_path.gdp_growth
    above_floor = u[1:] > 1.6
    x = np.column_stack([g[1:] - 1.8, 5.0 - u[:-1], np.ones(u.size - 1)])[above_floor]
    coef, *_ = np.linalg.lstsq(x, np.diff(u)[above_floor], rcond=None)
    assert coef[0] == pytest.approx(-0.125, abs=0.02)
    assert coef[1] == pytest.approx(0.1, abs=0.03)


def test_policy_rate_follows_the_cycle(long_path) -> None:
    rec = long_path.recession
    rate = long_path.policy_rate
    assert rate.min() >= 0.0  # the effective lower bound
    # The Taylor-like rule cuts after weak quarters: rates fall by about 0.3 point a
    # recession quarter (0.27 to 0.30 over five seeds; se about 0.01).
    assert np.diff(rate)[rec[1:]].mean() < -0.2
    assert rate[rec].mean() < rate[~rec].mean()


def test_house_prices_fall_in_recessions(long_path) -> None:
    hpi = long_path.house_price_index
    growth = np.diff(np.log(hpi)) * 400  # annualised %
    rec = long_path.recession[1:]
    # Regime means of 4 and -6 % a year with 4 % quarterly noise (annualised): margin of 5.
    assert growth[rec].mean() < growth[~rec].mean() - 5.0


def test_initial_regime_is_honoured() -> None:
    params = MacroParams(initial_regime="recession", p_recovery=0.0)
    path = simulate_macro(START, dt.date(2003, 12, 31), np.random.default_rng(0), params)
    assert params.initial_regime is MacroRegime.RECESSION
    assert path.recession.all()


def test_same_rng_state_gives_the_same_path() -> None:
    a = simulate_macro(START, dt.date(2010, 1, 1), np.random.default_rng(3)).table()
    b = simulate_macro(START, dt.date(2010, 1, 1), np.random.default_rng(3)).table()
    c = simulate_macro(START, dt.date(2010, 1, 1), np.random.default_rng(4)).table()
    assert a.equals(b)
    assert not a.equals(c)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p_recession": 0.8, "p_recovery": 0.5}, "at most 1"),
        ({"p_recession": 1.5}, "p_recession"),
        ({"initial_regime": "boom"}, "initial_regime"),
        ({"growth_recession": 3.0}, "growth_recession"),
        ({"rate_smoothing": 1.0}, "rate_smoothing"),
        ({"growth_noise": -1.0}, "growth_noise"),
    ],
)
def test_parameters_are_validated(kwargs, message) -> None:
    with pytest.raises(ParameterError, match=message):
        MacroParams(**kwargs)


def test_days_outside_the_path_are_refused() -> None:
    path = simulate_macro(START, dt.date(2000, 12, 31), np.random.default_rng(0))
    with pytest.raises(ParameterError, match="quarters"):
        path.position(np.array([(dt.date(2001, 1, 1) - dt.date(1970, 1, 1)).days]))
    with pytest.raises(ParameterError, match="end must not be before start"):
        simulate_macro(START, dt.date(1999, 1, 1), np.random.default_rng(0))
