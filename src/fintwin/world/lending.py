"""Lending in the twin: loan applications, what the institution sees of each applicant, the
historical policy's decisions, and 12-month repayment outcomes.

The generative story, per customer of a :class:`~fintwin.world.population.Population`:

1. A latent **creditworthiness** ``z`` (about standard normal) rises with income and age and
   shifts with the segment; a **macro sensitivity** ``s`` (mean 1) is higher for the
   self-employed and SME owners, lower for retirees.
2. The **bureau** sees ``z`` through a score (correlation about 0.8), delinquencies and
   utilisation, but only for customers with a bureau file (``thin_file`` is false).
3. **Alternative data** (mobile-money / payment inflows and outflows and their volatility, bill
   payment punctuality, e-commerce activity, phone tenure) exists for a share
   ``alt_data_coverage`` of customers, thin-file or not, and also reflects ``z``: bill
   punctuality correlates with it at about 0.65 and inflow volatility at about -0.6, so a
   thin-file applicant is not invisible.
4. Customers apply at a Poisson rate; each application has a product (by segment), an amount
   (scaled by income) and a term.
5. The true 12-month probability of default of the loan as requested is::

       logit PD = a + b[product] - c z + s (d_u (u - u*) - d_g (g - g*)) + e ln(burden)

   with ``u`` and ``g`` the unemployment and GDP growth averaged over the application's quarter
   and the four after it (the loan's year), and ``burden`` the requested amount over annual
   income relative to the product's typical share. Whether the loan would default is drawn for
   every application (``loan_truth``), so any policy can be pre-played on the same applicants.
6. The **historical policy** (:mod:`fintwin.world.lending_policy`) approves or declines; only
   approved applications reveal ``default_12m``.

SME owners and the self-employed who ask for an SME product also get a monthly cash-flow
history (:mod:`fintwin.world.lending_sme`).

Random streams: ``(Stream.LENDING, 0)`` customer traits and data, ``(…, 1)`` applications,
``(…, 2)`` outcomes, ``(…, 3)`` SME cash flows; changing the policy changes none of the draws.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from fintwin._validation import check_non_negative, check_positive, check_probability
from fintwin.data.schemas import category, money_from_minor
from fintwin.data.schemas.economy import LoanProduct
from fintwin.data.schemas.vocab import Segment, labels
from fintwin.exceptions import ParameterError
from fintwin.world._engine import MS_PER_DAY
from fintwin.world._seeding import Stream, stream_rng
from fintwin.world.lending_policy import PolicyParams, historical_policy
from fintwin.world.lending_sme import sme_cash_flows
from fintwin.world.macro import MacroPath
from fintwin.world.population import Population

__all__ = ["LendingParams", "simulate_lending"]

_SEG = {s: i for i, s in enumerate(Segment)}
_PROD = {p: i for i, p in enumerate(LoanProduct)}
_EPOCH = dt.date(1970, 1, 1)
_REF_INCOME = 35_000.0

# Per segment (Segment order): creditworthiness shift, macro sensitivity, application-rate
# factor, inflow coefficient of variation, product mix (LoanProduct order).
_SEG_SHIFT = np.array([0.10, -0.15, 0.00, -0.30, 0.20])
_SEG_SENSITIVITY = np.array([1.0, 1.4, 1.5, 0.8, 0.5])
_SEG_APP_RATE = np.array([1.0, 1.3, 1.3, 1.2, 0.6])
_SEG_INFLOW_CV = np.array([0.15, 0.45, 0.50, 0.35, 0.10])
_PRODUCT_MIX = np.array(
    [
        [0.50, 0.40, 0.00, 0.10],  # salaried
        [0.20, 0.15, 0.45, 0.20],  # self-employed
        [0.10, 0.10, 0.65, 0.15],  # SME owner
        [0.20, 0.50, 0.00, 0.30],  # student
        [0.55, 0.35, 0.00, 0.10],  # retired
    ]
)
# Per product (LoanProduct order): typical amount as a share of annual income (microloans:
# a fixed median in currency units), log-sd, amount bounds, terms offered, PD offset.
_AMOUNT_SHARE = np.array([0.25, 0.08, 0.60, np.nan])
_MICROLOAN_MEDIAN = 800.0
_AMOUNT_LOG_SD = np.array([0.5, 0.5, 0.6, 0.6])
_AMOUNT_MIN = np.array([500.0, 300.0, 2_000.0, 100.0])
_AMOUNT_MAX = np.array([50_000.0, 20_000.0, 250_000.0, 5_000.0])
_TERMS = (
    np.array([12, 24, 36, 48, 60]),
    np.array([12]),
    np.array([6, 12, 18, 24]),
    np.array([3, 6, 9, 12]),
)
_PD_OFFSET = np.array([0.0, 0.2, 0.3, 0.5])
_MIN_INCOME = 1_000.0


@dataclass(frozen=True)
class LendingParams:
    """Parameters of lending (see the module docstring for the model).

    Parameters
    ----------
    applications_per_year : float
        Mean credit applications per customer per year (0.25), scaled by segment.
    alt_data_coverage : float
        Share of customers with mobile-money / payment data (0.85).
    pd_intercept : float
        Log-odds of default at ``z = 0``, reference macro and typical burden (-3.1).
    pd_creditworthiness : float
        Log-odds removed per unit of creditworthiness (1.1).
    pd_unemployment : float
        Log-odds added per point of unemployment above its natural rate, times the
        applicant's macro sensitivity (0.5).
    pd_growth : float
        Log-odds removed per point of GDP growth above potential, times the sensitivity (0.1).
    pd_burden : float
        Log-odds added per unit of log burden (0.3).
    policy : PolicyParams
        The historical approval and pricing policy.
    """

    applications_per_year: float = 0.25
    alt_data_coverage: float = 0.85
    pd_intercept: float = -3.1
    pd_creditworthiness: float = 1.1
    pd_unemployment: float = 0.5
    pd_growth: float = 0.1
    pd_burden: float = 0.3
    policy: PolicyParams = field(default_factory=PolicyParams)

    def __post_init__(self) -> None:
        check_positive("applications_per_year", self.applications_per_year)
        check_probability("alt_data_coverage", self.alt_data_coverage)
        for name in ("pd_creditworthiness", "pd_unemployment", "pd_growth", "pd_burden"):
            check_non_negative(name, getattr(self, name))
        if not isinstance(self.policy, PolicyParams):
            raise ParameterError(f"policy must be a PolicyParams (got {type(self.policy)})")


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _nullable(values: np.ndarray, valid: np.ndarray, type_: pa.DataType) -> pa.Array:
    return pa.array(values, type=type_, mask=~valid)


def _nullable_money(minor: np.ndarray, valid: np.ndarray) -> pa.Array:
    """Decimal money with nulls where ``valid`` is false (validity bitmap, no per-value work)."""
    data = money_from_minor(np.where(valid, minor, 0))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(
        data.type, len(data), [bitmap, data.buffers()[1]], null_count=int((~valid).sum())
    )


@dataclass(frozen=True)
class _Customers:
    """Latent traits and data of every customer, shape (n,) each."""

    z: np.ndarray
    sensitivity: np.ndarray
    bureau_score: np.ndarray
    open_lines: np.ndarray
    delinquencies: np.ndarray
    utilisation: np.ndarray
    history_months: np.ndarray
    has_alt: np.ndarray
    inflow_mean: np.ndarray
    inflow_cv: np.ndarray
    outflow_mean: np.ndarray
    outflow_cv: np.ndarray
    bill_on_time: np.ndarray
    ecommerce: np.ndarray
    phone_tenure: np.ndarray


def _draw_customers(pop: Population, rng: np.random.Generator, coverage: float) -> _Customers:
    n = pop.size
    seg = pop.segment
    age = pop.age.astype(float)
    log_inc = np.clip(np.log(np.maximum(pop.income, _MIN_INCOME) / _REF_INCOME), -3.0, 3.0)
    e = rng.standard_normal((n, 12))
    z = (
        0.35 * np.clip(log_inc / 0.6, -3, 3)
        + 0.25 * np.clip((age - 40) / 15, -1.5, 1.5)
        + _SEG_SHIFT[seg]
        + 0.85 * e[:, 0]
    )
    sensitivity = _SEG_SENSITIVITY[seg] * np.exp(0.3 * e[:, 1] - 0.045)

    score = np.clip(np.round(655 + 70 * (0.8 * z + 0.6 * e[:, 2])), 300, 850)
    open_lines = rng.poisson(np.exp(1.0 + 0.3 * np.clip(log_inc, -2, 2) + 0.2 * e[:, 3]))
    delinquencies = rng.poisson(np.exp(-1.7 - 0.8 * z))
    utilisation = _expit(-0.5 - 0.8 * z + 0.7 * e[:, 4])
    history = np.maximum(6, (age - 18) * 12 * rng.uniform(0.3, 1.0, n))

    has_alt = rng.random(n) < coverage
    inflow_mean = np.maximum(pop.income, _MIN_INCOME) / 12 * np.exp(0.25 * e[:, 5])
    inflow_cv = _SEG_INFLOW_CV[seg] * np.exp(-0.25 * z + 0.3 * e[:, 6])
    spend_ratio = np.clip(np.exp(-0.08 - 0.12 * z + 0.1 * e[:, 7]), 0.4, 1.8)
    outflow_cv = 0.3 * np.exp(-0.2 * z + 0.3 * e[:, 8])
    n_bills = rng.integers(6, 25, n)
    bill_on_time = rng.binomial(n_bills, _expit(1.8 + 0.7 * z + 0.6 * e[:, 9])) / n_bills
    ecommerce = np.round(
        np.exp(0.3 + 0.4 * np.clip(log_inc, -2, 2) + 0.15 * z - 0.02 * (age - 35) + 0.5 * e[:, 10]),
        1,
    )
    phone_cap = np.maximum(age - 14, 1) * 12
    phone_tenure = np.minimum(phone_cap, rng.exponential(30.0, n) * np.exp(0.3 * z))
    return _Customers(
        z=z,
        sensitivity=sensitivity,
        bureau_score=score.astype(np.int16),
        open_lines=open_lines.astype(np.int16),
        delinquencies=delinquencies.astype(np.int16),
        utilisation=np.round(utilisation, 3),
        history_months=history.astype(np.int16),
        has_alt=has_alt,
        inflow_mean=np.round(inflow_mean * 100).astype(np.int64),
        inflow_cv=np.round(inflow_cv, 3),
        outflow_mean=np.round(inflow_mean * spend_ratio * 100).astype(np.int64),
        outflow_cv=np.round(outflow_cv, 3),
        bill_on_time=bill_on_time,
        ecommerce=ecommerce,
        phone_tenure=phone_tenure.astype(np.int16),
    )


def _choose_rows(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per-row categorical draw: index of the first cumulative probability above ``u``."""
    cum = np.cumsum(probs, axis=1)
    return np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)


