"""How each customer behaves: card spending (rate, channel, amounts, favourite terminals), trips,
income, bills, savings and contacts. Drawn once in the parent; blocks only read it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fintwin.data.schemas.vocab import Segment
from fintwin.world.population import REGIONS
from fintwin.world.retail_bank.catalogue import CATEGORIES, COUNTRIES
from fintwin.world.retail_bank.merchants import Merchants, favourite_terminals
from fintwin.world.retail_bank.params import RetailBankParams
from fintwin.world.retail_bank.population import People

__all__ = ["Flows", "IncomeKind", "Spending", "Trips", "draw_flows", "draw_spending", "plan_trips"]

DAYS_PER_MONTH = 365.25 / 12
_SEG = {s: i for i, s in enumerate(Segment)}
_MEDIAN = np.array([c.median for c in CATEGORIES])
_LOG_SD = np.array([c.log_sd for c in CATEGORIES])
#: mean and second moment of a category's lognormal amount at unit scale
CATEGORY_MEAN = _MEDIAN * np.exp(_LOG_SD**2 / 2)
CATEGORY_M2 = _MEDIAN**2 * np.exp(2 * _LOG_SD**2)


@dataclass(frozen=True)
class Spending:
    """Card behaviour per customer, shape (n,) unless stated.

    ``scale`` multiplies the category's lognormal amount so that the expected monthly card
    spend is the customer's share of net income; ``mean_amount`` and ``std_amount`` are the
    resulting moments of an everyday payment (ground truth).
    """

    rate: np.ndarray  # payments per day
    ecom_share: np.ndarray
    scale: np.ndarray
    favourites: np.ndarray  # int32 (n, slots)
    mean_amount: np.ndarray
    std_amount: np.ndarray


def draw_spending(
    people: People, merchants: Merchants, params: RetailBankParams, rng: np.random.Generator
) -> Spending:
    """Draw every customer's card behaviour (see :class:`RetailBankParams`)."""
    pop = people.population
    n = pop.size
    age = pop.age.astype(float)
    young, old = age < 30, age > 65
    rate = np.where(young, 1.25, np.where(old, 0.8, 1.0)) * rng.lognormal(0.0, 0.45, n)
    rate *= params.payments_per_day / rate.mean()
    tilt = np.where(young, 1.4, np.where(old, 0.5, 1.0)) * rng.lognormal(0.0, 0.3, n)
    ecom = np.clip(params.ecom_share * tilt / tilt.mean(), 0.01, 0.95)
    n_dom = merchants.n_domestic_pos
    fav = favourite_terminals(
        np.stack([pop.home_x, pop.home_y], axis=1),
        np.stack([merchants.x[:n_dom], merchants.y[:n_dom]], axis=1),
        merchants.category[:n_dom],
        params.favourite_terminals,
        rng,
    )
    fav_cat = merchants.category[fav]
    e1_pos = CATEGORY_MEAN[fav_cat].mean(axis=1)
    e2_pos = CATEGORY_M2[fav_cat].mean(axis=1)
    web_cat = merchants.category[merchants.shop_table]
    e1 = (1 - ecom) * e1_pos + ecom * CATEGORY_MEAN[web_cat].mean()
    e2 = (1 - ecom) * e2_pos + ecom * CATEGORY_M2[web_cat].mean()
    share = params.card_spend_share * rng.uniform(0.6, 1.4, n)
    net = params.net_income_share * pop.income / 12
    scale = share * net / (rate * DAYS_PER_MONTH * e1)
    return Spending(
        rate=rate,
        ecom_share=ecom.astype(np.float32),
        scale=scale,
        favourites=fav,
        mean_amount=scale * e1,
        std_amount=scale * np.sqrt(np.maximum(e2 - e1**2, 0.0)),
    )


@dataclass(frozen=True)
class Trips:
    """Trips, sorted by customer: days ``[start, end)`` around POS terminal ``place`` (in
    another region or abroad). First and last days are travel days."""

    customer: np.ndarray  # int32
    start: np.ndarray  # int32 day index
    end: np.ndarray
    place: np.ndarray  # int32 terminal

    def plane(self, customers: slice, day0: int, day1: int) -> np.ndarray:
        """Where each customer of ``customers`` is on days ``[day0, day1)``.

        Returns
        -------
        ndarray of int32, shape (n_customers, day1 - day0)
            -1 at home, -2 on a travel day, otherwise the terminal the customer stays around.
        """
        n_c, n_d = customers.stop - customers.start, day1 - day0
        out = np.full((n_c, n_d), -1, dtype=np.int32)
        lo, hi = np.searchsorted(self.customer, [customers.start, customers.stop])
        s, e = self.start[lo:hi], self.end[lo:hi]
        hit = (e > day0) & (s < day1)
        if not hit.any():
            return out
        c, s, e, g = self.customer[lo:hi][hit], s[hit], e[hit], self.place[lo:hi][hit]
        length = e - s
        row = np.repeat(np.arange(c.size), length)
        day = s[row] + np.arange(row.size) - np.repeat(np.cumsum(length) - length, length)
        code = np.where((day == s[row]) | (day == e[row] - 1), -2, g[row]).astype(np.int32)
        keep = (day >= day0) & (day < day1)
        out[c[row[keep]] - customers.start, day[keep] - day0] = code[keep]
        return out


