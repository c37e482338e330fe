"""The twin's economy: the quarterly macro cycle, daily market prices, loan applications with
their outcomes, SME cash-flow histories, and the ground truth behind them."""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa

from fintwin.data.schemas._spec import CATEGORY, MONEY, TIMESTAMP, Column, TableSpec


class MacroRegime(StrEnum):
    """State of the business cycle in a quarter."""

    EXPANSION = "expansion"
    RECESSION = "recession"


class MarketRegime(StrEnum):
    """State of the financial markets on a business day."""

    CALM = "calm"
    STRESS = "stress"


class AssetClass(StrEnum):
    """Asset classes quoted in ``asset_prices`` (the order of the correlation matrices)."""

    DOMESTIC_EQUITY = "domestic_equity"
    FOREIGN_EQUITY = "foreign_equity"
    GOVERNMENT_BONDS = "government_bonds"
    CORPORATE_BONDS = "corporate_bonds"
    GOLD = "gold"
    REAL_ESTATE = "real_estate"
    COMMODITIES = "commodities"
    MONEY_MARKET = "money_market"


class LoanProduct(StrEnum):
    """Credit product asked for in a loan application."""

    PERSONAL_LOAN = "personal_loan"
    CREDIT_CARD_LINE = "credit_card_line"
    SME_WORKING_CAPITAL = "sme_working_capital"
    MICROLOAN = "microloan"


class Decision(StrEnum):
    """Outcome of a credit decision."""

    APPROVED = "approved"
    DECLINED = "declined"


def _values(enum_type: type[StrEnum]) -> str:
    return ", ".join(m.value for m in enum_type)


MACRO = TableSpec(
    "macro",
    "One row per calendar quarter, from the quarter of the world's first day to the quarter "
    "12 months after its last day (later quarters are the future a loan's outcome needs: "
    "an engine deciding at time t may use a row only if available_at <= t).",
    (
        Column("quarter_start", pa.date32(), "First day of the quarter.", "date"),
        Column(
            "gdp_growth",
            pa.float64(),
            "Real GDP growth over the quarter, annualised.",
            "% per year",
        ),
        Column("unemployment", pa.float64(), "Unemployment rate, quarter average.", "%"),
        Column(
            "policy_rate",
            pa.float64(),
            "Central-bank policy rate in force during the quarter (set at its start from the "
            "previous quarter's growth and unemployment).",
            "% per year",
        ),
        Column(
            "house_price_index",
            pa.float64(),
            "House price index at the quarter's end (the world's first quarter's start = 100).",
            "index points",
        ),
        Column(
            "available_at",
            pa.date32(),
            "When the quarter's figures were published (quarter end plus a publication lag).",
            "date",
        ),
    ),
)

ASSET_PRICES = TableSpec(
    "asset_prices",
    "One row per business day (Monday to Friday) and asset class: a total-return index "
    "(income reinvested) and its daily log return. Ordered by date, then asset class.",
    (
        Column("date", pa.date32(), "Business day (close of trading).", "date"),
        Column("asset_class", CATEGORY, "Asset class.", _values(AssetClass)),
        Column(
            "price",
            pa.float64(),
            "Total-return index level at the close (100 at the close before the first day).",
            "index points",
        ),
        Column(
            "log_return",
            pa.float64(),
            "Log return since the previous business day's close: ln(price_t / price_t-1). "
            "Money market accrues the policy rate on calendar days (act/365).",
            "natural log, per business day",
        ),
    ),
)

_BUREAU = "Null for thin-file applicants (no bureau record)."
_ALT = "Null when the applicant has no mobile-money / payment data."