def simulate_lending(
    population: Population,
    start: dt.date,
    days: int,
    macro: MacroPath,
    seed: int,
    params: LendingParams | None = None,
) -> dict[str, pa.Table]:
    """Loan applications of ``population`` over ``[start, start + days)`` and their outcomes.

    Parameters
    ----------
    population : Population
        The world's customers (segment, age, income, thin_file, customer_since are used).
    start : datetime.date
        First day of the world.
    days : int
        Length of the world in days; applications fall inside it, outcomes up to a year later.
    macro : MacroPath
        Must cover the world's quarters and the four quarters after its last one.
    seed : int
        The world's root seed (streams ``(Stream.LENDING, k)``).
    params : LendingParams, optional

    Returns
    -------
    dict of str to pyarrow.Table
        ``loan_applications`` (sorted by ``applied_at``), ``sme_cash_flows`` and the truth table
        ``loan_truth``.

    Examples
    --------
    >>> from fintwin.world.macro import simulate_macro
    >>> from fintwin.world.population import draw_population
    >>> s = dt.date(2024, 1, 1)
    >>> pop = draw_population(500, np.random.default_rng(0), s)
    >>> m = simulate_macro(s, dt.date(2025, 12, 31), np.random.default_rng(1))
    >>> t = simulate_lending(pop, s, 90, m, seed=3)
    >>> t["loan_applications"].num_rows == t["loan_truth"].num_rows
    True
    """
    p = params or LendingParams()
    check_positive("days", days)
    cust = _draw_customers(population, stream_rng(seed, Stream.LENDING, 0), p.alt_data_coverage)

    # -- applications ---------------------------------------------------------------------------
    rng = stream_rng(seed, Stream.LENDING, 1)
    seg_all = population.segment
    counts = rng.poisson(p.applications_per_year * _SEG_APP_RATE[seg_all] * days / 365.0)
    who = np.repeat(np.arange(population.size), counts)
    m = who.size
    day = rng.integers(0, days, m)
    second = rng.integers(8 * 3600, 22 * 3600, m)
    seg = seg_all[who]
    product = _choose_rows(_PRODUCT_MIX[seg], rng.random(m))
    income = np.maximum(population.income[who], _MIN_INCOME)
    typical = np.where(
        product == _PROD[LoanProduct.MICROLOAN],
        _MICROLOAN_MEDIAN,
        income * np.nan_to_num(_AMOUNT_SHARE[product]),
    )
    amount = typical * np.exp(_AMOUNT_LOG_SD[product] * rng.standard_normal(m))
    amount = np.clip(amount, _AMOUNT_MIN[product], _AMOUNT_MAX[product])
    requested = np.maximum(np.round(amount / 50) * 50, 50.0)
    term_u = rng.random(m)
    term = np.empty(m, dtype=np.int16)
    for k, terms in enumerate(_TERMS):
        sel = product == k
        term[sel] = terms[np.minimum((term_u[sel] * terms.size).astype(int), terms.size - 1)]

    start_day = (start - _EPOCH).days
    applied_ms = (start_day + day) * MS_PER_DAY + second * 1000
    order = np.argsort(applied_ms, kind="stable")
    who, day, seg, product, income, requested, term, applied_ms, typical = (
        a[order] for a in (who, day, seg, product, income, requested, term, applied_ms, typical)
    )
    abs_day = start_day + day

    # -- true PD and counterfactual outcomes ----------------------------------------------------
    pos = macro.position(abs_day)
    window = np.minimum(pos[:, None] + np.arange(5), macro.size - 1)
    u_gap = macro.unemployment[window].mean(axis=1) - macro.natural_unemployment
    g_gap = macro.gdp_growth[window].mean(axis=1) - macro.potential_growth
    z, sens = cust.z[who], cust.sensitivity[who]
    logit = (
        p.pd_intercept
        + _PD_OFFSET[product]
        - p.pd_creditworthiness * z
        + sens * (p.pd_unemployment * u_gap - p.pd_growth * g_gap)
        + p.pd_burden * np.log(requested / typical)
    )
    pd_12m = _expit(logit)
    out_rng = stream_rng(seed, Stream.LENDING, 2)
    would_default = out_rng.random(m) < pd_12m
    # Default = 90 days past due: never before the fourth month.
    default_ms = applied_ms + (90 + (out_rng.random(m) * 275).astype(np.int64)) * MS_PER_DAY

    # -- what the institution sees, and its decision --------------------------------------------
    thin = population.thin_file[who]
    has_bureau = ~thin
    has_alt = cust.has_alt[who]
    tenure = np.maximum(0, abs_day - population.customer_since[who]) / (365.25 / 12)
    tenure = tenure.astype(np.int16)
    decision = historical_policy(
        p.policy,
        product=product,
        requested=requested,
        income=income,
        thin_file=thin,
        bureau_score=cust.bureau_score[who],
        delinquencies=cust.delinquencies[who],
        tenure_months=tenure,
        policy_rate=macro.policy_rate[pos],
    )
    approved = decision.approved
    observed_default = would_default & approved

    applications = pa.table(
        {
            "application_id": np.arange(m, dtype=np.int64),
            "applied_at": pa.array(applied_ms, pa.timestamp("ms")),
            "customer_id": population.customer_id[who],
            "product": category(product, labels(LoanProduct)),
            "requested_amount": money_from_minor(np.round(requested * 100).astype(np.int64)),
            "term_months": term,
            "bureau_score": _nullable(cust.bureau_score[who], has_bureau, pa.int16()),
            "bureau_open_lines": _nullable(cust.open_lines[who], has_bureau, pa.int16()),
            "bureau_delinquencies_24m": _nullable(cust.delinquencies[who], has_bureau, pa.int16()),
            "bureau_utilisation": _nullable(cust.utilisation[who], has_bureau, pa.float64()),
            "bureau_history_months": _nullable(cust.history_months[who], has_bureau, pa.int16()),
            "payment_inflow_mean": _nullable_money(cust.inflow_mean[who], has_alt),
            "payment_inflow_cv": _nullable(cust.inflow_cv[who], has_alt, pa.float64()),
            "payment_outflow_mean": _nullable_money(cust.outflow_mean[who], has_alt),
            "payment_outflow_cv": _nullable(cust.outflow_cv[who], has_alt, pa.float64()),
            "bill_on_time_share": _nullable(cust.bill_on_time[who], has_alt, pa.float64()),
            "ecommerce_orders_per_month": _nullable(cust.ecommerce[who], has_alt, pa.float64()),
            "phone_tenure_months": _nullable(cust.phone_tenure[who], has_alt, pa.int16()),
            "tenure_months": tenure,
            "policy_version": category(np.zeros(m, dtype=np.int32), [p.policy.version]),
            "decision": category(decision.code, decision.labels),
            "approved_amount": _nullable_money(decision.approved_minor, approved),
            "interest_rate": _nullable(decision.interest_rate, approved, pa.float64()),
            "default_12m": _nullable(observed_default, approved, pa.bool_()),
            "default_at": _nullable(default_ms, observed_default, pa.timestamp("ms")),
            "outcome_available_at": _nullable(
                np.where(observed_default, default_ms, applied_ms + 365 * MS_PER_DAY),
                approved,
                pa.timestamp("ms"),
            ),
        }
    )
    truth = pa.table(
        {
            "application_id": np.arange(m, dtype=np.int64),
            "customer_id": population.customer_id[who],
            "creditworthiness": z,
            "macro_sensitivity": sens,
            "pd_12m": pd_12m,
            "default_12m_if_approved": would_default,
        }
    )
    sme_product = np.isin(
        product, [_PROD[LoanProduct.SME_WORKING_CAPITAL], _PROD[LoanProduct.MICROLOAN]]
    )
    sme_segment = np.isin(seg, [_SEG[Segment.SME_OWNER], _SEG[Segment.SELF_EMPLOYED]])
    sme = sme_product & sme_segment
    flows = sme_cash_flows(
        customer=who[sme],
        application_day=abs_day[sme],
        income=income[sme],
        sme_owner=seg[sme] == _SEG[Segment.SME_OWNER],
        creditworthiness=z[sme],
        macro_sensitivity=sens[sme],
        macro=macro,
        rng=stream_rng(seed, Stream.LENDING, 3),
        customer_id=population.customer_id,
    )
    return {"loan_applications": applications, "sme_cash_flows": flows, "loan_truth": truth}
