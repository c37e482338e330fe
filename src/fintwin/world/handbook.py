"""The ``handbook`` preset: the transaction simulator of *Reproducible Machine Learning for Credit
Card Fraud Detection - Practical Handbook* (Le Borgne et al., chapter 3.2), vectorised.

The book's generative process, kept exactly:

- customers and terminals uniform on a 100 x 100 grid; a customer uses the terminals within
  radius ``radius`` (5) of home, each with equal probability;
- customer profile: ``mean_amount ~ U(5, 100)``, ``std_amount = mean_amount / 2``,
  ``mean_nb_tx_per_day ~ U(0, 4)``;
- per day, ``Poisson(mean_nb_tx_per_day)`` payments; time of day ``int(N(43200, 20000))``
  seconds, a draw outside ``(0, 86400)`` is dropped (as the book does);
- amount ``N(mean_amount, std_amount)``, a negative draw replaced by ``U(0, 2 mean_amount)``,
  rounded to cents;
- scenario 1: every amount above 220 is fraud;
- scenario 2: each day 2 random terminals are compromised; all their payments of the next 28 days
  are fraud;
- scenario 3: each day 3 random customers are compromised; in the next 14 days a third of their
  payments are fraud with the amount multiplied by 5.

Two details differ in form, not in distribution: the book draws exactly ``int(n / 3)`` of a
compromised customer's ``n`` payments, here each payment is drawn with probability 1/3 (so a
campaign's size does not depend on how payments are split across time chunks); and a payment in
the windows of ``k`` overlapping campaigns is drawn ``k`` times, as in the book, so its amount
can be multiplied by 5 more than once.

Labels: every label becomes available ``label_delay_days`` (the book's 7-day delay period)
after the payment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from fintwin._validation import check_non_negative, check_positive, check_probability
from fintwin.data.schemas import category, money_from_minor
from fintwin.data.schemas.vocab import FraudScenario, labels
from fintwin.world._engine import MS_PER_DAY, Parts, Preset, WorldConfig, WorldModel, params_to_json
from fintwin.world._geometry import within_radius
from fintwin.world._seeding import Stream, stream_rng
from fintwin.world.economy import EconomyParams, economy_tables
from fintwin.world.population import draw_population

__all__ = ["HandbookModel", "HandbookParams"]

_SCENARIOS = labels(FraudScenario)
_CODE = {s: i for i, s in enumerate(FraudScenario)}


@dataclass(frozen=True)
class HandbookParams:
    """Parameters of the ``handbook`` preset (defaults: the book's run).

    Parameters
    ----------
    terminals : int
        Number of terminals (10,000).
    radius : float
        A customer uses terminals within this distance of home (5 grid units).
    grid_size : float
        Side of the square map (100).
    amount_threshold : float
        Scenario 1: amounts above it are fraud (220).
    compromised_terminals_per_day, terminal_compromise_days : int
        Scenario 2 (2 a day, 28 days).
    compromised_customers_per_day, customer_compromise_days : int
        Scenario 3 (3 a day, 14 days).
    customer_fraud_share, customer_fraud_multiplier : float
        Scenario 3: share of payments made fraudulent (1/3) and their amount multiplier (5).
    label_delay_days : int
        Days from a payment until its label is known (7).
    economy : EconomyParams
        Macro cycle, markets and lending (not part of the book; their own streams).
    """

    terminals: int = 10_000
    radius: float = 5.0
    grid_size: float = 100.0
    amount_threshold: float = 220.0
    compromised_terminals_per_day: int = 2
    terminal_compromise_days: int = 28
    compromised_customers_per_day: int = 3
    customer_compromise_days: int = 14
    customer_fraud_share: float = 1.0 / 3.0
    customer_fraud_multiplier: float = 5.0
    label_delay_days: int = 7
    economy: EconomyParams = field(default_factory=EconomyParams)

    def __post_init__(self) -> None:
        check_positive("terminals", self.terminals)
        check_positive("radius", self.radius)
        check_positive("grid_size", self.grid_size)
        for name in (
            "compromised_terminals_per_day",
            "compromised_customers_per_day",
            "terminal_compromise_days",
            "customer_compromise_days",
            "label_delay_days",
        ):
            check_non_negative(name, getattr(self, name))
        check_probability("customer_fraud_share", self.customer_fraud_share)


DEFAULTS = {"customers": 5_000, "days": 183, "start": dt.date(2018, 4, 1)}


class HandbookModel(WorldModel):
    """World model of the ``handbook`` preset (see the module docstring)."""

    preset = Preset.HANDBOOK
    block_customers = 1_000
    chunk_days = 61

    def __init__(self, config: WorldConfig, params: HandbookParams | None = None) -> None:
        super().__init__(config)
        self.params = p = params or HandbookParams()
        n, g = config.customers, p.grid_size
        rng = stream_rng(config.seed, Stream.POPULATION)
        self.customer_xy = rng.uniform(0, g, size=(n, 2))
        self.mean_amount = rng.uniform(5, 100, size=n)
        self.std_amount = self.mean_amount / 2
        self.mean_nb_tx_per_day = rng.uniform(0, 4, size=n)
        self.terminal_xy = stream_rng(config.seed, Stream.POPULATION, 1).uniform(
            0, g, size=(p.terminals, 2)
        )
        # The book's customers have only a home; demographics (for lending) come from a stream
        # of their own so the book's tables are the same with or without them.
        self.population = draw_population(
            n, stream_rng(config.seed, Stream.DEMOGRAPHICS), config.start, self.customer_xy
        )
        self.offsets, self.terminal_index = within_radius(
            self.customer_xy, self.terminal_xy, p.radius
        )
        self._plan_campaigns()
        self._next_id = 0

    # -- campaigns (global: one stream, shared by all blocks) ------------------------------------
    def _plan_campaigns(self) -> None:
        c, p = self.config, self.params
        rng = stream_rng(c.seed, Stream.CAMPAIGNS)
        # The book compromises on each day in range(max TX_TIME_DAYS): every day but the last.
        days = np.arange(max(c.days - 1, 0))
        k_t = min(p.compromised_terminals_per_day, p.terminals)
        k_c = min(p.compromised_customers_per_day, c.customers)
        self.compromised_terminal = np.stack(
            [rng.choice(p.terminals, k_t, replace=False) for _ in days]
        ).reshape(len(days), k_t)
        self.compromised_customer = np.stack(
            [rng.choice(c.customers, k_c, replace=False) for _ in days]
        ).reshape(len(days), k_c)
        # terminal_fraud_days[t, d]: terminal t compromised on day d (by any campaign).
        self.terminal_fraud_days = np.zeros((p.terminals, c.days), dtype=bool)
        for d in days:
            self.terminal_fraud_days[
                self.compromised_terminal[d], d : d + p.terminal_compromise_days
            ] = True

    def _customer_campaigns(self, customers: slice, day0: int, day1: int) -> np.ndarray:
        """Number of active scenario-3 campaigns per (customer in block, day in chunk)."""
        p = self.params
        active = np.zeros((customers.stop - customers.start, day1 - day0), dtype=np.int8)
        first = max(0, day0 - p.customer_compromise_days + 1)
        for d in range(first, min(day1, len(self.compromised_customer))):
            for cust in self.compromised_customer[d]:
                if customers.start <= cust < customers.stop:
                    lo, hi = max(d, day0), min(d + p.customer_compromise_days, day1)
                    active[cust - customers.start, lo - day0 : hi - day0] += 1
        return active

    # -- WorldModel ---------------------------------------------------------------------------
    def parameters(self) -> dict[str, Any]:
        return params_to_json(self.params)

    def static_tables(self) -> dict[str, pa.Table]:
        t = self.params.terminals
        return {
            "customers": self.population.table(),
            "terminals": pa.table(
                {
                    "terminal_id": np.arange(t, dtype=np.int64),
                    "x": self.terminal_xy[:, 0],
                    "y": self.terminal_xy[:, 1],
                    "is_ecommerce": np.zeros(t, dtype=bool),
                }
            ),
        }

    def block_events(self, block: int, day0: int, day1: int) -> Parts:
        p = self.params
        cs = self.block_slice(block)
        rng = stream_rng(self.config.seed, Stream.EVENTS, block, day0)
        n_c, n_d = cs.stop - cs.start, day1 - day0
        lam = self.mean_nb_tx_per_day[cs]
        counts = rng.poisson(np.broadcast_to(lam[:, None], (n_c, n_d)))
        cust_local = np.repeat(np.arange(n_c), counts.sum(axis=1))
        day = np.repeat(np.tile(np.arange(day0, day1), n_c), counts.ravel())
        size = cust_local.size
        seconds = np.trunc(rng.normal(43_200, 20_000, size)).astype(np.int64)
        mean = self.mean_amount[cs][cust_local]
        amount = rng.normal(mean, mean / 2)
        neg = amount < 0
        amount[neg] = rng.uniform(0, 2 * mean[neg])
        u = rng.random(size)
        customer = cust_local + cs.start
        n_term = np.diff(self.offsets)[customer]
        keep = (seconds > 0) & (seconds < 86_400) & (n_term > 0)
        customer, day, seconds, amount, u, n_term = (
            a[keep] for a in (customer, day, seconds, amount, u, n_term)
        )
        pick = self.offsets[customer] + np.minimum((u * n_term).astype(np.int64), n_term - 1)
        terminal = self.terminal_index[pick].astype(np.int64)
        cents = np.round(amount * 100).astype(np.int64)

        scenario = np.full(cents.size, -1, dtype=np.int8)
        scenario[cents > round(p.amount_threshold * 100)] = _CODE[
            FraudScenario.AMOUNT_OVER_THRESHOLD
        ]
        scenario[self.terminal_fraud_days[terminal, day]] = _CODE[
            FraudScenario.COMPROMISED_TERMINAL
        ]
        active = self._customer_campaigns(cs, day0, day1)[customer - cs.start, day - day0]
        hits = np.zeros(cents.size, dtype=np.int64)
        has = active > 0
        hits[has] = rng.binomial(active[has], p.customer_fraud_share)
        hit = hits > 0
        cents[hit] = np.round(cents[hit] * p.customer_fraud_multiplier ** hits[hit]).astype(
            np.int64
        )
        scenario[hit] = _CODE[FraudScenario.COMPROMISED_CUSTOMER]
        timestamp = self.config.start_ms + day * MS_PER_DAY + seconds * 1000
        return {
            "transactions": {
                "timestamp": timestamp,
                "customer_id": customer.astype(np.int64),
                "terminal_id": terminal,
                "amount_minor": cents,
                "scenario": scenario,
            }
        }

    def merge(self, parts: list[Parts], day0: int, day1: int) -> dict[str, pa.Table]:
        cols = {
            k: np.concatenate([pt["transactions"][k] for pt in parts])
            for k in parts[0]["transactions"]
        }
        order = np.argsort(cols["timestamp"], kind="stable")
        cols = {k: v[order] for k, v in cols.items()}
        n = order.size
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        ts = cols["timestamp"]
        delay = self.params.label_delay_days * MS_PER_DAY
        table = pa.table(
            {
                "transaction_id": ids,
                "timestamp": pa.array(ts, pa.timestamp("ms")),
                "customer_id": cols["customer_id"],
                "terminal_id": cols["terminal_id"],
                "amount": money_from_minor(cols["amount_minor"]),
                "is_fraud": cols["scenario"] >= 0,
                "fraud_scenario": category(cols["scenario"], _SCENARIOS),
                "label_available_at": pa.array(ts + delay, pa.timestamp("ms")),
            }
        )
        return {"transactions": table}

    def final_tables(self) -> dict[str, pa.Table]:
        c, p = self.config, self.params
        tables: dict[str, pa.Table] = {
            "customer_profiles": pa.table(
                {
                    "customer_id": np.arange(c.customers, dtype=np.int64),
                    "mean_amount": self.mean_amount,
                    "std_amount": self.std_amount,
                    "mean_nb_tx_per_day": self.mean_nb_tx_per_day,
                    "nb_terminals": np.diff(self.offsets).astype(np.int32),
                }
            )
        }
        rows = []
        for kind, plan, length, scen in (
            (
                "terminal",
                self.compromised_terminal,
                p.terminal_compromise_days,
                FraudScenario.COMPROMISED_TERMINAL,
            ),
            (
                "customer",
                self.compromised_customer,
                p.customer_compromise_days,
                FraudScenario.COMPROMISED_CUSTOMER,
            ),
        ):
            for d, targets in enumerate(plan):
                for t in targets:
                    rows.append((kind, int(t), d, d + length, _CODE[scen]))
        start = c.start_ms
        tables["fraud_campaigns"] = pa.table(
            {
                "campaign_id": np.arange(len(rows), dtype=np.int64),
                "scenario": category(np.array([r[4] for r in rows], dtype=np.int32), _SCENARIOS),
                "target_kind": pa.array([r[0] for r in rows], pa.string()),
                "target_id": np.array([r[1] for r in rows], dtype=np.int64),
                "start": pa.array(
                    np.array([start + r[2] * MS_PER_DAY for r in rows], dtype=np.int64),
                    pa.timestamp("ms"),
                ),
                "end": pa.array(
                    np.array([start + r[3] * MS_PER_DAY for r in rows], dtype=np.int64),
                    pa.timestamp("ms"),
                ),
            }
        )
        return {**tables, **economy_tables(c, self.population, p.economy)}