LOAN_APPLICATIONS = TableSpec(
    "loan_applications",
    "One row per credit application: what was asked for, what the institution could see "
    "(bureau and alternative data), the historical policy's decision, and the 12-month "
    "repayment outcome, observed for approved loans only (declined rows have null outcomes: "
    "the selection bias a credit model must face).",
    (
        Column("application_id", pa.int64(), "Application key, increasing with time.", "id"),
        Column("applied_at", TIMESTAMP, "When the application was submitted.", "timestamp"),
        Column("customer_id", pa.int64(), "Applicant.", "id"),
        Column("product", CATEGORY, "Product asked for.", _values(LoanProduct)),
        Column("requested_amount", MONEY, "Amount (or credit line) asked for.", "currency units"),
        Column(
            "term_months",
            pa.int16(),
            "Term asked for (credit card lines: the 12-month review period).",
            "months",
        ),
        Column(
            "bureau_score",
            pa.int16(),
            f"Credit bureau score. {_BUREAU}",
            "300..850",
            True,
            True,
        ),
        Column(
            "bureau_open_lines",
            pa.int16(),
            f"Open credit lines on the bureau file. {_BUREAU}",
            "count",
            True,
            True,
        ),
        Column(
            "bureau_delinquencies_24m",
            pa.int16(),
            f"Delinquencies (30+ days past due) reported in the last 24 months. {_BUREAU}",
            "count",
            True,
            True,
        ),
        Column(
            "bureau_utilisation",
            pa.float64(),
            f"Revolving balance over revolving limits. {_BUREAU}",
            "share, 0..1",
            True,
            True,
        ),
        Column(
            "bureau_history_months",
            pa.int16(),
            f"Age of the oldest bureau account. {_BUREAU}",
            "months",
            True,
            True,
        ),
        Column(
            "payment_inflow_mean",
            MONEY,
            f"Mean monthly inflow to mobile-money / payment accounts, last 6 months. {_ALT}",
            "currency units per month",
            True,
            True,
        ),
        Column(
            "payment_inflow_cv",
            pa.float64(),
            f"Coefficient of variation of monthly inflows (volatility). {_ALT}",
            "ratio",
            True,
            True,
        ),
        Column(
            "payment_outflow_mean",
            MONEY,
            f"Mean monthly outflow from mobile-money / payment accounts, last 6 months. {_ALT}",
            "currency units per month",
            True,
            True,
        ),
        Column(
            "payment_outflow_cv",
            pa.float64(),
            f"Coefficient of variation of monthly outflows (volatility). {_ALT}",
            "ratio",
            True,
            True,
        ),
        Column(
            "bill_on_time_share",
            pa.float64(),
            f"Share of utility, phone and rent bills paid on time, last 12 months. {_ALT}",
            "share, 0..1",
            True,
            True,
        ),
        Column(
            "ecommerce_orders_per_month",
            pa.float64(),
            f"Mean online purchases per month, last 6 months. {_ALT}",
            "1/month",
            True,
            True,
        ),
        Column(
            "phone_tenure_months",
            pa.int16(),
            f"Months the applicant's phone number has been in use. {_ALT}",
            "months",
            True,
            True,
        ),
        Column(
            "tenure_months",
            pa.int16(),
            "Months since the relationship with the institution began.",
            "months",
        ),
        Column(
            "policy_version",
            CATEGORY,
            "Credit policy that took the decision.",
            "policy name",
        ),
        Column("decision", CATEGORY, "Decision of the policy.", _values(Decision)),
        Column(
            "approved_amount",
            MONEY,
            "Amount granted (can be less than asked); null when declined.",
            "currency units",
            True,
            True,
        ),
        Column(
            "interest_rate",
            pa.float64(),
            "Annual interest rate offered: policy rate plus product and risk margins; null "
            "when declined.",
            "% per year",
            True,
            True,
        ),
        Column(
            "default_12m",
            pa.bool_(),
            "Defaulted (90+ days past due) within 12 months of the application; null when "
            "declined (the outcome of a loan never granted is never seen).",
            "bool",
            True,
            True,
        ),
        Column(
            "default_at",
            TIMESTAMP,
            "When the loan defaulted; null when declined or not defaulted within 12 months.",
            "timestamp",
            True,
            True,
        ),
        Column(
            "outcome_available_at",
            TIMESTAMP,
            "When default_12m became known (the default, or the end of the 12 months); a "
            "decision at time t may use the outcome only if outcome_available_at <= t. Null "
            "when declined.",
            "timestamp",
            True,
            True,
        ),
    ),
)

SME_CASH_FLOWS = TableSpec(
    "sme_cash_flows",
    "One row per month of a small business's account history: every sme_owner or "
    "self_employed customer who asked for an SME product (SME working capital, microloan) has "
    "12 to 24 months of history before their first such application, running up to the month "
    "before their last one. A month's row is known once the month has ended.",
    (
        Column("customer_id", pa.int64(), "Business owner (the applicant).", "id"),
        Column("month", pa.date32(), "First day of the month.", "date"),
        Column("inflow", MONEY, "Money received by the business in the month.", "currency units"),
        Column("outflow", MONEY, "Money paid out by the business in the month.", "currency units"),
        Column(
            "closing_balance",
            MONEY,
            "Balance at the month's end (negative: overdrawn).",
            "currency units",
        ),
    ),
)

MACRO_REGIMES = TableSpec(
    "macro_regimes",
    "The business-cycle regime of each quarter of the macro table (a Markov chain that drives "
    "growth, unemployment, the policy rate and house prices).",
    (
        Column("quarter_start", pa.date32(), "First day of the quarter.", "date"),
        Column("regime", CATEGORY, "Business-cycle regime.", _values(MacroRegime)),
    ),
    truth=True,
)

MARKET_REGIMES = TableSpec(
    "market_regimes",
    "The market regime of each business day of asset_prices (stress: higher volatility and "
    "correlations; far more likely during a recession).",
    (
        Column("date", pa.date32(), "Business day.", "date"),
        Column("regime", CATEGORY, "Market regime.", _values(MarketRegime)),
    ),
    truth=True,
)

LOAN_TRUTH = TableSpec(
    "loan_truth",
    "What drove each application's outcome: the applicant's latent creditworthiness and macro "
    "sensitivity, the true 12-month probability of default given the realised macro path, and "
    "the outcome the loan would have had if granted as asked (for declined applications too).",
    (
        Column("application_id", pa.int64(), "Application.", "id"),
        Column("customer_id", pa.int64(), "Applicant.", "id"),
        Column(
            "creditworthiness",
            pa.float64(),
            "Latent creditworthiness (about standard normal; higher is safer).",
            "standard deviations",
        ),
        Column(
            "macro_sensitivity",
            pa.float64(),
            "Multiplier of the macro effect on the applicant's default odds (1 = average).",
            "ratio",
        ),
        Column(
            "pd_12m",
            pa.float64(),
            "True probability of default within 12 months of the loan as requested, given the "
            "macro path at and after the application.",
            "probability",
        ),
        Column(
            "default_12m_if_approved",
            pa.bool_(),
            "Whether the loan defaults within 12 months if granted (equals default_12m for "
            "approved applications).",
            "bool",
        ),
    ),
    truth=True,
)

TABLES = (
    MACRO,
    ASSET_PRICES,
    LOAN_APPLICATIONS,
    SME_CASH_FLOWS,
    MACRO_REGIMES,
    MARKET_REGIMES,
    LOAN_TRUTH,
)