def plan_trips(
    people: People,
    merchants: Merchants,
    params: RetailBankParams,
    days: int,
    rng: np.random.Generator,
) -> Trips:
    """Trips of every customer over ``days`` days (a customer's trips do not overlap)."""
    pop = people.population
    n = pop.size
    count = rng.poisson(params.trips_per_year * days / 365.25, n)
    cust = np.repeat(np.arange(n, dtype=np.int32), count)
    k = cust.size
    start = rng.integers(0, days, k).astype(np.int32)
    end = start + rng.integers(3, 11, k).astype(np.int32)
    abroad = rng.random(k) < (params.foreign_trip_share if merchants.n_foreign_pos else 0.0)
    w = np.array([c.trip_weight for c in COUNTRIES[1:]])
    country = 1 + rng.choice(w.size, k, p=w / w.sum())
    other = (pop.region[cust] + 1 + rng.integers(0, len(REGIONS) - 1, k)) % len(REGIONS)
    group = np.where(abroad, merchants.group_of_country(country), other)
    place = merchants.pick_in_group(group, rng.random(k)).astype(np.int32)
    order = np.lexsort((start, cust))
    cust, start, end, place = cust[order], start[order], end[order], place[order]
    # drop a trip that starts before the customer's previous one ends
    keep = np.ones(k, dtype=bool)
    keep[1:] = (cust[1:] != cust[:-1]) | (start[1:] >= end[:-1])
    return Trips(cust[keep], start[keep], end[keep], place[keep])


class IncomeKind:
    """How money comes in: monthly salary, monthly pension, client payments, allowance."""

    SALARY = 0
    PENSION = 1
    CLIENTS = 2
    ALLOWANCE = 3


@dataclass(frozen=True)
class Flows:
    """Account behaviour per customer, shape (n,) or (n, 4) for bill slots and contacts.

    Amounts are int64 minor units, days of month 1..28.
    """

    income_kind: np.ndarray  # int8 IncomeKind
    income_src: np.ndarray  # int64 paying account
    income_dom: np.ndarray  # int8
    net_month: np.ndarray  # int64
    bill_account: np.ndarray  # int64 (n, 4), -1 unused
    bill_dom: np.ndarray  # int8 (n, 4)
    bill_amount: np.ndarray  # int64 (n, 4)
    bill_noisy: np.ndarray  # bool (n, 4): utilities vary month to month
    save_amount: np.ndarray  # int64, 0 without savings
    save_dom: np.ndarray  # int8
    contacts: np.ndarray  # int32 (n, 4): customers in the same region


def draw_flows(
    people: People, merchants: Merchants, params: RetailBankParams, rng: np.random.Generator
) -> Flows:
    """Income, bills, savings orders and contacts of every customer."""
    pop, lay = people.population, people.layout
    n = pop.size
    seg = pop.segment
    kind = np.full(n, IncomeKind.SALARY, dtype=np.int8)
    kind[seg == _SEG[Segment.RETIRED]] = IncomeKind.PENSION
    kind[(seg == _SEG[Segment.SELF_EMPLOYED]) | (seg == _SEG[Segment.SME_OWNER])] = (
        IncomeKind.CLIENTS
    )
    kind[seg == _SEG[Segment.STUDENT]] = IncomeKind.ALLOWANCE
    employer = rng.integers(0, lay.employers, n)
    payday = rng.choice(np.array([20, 25, 28]), lay.employers)
    src = np.select(
        [kind == IncomeKind.SALARY, kind == IncomeKind.PENSION],
        [lay.first_employer + employer, lay.pension_fund],
        lay.first_other_bank + rng.integers(0, lay.other_banks, n),
    ).astype(np.int64)
    dom = np.select(
        [kind == IncomeKind.SALARY, kind == IncomeKind.PENSION],
        [payday[employer], 20],
        rng.integers(1, 29, n),
    ).astype(np.int8)
    net = params.net_income_share * pop.income / 12

    # Bills (biller categories: utilities, telecom, insurance): slot 0 utilities, 1 telecom,
    # 2 insurance, 3 a second utility; 2 to 4 of them.
    n_bills = rng.integers(2, 5, n)
    slot_cat = np.array([0, 1, 2, 0])
    slot_w = np.array([1.0, 0.6, 0.8, 0.5])
    used = np.arange(4)[None, :] < n_bills[:, None]
    per_cat = [merchants.billers[merchants.biller_category == i] for i in range(3)]
    biller = np.stack([per_cat[c][rng.integers(0, per_cat[c].size, n)] for c in slot_cat], axis=1)
    bill_account = merchants.merchant_account[merchants.merchant[biller]]
    bill_account = np.where(used, bill_account, -1)
    w = np.where(used, slot_w[None, :], 0.0)
    share = params.bill_share * w / w.sum(axis=1, keepdims=True)
    bill_amount = np.round(share * net[:, None] * rng.uniform(0.8, 1.2, (n, 4)) * 100)
    # Savings: a standing order two days after income arrives.
    has = people.savings_account >= 0
    save = np.where(has, params.savings_rate * rng.uniform(0.3, 1.7, n) * net, 0.0)
    # Contacts: four random customers of the same region.
    order = np.argsort(pop.region, kind="stable")
    offsets = np.zeros(len(REGIONS) + 1, dtype=np.int64)
    np.cumsum(np.bincount(pop.region, minlength=len(REGIONS)), out=offsets[1:])
    lo = offsets[pop.region]
    size = offsets[pop.region + 1] - lo
    pick = lo[:, None] + (rng.random((n, 4)) * size[:, None]).astype(np.int64)
    return Flows(
        income_kind=kind,
        income_src=src,
        income_dom=dom,
        net_month=np.round(net * 100).astype(np.int64),
        bill_account=bill_account.astype(np.int64),
        bill_dom=rng.integers(1, 29, (n, 4)).astype(np.int8),
        bill_amount=np.maximum(bill_amount, 100).astype(np.int64),
        bill_noisy=slot_cat[None, :].repeat(n, 0) == 0,
        save_amount=np.round(save * 100).astype(np.int64),
        save_dom=np.minimum(dom + 2, 28).astype(np.int8),
        contacts=order[pick].astype(np.int32),
    )
