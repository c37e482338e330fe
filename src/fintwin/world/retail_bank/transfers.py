"""Account transfers of one block of customers over one time chunk (runs in worker processes):
income, bills, savings orders and withdrawals, person-to-person transfers, and the daily
posting of card spend to the card scheme.

Amounts are int64 minor units; balances are computed later, in the parent (see ``ledger``).
"""

from __future__ import annotations

import numpy as np

from fintwin.data.schemas.vocab import TransferType
from fintwin.world._engine import MS_PER_DAY
from fintwin.world.retail_bank.behaviour import DAYS_PER_MONTH, Flows, IncomeKind
from fintwin.world.retail_bank.catalogue import QUANTILES, Shape
from fintwin.world.retail_bank.payments import MS_PER_HOUR, Calendar, Rows
from fintwin.world.retail_bank.population import People

__all__ = ["TYPE", "block_transfers", "monthly"]

TYPE = {t: np.int8(i) for i, t in enumerate(TransferType)}
#: client payments of the self-employed per month (their net income arrives in this many parts)
CLIENT_PAYMENTS_PER_MONTH = 4.0
#: savings withdrawals per customer with savings per month
WITHDRAWALS_PER_MONTH = 0.15
#: P2P counterparties: household partner, a contact, an account at another bank
P2P_PARTNER, P2P_CONTACT = 0.3, 0.45
#: P2P arriving from other banks, relative to P2P sent
P2P_IN_SHARE = 0.25


