"""World model of the ``mobile-money`` preset (described in the package docstring)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from fintwin.data.schemas import category, money_from_minor
from fintwin.data.schemas.vocab import AccountKind, FraudScenario, TransferType, labels
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
from fintwin.world.economy import economy_tables
from fintwin.world.mobile_money._params import MobileMoneyParams
from fintwin.world.population import draw_population

__all__ = ["MobileMoneyModel"]

_T = {t: i for i, t in enumerate(TransferType)}
_SCENARIOS = labels(FraudScenario)
_ATO = _SCENARIOS.index(FraudScenario.ACCOUNT_TAKEOVER)
_KINDS = labels(AccountKind)
# Customer-initiated kinds, in the order of the type-mix draw.
_CUSTOMER_KINDS = (
    TransferType.CASH_IN,
    TransferType.CASH_OUT,
    TransferType.PAYMENT,
    TransferType.TRANSFER,
    TransferType.DEBIT,
)
_MS_PER_MINUTE = 60_000
# row roles inside a chunk: a customer's own transfer, a takeover drain, the mule's cash-out
_NORMAL, _DRAIN, _MULE_CASH_OUT = 0, 1, 2


@dataclass(frozen=True)
class _Takeovers:
    """Account-takeover campaigns planned for the whole period, shape (k,) each."""

    day: np.ndarray
    victim: np.ndarray  # customer index (= wallet account id)
    millis: np.ndarray  # time of the drain within its day
    delay_ms: np.ndarray  # drain -> mule cash-out
    cash_out_agent: np.ndarray  # agent account id
    mule: np.ndarray  # mule wallet account id
    label_delay_ms: np.ndarray

    @property
    def size(self) -> int:
        return self.day.size


class MobileMoneyModel(WorldModel):
    """World model of the ``mobile-money`` preset (see the module docstring)."""

    preset = Preset.MOBILE_MONEY
    block_customers = 2_000
    chunk_days = 30

    def __init__(self, config: WorldConfig, params: MobileMoneyParams | None = None) -> None:
        super().__init__(config)
        self.params = p = params or MobileMoneyParams()
        n = config.customers
        self.population = pop = draw_population(
            n, stream_rng(config.seed, Stream.POPULATION), config.start
        )
        rng = stream_rng(config.seed, Stream.BEHAVIOUR)
        home = np.column_stack([pop.home_x, pop.home_y])
        # Spending scales with income, less than proportionally.
        self.scale = np.clip((pop.income / np.median(pop.income)) ** 0.7, 0.2, 5.0)
        self.rate = p.transfers_per_day * rng.gamma(2.0, 0.5, n)
        mix, means = p.type_mix, p.mean_amounts
        daily_out = self.rate * self.scale * float(mix @ means)
        per_event = self.scale * float(mix @ means) / (1.0 - mix[0])
        wallet_open = (p.opening_balance_days * daily_out + 3 * per_event) * rng.lognormal(
            0.0, 0.5, n
        )

        # Account ids: wallets, agents, merchants, external banks, then mule wallets.
        self.n_agents = n_a = max(1, round(n / p.customers_per_agent))
        self.n_merchants = n_m = max(1, round(n / p.customers_per_merchant))
        self.agent0 = n
        self.merchant0 = n + n_a
        self.bank0 = n + n_a + n_m
        self.mule0 = self.bank0 + p.external_banks

        # Agents and merchants sit where people live: at a random customer's home, nearby.
        agent_host = rng.integers(0, n, n_a)
        agent_xy = home[agent_host] + rng.normal(0.0, 0.5, (n_a, 2))
        merchant_host = rng.integers(0, n, n_m)
        merchant_xy = home[merchant_host] + rng.normal(0.0, 0.5, (n_m, 2))
        self.merchant_weight = popularity(rng, n_m, p.popularity_alpha)
        cand = draw_in_group(rng, pop.region, pop.region[agent_host], np.ones(n_a), 8)
        self.usual_agents = nearest_of(home, agent_xy, cand, 2)
        cand = draw_in_group(rng, pop.region, pop.region[merchant_host], self.merchant_weight, 12)
        self.usual_merchants = nearest_of(home, merchant_xy, cand, 4)
        contacts = draw_in_group(
            rng,
            pop.region,
            pop.region,
            popularity(rng, n, p.popularity_alpha),
            p.contacts_per_wallet,
        )
        far = rng.random(contacts.shape) < 0.3
        contacts[far] = rng.integers(0, n, int(far.sum()))
        own = contacts == np.arange(n)[:, None]
        contacts[own] = (np.nonzero(own)[0] + 1) % n
        self.contacts = contacts
        self.bank = rng.integers(0, p.external_banks, n)
        self.cash_in_mean = self._cash_in_mean(daily_out)

        # Agent float: days of the expected cash-in volume of the customers who use the agent.
        cash_in_day = self.rate * mix[0] * self.cash_in_mean
        volume = np.bincount(
            self.usual_agents.ravel(), np.repeat(cash_in_day / 2, 2), minlength=n_a
        )
        self.agent_float = np.round(np.maximum(p.agent_float_days * volume, 1_000.0) * 100)
        self.agent_float = self.agent_float.astype(np.int64)

        self.takeovers = self._plan_takeovers()
        k = self.takeovers.size
        opening = np.concatenate(
            [
                np.round(wallet_open * 100).astype(np.int64),
                self.agent_float,
                np.zeros(n_m + p.external_banks + k, dtype=np.int64),
            ]
        )
        kind = np.concatenate(
            [
                np.full(n, _KINDS.index(AccountKind.WALLET)),
                np.full(n_a, _KINDS.index(AccountKind.AGENT)),
                np.full(n_m, _KINDS.index(AccountKind.MERCHANT)),
                np.full(p.external_banks, _KINDS.index(AccountKind.EXTERNAL)),
                np.full(k, _KINDS.index(AccountKind.WALLET)),
            ]
        ).astype(np.int32)
        self.account_kind = kind
        self.ledger = Ledger(opening, kind != _KINDS.index(AccountKind.EXTERNAL))
        self._next_id = 0
        self._membership: list[tuple[np.ndarray, np.ndarray]] = []

    def _cash_in_mean(self, daily_out: np.ndarray) -> np.ndarray:
        """Mean CASH_IN amount of each wallet, shape (n,), currency units.

        A wallet's expected inflow, cash-ins plus TRANSFERs its contacts' holders send it,
        exceeds its expected outflow by ``cash_in_surplus``: ``rate * p_in * m_in + received
        = (1 + surplus) * daily_out``, so wallets neither run dry nor pile up money (popular
        wallets receive many transfers and cash in less, but at least a fifth of the balance).
        """
        p = self.params
        k = p.contacts_per_wallet
        sent = self.rate * self.scale * p.type_mix[3] * p.mean_transfer
        received = np.bincount(
            self.contacts.ravel(), np.repeat(sent / k, k), minlength=self.config.customers
        )
        need = (1.0 + p.cash_in_surplus) * daily_out
        return np.maximum(need - received, 0.2 * need) / (self.rate * p.type_mix[0])

    # -- fraud campaigns (one global stream: the same whatever the blocks) ----------------------
    def _plan_takeovers(self) -> _Takeovers:
        c, p = self.config, self.params
        rng = stream_rng(c.seed, Stream.CAMPAIGNS)
        per_day = rng.poisson(p.takeovers_per_1000_wallets_per_day * c.customers / 1000, c.days)
        k = int(per_day.sum())
        day = np.repeat(np.arange(c.days), per_day)
        # Richer wallets are likelier victims: Gumbel top-k samples without replacement.
        keys = np.log(self.scale) + rng.gumbel(size=c.customers)
        if k <= c.customers:
            victim = rng.permutation(np.argpartition(-keys, k - 1)[:k] if k else keys[:0])
        else:
            victim = rng.choice(c.customers, k, p=self.scale / self.scale.sum())
        max_delay = p.mule_cash_out_max_minutes * _MS_PER_MINUTE
        # The mule cashes out the same day: settlement is by day.
        millis = rng.integers(1, MS_PER_DAY - max_delay, k)
        delay = rng.integers(10 * _MS_PER_MINUTE, max_delay, k, endpoint=True)
        label_days = np.maximum(
            p.fraud_label_delay_median_days * rng.lognormal(0.0, p.fraud_label_delay_sigma, k),
            1.0,
        )
        return _Takeovers(
            day=day,
            victim=victim.astype(np.int64),
            millis=millis,
            delay_ms=delay,
            cash_out_agent=self.agent0 + rng.integers(0, self.n_agents, k),
            mule=self.mule0 + np.arange(k, dtype=np.int64),
            label_delay_ms=np.round(label_days * MS_PER_DAY).astype(np.int64),
        )

    # -- WorldModel ---------------------------------------------------------------------------
    def parameters(self) -> dict[str, Any]:
        return params_to_json(self.params)

    def static_tables(self) -> dict[str, pa.Table]:
        c, p, t = self.config, self.params, self.takeovers
        # A run starts from the opening balances, whatever ran before.
        self.ledger.reset()
        self._next_id = 0
        self._membership = []
        epoch_day = (c.start - dt.date(1970, 1, 1)).days
        mule_pop = draw_population(t.size, stream_rng(c.seed, Stream.CAMPAIGNS, 1), c.start)
        mule_pop = dataclasses.replace(
            mule_pop,
            customer_id=c.customers + np.arange(t.size, dtype=np.int64),
            customer_since=epoch_day + t.day,
        )
        customers = pa.concat_tables([self.population.table(), mule_pop.table()])
        n = c.customers
        n_other = self.n_agents + self.n_merchants + p.external_banks
        owner = np.concatenate(
            [np.arange(n), np.full(n_other, -1), c.customers + np.arange(t.size)]
        ).astype(np.int64)
        opened = np.concatenate(
            [
                np.maximum(self.population.customer_since, epoch_day - 3650),
                np.full(n_other, epoch_day - 3650),
                epoch_day + t.day,
            ]
        )
        accounts = pa.table(
            {
                "account_id": np.arange(owner.size, dtype=np.int64),
                "customer_id": pa.array(owner, mask=owner < 0),
                "kind": category(self.account_kind, _KINDS),
                "opened_at": pa.array(opened.astype(np.int32), pa.date32()),
                "opening_balance": money_from_minor(self.ledger.opening),
            }
        )
        return {"customers": customers, "accounts": accounts}

    def block_events(self, block: int, day0: int, day1: int) -> Parts:
        p = self.params
        cs = self.block_slice(block)
        rng = stream_rng(self.config.seed, Stream.EVENTS, block, day0)
        n_c, n_d = cs.stop - cs.start, day1 - day0
        counts = rng.poisson(np.broadcast_to(self.rate[cs, None], (n_c, n_d)))
        cust = cs.start + np.repeat(np.arange(n_c), counts.sum(axis=1))
        day = np.repeat(np.tile(np.arange(day0, day1), n_c), counts.ravel())
        size = cust.size
        kind = np.searchsorted(np.cumsum(p.type_mix), rng.random(size), side="right")
        kind = np.minimum(kind, len(_CUSTOMER_KINDS) - 1)
        millis = millis_of_day(rng, size)
        mean = np.where(kind == 0, self.cash_in_mean[cust], p.mean_amounts[kind] * self.scale[cust])
        cents = np.maximum(np.round(lognormal_with_mean(rng, mean, p.amount_sigma) * 100), 100)
        pick = rng.random(size)
        agent = self.agent0 + self.usual_agents[cust, (pick * 2).astype(np.int64)]
        contact = self.contacts[cust, (pick * p.contacts_per_wallet).astype(np.int64)]
        local = rng.random(size) < p.local_payment_share
        usual = self.usual_merchants[cust, (pick * 4).astype(np.int64)]
        cum = np.cumsum(self.merchant_weight)
        anywhere = np.minimum(
            np.searchsorted(cum, rng.random(size) * cum[-1], side="right"), cum.size - 1
        )
        merchant = self.merchant0 + np.where(local, usual, anywhere)
        bank = self.bank0 + self.bank[cust]
        cash_in = kind == 0
        src = np.where(cash_in, agent, cust)
        dst = np.select(
            [cash_in, kind == 1, kind == 2, kind == 3], [cust, agent, merchant, contact], bank
        )
        codes = np.array([_T[t] for t in _CUSTOMER_KINDS], dtype=np.int8)
        cols = {
            "timestamp": self.config.start_ms + day * MS_PER_DAY + millis,
            "src": src.astype(np.int64),
            "dst": dst.astype(np.int64),
            "amount_minor": cents.astype(np.int64),
            "type": codes[kind],
        }
        # A one-customer world has only itself as a contact: no transfer to oneself.
        keep = cols["src"] != cols["dst"]
        return {"transfers": {k: v[keep] for k, v in cols.items()}}

    def _takeover_rows(self, day0: int, day1: int) -> dict[str, np.ndarray]:
        """Drain and mule cash-out rows of the campaigns on days ``[day0, day1)``."""
        t = self.takeovers
        idx = np.flatnonzero((t.day >= day0) & (t.day < day1))
        ts = self.config.start_ms + t.day[idx] * MS_PER_DAY + t.millis[idx]
        k = idx.size
        return {
            "timestamp": np.concatenate([ts, ts + t.delay_ms[idx]]),
            "src": np.concatenate([t.victim[idx], t.mule[idx]]),
            "dst": np.concatenate([t.mule[idx], t.cash_out_agent[idx]]),
            "amount_minor": np.zeros(2 * k, dtype=np.int64),
            "type": np.repeat(
                np.array([_T[TransferType.TRANSFER], _T[TransferType.CASH_OUT]], np.int8), k
            ),
            "role": np.repeat(np.array([_DRAIN, _MULE_CASH_OUT], np.int8), k),
            "campaign": np.concatenate([idx, idx]),
        }

    def _settlement_batch(self, day: int) -> dict[str, np.ndarray]:
        """Midnight batch from the closing balances: agents' float back to target, merchants'
        takings to their bank."""
        p, bal = self.params, self.ledger.balance
        agents = self.agent0 + np.arange(self.n_agents)
        a_bal = bal[agents]
        low = a_bal < self.agent_float
        high = a_bal > 2 * self.agent_float
        a_bank = self.bank0 + np.arange(self.n_agents) % p.external_banks
        merchants = self.merchant0 + np.arange(self.n_merchants)
        m_bal = bal[merchants]
        m_pay = m_bal > 0
        m_bank = self.bank0 + np.arange(self.n_merchants) % p.external_banks
        src = np.concatenate([a_bank[low], agents[high], merchants[m_pay]])
        dst = np.concatenate([agents[low], a_bank[high], m_bank[m_pay]])
        amount = np.concatenate(
            [
                (self.agent_float - a_bal)[low],
                (a_bal - self.agent_float)[high],
                m_bal[m_pay],
            ]
        )
        kind = np.concatenate(
            [
                np.full(int(low.sum()), _T[TransferType.CASH_IN]),
                np.full(int(high.sum()), _T[TransferType.CASH_OUT]),
                np.full(int(m_pay.sum()), _T[TransferType.DEBIT]),
            ]
        ).astype(np.int8)
        k = src.size
        return {
            "timestamp": np.full(k, self.config.start_ms + day * MS_PER_DAY, dtype=np.int64),
            "src": src,
            "dst": dst,
            "amount_minor": amount.astype(np.int64),
            "type": kind,
            "role": np.full(k, _NORMAL, dtype=np.int8),
            "campaign": np.full(k, -1, dtype=np.int64),
        }

    def merge(self, parts: list[Parts], day0: int, day1: int) -> dict[str, pa.Table]:
        keys = ("timestamp", "src", "dst", "amount_minor", "type")
        rows = {k: np.concatenate([pt["transfers"][k] for pt in parts]) for k in keys}
        rows["role"] = np.zeros(rows["src"].size, dtype=np.int8)
        rows["campaign"] = np.full(rows["src"].size, -1, dtype=np.int64)
        fraud = self._takeover_rows(day0, day1)
        rows = {k: np.concatenate([rows[k], fraud[k]]) for k in rows}
        pos_by_campaign = np.full(self.takeovers.size, -1, dtype=np.int64)

        def drains_and_echoes(day: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            # A mule cashes out exactly what its drain brought in, on the same day.
            role, camp = day["role"], day["campaign"]
            drains = np.flatnonzero(role == _DRAIN)
            pos_by_campaign[camp[drains]] = drains
            echo = np.full(role.size, -1, dtype=np.int64)
            mule_rows = np.flatnonzero(role == _MULE_CASH_OUT)
            echo[mule_rows] = pos_by_campaign[camp[mule_rows]]
            return {"drain": role == _DRAIN, "echo": echo}

        cols = settle_by_day(
            self.ledger,
            rows,
            self.config.start_ms + np.arange(day0, day1 + 1) * MS_PER_DAY,
            lambda i: self._settlement_batch(day0 + i),
            drains_and_echoes,
        )
        return {"transfers": self._table(cols)}

    def _table(self, cols: dict[str, np.ndarray]) -> pa.Table:
        n = cols["src"].size
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        camp = cols["campaign"]
        fraud = camp >= 0
        self._membership.append((ids[fraud], camp[fraud]))
        ts = cols["timestamp"]
        delay = np.full(n, self.params.genuine_label_delay_days * MS_PER_DAY, dtype=np.int64)
        delay[fraud] = self.takeovers.label_delay_ms[camp[fraud]]

        return transfers_table(
            ids,
            ts,
            cols["src"],
            cols["dst"],
            cols["amount_minor"],
            cols["type"],
            cols["src_before"],
            cols["dst_before"],
            np.where(fraud, _ATO, -1),
            ts + delay,
        )

    def final_tables(self) -> dict[str, pa.Table]:
        t, start = self.takeovers, self.config.start_ms
        begin = start + t.day * MS_PER_DAY + t.millis
        row_ids = [m[0] for m in self._membership]
        campaigns = [m[1] for m in self._membership]
        k = t.size
        tables = {
            "fraud_campaigns": pa.table(
                {
                    "campaign_id": np.arange(k, dtype=np.int64),
                    "scenario": category(np.full(k, _ATO), _SCENARIOS),
                    "target_kind": pa.array(["account"] * k, pa.string()),
                    "target_id": t.victim,
                    "start": pa.array(begin, pa.timestamp("ms")),
                    "end": pa.array(begin + t.delay_ms + 1, pa.timestamp("ms")),
                }
            ),
            "fraud_membership": pa.table(
                {
                    "table": pa.array(["transfers"] * sum(r.size for r in row_ids), pa.string()),
                    "row_id": np.concatenate(row_ids) if row_ids else np.zeros(0, np.int64),
                    "campaign_id": np.concatenate(campaigns)
                    if campaigns
                    else np.zeros(0, np.int64),
                }
            ),
        }
        return {**tables, **economy_tables(self.config, self.population, self.params.economy)}
