"""Parameters of the ``mobile-money`` preset."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from fintwin._validation import check_non_negative, check_positive, check_probability
from fintwin.exceptions import ParameterError
from fintwin.world.economy import EconomyParams

__all__ = ["DEFAULTS", "MobileMoneyParams"]

DEFAULTS = {"customers": 20_000, "days": 30, "start": dt.date(2024, 1, 1)}


@dataclass(frozen=True)
class MobileMoneyParams:
    """Parameters of the ``mobile-money`` preset.

    Parameters
    ----------
    transfers_per_day : float
        Mean transfers a wallet makes per day (1.2); each wallet's own rate is Gamma(2)
        around it.
    share_cash_out, share_payment, share_transfer, share_debit : float
        Shares of CASH_OUT (0.35), PAYMENT (0.34), TRANSFER (0.085) and DEBIT (0.0065) among a
        wallet's transfers (PaySim's mix); CASH_IN takes the rest (0.2185). Their sum must be
        below 1.
    mean_cash_out, mean_payment, mean_transfer, mean_debit : float
        Mean amount of each kind for a customer of median income, in currency units
        (120, 25, 180, 90). Amounts scale with income to the power 0.7.
    amount_sigma : float
        Log-standard deviation of amounts around their mean (0.9).
    cash_in_surplus : float
        Each wallet's mean CASH_IN is set so that its expected inflow (cash-ins and transfers
        received) exceeds its expected outflow by this fraction (0.02): wallets save a little
        instead of running dry.
    opening_balance_days : float
        Median opening balance of a wallet, in days of its expected outflow (7), plus three
        typical payments (so that rarely used wallets can still pay).
    customers_per_agent, customers_per_merchant : int
        Size of the agent network (one agent per 100 customers) and of the merchant base (one
        merchant per 40 customers).
    local_payment_share : float
        Share of payments made at one of the customer's four usual nearby merchants (0.8);
        the rest go to any merchant, popular ones more often.
    contacts_per_wallet : int
        Wallets a customer sends TRANSFERs to (3); popular wallets are the contacts of many.
    popularity_alpha : float
        Pareto tail index of merchant and contact popularity (1.2; lower is more skewed).
    external_banks : int
        Banks outside the service (5).
    agent_float_days : float
        An agent's e-money float is topped up each midnight to this many days of its expected
        cash-in volume (3), and swept back to it above twice that.
    takeovers_per_1000_wallets_per_day : float
        Mean account takeovers per day per 1,000 wallets (0.5).
    mule_cash_out_max_minutes : int
        The mule cashes out between 10 minutes and this many minutes after the takeover (180).
    fraud_label_delay_median_days, fraud_label_delay_sigma : float
        A takeover's rows are labelled after a lognormal delay with this median (10 days) and
        log-sd (0.6), at least one day.
    genuine_label_delay_days : int
        Days after which a genuine row's label is known (7).
    economy : EconomyParams
        Macro cycle, markets and lending of the world (:mod:`fintwin.world.economy`).
    """

    transfers_per_day: float = 1.2
    share_cash_out: float = 0.35
    share_payment: float = 0.34
    share_transfer: float = 0.085
    share_debit: float = 0.0065
    mean_cash_out: float = 120.0
    mean_payment: float = 25.0
    mean_transfer: float = 180.0
    mean_debit: float = 90.0
    amount_sigma: float = 0.9
    cash_in_surplus: float = 0.02
    opening_balance_days: float = 7.0
    customers_per_agent: int = 100
    customers_per_merchant: int = 40
    local_payment_share: float = 0.8
    contacts_per_wallet: int = 3
    popularity_alpha: float = 1.2
    external_banks: int = 5
    agent_float_days: float = 3.0
    takeovers_per_1000_wallets_per_day: float = 0.5
    mule_cash_out_max_minutes: int = 180
    fraud_label_delay_median_days: float = 10.0
    fraud_label_delay_sigma: float = 0.6
    genuine_label_delay_days: int = 7

    economy: EconomyParams = field(default_factory=EconomyParams)

    def __post_init__(self) -> None:
        for name in (
            "transfers_per_day",
            "mean_cash_out",
            "mean_payment",
            "mean_transfer",
            "mean_debit",
            "amount_sigma",
            "opening_balance_days",
            "customers_per_agent",
            "customers_per_merchant",
            "contacts_per_wallet",
            "popularity_alpha",
            "external_banks",
            "agent_float_days",
            "fraud_label_delay_median_days",
        ):
            check_positive(name, getattr(self, name))
        for name in (
            "share_cash_out",
            "share_payment",
            "share_transfer",
            "share_debit",
            "local_payment_share",
        ):
            check_probability(name, getattr(self, name))
        for name in (
            "cash_in_surplus",
            "takeovers_per_1000_wallets_per_day",
            "fraud_label_delay_sigma",
            "genuine_label_delay_days",
        ):
            check_non_negative(name, getattr(self, name))
        out = self.share_cash_out + self.share_payment + self.share_transfer + self.share_debit
        if not out < 1.0:
            raise ParameterError(
                "share_cash_out + share_payment + share_transfer + share_debit must be below 1 "
                f"(CASH_IN takes the rest; got {out})"
            )
        if not 10 < self.mule_cash_out_max_minutes <= 12 * 60:
            raise ParameterError(
                "mule_cash_out_max_minutes must be in (10, 720] "
                f"(got {self.mule_cash_out_max_minutes})"
            )

    @property
    def type_mix(self) -> np.ndarray:
        """Probabilities of CASH_IN, CASH_OUT, PAYMENT, TRANSFER, DEBIT, shape (5,)."""
        out = self.share_cash_out + self.share_payment + self.share_transfer + self.share_debit
        return np.array(
            [
                1.0 - out,
                self.share_cash_out,
                self.share_payment,
                self.share_transfer,
                self.share_debit,
            ]
        )

    @property
    def mean_amounts(self) -> np.ndarray:
        """Mean amount of each kind (order of :attr:`type_mix`) for a customer of median income,
        shape (5,); CASH_IN is 0 here: its mean is set per wallet (see
        :meth:`MobileMoneyModel.cash_in_mean`)."""
        return np.array(
            [0.0, self.mean_cash_out, self.mean_payment, self.mean_transfer, self.mean_debit]
        )
