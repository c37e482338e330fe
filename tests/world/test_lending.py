"""Lending: applicants seen through bureau and alternative data, a historical policy, and
12-month outcomes observed only where the policy approved."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from fintwin.data.schemas import TABLE_SPECS, money_to_minor
from fintwin.data.schemas.economy import LOAN_APPLICATIONS
from fintwin.exceptions import ParameterError
from fintwin.world.lending import LendingParams, simulate_lending
from fintwin.world.lending_policy import PolicyParams
from fintwin.world.macro import simulate_macro
from fintwin.world.population import draw_population

START = dt.date(2010, 1, 1)
DAYS = 3_650
BUREAU = [c.name for c in LOAN_APPLICATIONS.columns if c.name.startswith("bureau_")]
ALT = [
    "payment_inflow_mean",
    "payment_inflow_cv",
    "payment_outflow_mean",
    "payment_outflow_cv",
    "bill_on_time_share",
    "ecommerce_orders_per_month",
    "phone_tenure_months",
]


def _world(customers: int, days: int, seed: int, params: LendingParams | None = None):
    pop = draw_population(customers, np.random.default_rng(seed), START)
    end = START + dt.timedelta(days=days + 366)
    macro = simulate_macro(START, end, np.random.default_rng(seed + 1))
    return pop, macro, simulate_lending(pop, START, days, macro, seed, params)


@pytest.fixture(scope="module")
def decade():
    """30,000 customers over ten years: about 75,000 applications; its macro path has 11
    recession quarters in the decade (the chain's mean is 7.6)."""
    pop, macro, tables = _world(30_000, DAYS, 6)
    apps = tables["loan_applications"].to_pandas()
    truth = tables["loan_truth"].to_pandas()
    apps = apps.join(truth[["creditworthiness", "pd_12m", "default_12m_if_approved"]])
    day = (apps["applied_at"].to_numpy().astype("datetime64[D]")).astype(np.int64)
    apps["recession"] = macro.recession[macro.position(day)]
    apps["thin_file"] = pop.thin_file[apps["customer_id"].to_numpy()]
    apps["segment"] = pop.segment[apps["customer_id"].to_numpy()]
    return pop, macro, tables, apps


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    ranks = pd.Series(score).rank().to_numpy()
    n1, n0 = label.sum(), (~label).sum()
    return float((ranks[label].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def test_tables_match_their_specs(decade) -> None:
    _, _, tables, _ = decade
    for name, table in tables.items():
        TABLE_SPECS[name].conform(table)
    assert tables["loan_applications"].num_rows == tables["loan_truth"].num_rows > 50_000


def test_applications_fall_inside_the_world_in_time_order(decade) -> None:
    *_, apps = decade
    t = apps["applied_at"]
    assert t.is_monotonic_increasing
    assert t.min() >= pd.Timestamp(START)
    assert t.max() < pd.Timestamp(START + dt.timedelta(days=DAYS))
    assert (apps["application_id"].diff().dropna() == 1).all()


def test_bureau_features_are_null_exactly_for_thin_files(decade) -> None:
    _, _, _, apps = decade
    for col in BUREAU:
        assert (apps[col].isna() == apps["thin_file"]).all(), col
    assert apps["thin_file"].any()


def test_alternative_data_is_there_for_most_applicants(decade) -> None:
    _, _, _, apps = decade
    missing = apps[ALT].isna()
    assert (missing.nunique(axis=1) == 1).all()  # all or nothing per applicant
    # coverage 0.85 of customers: 75,000 applications give se 0.002 on the share
    assert abs(1 - missing.iloc[:, 0].mean() - 0.85) < 0.02
    assert apps["tenure_months"].notna().all()


def test_alternative_data_carries_signal_for_thin_files(decade) -> None:
    _, _, _, apps = decade
    thin = apps[apps["thin_file"] & apps["bill_on_time_share"].notna()]
    z = thin["creditworthiness"]
    # Bill punctuality is driven by z (about 0.65 measured); volatility of inflows falls with
    # z. On ~10,000 thin-file rows a correlation's se is 0.01: the bounds are far from 0.
    assert thin["bill_on_time_share"].corr(z) > 0.4
    assert thin["payment_inflow_cv"].corr(z) < -0.3
    assert len(thin) > 5_000


def test_outcomes_are_null_exactly_for_declined(decade) -> None:
    _, _, _, apps = decade
    declined = apps["decision"] == "declined"
    for col in ("default_12m", "approved_amount", "interest_rate", "outcome_available_at"):
        assert (apps[col].isna() == declined).all(), col
    defaulted = apps["default_12m"].fillna(False).astype(bool)
    assert (apps["default_at"].notna() == defaulted).all()
    assert declined.any() and (~declined).any()


def test_observed_outcome_is_the_counterfactual_one(decade) -> None:
    _, _, _, apps = decade
    approved = apps[apps["decision"] == "approved"]
    assert (approved["default_12m"].astype(bool) == approved["default_12m_if_approved"]).all()
    # Defaults are 90 days past due, within the year; the outcome is known then or at 12 months.
    d = approved[approved["default_12m"].astype(bool)]
    delay = (d["default_at"] - d["applied_at"]).dt.days
    assert delay.between(90, 365).all()
    assert (d["outcome_available_at"] == d["default_at"]).all()
    ok = approved[~approved["default_12m"].astype(bool)]
    assert ((ok["outcome_available_at"] - ok["applied_at"]).dt.days == 365).all()


def test_default_rate_rises_with_true_pd(decade) -> None:
    _, _, _, apps = decade
    approved = apps[apps["decision"] == "approved"]
    y = approved["default_12m"].astype(bool).to_numpy()
    decile = pd.qcut(approved["pd_12m"], 10, labels=False)
    stats = pd.Series(y).groupby(decile.to_numpy()).agg(["mean", "size"])
    rate, n = stats["mean"].to_numpy(), stats["size"].to_numpy()
    # Deciles hold ~5,500 loans each: a step may dip by noise only within 2 se of the
    # difference of two adjacent rates.
    se = np.sqrt(rate[1:] * (1 - rate[1:]) / n[1:] + rate[:-1] * (1 - rate[:-1]) / n[:-1])
    assert (np.diff(rate) > -2 * se).all(), rate
    assert rate[-1] > 5 * rate[0], rate
    # The calibrated PD predicts the observed rate (se < 0.004 per decile).
    mean_pd = approved.groupby(decile.to_numpy())["pd_12m"].mean().to_numpy()
    np.testing.assert_allclose(rate, mean_pd, atol=0.015)


def test_true_pd_ranks_defaults_well(decade) -> None:
    _, _, _, apps = decade
    approved = apps[apps["decision"] == "approved"]
    y = approved["default_12m"].astype(bool).to_numpy()
    # 0.86 measured; a PD unrelated to outcomes gives 0.5 +- 0.005
    assert _auc(approved["pd_12m"].to_numpy(), y) > 0.72


def test_defaults_rise_in_recessions(decade) -> None:
    _, macro, _, apps = decade
    assert 4 <= macro.recession[:40].sum() <= 30  # the seed's decade has recessions to compare
    approved = apps[apps["decision"] == "approved"]
    by_regime = approved.groupby("recession")["default_12m"].agg(lambda s: s.astype(bool).mean())
    # Measured 15.6 % against 5.8 % (15,600 and 40,700 loans: se of the gap 0.3 points). A
    # 3-point margin is 10 se away from a world without macro effects, and still holds for a
    # macro effect half as strong.
    assert by_regime[True] > by_regime[False] + 0.03
    assert (
        apps.loc[apps["recession"], "pd_12m"].mean() > apps.loc[~apps["recession"], "pd_12m"].mean()
    )


def test_selection_bias_is_visible(decade) -> None:
    _, _, _, apps = decade
    approved = apps["decision"] == "approved"
    observed = apps.loc[approved, "default_12m"].astype(bool).mean()
    everyone = apps["default_12m_if_approved"].mean()
    declined_rate = apps.loc[~approved, "default_12m_if_approved"].mean()
    assert declined_rate > 1.5 * observed
    assert everyone > observed


def test_historical_policy_rules(decade) -> None:
    _, _, tables, apps = decade
    policy = PolicyParams()
    approved = apps["decision"] == "approved"
    bureau = apps[~apps["thin_file"]]
    passes = (bureau["bureau_score"] >= policy.min_bureau_score) & (
        bureau["bureau_delinquencies_24m"] <= policy.max_delinquencies
    )
    assert not approved[bureau.index][~passes].any()
    assert approved[bureau.index][passes].mean() > 0.95  # the rest: income caps below 50
    thin = apps[apps["thin_file"]]
    assert (~approved[thin.index]).mean() > 0.5  # thin files are mostly declined ...
    granted = thin.loc[approved[thin.index], "approved_amount"].astype(float)
    assert granted.max() <= policy.thin_file_max_amount  # ... or get small amounts
    assert (thin.loc[approved[thin.index], "tenure_months"] >= 24).all()
    table = tables["loan_applications"]
    mask = pa.array(approved.to_numpy())
    requested = money_to_minor(table.column("requested_amount").filter(mask))
    granted_minor = money_to_minor(table.column("approved_amount").filter(mask))
    assert (granted_minor <= requested).all()
    assert (apps["policy_version"] == policy.version).all()


def test_interest_rate_is_policy_rate_plus_margins(decade) -> None:
    _, macro, _, apps = decade
    approved = apps[apps["decision"] == "approved"]
    day = approved["applied_at"].to_numpy().astype("datetime64[D]").astype(np.int64)
    policy_rate = macro.policy_rate[macro.position(day)]
    spread = approved["interest_rate"].to_numpy() - policy_rate
    assert spread.min() >= 3.0 - 0.01  # the smallest product margin, rounding to 0.01
    thin = approved["thin_file"].to_numpy()
    score = approved["bureau_score"].to_numpy(dtype=float, na_value=np.nan)
    worse = ~thin & (score < 650)
    better = ~thin & (score > 750)
    assert spread[worse].mean() > spread[better].mean()


def test_sme_cash_flows_cover_sme_applicants(decade) -> None:
    _, _, tables, apps = decade
    flows = tables["sme_cash_flows"].to_pandas()
    sme = apps[
        apps["product"].isin(["sme_working_capital", "microloan"])
        & apps["segment"].isin([1, 2])  # self_employed, sme_owner
    ]
    assert set(flows["customer_id"]) == set(sme["customer_id"])
    month = pd.to_datetime(flows["month"])
    first_app = sme.groupby("customer_id")["applied_at"].min().dt.to_period("M")
    last_app = sme.groupby("customer_id")["applied_at"].max().dt.to_period("M")
    g = flows.assign(period=month.dt.to_period("M")).groupby("customer_id")["period"]
    before = (first_app - g.min()).apply(lambda d: d.n)
    assert before.between(12, 24).all()
    assert ((last_app - g.max()).apply(lambda d: d.n) == 1).all()
    assert (g.nunique() == g.size()).all()
    # months are contiguous and balances are the running sums of the flows
    span = (g.max() - g.min()).apply(lambda d: d.n) + 1
    assert (span == g.size()).all()
    minor = {
        c: money_to_minor(tables["sme_cash_flows"].column(c))
        for c in ("inflow", "outflow", "closing_balance")
    }
    same = flows["customer_id"].to_numpy()[1:] == flows["customer_id"].to_numpy()[:-1]
    step = minor["closing_balance"][1:] - minor["closing_balance"][:-1]
    np.testing.assert_array_equal(step[same], (minor["inflow"] - minor["outflow"])[1:][same])


def test_sme_cash_flows_reflect_creditworthiness(decade) -> None:
    _, _, tables, apps = decade
    flows = tables["sme_cash_flows"].to_pandas()
    margin = (
        1
        - flows["outflow"].astype(float).groupby(flows["customer_id"]).sum()
        / flows["inflow"].astype(float).groupby(flows["customer_id"]).sum()
    )
    z = apps.groupby("customer_id")["creditworthiness"].first()[margin.index]
    # the cost ratio is 0.92 - 0.05 z + noise 0.03: correlation about 0.8
    assert margin.corr(z) > 0.5


def test_policy_changes_leave_applicants_and_truth_unchanged() -> None:
    strict = LendingParams(policy=PolicyParams(version="strict", min_bureau_score=700))
    _, _, base = _world(3_000, 365, 9)
    _, _, other = _world(3_000, 365, 9, strict)
    assert base["loan_truth"].equals(other["loan_truth"])
    assert base["sme_cash_flows"].equals(other["sme_cash_flows"])
    a, b = base["loan_applications"], other["loan_applications"]
    assert a.select(["applied_at", "customer_id", "bureau_score"]).equals(
        b.select(["applied_at", "customer_id", "bureau_score"])
    )
    approved = [
        (t.column("decision").to_numpy(zero_copy_only=False) == "approved").sum() for t in (a, b)
    ]
    assert approved[1] < approved[0]


def test_same_seed_same_tables_other_seed_other_tables() -> None:
    _, _, a = _world(2_000, 200, 3)
    _, _, b = _world(2_000, 200, 3)
    pop, macro, _ = _world(2_000, 200, 3)
    c = simulate_lending(pop, START, 200, macro, 4)
    for name in a:
        assert a[name].equals(b[name]), name
        assert not a[name].equals(c[name]), name


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LendingParams(applications_per_year=0), "applications_per_year"),
        (lambda: LendingParams(alt_data_coverage=1.2), "alt_data_coverage"),
        (lambda: LendingParams(pd_unemployment=-1.0), "pd_unemployment"),
        (lambda: LendingParams(policy={"version": "x"}), "policy must be a PolicyParams"),
        (lambda: PolicyParams(version=""), "version"),
        (lambda: PolicyParams(income_cap=(0.5, 0.2)), "income_cap"),
        (lambda: PolicyParams(thin_file_max_amount=0), "thin_file_max_amount"),
    ],
)
def test_parameters_are_validated(make, message) -> None:
    with pytest.raises(ParameterError, match=message):
        make()


def test_params_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        LendingParams().pd_intercept = 0.0  # type: ignore[misc]
