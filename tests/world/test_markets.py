"""Daily market prices: correlated, fat-tailed, regime-switching returns."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from fintwin.data.schemas import TABLE_SPECS
from fintwin.data.schemas.economy import AssetClass
from fintwin.exceptions import ParameterError
from fintwin.world.macro import simulate_macro
from fintwin.world.markets import (
    CALM_CORRELATION,
    RISKY_ASSETS,
    STRESS_CORRELATION,
    MarketParams,
    business_days,
    simulate_markets,
)

START = dt.date(1950, 1, 1)
YEARS = 100
MM = list(AssetClass).index(AssetClass.MONEY_MARKET)


def _macro(years: int, seed: int = 7):
    return simulate_macro(
        START, START + dt.timedelta(days=365 * years + 400), np.random.default_rng(seed)
    )


@pytest.fixture(scope="module")
def long_run():
    """100 years of business days (about 26,000): thousands of days in each regime."""
    macro = _macro(YEARS)
    return macro, simulate_markets(START, 365 * YEARS, macro, np.random.default_rng(8))


def test_tables_match_their_specs() -> None:
    macro = _macro(1)
    path = simulate_markets(START, 30, macro, np.random.default_rng(0))
    prices = TABLE_SPECS["asset_prices"].conform(path.table())
    TABLE_SPECS["market_regimes"].conform(path.regime_table())
    assert prices.num_rows == path.day.size * 8
    assert set(prices.column("asset_class").to_pylist()) == {a.value for a in AssetClass}


def test_business_days_skip_weekends() -> None:
    days = business_days(dt.date(2024, 1, 1), 366)
    weekday = (days + 3) % 7
    assert days.size == 262
    assert weekday.max() == 4


def test_correlations_match_the_configured_matrices(long_run) -> None:
    _, path = long_run
    risky = path.log_return[:, [list(AssetClass).index(a) for a in RISKY_ASSETS]]
    for mask, target, tol in (
        (~path.stress, CALM_CORRELATION, 0.06),
        (path.stress, STRESS_CORRELATION, 0.10),
    ):
        sample = np.corrcoef(risky[mask].T)
        # A Student-t with 5 df triples the variance of a sample correlation (kurtosis
        # parameter 2): se = sqrt(3) (1 - rho^2) / sqrt(n), at most 0.011 on ~22,000 calm days
        # and 0.027 on ~4,000 stress days. The tolerances are about 4-5 se of the worst pair;
        # an uncorrelated or wrong-regime simulation misses them by 0.2 or more.
        assert np.abs(sample - np.asarray(target)).max() < tol, mask.sum()


def test_returns_are_fat_tailed_within_a_regime(long_run) -> None:
    _, path = long_run
    calm = path.log_return[~path.stress][:, [list(AssetClass).index(a) for a in RISKY_ASSETS]]
    z = (calm - calm.mean(axis=0)) / calm.std(axis=0)
    excess_kurtosis = (z**4).mean(axis=0) - 3
    # Student-t with 5 df has excess kurtosis 6; a normal sample of 22,000 days would give
    # 0 +- 0.03, so 1 separates the two without relying on the regime mixture.
    assert (excess_kurtosis > 1.0).all(), excess_kurtosis


def test_stress_is_more_volatile_and_more_correlated(long_run) -> None:
    _, path = long_run
    cols = [list(AssetClass).index(a) for a in RISKY_ASSETS]
    calm, stress = path.log_return[~path.stress][:, cols], path.log_return[path.stress][:, cols]
    assert (stress.std(axis=0) > 1.3 * calm.std(axis=0)).all()
    off = ~np.eye(len(cols), dtype=bool)
    assert np.abs(np.corrcoef(stress.T)[off]).mean() > np.abs(np.corrcoef(calm.T)[off]).mean()


def test_stress_is_tied_to_recessions(long_run) -> None:
    macro, path = long_run
    in_recession = macro.recession[macro.position(path.day)]
    # Stationary shares 0.005 / 0.085 = 6 % in expansions and 0.03 / 0.07 = 43 % in recessions.
    assert path.stress[in_recession].mean() > 0.25
    assert path.stress[~in_recession].mean() < 0.15


def test_money_market_accrues_the_policy_rate() -> None:
    macro = _macro(2)
    path = simulate_markets(START, 730, macro, np.random.default_rng(0))
    rate = macro.policy_rate[macro.position(path.day)]
    assert (path.day[0] + 3) % 7 == 0  # 1950-01-02, a Monday: it earns the weekend
    gap = np.diff(path.day, prepend=path.day[0] - 3)
    np.testing.assert_allclose(path.log_return[:, MM], np.log1p(rate / 100 * gap / 365))
    assert (np.diff(path.price[:, MM]) >= 0).all()


def test_prices_are_the_compounded_returns() -> None:
    macro = _macro(1)
    path = simulate_markets(START, 200, macro, np.random.default_rng(0))
    np.testing.assert_allclose(path.price, 100 * np.exp(np.cumsum(path.log_return, axis=0)))


def test_same_seed_same_prices_other_seed_other_prices() -> None:
    macro = _macro(1)
    a = simulate_markets(START, 200, macro, np.random.default_rng(1)).table()
    b = simulate_markets(START, 200, macro, np.random.default_rng(1)).table()
    c = simulate_markets(START, 200, macro, np.random.default_rng(2)).table()
    assert a.equals(b)
    assert not a.equals(c)


def _bad_matrix() -> tuple[tuple[float, ...], ...]:
    m = np.array(CALM_CORRELATION)
    m[0, 1] = m[1, 0] = -0.99  # equities cannot be opposite while both track real estate
    return tuple(map(tuple, m))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"calm_vol": (1.0,) * 6}, "calm_vol must have 7"),
        ({"stress_vol": (0.0,) * 7}, "stress_vol must be positive"),
        ({"calm_correlation": _bad_matrix()}, "positive definite"),
        ({"stress_correlation": ((1.0,) * 7,) * 7}, "stress_correlation"),
        ({"degrees_of_freedom": 2.0}, "above 2"),
        ({"p_stress_recession": 0.7, "p_calm_recession": 0.5}, "at most 1"),
    ],
)
def test_parameters_are_validated(kwargs, message) -> None:
    with pytest.raises(ParameterError, match=message):
        MarketParams(**kwargs)
