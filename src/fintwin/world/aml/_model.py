"""World model of the ``aml`` preset (described in the package docstring)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa

from fintwin.data.schemas import category, money_from_minor
from fintwin.data.schemas.aml import AlertRole
from fintwin.data.schemas.vocab import (
    AccountKind,
    LaunderingTypology,
    Segment,
    TransferType,
    labels,
)
from fintwin.world._engine import MS_PER_DAY, Parts, Preset, WorldConfig, WorldModel, params_to_json
from fintwin.world._flows import (
    draw_in_group,
    lognormal_with_mean,
    millis_of_day,
    nearest_of,
    popularity,
)
from fintwin.world._ledger import Ledger, settle_by_day
from fintwin.world._seeding import Stream, stream_rng
from fintwin.world._tables import transfers_table
from fintwin.world.aml._laundering import plan_laundering
from fintwin.world.aml._params import AmlParams
from fintwin.world.economy import economy_tables
from fintwin.world.population import draw_population

__all__ = ["AmlModel"]

_T = {t: i for i, t in enumerate(TransferType)}
_KINDS = labels(AccountKind)
_SEG = {s: i for i, s in enumerate(Segment)}
_MS_PER_HOUR = 3_600_000
_DAYS_PER_MONTH = 365.25 / 12
_USUAL = 4  # usual nearby businesses per customer
_REVENUE_EVENTS_PER_DAY = 3.0  # payments a business receives from outside the bank per day
_SUPPLIER_PAYMENTS_PER_MONTH = 4.0
_SUPPLIERS = 2
_CLIENT_PAYMENTS_PER_MONTH = 3.0  # the self-employed are paid by clients outside
_EVENT_KEYS = ("timestamp", "src", "dst", "amount_minor", "type")


def _poisson_days(rng: np.random.Generator, rate: np.ndarray, n_days: int):
    """Events of ``Poisson(rate)`` per item and day: (item, day offset) arrays."""
    counts = rng.poisson(np.broadcast_to(rate[:, None], (rate.size, n_days)))
    item = np.repeat(np.arange(rate.size), counts.sum(axis=1))
    day = np.repeat(np.tile(np.arange(n_days), rate.size), counts.ravel())
    return item, day


def _due_days(due: np.ndarray, dom: np.ndarray) -> tuple[np.ndarray, ...]:
    """Indices where a day of the month ``due`` (shape (n,) or (n, k)) falls in the chunk whose
    days of the month are ``dom`` (shape (d,)): ``(item, day offset)`` or
    ``(item, column, day offset)``."""
    return np.nonzero(due[..., None] == dom)


def _morning(rng: np.random.Generator, size: int) -> np.ndarray:
    """Times of batch credits and direct debits: 01:00 to 08:00, in ms since midnight."""
    return rng.integers(_MS_PER_HOUR, 8 * _MS_PER_HOUR, size)


class _Events:
    """Transfers drawn by one block, gathered kind by kind."""

    def __init__(self, day0_ms: int) -> None:
        self.day0_ms = day0_ms
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, day, ms, src, dst, cents, kind: TransferType) -> None:
        """Rows on day offsets ``day`` at ``ms`` after midnight; ``cents`` rounded, >= 1."""
        ts = self.day0_ms + np.asarray(day, np.int64) * MS_PER_DAY + ms
        cents = np.maximum(np.round(cents), 1).astype(np.int64)
        kinds = np.full(ts.size, _T[kind], dtype=np.int8)
        self.parts.append((ts, np.asarray(src, np.int64), np.asarray(dst, np.int64), cents, kinds))

    def columns(self) -> dict[str, np.ndarray]:
        cols = dict(
            zip(
                _EVENT_KEYS, [np.concatenate(c) for c in zip(*self.parts, strict=True)], strict=True
            )
        )
        # A one-customer world has only itself as a contact: no transfer to oneself.
        keep = cols["src"] != cols["dst"]
        return {k: v[keep] for k, v in cols.items()}


class AmlModel(WorldModel):
    """World model of the ``aml`` preset (see the package docstring)."""

    preset = Preset.AML
    block_customers = 2_000
    chunk_days = 30

    def __init__(self, config: WorldConfig, params: AmlParams | None = None) -> None:
        super().__init__(config)
        self.params = p = params or AmlParams()
        n = config.customers
        self.population = pop = draw_population(
            n, stream_rng(config.seed, Stream.POPULATION), config.start
        )
        rng = stream_rng(config.seed, Stream.BEHAVIOUR)
        self.n_business = nb = max(8, round(n * p.businesses_per_1000_customers / 1000))
        self.business0 = n
        self.cash = n + nb
        self.pension = n + nb + 1
        self.bank0 = n + nb + 2
        start = config.start
        self.dom = np.array(
            [(start + dt.timedelta(days=d)).day for d in range(config.days)], dtype=np.int8
        )

        # Customers: monthly pay, where it comes from, and how it is spent.
        self.pay = pop.income / 12 * p.net_income_share
        seg = pop.segment
        home = np.column_stack([pop.home_x, pop.home_y])
        size = popularity(rng, nb, p.popularity_alpha)
        host = rng.integers(0, n, nb)
        b_xy = home[host] + rng.normal(0.0, 1.0, (nb, 2))
        salaried = seg == _SEG[Segment.SALARIED]
        self.employer = np.where(salaried, rng.choice(nb, n, p=size / size.sum()), -1).astype(
            np.int64
        )
        b_payday = rng.integers(1, 29, nb)
        self.payday = np.where(salaried, b_payday[np.maximum(self.employer, 0)], 0)
        self.payday = np.where(salaried, self.payday, rng.integers(1, 29, n)).astype(np.int8)
        self.retired = seg == _SEG[Segment.RETIRED]
        self.student = seg == _SEG[Segment.STUDENT]
        self.self_paid = ~(salaried | self.retired | self.student)
        # Utilities and landlords: the biggest businesses bill most customers.
        bill_w = size**1.5
        self.billers = rng.choice(nb, (n, p.billers_per_customer), p=bill_w / bill_w.sum())
        self.bill_day = rng.integers(1, 29, self.billers.shape).astype(np.int8)
        self.bill_amount = (
            p.bill_share * self.pay[:, None] / p.billers_per_customer
        ) * rng.lognormal(0.0, 0.3, self.billers.shape)
        self.pay_rate = p.payments_per_day * rng.gamma(2.0, 0.5, n)
        self.pay_mean = p.payment_share * self.pay / _DAYS_PER_MONTH / self.pay_rate
        cand = draw_in_group(rng, pop.region, pop.region[host], size, 12)
        self.usual = nearest_of(home, b_xy, cand, _USUAL)
        self.size_cum = np.cumsum(size)
        contacts = draw_in_group(
            rng,
            pop.region,
            pop.region,
            popularity(rng, n, p.popularity_alpha),
            p.contacts_per_customer,
        )
        far = rng.random(contacts.shape) < 0.3
        contacts[far] = rng.integers(0, n, int(far.sum()))
        own = contacts == np.arange(n)[:, None]
        contacts[own] = (np.nonzero(own)[0] + 1) % n
        self.contacts = contacts
        self.bank = rng.integers(0, p.external_banks, n)
        opening_c = self.pay * rng.lognormal(0.0, 0.6, n)

        # Businesses: payroll, revenue from outside, suppliers inside, a cash buffer.
        self.payroll = np.bincount(
            self.employer[salaried], self.pay[salaried], minlength=nb
        ).astype(float)
        base = p.business_base_revenue * size / size.mean()
        self.revenue = p.revenue_margin * self.payroll + base  # per month, from outside
        from_customers = (
            np.bincount(self.billers.ravel(), self.bill_amount.ravel(), minlength=nb)
            + np.bincount(
                self.usual.ravel(),
                np.repeat(p.payment_share * self.pay * p.local_payment_share / _USUAL, _USUAL),
                minlength=nb,
            )
            + p.payment_share * self.pay.sum() * (1 - p.local_payment_share) * size / size.sum()
        )
        self.supplier_spend = p.supplier_share * (self.revenue + from_customers)
        suppliers = rng.choice(nb, (nb, _SUPPLIERS), p=size / size.sum())
        own = suppliers == np.arange(nb)[:, None]
        suppliers[own] = (np.nonzero(own)[0] + 1) % nb
        self.suppliers = suppliers
        self.business_bank = rng.integers(0, p.external_banks, nb)
        # The treasury keeps about six weeks of outgoings and sweeps the excess to its bank.
        self.target = np.round(1.5 * (self.payroll + self.supplier_spend) * 100).astype(np.int64)
        self.target = np.maximum(self.target, 100_000)

        self.laundering = plan_laundering(
            stream_rng(config.seed, Stream.LAUNDERING),
            p,
            pool=n + nb,
            cash_account=self.cash,
            wire_accounts=self.bank0 + np.arange(p.external_banks),
            start_ms=config.start_ms,
            days=config.days,
        )
        opening = np.concatenate(
            [
                np.round(opening_c * 100).astype(np.int64),
                self.target,
                np.zeros(2 + p.external_banks, dtype=np.int64),
            ]
        )
        self.account_kind = np.concatenate(
            [
                np.full(n, _KINDS.index(AccountKind.CURRENT)),
                np.full(nb, _KINDS.index(AccountKind.MERCHANT)),
                np.full(2 + p.external_banks, _KINDS.index(AccountKind.EXTERNAL)),
            ]
        ).astype(np.int32)
        self.ledger = Ledger(opening, self.account_kind != _KINDS.index(AccountKind.EXTERNAL))
        self._next_id = 0

    def business_slice(self, block: int) -> slice:
        """Businesses whose own transfers ``block`` draws (fixed by the block count only)."""
        nb, k = self.n_business, self.n_blocks
        return slice(block * nb // k, (block + 1) * nb // k)

    # -- WorldModel ---------------------------------------------------------------------------
    def parameters(self) -> dict[str, Any]:
        return params_to_json(self.params)

    def static_tables(self) -> dict[str, pa.Table]:
        c = self.config
        self.ledger.reset()
        self._next_id = 0
        epoch_day = (c.start - dt.date(1970, 1, 1)).days
        n, n_other = c.customers, self.account_kind.size - c.customers
        owner = np.r_[np.arange(n), np.full(n_other, -1)].astype(np.int64)
        opened = np.r_[self.population.customer_since, np.full(n_other, epoch_day - 3650)]
        return {
            "customers": self.population.table(),
            "accounts": pa.table(
                {
                    "account_id": np.arange(owner.size, dtype=np.int64),
                    "customer_id": pa.array(owner, mask=owner < 0),
                    "kind": category(self.account_kind, _KINDS),
                    "opened_at": pa.array(opened.astype(np.int32), pa.date32()),
                    "opening_balance": money_from_minor(self.ledger.opening),
                }
            ),
        }

    def block_events(self, block: int, day0: int, day1: int) -> Parts:
        cs, bs = self.block_slice(block), self.business_slice(block)
        rng = stream_rng(self.config.seed, Stream.EVENTS, block, day0)
        ev = _Events(self.config.start_ms + day0 * MS_PER_DAY)
        customers = np.arange(cs.start, cs.stop)
        self._income(ev, rng, customers, day0, day1)
        self._spending(ev, rng, customers, day0, day1)
        self._business(ev, rng, np.arange(bs.start, bs.stop), day1 - day0)
        return {"transfers": ev.columns()}

    def _income(self, ev: _Events, rng, who_all: np.ndarray, day0: int, day1: int) -> None:
        """Pay on its day of the month (salary, pension, allowance), or client payments."""
        p = self.params
        i, d = _due_days(self.payday[who_all], self.dom[day0:day1])
        who = who_all[i]
        cents = self.pay[who] * 100
        emp, ret, stu = self.employer[who] >= 0, self.retired[who], self.student[who]
        for mask, src, kind in (
            (emp, self.business0 + self.employer[who], TransferType.SALARY),
            (ret, np.full(who.size, self.pension), TransferType.SALARY),
            (stu, self.bank0 + self.bank[who], TransferType.TRANSFER),
        ):
            ev.add(d[mask], _morning(rng, mask.sum()), src[mask], who[mask], cents[mask], kind)
        self_paid = who_all[self.self_paid[who_all]]
        rate = np.full(self_paid.size, _CLIENT_PAYMENTS_PER_MONTH / _DAYS_PER_MONTH)
        i, d = _poisson_days(rng, rate, day1 - day0)
        who = self_paid[i]
        mean = self.pay[who] / _CLIENT_PAYMENTS_PER_MONTH * 100
        client_bank = self.bank0 + rng.integers(0, p.external_banks, who.size)
        ev.add(
            d,
            millis_of_day(rng, who.size),
            client_bank,
            who,
            lognormal_with_mean(rng, mean, 0.5),
            TransferType.TRANSFER,
        )

    def _spending(self, ev: _Events, rng, who_all: np.ndarray, day0: int, day1: int) -> None:
        """Bills on their day, shop payments, transfers to contacts, cash."""
        p, n_d = self.params, day1 - day0
        i, j, d = _due_days(self.bill_day[who_all], self.dom[day0:day1])
        who = who_all[i]
        cents = self.bill_amount[who, j] * rng.uniform(0.9, 1.1, who.size) * 100
        ev.add(
            d,
            _morning(rng, who.size),
            who,
            self.business0 + self.billers[who, j],
            cents,
            TransferType.BILL,
        )

        i, d = _poisson_days(rng, self.pay_rate[who_all], n_d)
        who = who_all[i]
        local = rng.random(who.size) < p.local_payment_share
        usual = self.usual[who, rng.integers(0, _USUAL, who.size)]
        anywhere = np.searchsorted(self.size_cum, rng.random(who.size) * self.size_cum[-1])
        shop = np.where(local, usual, np.minimum(anywhere, self.n_business - 1))
        cents = lognormal_with_mean(rng, self.pay_mean[who] * 100, 0.9)
        ev.add(
            d,
            millis_of_day(rng, who.size),
            who,
            self.business0 + shop,
            cents,
            TransferType.PAYMENT,
        )

        def per_month(rate: float) -> tuple[np.ndarray, np.ndarray]:
            return _poisson_days(rng, np.full(who_all.size, rate / _DAYS_PER_MONTH), n_d)

        i, d = per_month(p.transfers_per_month)
        who = who_all[i]
        mean = p.transfer_share * self.pay[who] / p.transfers_per_month * 100
        contact = self.contacts[who, rng.integers(0, p.contacts_per_customer, who.size)]
        cents = lognormal_with_mean(rng, mean, 0.8)
        ev.add(d, millis_of_day(rng, who.size), who, contact, cents, TransferType.TRANSFER)

        # Cash comes in notes: amounts are whole tens.
        i, d = per_month(p.cash_withdrawals_per_month)
        who = who_all[i]
        mean = p.cash_share * self.pay[who] / p.cash_withdrawals_per_month
        cents = np.maximum(np.round(lognormal_with_mean(rng, mean, 0.5) / 10), 2) * 1000
        cash = np.full(who.size, self.cash)
        ev.add(d, millis_of_day(rng, who.size), who, cash, cents, TransferType.CASH_OUT)
        i, d = per_month(p.cash_deposits_per_month)
        who = who_all[i]
        mean = 0.1 * self.pay[who]
        cents = np.maximum(np.round(lognormal_with_mean(rng, mean, 0.8) / 10), 1) * 1000
        cash = np.full(who.size, self.cash)
        ev.add(d, millis_of_day(rng, who.size), cash, who, cents, TransferType.CASH_IN)

    def _business(self, ev: _Events, rng, biz: np.ndarray, n_d: int) -> None:
        """Businesses' revenue from outside the bank and payments to their suppliers."""
        p = self.params
        i, d = _poisson_days(rng, np.full(biz.size, _REVENUE_EVENTS_PER_DAY), n_d)
        b = biz[i]
        mean = self.revenue[b] / _DAYS_PER_MONTH / _REVENUE_EVENTS_PER_DAY * 100
        payer = self.bank0 + rng.integers(0, p.external_banks, b.size)
        cents = lognormal_with_mean(rng, mean, 0.6)
        ev.add(
            d,
            millis_of_day(rng, b.size),
            payer,
            self.business0 + b,
            cents,
            TransferType.PAYMENT,
        )
        rate = np.full(biz.size, _SUPPLIER_PAYMENTS_PER_MONTH / _DAYS_PER_MONTH)
        i, d = _poisson_days(rng, rate, n_d)
        b = biz[i]
        mean = self.supplier_spend[b] / _SUPPLIER_PAYMENTS_PER_MONTH * 100
        supplier = self.business0 + self.suppliers[b, rng.integers(0, _SUPPLIERS, b.size)]
        cents = lognormal_with_mean(rng, mean, 0.5)
        ev.add(
            d,
            millis_of_day(rng, b.size),
            self.business0 + b,
            supplier,
            cents,
            TransferType.TRANSFER,
        )

    def _sweeps(self, day: int) -> dict[str, np.ndarray]:
        """Midnight treasury batch: a business holding over twice its target balance sends the
        excess to its bank (DEBIT)."""
        biz = np.arange(self.n_business)
        bal = self.ledger.balance[self.business0 + biz]
        over = bal > 2 * self.target
        k = int(over.sum())
        return {
            "timestamp": np.full(k, self.config.start_ms + day * MS_PER_DAY, dtype=np.int64),
            "src": self.business0 + biz[over],
            "dst": self.bank0 + self.business_bank[over],
            "amount_minor": (bal - self.target)[over],
            "type": np.full(k, _T[TransferType.DEBIT], dtype=np.int8),
            "alert_id": np.full(k, -1, dtype=np.int64),
            "label_at": np.full(k, -1, dtype=np.int64),
        }

    def merge(self, parts: list[Parts], day0: int, day1: int) -> dict[str, pa.Table]:
        rows = {k: np.concatenate([pt["transfers"][k] for pt in parts]) for k in _EVENT_KEYS}
        rows["alert_id"] = np.full(rows["src"].size, -1, dtype=np.int64)
        rows["label_at"] = np.full(rows["src"].size, -1, dtype=np.int64)
        lp = self.laundering
        t0 = self.config.start_ms + day0 * MS_PER_DAY
        sl = lp.rows_between(t0, self.config.start_ms + day1 * MS_PER_DAY)
        dirty = {
            "timestamp": lp.timestamp[sl],
            "src": lp.src[sl],
            "dst": lp.dst[sl],
            "amount_minor": lp.amount[sl],
            "type": lp.kind[sl],
            "alert_id": lp.alert_id[sl],
            "label_at": lp.label_at[sl],
        }
        rows = {k: np.concatenate([rows[k], dirty[k]]) for k in rows}
        cols = settle_by_day(
            self.ledger,
            rows,
            self.config.start_ms + np.arange(day0, day1 + 1) * MS_PER_DAY,
            lambda i: self._sweeps(day0 + i),
            # Launderers' transfers always go through (they are the story); others may be
            # declined for want of funds.
            lambda day: {"droppable": day["alert_id"] < 0},
        )
        return {"transfers": self._table(cols)}

    def _table(self, cols: dict[str, np.ndarray]) -> pa.Table:
        n = cols["src"].size
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        ts = cols["timestamp"]
        alert = cols["alert_id"]
        dirty = alert >= 0
        genuine_at = ts + self.params.genuine_label_delay_days * MS_PER_DAY
        typology = np.full(n, -1, dtype=np.int32)
        typology[dirty] = self.laundering.typology[alert[dirty]]

        return transfers_table(
            ids,
            ts,
            cols["src"],
            cols["dst"],
            cols["amount_minor"],
            cols["type"],
            cols["src_before"],
            cols["dst_before"],
            np.full(n, -1, dtype=np.int32),
            np.where(dirty, cols["label_at"], genuine_at),
            laundering_typology=typology,
            alert_id=alert,
        )

    def final_tables(self) -> dict[str, pa.Table]:
        lp = self.laundering
        tables = {
            "aml_alerts": pa.table(
                {
                    "alert_id": np.arange(lp.typology.size, dtype=np.int64),
                    "typology": category(lp.typology, labels(LaunderingTypology)),
                    "start": pa.array(lp.start, pa.timestamp("ms")),
                    "end": pa.array(lp.end, pa.timestamp("ms")),
                    "members": lp.members,
                    "transfers": lp.transfers,
                    "laundered_amount": money_from_minor(lp.laundered),
                }
            ),
            "aml_alert_members": pa.table(
                {
                    "alert_id": lp.member_alert,
                    "account_id": lp.member_account,
                    "role": category(lp.member_role, labels(AlertRole)),
                }
            ),
        }
        return {**tables, **economy_tables(self.config, self.population, self.params.economy)}
