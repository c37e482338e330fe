"""Market risk: VaR and ES against closed forms, the Basel traffic light and Kupiec's test.

Tolerances are sampling errors worked out in each test: for ``N`` draws, the empirical
alpha-quantile of a normal with standard deviation ``sigma`` has standard error
``sqrt(alpha (1 - alpha) / N) / phi(z) * sigma`` and the tail mean (ES) has standard error
``sqrt((Var(L | L > VaR) + alpha (ES - VaR)^2) / (N (1 - alpha)))``; tests allow five of them.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from fintwin.data.schemas.economy import AssetClass
from fintwin.exceptions import DataError, ParameterError
from fintwin.stress.market import (
    BASEL_PLUS_FACTORS,
    Distribution,
    RiskEstimate,
    TrafficLight,
    VarMethod,
    backtest,
    basel_plus_factor,
    kupiec_test,
    portfolio_returns,
    read_returns,
    rolling_var,
    traffic_light,
    value_at_risk,
    world_returns,
)
from fintwin.world import simulate

ALPHA = 0.99
Z99 = stats.norm.ppf(ALPHA)


def _normal_errors(sigma: float, alpha: float, n: int) -> tuple[float, float]:
    """Standard errors of the empirical VaR and ES of n normal draws with sd sigma."""
    z = stats.norm.ppf(alpha)
    lam = stats.norm.pdf(z) / (1 - alpha)  # ES of a standard normal
    se_var = math.sqrt(alpha * (1 - alpha) / n) / stats.norm.pdf(z) * sigma
    tail_var = 1 + z * lam - lam**2  # variance of Z given Z > z
    se_es = math.sqrt((tail_var + alpha * (lam - z) ** 2) / (n * (1 - alpha))) * sigma
    return se_var, se_es


def _assets(n: int, seed: int) -> pd.DataFrame:
    """Correlated daily log returns of three assets on business days."""
    cov = np.array([[1.0, 0.5, -0.2], [0.5, 1.5, 0.1], [-0.2, 0.1, 0.5]]) * 1e-4
    rng = np.random.default_rng(seed)
    log = rng.multivariate_normal([3e-4, 1e-4, 2e-4], cov, n)
    days = pd.bdate_range("2020-01-01", periods=n, name="date")
    return pd.DataFrame(log, index=days, columns=["equity", "bonds", "gold"])


WEIGHTS = {"equity": 0.5, "bonds": 0.3, "gold": 0.2}


# --- parametric -----------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.99, 0.975, 0.95])
def test_parametric_normal_is_the_closed_form(alpha: float) -> None:
    r = np.random.default_rng(1).normal(4e-4, 0.012, 500)
    est = value_at_risk(r, alpha, VarMethod.PARAMETRIC)
    mu, sigma = r.mean(), r.std(ddof=1)
    z = stats.norm.ppf(alpha)
    assert est.var == pytest.approx(-mu + sigma * z, rel=1e-12)
    assert est.es == pytest.approx(-mu + sigma * stats.norm.pdf(z) / (1 - alpha), rel=1e-12)
    # ES is the mean of the quantiles beyond alpha: integrate the normal quantile function
    tail, _ = integrate.quad(lambda u: -mu + sigma * stats.norm.ppf(u), alpha, 1)
    assert est.es == pytest.approx(tail / (1 - alpha), rel=1e-7)
    assert (est.method, est.alpha, est.n_observations) == (VarMethod.PARAMETRIC, alpha, 500)
    assert est.distribution is Distribution.NORMAL and est.dof is None


def test_horizon_is_square_root_of_time_and_value_gives_currency() -> None:
    r = np.random.default_rng(2).normal(0, 0.01, 300)
    one = value_at_risk(r, method="parametric")
    ten = value_at_risk(r, method="parametric", horizon_days=10, value=2_000_000.0)
    assert ten.var == pytest.approx(one.var * math.sqrt(10) * 2e6, rel=1e-12)
    assert ten.es == pytest.approx(one.es * math.sqrt(10) * 2e6, rel=1e-12)
    assert (ten.horizon_days, ten.value) == (10, 2e6)


def test_parametric_normal_matches_historical_on_a_million_normal_returns() -> None:
    n, sigma = 1_000_000, 0.01
    r = np.random.default_rng(3).normal(0.0, sigma, n)
    hist = value_at_risk(r, ALPHA)
    para = value_at_risk(r, ALPHA, VarMethod.PARAMETRIC)
    se_var, se_es = _normal_errors(sigma, ALPHA, n)  # about 3.7e-5 and 4.6e-5
    assert abs(hist.var - para.var) < 5 * se_var
    assert abs(hist.es - para.es) < 5 * se_es
    assert para.var == pytest.approx(sigma * Z99, abs=5 * se_var)


def test_student_t_is_the_closed_form_with_a_given_dof() -> None:
    r = np.random.default_rng(4).standard_t(5, 2000) * 0.01
    nu = 5.0
    est = value_at_risk(r, ALPHA, "parametric", distribution="student_t", dof=nu)
    mu, sigma = r.mean(), r.std(ddof=1)
    scale = sigma * math.sqrt((nu - 2) / nu)  # t scaled to the sample variance
    q = stats.t.ppf(ALPHA, nu)
    tail_mean = stats.t.expect(lambda x: x, args=(nu,), lb=q, conditional=True)
    assert est.var == pytest.approx(-mu + scale * q, rel=1e-10)
    assert est.es == pytest.approx(-mu + scale * tail_mean, rel=1e-7)
    assert est.distribution is Distribution.STUDENT_T and est.dof == nu
    normal = value_at_risk(r, ALPHA, "parametric")
    assert est.es > normal.es  # fat tails


def test_student_t_dof_is_fitted_from_the_excess_kurtosis() -> None:
    r = np.random.default_rng(5).standard_t(6, 5000) * 0.01
    est = value_at_risk(r, ALPHA, "parametric", distribution=Distribution.STUDENT_T)
    kappa = stats.kurtosis(r, fisher=True, bias=True)
    assert est.dof == pytest.approx(4 + 6 / kappa, rel=1e-10)
    with pytest.raises(DataError, match="excess kurtosis"):  # uniform: kurtosis -1.2
        value_at_risk(np.linspace(-0.02, 0.02, 500), method="parametric", distribution="student_t")


# --- historical -----------------------------------------------------------------------------


def test_historical_on_a_hand_case() -> None:
    losses = np.arange(1, 11) / 100  # 0.01 .. 0.10
    r = -np.random.default_rng(6).permutation(losses)
    # n (1 - alpha) = 2.5: VaR is the 3rd largest loss, ES = (0.10 + 0.09 + 0.5 * 0.08) / 2.5
    est = value_at_risk(r, 0.75)
    assert est.var == pytest.approx(0.08, abs=1e-15)
    assert est.es == pytest.approx(0.092, abs=1e-15)
    # n (1 - alpha) = 2 (a whole number): ES is the mean of the 2 losses beyond VaR
    est = value_at_risk(r, 0.8)
    assert est.var == pytest.approx(0.08, abs=1e-15)
    assert est.es == pytest.approx(0.095, abs=1e-15)
    # 250 days at 99 %: n (1 - alpha) = 2.5
    big = -np.arange(1, 251) / 1000
    est = value_at_risk(big, 0.99)
    assert est.var == pytest.approx(0.248, abs=1e-15)
    assert est.es == pytest.approx((0.250 + 0.249 + 0.5 * 0.248) / 2.5, abs=1e-15)


@pytest.mark.parametrize("alpha", [0.9, 0.95, 0.975, 0.99, 0.995])
@pytest.mark.parametrize("n", [37, 100, 250, 1001])
def test_historical_is_the_empirical_quantile_and_tail_integral(alpha: float, n: int) -> None:
    r = np.random.default_rng(n).standard_t(4, n) * 0.01
    losses = np.sort(-r)
    est = value_at_risk(r, alpha)
    assert est.var == np.quantile(losses, alpha, method="inverted_cdf")
    # ES = 1/(1-alpha) * integral over u in (alpha, 1] of the empirical quantile L_(ceil(u n)):
    # the j-th smallest loss covers u in ((j-1)/n, j/n]
    lo = np.arange(n) / n
    hi = np.arange(1, n + 1) / n
    width = np.clip(hi - np.maximum(lo, alpha), 0, None)
    assert est.es == pytest.approx(float(width @ losses) / (1 - alpha), rel=1e-9)
    assert est.es >= est.var


def test_window_uses_the_last_days_only() -> None:
    r = np.r_[np.full(50, -0.5), np.random.default_rng(8).normal(0, 0.01, 300)]
    assert value_at_risk(r, window=300).var == value_at_risk(r[-300:]).var
    with pytest.raises(ParameterError, match="window must be at most"):
        value_at_risk(r, window=351)


# --- Monte Carlo ----------------------------------------------------------------------------


def test_monte_carlo_is_reproducible_by_seed() -> None:
    frame = _assets(500, seed=9)
    kw = {"weights": WEIGHTS, "n_simulations": 20_000}
    one = value_at_risk(frame, ALPHA, VarMethod.MONTE_CARLO, seed=11, **kw)
    again = value_at_risk(frame, ALPHA, VarMethod.MONTE_CARLO, seed=11, **kw)
    other = value_at_risk(frame, ALPHA, VarMethod.MONTE_CARLO, seed=12, **kw)
    assert (one.var, one.es) == (again.var, again.es)
    assert one.var != other.var


def test_monte_carlo_converges_to_the_parametric_value() -> None:
    frame = _assets(500, seed=10)
    n = 1_000_000
    mc = value_at_risk(frame, ALPHA, "monte_carlo", weights=WEIGHTS, n_simulations=n, seed=3)
    para = value_at_risk(frame, ALPHA, "parametric", weights=WEIGHTS)
    port = portfolio_returns(frame, WEIGHTS)
    assert para.var == value_at_risk(port, ALPHA, "parametric").var
    se_var, se_es = _normal_errors(float(port.std(ddof=1)), ALPHA, n)
    assert abs(mc.var - para.var) < 5 * se_var
    assert abs(mc.es - para.es) < 5 * se_es
    # a single series is simulated as a univariate normal
    mc1 = value_at_risk(port, ALPHA, "monte_carlo", n_simulations=n, seed=3)
    assert abs(mc1.var - para.var) < 5 * se_var


# --- filtered historical simulation ---------------------------------------------------------


def test_filtered_raises_var_when_volatility_doubles() -> None:
    sigma = 0.01
    rng = np.random.default_rng(7)
    r = np.r_[rng.normal(0, sigma, 1000), rng.normal(0, 2 * sigma, 100)]
    hist = value_at_risk(r, ALPHA)
    fhs = value_at_risk(r, ALPHA, VarMethod.FILTERED)
    # Historical VaR mixes 1000 calm days with 100 volatile ones (about 0.63 of 2 sigma z);
    # FHS rescales to the current EWMA volatility, about 2 sigma: its VaR is near 2 sigma z.
    # The EWMA volatility (lambda 0.94) has a relative standard error near
    # sqrt(2 (1 - lambda) / (1 + lambda)) / 2 = 12 %: 45 % is more than 3.5 of them.
    assert fhs.var > 1.25 * hist.var
    assert fhs.var == pytest.approx(2 * sigma * Z99, rel=0.45)
    assert fhs.es > hist.es


def test_filtered_on_a_hand_case() -> None:
    r = np.array([0.01, -0.02, 0.03, -0.01])
    lam = 0.9
    # s2_1 = mean(R^2); s2_t+1 = lam s2_t + (1 - lam) R_t^2: each return is divided by the
    # volatility forecast made the day before, and rescaled by the forecast for tomorrow
    s2 = [3.75e-4]
    for x in r:
        s2.append(lam * s2[-1] + (1 - lam) * x * x)
    assert s2[1:] == pytest.approx([3.475e-4, 3.5275e-4, 4.07475e-4, 3.767275e-4], rel=1e-12)
    rescaled = r / np.sqrt(s2[:-1]) * math.sqrt(s2[-1])
    worst = np.sort(-rescaled)[::-1]  # n (1 - alpha) = 2 at alpha 0.5
    est = value_at_risk(r, 0.5, VarMethod.FILTERED, ewma_lambda=lam)
    assert est.var == pytest.approx(worst[2], rel=1e-12)
    assert est.es == pytest.approx((worst[0] + worst[1]) / 2, rel=1e-12)


def test_filtered_equals_historical_when_volatility_is_constant() -> None:
    # |R| constant: the EWMA variance stays at its seed, so the rescaling is the identity
    signs = np.random.default_rng(12).choice([-1.0, 1.0], 400)
    steady = 0.01 * signs
    fhs = value_at_risk(steady, 0.9, "filtered")
    hist = value_at_risk(steady, 0.9)
    assert (fhs.var, fhs.es) == pytest.approx((hist.var, hist.es), rel=1e-12)
    # i.i.d. normal returns: with lambda 0.999 the EWMA volatility's relative standard error is
    # sqrt(2 (1 - lambda) / (1 + lambda)) / 2 = 1.6 %; 6 % is over three and a half of them
    r = np.random.default_rng(13).normal(0, 0.01, 20_000)
    fhs = value_at_risk(r, ALPHA, "filtered", ewma_lambda=0.999)
    hist = value_at_risk(r, ALPHA)
    assert fhs.var == pytest.approx(hist.var, rel=0.06)


# --- rolling forecasts ----------------------------------------------------------------------


@pytest.mark.parametrize("method", list(VarMethod))
def test_rolling_var_has_no_look_ahead(method: VarMethod) -> None:
    r = pd.Series(
        np.random.default_rng(14).normal(0, 0.01, 320),
        index=pd.bdate_range("2021-01-01", periods=320),
    )
    kw = {"window": 250, "n_simulations": 5_000}
    before = rolling_var(r, ALPHA, method, **kw)
    shocked = r.copy()
    shocked.iloc[290] = -0.30
    after = rolling_var(shocked, ALPHA, method, **kw)
    assert before.index.equals(r.index[250:])
    day = r.index[290]
    # forecasts up to and including the shocked day use only earlier days: unchanged
    pd.testing.assert_series_equal(before.loc[:day], after.loc[:day])
    # the next day's forecast sees the loss
    assert after.iloc[after.index.get_loc(day) + 1] > before.iloc[before.index.get_loc(day) + 1]
    # each forecast is value_at_risk on the window before its day
    t = 300
    expected = value_at_risk(r.iloc[t - 250 : t], ALPHA, method, n_simulations=5_000).var
    assert before.loc[r.index[t]] == expected


def test_rolling_var_needs_a_day_after_the_window() -> None:
    with pytest.raises(DataError, match="more days than window"):
        rolling_var(np.zeros(250), window=250)


# --- Basel traffic light and Kupiec ---------------------------------------------------------


@pytest.mark.parametrize(
    ("exceptions", "zone", "plus"),
    [
        (0, TrafficLight.GREEN, 0.0),
        (4, TrafficLight.GREEN, 0.0),
        (5, TrafficLight.AMBER, 0.40),
        (6, TrafficLight.AMBER, 0.50),
        (7, TrafficLight.AMBER, 0.65),
        (8, TrafficLight.AMBER, 0.75),
        (9, TrafficLight.AMBER, 0.85),
        (10, TrafficLight.RED, 1.0),
        (30, TrafficLight.RED, 1.0),
    ],
)
def test_basel_zones_and_plus_factors(exceptions: int, zone: TrafficLight, plus: float) -> None:
    assert traffic_light(exceptions) is zone
    assert basel_plus_factor(exceptions) == plus


def test_basel_table_cumulative_probabilities() -> None:
    # Basel 1996, table 1 (250 days, 99 %): P(X <= 4) 89.22 %, P(X <= 5) 95.88 %,
    # P(X <= 9) 99.97 %, P(X <= 10) 99.99 %
    cdf = stats.binom.cdf([4, 5, 9, 10], 250, 0.01)
    assert np.round(cdf * 100, 2).tolist() == [89.22, 95.88, 99.97, 99.99]
    assert set(BASEL_PLUS_FACTORS) == {5, 6, 7, 8, 9}


@pytest.mark.parametrize(("days", "alpha"), [(500, 0.99), (250, 0.975), (100, 0.99)])
def test_zones_scale_with_binomial_probabilities(days: int, alpha: float) -> None:
    for x in range(days + 1):
        cdf = stats.binom.cdf(x, days, 1 - alpha)
        expected = (
            TrafficLight.GREEN
            if cdf < 0.95
            else TrafficLight.AMBER
            if cdf < 0.9999
            else TrafficLight.RED
        )
        assert traffic_light(x, days=days, alpha=alpha) is expected, x
    amber = next(
        x for x in range(days) if traffic_light(x, days=days, alpha=alpha).value == "amber"
    )
    assert basel_plus_factor(amber, days=days, alpha=alpha) is None  # no Basel table here


def test_kupiec_against_a_hand_computation() -> None:
    x, n, p = 8, 250, 0.01
    lr = -2 * ((n - x) * math.log(1 - p) + x * math.log(p)) + 2 * (
        (n - x) * math.log(1 - x / n) + x * math.log(x / n)
    )
    test = kupiec_test(x, n, 0.99)
    assert test.lr == pytest.approx(lr, rel=1e-12)
    assert test.lr == pytest.approx(7.7336, abs=1e-4)
    assert test.p_value == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-10)
    assert test.reject_at_5pct


def test_kupiec_edge_cases() -> None:
    none = kupiec_test(0, 250, 0.99)  # (x/n)^x = 0^0 = 1
    assert none.lr == pytest.approx(-2 * 250 * math.log(0.99), rel=1e-12)
    assert none.p_value == pytest.approx(stats.chi2.sf(none.lr, 1), rel=1e-10)
    every = kupiec_test(20, 20, 0.99)
    assert every.lr == pytest.approx(-2 * 20 * math.log(0.01), rel=1e-12)
    assert every.reject_at_5pct
    exact = kupiec_test(2, 200, 0.99)  # x = n p: no evidence against the coverage
    assert exact.lr == pytest.approx(0.0, abs=1e-12)
    assert exact.p_value == pytest.approx(1.0) and not exact.reject_at_5pct
    with pytest.raises(ParameterError, match="exceptions must be at most days"):
        kupiec_test(251, 250)
    with pytest.raises(ParameterError, match="exceptions must be an integer"):
        kupiec_test(-1, 250)


# --- back-test ------------------------------------------------------------------------------


def test_backtest_counts_exceptions_over_the_last_days() -> None:
    days = pd.bdate_range("2022-01-03", periods=300)
    r = pd.Series(0.001, index=days)
    r.iloc[10] = -0.10  # before the last 250 days: not counted
    hits = [60, 100, 150, 200, 250, 299]
    r.iloc[hits] = -0.03
    r.iloc[120] = -0.02  # equal to VaR: not an exception
    var = pd.Series(0.02, index=days[1:])  # no forecast on the first day
    b = backtest(r, var)
    assert b.exceptions == 6 and b.days == 250
    assert b.exception_dates.equals(days[hits])
    assert b.zone is TrafficLight.AMBER and b.plus_factor == 0.50
    assert b.capital_multiplier == pytest.approx(3.5)
    k = kupiec_test(6, 250, 0.99)
    assert (b.kupiec_lr, b.kupiec_p_value, b.reject_at_5pct) == (
        k.lr,
        k.p_value,
        k.reject_at_5pct,
    )
    assert b.expected_exceptions == pytest.approx(2.5)


def test_backtest_input_errors() -> None:
    with pytest.raises(DataError, match="needs as many days"):
        backtest(np.zeros(100), np.full(100, 0.02))
    with pytest.raises(ParameterError, match="equal length"):
        backtest(np.zeros(100), np.full(99, 0.02), days=50)
    with pytest.raises(DataError, match="var_forecasts must be finite"):
        backtest(np.zeros(10), np.r_[np.full(9, 0.02), np.nan], days=10)


# --- portfolio returns and parameters -------------------------------------------------------


def test_portfolio_returns_are_weighted_simple_returns() -> None:
    frame = _assets(50, seed=15)
    port = portfolio_returns(frame, WEIGHTS)
    expected = sum(w * np.expm1(frame[a]) for a, w in WEIGHTS.items())
    np.testing.assert_allclose(port.to_numpy(), expected.to_numpy(), rtol=1e-14)
    assert port.index.equals(frame.index) and port.name == "portfolio"
    almost = {"equity": 0.5 + 5e-10, "bonds": 0.3, "gold": 0.2}  # within 1e-9
    portfolio_returns(frame, almost)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"equity": 0.5, "crypto": 0.5}, "'crypto'"),
        ({"equity": 0.5, "bonds": 0.4}, "sum to 1 within 1e-09"),
        ({"equity": 1.0, "bonds": math.nan}, "weight of 'bonds' must be a finite number"),
        ({}, "at least one asset"),
    ],
)
def test_weight_errors(weights: dict[str, float], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        portfolio_returns(_assets(10, seed=16), weights)


def test_parameter_errors() -> None:
    r = np.random.default_rng(17).normal(0, 0.01, 100)
    cases = [
        ({"alpha": 1.0}, "alpha must be a number strictly between 0 and 1"),
        ({"alpha": True}, "alpha must be"),
        ({"method": "delta_gamma"}, "method must be one of"),
        ({"horizon_days": 0}, "horizon_days must be an integer of at least 1"),
        ({"ewma_lambda": 1.0}, "ewma_lambda must be"),
        ({"distribution": "student_t"}, "parametric method only"),
        ({"method": "parametric", "dof": 5}, "dof applies to the student_t"),
        ({"method": "parametric", "distribution": "student_t", "dof": 2}, "above 2"),
        ({"value": -1.0}, "value must be a positive"),
        ({"weights": WEIGHTS}, "weights apply to a DataFrame"),
    ]
    for kw, message in cases:
        with pytest.raises(ParameterError, match=message):
            value_at_risk(r, **kw)
    with pytest.raises(ParameterError, match="weights must be given"):
        value_at_risk(_assets(10, seed=18))
    with pytest.raises(DataError, match="finite"):
        value_at_risk(np.r_[r, np.nan])
    with pytest.raises(DataError, match="at least 2 days"):
        value_at_risk([0.01])


# --- reading a user's returns ---------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


WIDE = "date,equity,bonds\n2024-01-03,0.01,0.002\n2024-01-02,-0.02,0.001\n2024-01-04,0.005,-0.003\n"


def test_read_returns_wide_long_and_parquet_agree(tmp_path: Path) -> None:
    wide = read_returns(_write(tmp_path, "wide.csv", WIDE))
    assert wide.columns.tolist() == ["equity", "bonds"]
    assert wide.index.name == "date" and wide.index.is_monotonic_increasing
    assert wide.loc["2024-01-02", "equity"] == -0.02
    long_text = "date;asset;return\n" + "".join(
        f"{d.date()};{a};{float(wide.loc[d, a])!r}\n" for d in wide.index for a in wide.columns
    )
    pd.testing.assert_frame_equal(read_returns(_write(tmp_path, "long.csv", long_text)), wide)
    parquet = tmp_path / "wide.parquet"
    wide.reset_index().assign(date=lambda f: f["date"].dt.date).to_parquet(parquet)
    pd.testing.assert_frame_equal(read_returns(parquet), wide)
    renamed = read_returns(
        _write(tmp_path, "d.csv", WIDE.replace("date", "day")), date_column="day"
    )
    assert renamed.to_numpy().tolist() == wide.to_numpy().tolist()


@pytest.mark.parametrize(
    ("text", "row", "column", "message"),
    [
        (WIDE.replace("0.002", "abc"), 1, "bonds", "not a finite number (got 'abc')"),
        (WIDE.replace("-0.003", ""), 3, "bonds", "missing value"),
        (WIDE.replace("2024-01-02", "02/01/2024"), 2, "date", "ISO 8601"),
        (WIDE.replace("2024-01-04", "2024-01-03"), 3, "date", "appears twice"),
        ("date,asset,return\n2024-01-02,a,0.1\n2024-01-02,a,0.2\n", 2, "asset", "second return"),
        ("date,asset,return\n2024-01-02,a,0.1\n2024-01-02,b,x\n", 2, "return", "got 'x'"),
    ],
)
def test_read_returns_errors_name_file_row_and_column(
    tmp_path: Path, text: str, row: int, column: str, message: str
) -> None:
    path = _write(tmp_path, "bad.csv", text)
    with pytest.raises(DataError, match=re.escape(message)) as caught:
        read_returns(path)
    error = caught.value
    assert (error.file, error.row, error.column) == (str(path), row, column)
    assert f"file {path}, row {row}, column {column!r}" in str(error)


def test_read_returns_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_returns(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="no date column 'date'") as caught:
        read_returns(_write(tmp_path, "nodate.csv", "day,a\n2024-01-02,0.1\n"))
    assert caught.value.file == str(tmp_path / "nodate.csv")
    with pytest.raises(DataError, match="no asset column"):
        read_returns(_write(tmp_path, "noasset.csv", "date\n2024-01-02\n"))
    hole = "date,asset,return\n2024-01-02,a,0.1\n2024-01-02,b,0.2\n2024-01-03,a,0.3\n"
    with pytest.raises(DataError, match="asset 'b' has no return on 2024-01-03") as caught:
        read_returns(_write(tmp_path, "hole.csv", hole))
    assert caught.value.column == "return"


# --- the twin's markets ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def market_world(tmp_path_factory: pytest.TempPathFactory):
    """Two years of the twin's markets: 521 business days (about a second to simulate)."""
    out = tmp_path_factory.mktemp("market") / "w"
    return simulate(out, "handbook", customers=200, days=730, seed=1)