def monthly(item_dom: np.ndarray, day_dom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (item, day) where an item due on day-of-month ``item_dom`` falls in the chunk.

    Parameters
    ----------
    item_dom : ndarray of shape (k,)
        Day of month of each monthly item (1..28).
    day_dom : ndarray of shape (n_days,)
        Day of month of each day of the chunk.

    Returns
    -------
    item, day : ndarray of int64
        Item index and day index (into the chunk) of every occurrence.

    Examples
    --------
    >>> monthly(np.array([2, 5]), np.array([1, 2, 3, 1, 2]))
    (array([0, 0]), array([1, 4]))
    """
    order = np.argsort(day_dom, kind="stable")
    sorted_dom = day_dom[order]
    lo = np.searchsorted(sorted_dom, item_dom, side="left")
    cnt = np.searchsorted(sorted_dom, item_dom, side="right") - lo
    item = np.repeat(np.arange(item_dom.size), cnt)
    within = np.arange(item.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    return item, order[np.repeat(lo, cnt) + within]


def _rows(ts, src, dst, amount, kind, device) -> Rows:
    n = np.size(ts)

    def full(v, dtype):
        return np.broadcast_to(np.asarray(v, dtype=dtype), (n,)).copy()

    return {
        "timestamp": np.asarray(ts, dtype=np.int64),
        "src": full(src, np.int64),
        "dst": full(dst, np.int64),
        "amount": np.asarray(amount, dtype=np.int64),
        "type": np.full(n, TYPE[kind], dtype=np.int8),
        "device": full(device, np.int32),
    }


def block_transfers(
    flows: Flows,
    people: People,
    hours: np.ndarray,
    calendar: Calendar,
    customers: slice,
    day0: int,
    day1: int,
    p2p_per_month: float,
    card_spend: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> list[Rows]:
    """Transfers of ``customers`` on days ``[day0, day1)``.

    Parameters
    ----------
    card_spend : (customer, day) index and amount
        Genuine card spend per customer-day of the block (``customer * n_days + day`` local
        indices, minor units): posted from the current account to the card scheme at 23:59:59.

    Returns
    -------
    list of Rows
        ``timestamp``, ``src``, ``dst``, ``amount``, ``type`` and ``device`` (-1: none).
    """
    cs = customers
    lay = people.layout
    n_c, n_d = cs.stop - cs.start, day1 - day0
    cust = np.arange(cs.start, cs.stop)
    day_ms = calendar.start_ms + np.arange(day0, day1, dtype=np.int64) * MS_PER_DAY
    dom = calendar.day_of_month[day0:day1]
    out: list[Rows] = []

    def at(day: np.ndarray, h0: float, h1: float) -> np.ndarray:
        return day_ms[day] + (rng.uniform(h0, h1, day.size) * MS_PER_HOUR).astype(np.int64)

    def online(day: np.ndarray) -> np.ndarray:
        weekend = calendar.weekday[day0 + day] >= 5
        u = rng.random(day.size) * QUANTILES
        ui = np.minimum(u.astype(np.int64), QUANTILES - 1)
        h = hours[int(Shape.ONLINE) * 2 + weekend, ui] + (u - ui)
        return day_ms[day] + (h * MS_PER_HOUR).astype(np.int64)

    def poisson_days(rate_per_month: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = rng.poisson(rate_per_month * n_d / DAYS_PER_MONTH)
        who = np.repeat(np.arange(n_c), k)
        return who, rng.integers(0, n_d, who.size)

    # Income: salary and pension on their day, allowance monthly, clients at random.
    kind, net = flows.income_kind[cs], flows.net_month[cs]
    monthly_in = np.flatnonzero(kind != IncomeKind.CLIENTS)
    i, d = monthly(flows.income_dom[cs][monthly_in], dom)
    who = monthly_in[i]
    salary = kind[who] != IncomeKind.ALLOWANCE
    for mask, ttype, h in (
        (salary, TransferType.SALARY, 6.0),
        (~salary, TransferType.TRANSFER, 9.0),
    ):
        w = who[mask]
        out.append(
            _rows(at(d[mask], h, h + 2), flows.income_src[cs][w], cust[w], net[w], ttype, -1)
        )
    rate = np.where(kind == IncomeKind.CLIENTS, CLIENT_PAYMENTS_PER_MONTH, 0.0)
    who, d = poisson_days(rate)
    amount = net[who] / CLIENT_PAYMENTS_PER_MONTH * rng.lognormal(-0.125, 0.5, who.size)
    src = lay.first_other_bank + rng.integers(0, lay.other_banks, who.size)
    out.append(
        _rows(at(d, 9, 17), src, cust[who], np.maximum(np.round(amount), 100),
              TransferType.TRANSFER, -1)
    )  # fmt: skip

    # Bills by standing order, early morning.
    acct = flows.bill_account[cs].ravel()
    slot = np.flatnonzero(acct >= 0)
    i, d = monthly(flows.bill_dom[cs].ravel()[slot], dom)
    s = slot[i]
    amount = flows.bill_amount[cs].ravel()[s].astype(float)
    noisy = flows.bill_noisy[cs].ravel()[s]
    amount = np.where(noisy, amount * np.clip(rng.normal(1, 0.15, s.size), 0.5, 1.5), amount)
    out.append(
        _rows(at(d, 7, 9), cust[s // 4], acct[s], np.maximum(np.round(amount), 100),
              TransferType.BILL, -1)
    )  # fmt: skip

    # Savings: monthly standing order in, occasional withdrawals out (from the phone).
    sav = people.savings_account[cs]
    has = np.flatnonzero(sav >= 0)
    i, d = monthly(flows.save_dom[cs][has], dom)
    w = has[i]
    ok = flows.save_amount[cs][w] > 0
    w, d = w[ok], d[ok]
    out.append(
        _rows(at(d, 8, 9), cust[w], sav[w], flows.save_amount[cs][w], TransferType.TRANSFER, -1)
    )
    who, d = poisson_days(np.where(sav >= 0, WITHDRAWALS_PER_MONTH, 0.0))
    amount = np.round(net[who] * rng.lognormal(np.log(0.3), 0.7, who.size))
    out.append(
        _rows(online(d), sav[who], cust[who], np.maximum(amount, 100), TransferType.TRANSFER,
              cust[who])
    )  # fmt: skip

    # P2P sent: partner, a contact, or another bank; P2P received from other banks.
    who, d = poisson_days(np.full(n_c, p2p_per_month))
    c = cust[who]
    u = rng.random(who.size)
    partner = people.partner[c]
    contact = flows.contacts[c, rng.integers(0, 4, who.size)]
    other = lay.first_other_bank + rng.integers(0, lay.other_banks, who.size)
    dst = np.where(
        (u < P2P_PARTNER) & (partner >= 0),
        partner,
        np.where(u < P2P_PARTNER + P2P_CONTACT, contact, other),
    ).astype(np.int64)
    dst = np.where(dst == c, other, dst)
    amount = np.maximum(np.round(rng.lognormal(np.log(4_000), 0.9, who.size)), 100)
    out.append(_rows(online(d), c, dst, amount, TransferType.TRANSFER, c))
    who, d = poisson_days(np.full(n_c, p2p_per_month * P2P_IN_SHARE))
    src = lay.first_other_bank + rng.integers(0, lay.other_banks, who.size)
    amount = np.maximum(np.round(rng.lognormal(np.log(5_000), 0.9, who.size)), 100)
    out.append(_rows(online(d), src, cust[who], amount, TransferType.TRANSFER, -1))

    # Card spend of each customer-day, posted at 23:59:59.
    key, spend = card_spend
    who, d = key // n_d, key % n_d
    out.append(
        _rows(day_ms[d] + MS_PER_DAY - 1000, cust[who], lay.scheme, spend, TransferType.DEBIT, -1)
    )
    return out
