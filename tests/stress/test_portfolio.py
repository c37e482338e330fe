"""Portfolio loss simulation: closed forms, the simulated distribution against exact results,
determinism whatever the workers, additive contributions, correlation and LGD effects, errors.

Statistical tolerances are four standard errors of the quantity tested (a false failure has
probability about 6e-5 per check); seeds are fixed, so the suite is deterministic. The strong
checks compare the simulation with *exact* finite-portfolio results (the binomial mixture of a
homogeneous portfolio, the exact loss variance of a two-sector portfolio), where only
sampling error separates them.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy import integrate, stats

from fintwin.exceptions import DataError, ParameterError
from fintwin.stress import portfolio as pm
from fintwin.stress.portfolio import (
    FactorSampling,
    LossDistribution,
    Portfolio,
    obligor_contributions,
    simulate_losses,
    vasicek_expected_shortfall,
    vasicek_granularity_adjustment,
    vasicek_loss_quantile,
)

N01 = NormalDist()

# Homogeneous book of the convergence check: PD 1 %, asset correlation 0.12, LGD 45 %.
PD, RHO, LGD = 0.01, 0.12, 0.45


def homogeneous(n: int, pd: float = PD, rho: float = RHO, lgd: float = LGD) -> Portfolio:
    return Portfolio(pd=np.full(n, pd), lgd=np.full(n, lgd), ead=np.ones(n), asset_correlation=rho)


def exact_default_cdf(n: int, d: np.ndarray, pd: float = PD, rho: float = RHO) -> np.ndarray:
    """P(D <= d) for n homogeneous obligors: E over the factor of the Binomial(n, p(Z)) CDF.

    Trapezoid rule on z in [-9, 9] with step 0.001: the integrand changes over ~0.05 in z at
    n = 10,000, so the rule's error is far below the 1e-4 scale of the checks.
    """
    z = np.linspace(-9.0, 9.0, 18_001)
    p = stats.norm.cdf((stats.norm.ppf(pd) - math.sqrt(rho) * z) / math.sqrt(1 - rho))
    w = stats.norm.pdf(z)
    return np.array([integrate.trapezoid(stats.binom.cdf(k, n, p) * w, z) for k in d])


def exact_default_quantile(n: int, alpha: float) -> int:
    """Smallest d with P(D <= d) > alpha (the upper quantile, as ``LossDistribution.var``)."""
    guess = int(n * vasicek_loss_quantile(PD, RHO, alpha))
    d = np.arange(max(0, guess - 60), min(n, guess + 60) + 1)
    cdf = exact_default_cdf(n, d)
    assert cdf[0] < alpha < cdf[-1]
    return int(d[np.argmax(cdf > alpha)])


def quantile_se(alpha: float, n_scenarios: int, pd: float = PD, rho: float = RHO) -> float:
    """Sampling s.e. of the simulated alpha-quantile of the loss fraction (large portfolio).

    sqrt(alpha (1 - alpha) / N) / h(q), h the Vasicek density at the quantile: h = phi(x) /
    mu'(x) at x = G(alpha), mu(x) = LGD N((G(pd) + sqrt(rho) x) / sqrt(1 - rho)).
    """
    x = N01.inv_cdf(alpha)
    u = (N01.inv_cdf(pd) + math.sqrt(rho) * x) / math.sqrt(1 - rho)
    dmu = LGD * N01.pdf(u) * math.sqrt(rho / (1 - rho))
    return math.sqrt(alpha * (1 - alpha) / n_scenarios) / (N01.pdf(x) / dmu)


# ---- closed forms ----------------------------------------------------------------------------


def test_vasicek_quantile_inverts_the_vasicek_distribution() -> None:
    # Direct computation with the standard library's normal, not scipy: the LHP loss fraction
    # has CDF F(x) = N((sqrt(1 - rho) G(x) - G(pd)) / sqrt(rho)); F at the quantile is alpha.
    for pd, rho, alpha in ((0.01, 0.12, 0.999), (0.003, 0.2, 0.99), (0.2, 0.05, 0.9)):
        q = vasicek_loss_quantile(pd, rho, alpha, lgd=0.6, ead=250.0)
        x = q / (0.6 * 250.0)
        f = N01.cdf((math.sqrt(1 - rho) * N01.inv_cdf(x) - N01.inv_cdf(pd)) / math.sqrt(rho))
        assert f == pytest.approx(alpha, abs=1e-12)
        direct = N01.cdf(
            (N01.inv_cdf(pd) + math.sqrt(rho) * N01.inv_cdf(alpha)) / math.sqrt(1 - rho)
        )
        assert q == pytest.approx(150.0 * direct, rel=1e-13)
    assert vasicek_loss_quantile(0.0, 0.3, 0.999) == 0.0
    assert vasicek_loss_quantile(1.0, 0.3, 0.999, lgd=0.4) == pytest.approx(0.4)
    assert vasicek_loss_quantile(0.02, 0.0, 0.999, lgd=0.5) == pytest.approx(0.01, rel=1e-14)


@pytest.mark.parametrize(
    ("pd", "correlation", "maturity_adjusted", "published_pct"),
    [
        # Basel II (BCBS, June 2006) Annex 5, corporate at LGD 45 %, M = 2.5: 0.10 %, 1 %, 5 %
        (0.0010, None, True, 29.65),
        (0.0100, None, True, 92.32),
        (0.0500, None, True, 149.86),
        # residential mortgage at LGD 45 % (R = 0.15, no maturity adjustment): 1 %
        (0.0100, 0.15, False, 56.40),
    ],
)
def test_vasicek_quantile_reproduces_basel_risk_weights(
    pd: float, correlation: float | None, maturity_adjusted: bool, published_pct: float
) -> None:
    # The IRB capital is the Vasicek 99.9 % quantile less EL: RW = 12.5 (q - PD LGD) MA. The
    # annex prints two decimals of a per cent (its cells sit up to 0.0067 pp from the exact
    # formula): one printed unit, 0.01 pp, is the tolerance.
    if correlation is None:
        e = (1 - math.exp(-50 * pd)) / (1 - math.exp(-50))
        correlation = 0.12 * e + 0.24 * (1 - e)
    ma = 1.0
    if maturity_adjusted:
        b = (0.11852 - 0.05478 * math.log(pd)) ** 2
        ma = 1 / (1 - 1.5 * b)
    rw = 12.5 * (vasicek_loss_quantile(pd, correlation, 0.999, lgd=0.45) - pd * 0.45) * ma
    assert 100 * rw == pytest.approx(published_pct, abs=0.01)


def test_vasicek_expected_shortfall_against_quadrature() -> None:
    # ES = (1 / (1 - alpha)) * integral of the quantile from alpha to 1, by adaptive quadrature
    # in the probability variable (an independent route from the module's Gauss-Legendre).
    for pd, rho, alpha in ((0.01, 0.12, 0.999), (0.05, 0.25, 0.99), (0.002, 0.3, 0.95)):
        val, _ = integrate.quad(
            lambda u, pd=pd, rho=rho: vasicek_loss_quantile(pd, rho, u),
            alpha,
            1.0,
            epsabs=0,
            epsrel=1e-11,
            limit=200,
        )
        es = vasicek_expected_shortfall(pd, rho, alpha, lgd=0.45, ead=10.0)
        assert es == pytest.approx(4.5 * val / (1 - alpha), rel=1e-8)
        assert es > vasicek_loss_quantile(pd, rho, alpha, lgd=0.45, ead=10.0)


def test_granularity_adjustment_matches_the_exact_finite_portfolio() -> None:
    # The exact quantile of n = 10,000 homogeneous obligors (binomial mixture) sits within 1.5
    # lattice steps (one default = LGD / n of loss) of Vasicek + GA, and within 1 % of Vasicek:
    # the analytic claim, without simulation noise.
    n = 10_000
    exact = exact_default_quantile(n, 0.999) * LGD / n
    lhp = vasicek_loss_quantile(PD, RHO, 0.999, lgd=LGD)
    ga = vasicek_granularity_adjustment(PD, RHO, 0.999, n, lgd=LGD)
    assert abs(exact - (lhp + ga)) <= 1.5 * LGD / n
    assert abs(exact / lhp - 1) < 0.01
    assert 0 < ga / lhp < 0.005
    # GA scales as 1 / n, and LGD noise adds to it
    assert vasicek_granularity_adjustment(PD, RHO, 0.999, 1_000, lgd=LGD) == pytest.approx(10 * ga)
    assert vasicek_granularity_adjustment(PD, RHO, 0.999, n, lgd=LGD, lgd_volatility=0.2) > ga


# ---- the simulated distribution against exact results ----------------------------------------

N_BIG = 10_000  # obligors
S_BIG = 50_000  # scenarios: 5e8 obligor draws, ~3-8 s on two workers


@pytest.fixture(scope="module")
def big() -> tuple[Portfolio, LossDistribution]:
    p = homogeneous(N_BIG)
    return p, simulate_losses(p, S_BIG, seed=11, workers=2)


def test_simulated_quantiles_match_the_exact_finite_portfolio(big) -> None:
    # The simulated VaR is the order statistic k = floor(alpha N) + 1 of N independent losses;
    # if the model is simulated right, the exact CDF just below / at it brackets alpha within
    # four binomial standard errors sqrt(alpha (1 - alpha) / N).
    _, dist = big
    for alpha in (0.99, 0.999):
        d = round(dist.var(alpha) / LGD)
        below, at = exact_default_cdf(N_BIG, np.array([d - 1, d]))
        tol = 4 * math.sqrt(alpha * (1 - alpha) / S_BIG)
        assert below <= alpha + tol
        assert at >= alpha - tol


def test_simulated_999_quantile_matches_vasicek(big) -> None:
    # |simulated - Vasicek| <= GA + 4 s.e.(quantile): GA is the finite-portfolio bias (0.23 % of
    # VaR at 10,000 obligors), the s.e. that of the 99.9 % quantile of 50,000 draws (~2.8 % of
    # VaR). The 1 % needs ~100x more draws (bench/bench_portfolio.py shows it); the
    # test above checks the simulation against the exact distribution at 0.04 % in probability.
    _, dist = big
    lhp = vasicek_loss_quantile(PD, RHO, 0.999, lgd=LGD, ead=N_BIG)
    ga = vasicek_granularity_adjustment(PD, RHO, 0.999, N_BIG, lgd=LGD, ead=N_BIG)
    se = quantile_se(0.999, S_BIG) * N_BIG
    assert abs(dist.var(0.999) - lhp) <= ga + 4 * se
    lo, hi = dist.var_interval(0.999, 0.9999)
    assert lo <= lhp + ga <= hi


def test_simulated_expected_loss_is_sum_pd_lgd_ead(big) -> None:
    p, dist = big
    se = dist.losses.std() / math.sqrt(dist.n_scenarios)
    assert abs(dist.expected_loss - p.expected_loss) <= 4 * se
    assert p.expected_loss == pytest.approx(N_BIG * PD * LGD)


def test_stratified_factors_keep_the_distribution() -> None:
    # Latin hypercube on the factor: marginals unchanged, so the same exact-CDF bracket holds
    # (the binomial s.e. is conservative: stratification never increases the variance of the
    # empirical CDF), and EL stays unbiased with far less noise.
    n_s = 20_000
    dist = simulate_losses(
        homogeneous(N_BIG), n_s, seed=5, workers=2, factor_sampling=FactorSampling.STRATIFIED
    )
    for alpha in (0.99, 0.999):
        d = round(dist.var(alpha) / LGD)
        below, at = exact_default_cdf(N_BIG, np.array([d - 1, d]))
        tol = 4 * math.sqrt(alpha * (1 - alpha) / n_s)
        assert below <= alpha + tol
        assert at >= alpha - tol
    se_plain = dist.losses.std() / math.sqrt(n_s)
    assert abs(dist.expected_loss - N_BIG * PD * LGD) <= 4 * se_plain
    assert dist.factor_sampling is FactorSampling.STRATIFIED


# ---- determinism -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed() -> Portfolio:
    """1,500 obligors: varied PD, LGD, EAD, correlation, 3 correlated sectors, 3 segments, part
    with stochastic LGD, obligors deliberately not sorted by sector."""
    rng = np.random.default_rng(21)
    n = 1_500
    return Portfolio(
        pd=rng.uniform(0.002, 0.06, n),
        lgd=rng.uniform(0.2, 0.7, n),
        ead=rng.lognormal(0.0, 1.0, n),
        asset_correlation=rng.uniform(0.05, 0.3, n),
        sector=rng.integers(0, 3, n),
        sector_correlation=[[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]],
        sector_names=("energy", "retail", "banks"),
        segment=rng.choice(["corporate", "sme", "retail"], n),
        lgd_volatility=np.where(rng.random(n) < 0.5, 0.1, 0.0),
    )


S_MIXED = 6_000
KW = {"seed": 4, "block_size": 500}  # 12 blocks


@pytest.fixture(scope="module")
def mixed_dist(mixed) -> LossDistribution:
    return simulate_losses(mixed, S_MIXED, **KW)


def test_result_does_not_depend_on_workers_or_block_order(mixed, mixed_dist, monkeypatch) -> None:
    for workers in (2, 3):
        other = simulate_losses(mixed, S_MIXED, workers=workers, **KW)
        assert np.array_equal(other.segment_losses, mixed_dist.segment_losses)
        assert np.array_equal(other.losses, mixed_dist.losses)
    # every block has its own stream
    blocks = mixed_dist.losses.reshape(-1, 500)
    assert len({b.tobytes() for b in blocks}) == len(blocks) == 12
    # blocks computed one by one in reverse order, and with much smaller chunks inside a block
    monkeypatch.setattr(pm, "_CHUNK_ELEMENTS", 7_000)
    model = pm._build_model(mixed, S_MIXED, 4, 500, FactorSampling.MONTE_CARLO)
    for block in reversed(range(model.n_blocks)):
        seg, _ = pm._run_block(model, block)
        assert np.array_equal(seg, mixed_dist.segment_losses[block * 500 : (block + 1) * 500])


def test_same_seed_same_result_other_seed_other_result(mixed, mixed_dist) -> None:
    again = simulate_losses(mixed, S_MIXED, **KW)
    assert np.array_equal(again.losses, mixed_dist.losses)
    other = simulate_losses(mixed, S_MIXED, seed=5, block_size=500)
    assert not np.array_equal(other.losses, mixed_dist.losses)
    # a different block size draws differently; the distribution agrees within sampling error
    resized = simulate_losses(mixed, S_MIXED, seed=4, block_size=700)
    assert not np.array_equal(resized.losses, mixed_dist.losses)
    se = math.hypot(resized.losses.std(), mixed_dist.losses.std()) / math.sqrt(S_MIXED)
    assert abs(resized.expected_loss - mixed_dist.expected_loss) <= 4 * se


@pytest.mark.ray
def test_ray_gives_the_same_result(mixed, mixed_dist) -> None:
    ray = pytest.importorskip("ray")
    # one local cluster for both passes (each call would otherwise start and stop its own)
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False)
    try:
        on_ray = simulate_losses(mixed, S_MIXED, ray_address="local", **KW)
        c_ray = obligor_contributions(mixed, mixed_dist, 0.99, ray_address="local")
    finally:
        ray.shutdown()
    assert np.array_equal(on_ray.segment_losses, mixed_dist.segment_losses)
    c_local = obligor_contributions(mixed, mixed_dist, 0.99)
    assert np.array_equal(c_ray.contributions, c_local.contributions)


# ---- contributions ---------------------------------------------------------------------------


def test_segment_contributions_sum_to_expected_shortfall(mixed, mixed_dist) -> None:
    d = mixed_dist
    assert d.segment_names == ("corporate", "retail", "sme")
    assert np.allclose(d.segment_losses.sum(axis=1), d.losses, rtol=1e-14, atol=0)
    assert sum(d.segment_expected_losses.values()) == pytest.approx(d.expected_loss, rel=1e-12)
    for alpha in (0.99, 0.999):
        contrib = d.segment_contributions(alpha)
        assert sum(contrib.values()) == pytest.approx(d.expected_shortfall(alpha), rel=1e-12)
        assert all(v >= 0 for v in contrib.values())
    # EL by segment against the analytic sum over its obligors (4 s.e. of each segment mean)
    for j, name in enumerate(d.segment_names):
        sel = mixed.segment_codes == j
        analytic = float(np.sum((mixed.pd * mixed.lgd * mixed.ead)[sel]))
        se = d.segment_losses[:, j].std() / math.sqrt(S_MIXED)
        assert abs(d.segment_expected_losses[name] - analytic) <= 4 * se


def test_obligor_contributions_sum_to_expected_shortfall(mixed, mixed_dist) -> None:
    d = mixed_dist
    for alpha in (0.99, 0.999):
        c = obligor_contributions(mixed, d, alpha)
        assert c.contributions.shape == (mixed.n_obligors,)
        assert c.tail_scenarios == int(d.tail_mask(alpha).sum())
        assert c.expected_shortfall == d.expected_shortfall(alpha)
        assert c.contributions.sum() == pytest.approx(c.expected_shortfall, rel=1e-12)
        assert np.all(c.contributions >= 0)
        # grouped by segment they are the segment contributions
        by_seg = np.bincount(mixed.segment_codes, weights=c.contributions)
        expected = list(d.segment_contributions(alpha).values())
        assert np.allclose(by_seg, expected, rtol=1e-12, atol=0)
    # no dependence on workers; contributions are in the portfolio's own obligor order
    c2 = obligor_contributions(mixed, d, 0.99, workers=2)
    assert np.array_equal(c2.contributions, obligor_contributions(mixed, d, 0.99).contributions)
    one = homogeneous(3)
    d1 = simulate_losses(one, 200, seed=1)
    c1 = obligor_contributions(one, d1, 0.5)
    assert c1.contributions.sum() == pytest.approx(d1.expected_shortfall(0.5), rel=1e-12)


def test_obligor_contributions_refuse_another_run(mixed, mixed_dist) -> None:
    with pytest.raises(ParameterError, match="seed must be the distribution's seed 4"):
        obligor_contributions(mixed, mixed_dist, 0.99, seed=5)
    other = Portfolio(
        pd=mixed.pd * 1.1,
        lgd=mixed.lgd,
        ead=mixed.ead,
        asset_correlation=mixed.asset_correlation,
        sector=mixed.sector,
        sector_correlation=mixed.sector_correlation,
        segment=mixed.segment,
    )
    with pytest.raises(ParameterError, match="do not reproduce the distribution's losses"):
        obligor_contributions(other, mixed_dist, 0.99)


# ---- risk-measure definitions on known numbers -----------------------------------------------


def test_var_and_expected_shortfall_definitions() -> None:
    rng = np.random.default_rng(0)
    losses = rng.permutation(np.arange(1.0, 101.0))  # 1 .. 100 in scenario order
    d = LossDistribution(losses, losses[:, None], ("all",), 0, 100, FactorSampling.MONTE_CARLO)
    # VaR = L_(floor(alpha N) + 1): the (N - floor(alpha N))-th largest; ES = mean at or beyond
    assert d.var(0.95) == 96.0 and d.expected_shortfall(0.95) == 98.0
    assert d.var(0.99) == 100.0 and d.expected_shortfall(0.99) == 100.0
    assert d.var(0.29) == 30.0  # 0.29 * 100 is 28.999999999999996 in floating point
    assert d.var(0.5) == 51.0 and d.expected_shortfall(0.5) == 75.5
    assert d.expected_loss == 50.5
    # ties at VaR all count
    tied = np.r_[np.zeros(90), np.full(10, 5.0)]
    t = LossDistribution(tied, tied[:, None], ("all",), 0, 100, FactorSampling.MONTE_CARLO)
    assert t.var(0.95) == 5.0 and int(t.tail_mask(0.95).sum()) == 10
    assert t.expected_shortfall(0.95) == 5.0
    lo, hi = d.var_interval(0.9)
    assert lo < d.var(0.9) < hi
    s = d.summary()
    assert s["levels"][0] == {
        "alpha": 0.99, "var": 100.0, "expected_shortfall": 100.0, "tail_scenarios": 1
    }  # fmt: skip
    assert d.to_dict()["segments"]["all"]["expected_loss"] == 50.5


# ---- dependence and LGD ----------------------------------------------------------------------


def exact_variance(n_per_sector: int, pd: float, rho: float, lgd: float, cross: float) -> float:
    """Exact Var(L) of two sectors of n homogeneous obligors (EAD 1, fixed LGD), sector factors
    correlated ``cross``: sum over obligor pairs of LGD^2 (P(both default) - pd^2), with
    P(both default) = Phi2(G(pd), G(pd); rho * corr) by quadrature over the common factor."""
    c = N01.inv_cdf(pd)

    def joint(r: float) -> float:
        if r == 0.0:
            return pd * pd
        f = lambda z: stats.norm.cdf((c - math.sqrt(r) * z) / math.sqrt(1 - r)) ** 2  # noqa: E731
        return integrate.quad(lambda z: f(z) * stats.norm.pdf(z), -12, 12, epsrel=1e-12)[0]

    same = 2 * n_per_sector * (n_per_sector - 1) * (joint(rho) - pd * pd)
    other = 2 * n_per_sector * n_per_sector * (joint(rho * cross) - pd * pd)
    return lgd * lgd * (2 * n_per_sector * pd * (1 - pd) + same + other)


def sample_variance_se(losses: np.ndarray) -> float:
    """Standard error of the sample variance: sqrt((m4 - s^4) / N)."""
    dev = losses - losses.mean()
    return math.sqrt((np.mean(dev**4) - np.mean(dev**2) ** 2) / losses.size)


def test_sector_correlation_shapes_the_tail() -> None:
    n, pd, rho, lgd, s = 1_000, 0.02, 0.2, 0.5, 20_000
    kw = {"pd": np.full(2 * n, pd), "lgd": np.full(2 * n, lgd), "ead": np.ones(2 * n)}
    sector = np.repeat([0, 1], n)
    runs = {}
    for cross in (1.0, 0.5, 0.0):
        p = Portfolio(
            **kw,
            asset_correlation=rho,
            sector=sector,
            sector_correlation=[[1.0, cross], [cross, 1.0]],
        )
        d = simulate_losses(p, s, seed=8)
        runs[cross] = d
        assert abs(d.losses.var() - exact_variance(n, pd, rho, lgd, cross)) <= 4 * (
            sample_variance_se(d.losses)
        )
    # one common factor (cross = 1, the default matrix's model) has the fattest tail,
    # independent sectors the thinnest
    for alpha in (0.99, 0.999):
        assert runs[0.0].var(alpha) < runs[0.5].var(alpha) < runs[1.0].var(alpha)
        es = [runs[c].expected_shortfall(alpha) for c in (0.0, 0.5, 1.0)]
        assert es == sorted(es)
    # large-portfolio limit: the 99.9 % loss of two independent halves is 0.63 of the one-factor
    # loss (quantile of the mean of two independent Vasicek fractions, PD 2 %, rho 0.2)
    assert runs[0.0].var(0.999) < 0.8 * runs[1.0].var(0.999)
    # the default (all-ones) matrix is the one-factor model: same draws as cross = 1
    one = simulate_losses(Portfolio(**kw, asset_correlation=rho, sector=sector), s, seed=8)
    assert np.array_equal(one.losses, runs[1.0].losses)


def test_stochastic_lgd_keeps_expected_loss_and_widens_the_tail() -> None:
    n, pd, rho, lgd, vol, s = 300, 0.03, 0.15, 0.4, 0.3, 40_000
    base = {"pd": np.full(n, pd), "lgd": np.full(n, lgd), "ead": np.ones(n)}
    fixed = simulate_losses(Portfolio(**base, asset_correlation=rho), s, seed=2)
    drawn = simulate_losses(Portfolio(**base, asset_correlation=rho, lgd_volatility=vol), s, seed=2)
    # Same seed, same defaults (LGDs come from their own stream): the difference is the LGD
    # noise, mean 0 and variance N_defaults vol^2 per scenario, E = n pd vol^2.
    noise = drawn.losses - fixed.losses
    noise_var = n * pd * vol**2
    assert abs(noise.mean()) <= 4 * math.sqrt(noise_var / s)
    assert abs(drawn.expected_loss - n * pd * lgd) <= 4 * drawn.losses.std() / math.sqrt(s)
    # Var(L) grows by exactly E[noise^2] (noise is uncorrelated with the defaults)
    increase = drawn.losses.var() - fixed.losses.var()
    se = math.hypot(sample_variance_se(drawn.losses), sample_variance_se(fixed.losses))
    assert abs(increase - noise_var) <= 4 * se
    assert abs(noise.var() - noise_var) <= 4 * sample_variance_se(noise)
    for alpha in (0.99, 0.999):
        assert drawn.expected_shortfall(alpha) > fixed.expected_shortfall(alpha)
        assert drawn.var(alpha) > fixed.var(alpha)


def test_beta_lgd_draws_have_the_requested_moments() -> None:
    # PD 1 and no correlation: every obligor defaults in every scenario, so a scenario's loss is
    # a sum of n independent Beta LGDs: mean n lgd, variance n vol^2.
    n, lgd, vol, s = 50, 0.3, 0.2, 4_000
    p = Portfolio(
        pd=np.ones(n), lgd=np.full(n, lgd), ead=np.ones(n), asset_correlation=0.0,
        lgd_volatility=vol,
    )  # fmt: skip
    d = simulate_losses(p, s, seed=3)
    assert abs(d.expected_loss - n * lgd) <= 4 * math.sqrt(n * vol**2 / s)
    assert d.losses.var() == pytest.approx(n * vol**2, rel=4 * math.sqrt(2 / s) * 1.1)


# ---- input errors ----------------------------------------------------------------------------


def make(**over) -> Portfolio:
    kw = {"pd": [0.01, 0.02, 0.03], "lgd": [0.4] * 3, "ead": [1.0] * 3, "asset_correlation": 0.1}
    return Portfolio(**(kw | over))


@pytest.mark.parametrize(
    ("over", "error", "message"),
    [
        ({"pd": [0.01, 1.2, 0.5]}, DataError, r"pd\[1\] must be in \[0, 1\] \(got 1.2; 1 of 3"),
        ({"pd": [0.01, np.nan, 0.5]}, DataError, r"pd\[1\] must be finite \(got nan"),
        ({"pd": []}, DataError, r"pd must hold at least one obligor"),
        ({"lgd": [0.4, 0.4, -0.1]}, DataError, r"lgd\[2\] must be in \[0, 1\] \(got -0.1"),
        ({"lgd": [0.4, 0.4]}, DataError, r"lgd has 2 entries but pd has 3"),
        ({"ead": [1.0, -5.0, 2.0]}, DataError, r"ead\[1\] must be >= 0 \(got -5.0"),
        ({"ead": "abc"}, DataError, r"ead must be numbers"),
        ({"asset_correlation": 1.0}, ParameterError, r"asset_correlation must be in \[0, 1\)"),
        (
            {"asset_correlation": [0.1, 0.1, 1.5]},
            DataError,
            r"asset_correlation\[2\] must be in \[0, 1\) \(got 1.5",
        ),
        ({"sector": [0, 1, 2.5]}, DataError, r"sector\[2\] must be an integer sector code"),
        (
            {"sector": [0, 1, 2], "sector_correlation": np.eye(2)},
            DataError,
            r"sector\[2\] must be >= 0 and < 2 \(the number of sectors\)",
        ),
        (
            {"sector_correlation": [[1.0, 0.3], [0.2, 1.0]]},
            ParameterError,
            r"sector_correlation\[0, 1\] must be equal to its transpose",
        ),
        (
            {"sector_correlation": [[1.0, 0.3], [0.3, 0.9]]},
            ParameterError,
            r"sector_correlation\[1, 1\] must be 1 on the diagonal \(got 0.9\)",
        ),
        (
            {"sector_correlation": [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]},
            ParameterError,
            r"sector_correlation must be positive semi-definite \(got smallest eigenvalue -",
        ),
        (
            {"sector_correlation": np.ones((2, 3))},
            ParameterError,
            r"sector_correlation must be a k x k matrix \(got shape \(2, 3\)\)",
        ),
        (
            {"sector_names": ("a", "b"), "sector_correlation": np.eye(3)},
            ParameterError,
            r"sector_names has 2 names but sector_correlation is 3 x 3",
        ),
        ({"lgd_volatility": -0.1}, ParameterError, r"lgd_volatility must be >= 0 \(got -0.1\)"),
        (
            {"lgd_volatility": 0.5},
            ParameterError,
            r"lgd_volatility must be below sqrt\(lgd \(1 - lgd\)\) = 0.489898 for lgd\[0\]",
        ),
        (
            {"lgd_volatility": [0.1, 0.1, 0.6]},
            DataError,
            r"lgd_volatility\[2\] must be below sqrt",
        ),
        ({"segment": ["a", "b"]}, DataError, r"segment must be a 1-D array of 3 labels"),
    ],
)
def test_portfolio_errors_name_field_rule_and_value(over, error, message) -> None:
    with pytest.raises(error, match=message):
        make(**over)


def test_portfolio_defaults_and_segments() -> None:
    p = make(sector=[2, 0, 2])
    assert p.n_sectors == 3 and p.segment_names == ("sector 0", "sector 1", "sector 2")
    assert p.sector_correlation.shape == (3, 3) and np.all(p.sector_correlation == 1.0)
    assert p.segment_codes.tolist() == [2, 0, 2]
    q = make(segment=["z", "a", "z"], sector_names=["x"])
    assert q.segment_names == ("a", "z") and q.segment_codes.tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="read-only"):
        p.pd[0] = 0.5
    # a singular (rank-2) correlation matrix is accepted and factorised exactly
    c = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    b = pm._factor_matrix(make(sector=[0, 1, 2], sector_correlation=c).sector_correlation)
    assert b.shape == (3, 2) and np.allclose(b @ b.T, c, atol=1e-12)


def test_run_and_measure_errors() -> None:
    p = make()
    with pytest.raises(ParameterError, match=r"n_scenarios must be >= 1 \(got 0\)"):
        simulate_losses(p, 0)
    with pytest.raises(ParameterError, match=r"n_scenarios must be an integer \(got 10.0\)"):
        simulate_losses(p, 10.0)
    with pytest.raises(ParameterError, match=r"block_size must be >= 1 \(got 0\)"):
        simulate_losses(p, 10, block_size=0)
    with pytest.raises(ParameterError, match=r"workers must be >= 1 \(got 0\)"):
        simulate_losses(p, 10, workers=0)
    with pytest.raises(ParameterError, match=r"seed must be >= 0 \(got -1\)"):
        simulate_losses(p, 10, seed=-1)
    with pytest.raises(ParameterError, match="factor_sampling must be one of 'monte-carlo'"):
        simulate_losses(p, 10, factor_sampling="quasi")
    d = simulate_losses(p, 10)
    with pytest.raises(ParameterError, match=r"alpha must be in \(0, 1\) \(got 1.0\)"):
        d.var(1.0)
    with pytest.raises(ParameterError, match=r"alpha must be in \(0, 1\) \(got 0\)"):
        d.expected_shortfall(0)
    with pytest.raises(ParameterError, match=r"rho must be in \[0, 1\) \(got 1.0\)"):
        vasicek_loss_quantile(0.01, 1.0, 0.999)
    with pytest.raises(ParameterError, match=r"pd must be in \[0, 1\] \(got -0.1\)"):
        vasicek_expected_shortfall(-0.1, 0.1, 0.999)
    with pytest.raises(ParameterError, match=r"n_obligors must be >= 1 \(got 0\)"):
        vasicek_granularity_adjustment(0.01, 0.1, 0.999, 0)
