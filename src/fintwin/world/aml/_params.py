"""Parameters of the ``aml`` preset."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from fintwin._validation import check_non_negative, check_positive, check_probability
from fintwin.exceptions import ParameterError
from fintwin.world.economy import EconomyParams

__all__ = ["DEFAULTS", "AmlParams"]

DEFAULTS = {"customers": 10_000, "days": 60, "start": dt.date(2024, 1, 1)}


@dataclass(frozen=True)
class AmlParams:
    """Parameters of the ``aml`` preset.

    Parameters
    ----------
    businesses_per_1000_customers : float
        Business accounts per 1,000 customers (50); at least 8 businesses.
    net_income_share : float
        Monthly pay credited to a customer as a share of gross income / 12 (0.75).
    bill_share, payment_share, transfer_share, cash_share : float
        Shares of monthly net pay spent on bills (0.30), shop payments (0.40), transfers to
        contacts (0.08) and cash withdrawals (0.12); their sum must not exceed 1 (the rest
        is saved).
    billers_per_customer : int
        Businesses that bill a customer monthly, each on its own day of the month (2).
    payments_per_day : float
        Mean shop payments per customer per day (0.8; each customer's rate is Gamma(2)
        around it).
    local_payment_share : float
        Share of payments made at one of the customer's four usual nearby businesses (0.8).
    transfers_per_month : float
        Mean transfers a customer sends to contacts per month (1.5).
    contacts_per_customer : int
        Customers one sends transfers to (3); popular customers are the contacts of many.
    cash_withdrawals_per_month, cash_deposits_per_month : float
        Mean ATM withdrawals (3) and cash deposits (0.3) per customer per month; a deposit
        averages a tenth of monthly pay.
    popularity_alpha : float
        Pareto tail index of business size and customer popularity (1.3; lower is more
        skewed): a few counterparties draw most links.
    business_base_revenue : float
        Monthly revenue from outside the bank of a business of average size, on top of what
        covers its payroll (20,000 currency units).
    revenue_margin : float
        A business's revenue from outside the bank is this multiple of its payroll plus its
        base revenue (1.2).
    supplier_share : float
        Share of a business's revenue paid to its two supplier businesses in the bank (0.2).
    external_banks : int
        Banks outside the institution (5); there is also one ``external`` account for cash
        and one for the pension fund.
    alerts_per_1000_accounts : float
        Laundering alert groups per 1,000 customer and business accounts over the period (5);
        at least one per typology when positive.
    min_alert_members, max_alert_members : int
        Accounts in an alert group, drawn uniformly in this range (5, 10; at least 3).
    reporting_threshold : float
        Cash or transfer amount from which a report is filed (10,000 currency units):
        launderers stay under it.
    structuring_low, structuring_high : float
        Pattern transfers and cash deposits are drawn in ``[low, high]`` times the threshold
        (0.80, 0.99).
    max_hop_decrement : float
        Each account passing money on keeps a fee drawn in ``[0.005, max]`` of it (0.03).
    max_step_hours : float
        Hours between one step of a pattern and the next, at most (48).
    laundering_label_delay_median_days, laundering_label_delay_sigma : float
        An alert's rows are labelled after a lognormal delay from its last transfer with this
        median (30 days) and log-sd (0.5), at least one day.
    genuine_label_delay_days : int
        Days after which a genuine row's label is known (7).
    economy : EconomyParams
        Macro cycle, markets and lending of the world (:mod:`fintwin.world.economy`).
    """

    businesses_per_1000_customers: float = 50.0
    net_income_share: float = 0.75
    bill_share: float = 0.30
    payment_share: float = 0.40
    transfer_share: float = 0.08
    cash_share: float = 0.12
    billers_per_customer: int = 2
    payments_per_day: float = 0.8
    local_payment_share: float = 0.8
    transfers_per_month: float = 1.5
    contacts_per_customer: int = 3
    cash_withdrawals_per_month: float = 3.0
    cash_deposits_per_month: float = 0.3
    popularity_alpha: float = 1.3
    business_base_revenue: float = 20_000.0
    revenue_margin: float = 1.2
    supplier_share: float = 0.2
    external_banks: int = 5
    alerts_per_1000_accounts: float = 5.0
    min_alert_members: int = 5
    max_alert_members: int = 10
    reporting_threshold: float = 10_000.0
    structuring_low: float = 0.80
    structuring_high: float = 0.99
    max_hop_decrement: float = 0.03
    max_step_hours: float = 48.0
    laundering_label_delay_median_days: float = 30.0
    laundering_label_delay_sigma: float = 0.5
    genuine_label_delay_days: int = 7

    economy: EconomyParams = field(default_factory=EconomyParams)

    def __post_init__(self) -> None:
        for name in (
            "businesses_per_1000_customers",
            "net_income_share",
            "billers_per_customer",
            "payments_per_day",
            "transfers_per_month",
            "contacts_per_customer",
            "cash_withdrawals_per_month",
            "popularity_alpha",
            "revenue_margin",
            "external_banks",
            "reporting_threshold",
            "max_step_hours",
            "laundering_label_delay_median_days",
        ):
            check_positive(name, getattr(self, name))
        for name in (
            "bill_share",
            "payment_share",
            "transfer_share",
            "cash_share",
            "local_payment_share",
            "supplier_share",
            "structuring_low",
            "structuring_high",
        ):
            check_probability(name, getattr(self, name))
        for name in (
            "cash_deposits_per_month",
            "business_base_revenue",
            "alerts_per_1000_accounts",
            "laundering_label_delay_sigma",
            "genuine_label_delay_days",
        ):
            check_non_negative(name, getattr(self, name))
        spend = self.bill_share + self.payment_share + self.transfer_share + self.cash_share
        if spend > 1.0:
            raise ParameterError(
                "bill_share + payment_share + transfer_share + cash_share must be at most 1 "
                f"(got {spend})"
            )
        if self.min_alert_members < 3:
            raise ParameterError(
                f"min_alert_members must be at least 3 (got {self.min_alert_members})"
            )
        if self.max_alert_members < self.min_alert_members:
            raise ParameterError(
                "max_alert_members must be at least min_alert_members "
                f"(got {self.max_alert_members} < {self.min_alert_members})"
            )
        if not 0.0 < self.structuring_low <= self.structuring_high < 1.0:
            raise ParameterError(
                "structuring_low and structuring_high must satisfy 0 < low <= high < 1 "
                f"(got {self.structuring_low}, {self.structuring_high})"
            )
        if not 0.005 <= self.max_hop_decrement < 0.5:
            raise ParameterError(
                f"max_hop_decrement must be in [0.005, 0.5) (got {self.max_hop_decrement})"
            )
        if not self.max_step_hours >= 1.0:
            raise ParameterError(f"max_step_hours must be at least 1 (got {self.max_step_hours})")