def test_world_returns_are_the_asset_prices_log_returns(market_world) -> None:
    frame = world_returns(market_world)
    assert frame.columns.tolist() == [a.value for a in AssetClass]
    assert len(frame) >= 500 and frame.index.is_monotonic_increasing
    assert (frame.index.day_of_week < 5).all()  # business days
    prices = market_world.frame("asset_prices")
    prices["asset_class"] = prices["asset_class"].astype(str)
    wide = prices.pivot(index="date", columns="asset_class", values="price")
    equity = wide["domestic_equity"].to_numpy()
    # the portfolio's simple returns are the price relatives of the total-return index
    port = portfolio_returns(frame, {"domestic_equity": 1.0})
    np.testing.assert_allclose(port.to_numpy()[1:], equity[1:] / equity[:-1] - 1, rtol=1e-9)
    assert world_returns(market_world.path).equals(frame)


def test_world_portfolio_basel_backtest_end_to_end(market_world) -> None:
    weights = {"domestic_equity": 0.4, "foreign_equity": 0.2, "government_bonds": 0.4}
    port = portfolio_returns(world_returns(market_world), weights)
    var = rolling_var(port, ALPHA, VarMethod.HISTORICAL, window=250)
    assert len(var) == len(port) - 250 and (var > 0).all()
    result = backtest(port, var, alpha=ALPHA, days=250)
    tested = port.index[-250:]
    expected = int((-port.loc[tested] > var.loc[tested]).sum())
    assert result.exceptions == expected
    assert result.exception_dates.isin(tested).all()
    assert result.zone is traffic_light(expected)
    assert result.plus_factor == basel_plus_factor(expected)
    assert result.kupiec_lr == kupiec_test(expected, 250).lr
    fhs = backtest(port, rolling_var(port, ALPHA, "filtered"), days=250)
    assert 0 <= fhs.exceptions <= 250
    assert isinstance(value_at_risk(port, method="filtered", window=250), RiskEstimate)
