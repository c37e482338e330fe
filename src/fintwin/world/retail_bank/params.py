"""Parameters of the ``retail-bank`` preset."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields

from fintwin._validation import check_non_negative, check_positive, check_probability
from fintwin.exceptions import ParameterError
from fintwin.world.economy import EconomyParams

__all__ = ["DEFAULTS", "RetailBankParams"]

#: size of the default world
DEFAULTS = {"customers": 10_000, "days": 90, "start": dt.date(2024, 1, 1)}


@dataclass(frozen=True)
class RetailBankParams:
    """Parameters of the ``retail-bank`` preset: a retail bank, its card holders and accounts.

    Rates of fraud are *expected counts of campaigns*: the number of campaigns of each typology
    is Poisson with mean ``rate * units / 1000 * days / 30`` (units: domestic POS terminals for
    skimming, cards for card fraud, customers for account takeover). Every campaign is listed in
    ``truth/fraud_campaigns`` and its rows in ``truth/fraud_membership``.

    Attributes
    ----------
    pos_terminals_per_1000 : float
        Physical point-of-sale terminals per 1,000 customers (150); they are placed around the
        region centres like the customers, so that density follows the population.
    foreign_terminal_share : float
        Share of POS terminals located abroad, spread over the travel destinations (0.08).
    web_shops_per_1000 : float
        E-commerce web shops per 1,000 customers (10; at least 30 in any world); popularity
        of a web shop follows Zipf's law.
    foreign_web_shop_share : float
        Share of web shops abroad (0.2).
    household_share : float
        Share of customers living in two-person households that share a home computer or
        tablet and a home network prefix (0.4).
    savings_share : float
        Share of customers with a savings account next to their current account (0.55).
    second_card_share : float
        Share of customers with a second card on their current account (0.15).
    favourite_terminals : int
        Terminal slots per customer from which everyday card-present payments are drawn (32):
        drawn from the 16 or more terminals nearest home with weight (category visit
        frequency x exp(-distance / 5 km)), so that customers mostly pay near home.
    payments_per_day : float
        Mean card payments per customer per day (1.6); each customer's rate is lognormal around
        it (log-sd 0.45), younger customers pay more often.
    ecom_share : float
        Mean share of card payments made online (0.28); higher for the young, lower for the old.
    away_day_rate : float
        Probability that a customer spends a day elsewhere in the country (0.03): that day's
        card-present payments are in another region, between 09:00 and 19:00.
    trips_per_year : float
        Trips per customer per year (2.0), lasting 3 to 10 days. The first and last days are
        travel days without card-present payments, so genuine card use never moves faster than
        a plane.
    foreign_trip_share : float
        Share of trips that go abroad (0.5); the rest visit another region.
    net_income_share : float
        Monthly net income (salary, pension, client payments, allowance) as a share of gross
        annual income / 12 (0.72).
    card_spend_share : float
        Mean share of monthly net income spent by card (0.55); each customer's share is
        uniform within +-40 % of it. Payment amounts are scaled so that the expected monthly
        card spend matches it, so amounts rise with income.
    bill_share : float
        Share of monthly net income paid in bills by standing order to two to four billers
        (0.2).
    savings_rate : float
        Mean share of monthly net income moved to savings each month by customers with a
        savings account (0.06).
    p2p_per_month : float
        Person-to-person transfers sent per customer per month (2.0): to the household partner,
        to contacts in the same region, or to accounts at other banks; about a quarter as many
        arrive from other banks.
    skimming_per_1000_terminals : float
        Skimming campaigns per 1,000 domestic POS terminals per 30 days (3.0). A skimmer sits
        on the terminal for ``skimming_days``; each card used there meanwhile is captured with
        probability ``skimming_capture``; captured cards are cloned and used card-present far
        from home 1 to 14 days after the skimmer is removed (scenario ``compromised_terminal``).
    skimming_days : int
        Days a skimmer stays on a compromised terminal (14).
    skimming_capture : float
        Probability that a card used at a compromised terminal is captured (0.4).
    clone_uses : float
        Mean fraudulent uses of a cloned card (3.0; 1 + Poisson).
    cnp_per_1000_cards : float
        Card-not-present campaigns per 1,000 cards per 30 days (4.0): leaked credentials used
        online from a fraudster's device and network, 1 + Poisson(``cnp_uses`` - 1) payments
        over a few days (scenario ``card_not_present``).
    cnp_uses : float
        Mean payments of a card-not-present campaign (3.0).
    card_testing_per_1000_cards : float
        Card-testing bursts per 1,000 cards per 30 days (1.0): 3 + Poisson(4) tiny online
        payments (0.10 to 2.00) seconds apart, then one large payment (at least 200) within
        two hours (scenario ``card_testing``).
    ato_per_1000_customers : float
        Account takeovers per 1,000 customers per 30 days (0.5): a fraudster logs in from a
        new device on a network at least 100 km from the victim's home, sweeps the savings
        into the current account and drains 60 to 95 % of it (at least 50.00) in one to three
        transfers to a mule account (scenario ``account_takeover``).
    mule_rings_per_10000_customers : float
        Money-mule rings per 10,000 customers (4.0; at least one when positive). A ring has
        3 to 8 members, mostly young, who share one or two devices; money arriving in a
        member's account (account-takeover drains and inflows from other banks) is passed to
        the ring's collector (fan-in) and sent on to the ring's accounts abroad (fan-out), a
        few percent kept at each step (scenario ``mule_ring``). These transfers are also
        laundering: typology ``gather_scatter``, ``alert_id`` = the ring, listed in
        ``truth/aml_alerts`` and ``truth/aml_alert_members``. Worlds of fewer than 40
        customers have no rings.
    mule_inflows_per_ring_week : float
        Fraud proceeds arriving at a ring from other banks, per ring per week (1.0).
    impossible_travel_per_1000_cards : float
        Impossible-travel campaigns per 1,000 cards per 30 days (2.0): a genuine card-present
        payment near home, then a cloned card-present use at least
        ``impossible_travel_min_km`` away, sooner than a trip at
        ``impossible_travel_speed_kmh`` would allow (scenario ``impossible_travel``).
    impossible_travel_speed_kmh : float
        Speed above which two card-present uses of one card are impossible (900 km/h, a
        jet's cruising speed); the fraudulent use implies at least 1.25 times this speed.
    impossible_travel_min_km : float
        Minimum distance of an impossible-travel pair (300 km): nearer pairs are left alone
        because terminal locations are approximate.
    fraud_label_delay_median_days, fraud_label_delay_sigma : float
        Fraud labels become known a lognormal delay after the row (median 10 days, log-sd
        0.7: 5 % within 3.2 days, 95 % within 31 days), drawn per row.
    genuine_label_delay_days : int
        Genuine rows are confirmed this many days after they happen (7).
    chunk_days : int
        Days simulated per time chunk (0: automatic, about 1 million card payments per chunk
        and at most 28 days, which bounds memory). It fixes the random streams: worlds built
        with different values differ row by row but not in distribution.
    economy : EconomyParams
        Macro cycle, markets and lending of the world (:mod:`fintwin.world.economy`).
    """

    pos_terminals_per_1000: float = 150.0
    foreign_terminal_share: float = 0.08
    web_shops_per_1000: float = 10.0
    foreign_web_shop_share: float = 0.2
    household_share: float = 0.4
    savings_share: float = 0.55
    second_card_share: float = 0.15
    favourite_terminals: int = 32
    payments_per_day: float = 1.6
    ecom_share: float = 0.28
    away_day_rate: float = 0.03
    trips_per_year: float = 2.0
    foreign_trip_share: float = 0.5
    net_income_share: float = 0.72
    card_spend_share: float = 0.55
    bill_share: float = 0.2
    savings_rate: float = 0.06
    p2p_per_month: float = 2.0
    skimming_per_1000_terminals: float = 3.0
    skimming_days: int = 14
    skimming_capture: float = 0.4
    clone_uses: float = 3.0
    cnp_per_1000_cards: float = 4.0
    cnp_uses: float = 3.0
    card_testing_per_1000_cards: float = 1.0
    ato_per_1000_customers: float = 0.5
    mule_rings_per_10000_customers: float = 4.0
    mule_inflows_per_ring_week: float = 1.0
    impossible_travel_per_1000_cards: float = 2.0
    impossible_travel_speed_kmh: float = 900.0
    impossible_travel_min_km: float = 300.0
    fraud_label_delay_median_days: float = 10.0
    fraud_label_delay_sigma: float = 0.7
    genuine_label_delay_days: int = 7
    chunk_days: int = 0
    economy: EconomyParams = field(default_factory=EconomyParams)

    def __post_init__(self) -> None:
        for name in (
            "pos_terminals_per_1000",
            "web_shops_per_1000",
            "favourite_terminals",
            "payments_per_day",
            "net_income_share",
            "card_spend_share",
            "skimming_days",
            "clone_uses",
            "cnp_uses",
            "impossible_travel_speed_kmh",
            "impossible_travel_min_km",
            "fraud_label_delay_median_days",
        ):
            check_positive(name, getattr(self, name))
        for name in (
            "foreign_terminal_share",
            "foreign_web_shop_share",
            "household_share",
            "savings_share",
            "second_card_share",
            "ecom_share",
            "away_day_rate",
            "foreign_trip_share",
            "skimming_capture",
            "bill_share",
            "savings_rate",
        ):
            check_probability(name, getattr(self, name))
        for name in (
            "trips_per_year",
            "p2p_per_month",
            "skimming_per_1000_terminals",
            "cnp_per_1000_cards",
            "card_testing_per_1000_cards",
            "ato_per_1000_customers",
            "mule_rings_per_10000_customers",
            "mule_inflows_per_ring_week",
            "impossible_travel_per_1000_cards",
            "fraud_label_delay_sigma",
            "genuine_label_delay_days",
            "chunk_days",
        ):
            check_non_negative(name, getattr(self, name))
        for f in fields(self):
            if f.type == "int" and not isinstance(getattr(self, f.name), int):
                raise ParameterError(f"{f.name} must be an integer (got {getattr(self, f.name)!r})")
        if self.foreign_terminal_share >= 1.0:
            raise ParameterError(
                f"foreign_terminal_share must be below 1: the home country needs terminals "
                f"(got {self.foreign_terminal_share})"
            )
        spent = self.card_spend_share + self.bill_share + self.savings_rate
        if spent > 1.5:
            raise ParameterError(
                "card_spend_share + bill_share + savings_rate must be at most 1.5 of net income "
                f"(got {spent:.3g}): balances would fall without end"
            )
