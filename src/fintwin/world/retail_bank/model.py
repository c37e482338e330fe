"""The ``retail-bank`` world model: plans in the parent, payments and transfers in blocks,
skimming clones, takeovers, mule rings and balances in the merge.

Random streams (spawn keys under the world's seed):

========================================  ===============================================
``POPULATION``                            demographics (:func:`draw_population`)
``POPULATION, 1`` / ``2`` / ``3``         households, devices, cards, accounts / merchants /
                                          merchant accounts
``BEHAVIOUR, 0`` / ``1`` / ``2``          spending / income, bills, contacts / trips
``CAMPAIGNS, 0``                          fraud plans (global)
``CAMPAIGNS, 1 | 2 | 3, day0``            ring inflows / skimming captures / onward
                                          transfers of takeover drains, of a chunk
``EVENTS, block, day0``                   card payments of a block and chunk
``TRANSFERS, block, day0``                transfers of a block and chunk
``LABELS, 0 | 1, day0``                   label delays of a chunk's payments / transfers
========================================  ===============================================
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa

from fintwin.data.schemas import category, money_from_minor
from fintwin.data.schemas.vocab import Channel, FraudScenario, LaunderingTypology, TransferType
from fintwin.data.schemas.vocab import labels as enum_labels
from fintwin.world._engine import MS_PER_DAY, Parts, Preset, WorldConfig, WorldModel, params_to_json
from fintwin.world._ledger import post
from fintwin.world._seeding import Stream, stream_rng
from fintwin.world._tables import transfers_table
from fintwin.world.economy import economy_tables
from fintwin.world.population import draw_population
from fintwin.world.retail_bank import fraud, mules
from fintwin.world.retail_bank.behaviour import draw_flows, draw_spending, plan_trips
from fintwin.world.retail_bank.catalogue import hour_tables
from fintwin.world.retail_bank.merchants import build_merchants
from fintwin.world.retail_bank.params import RetailBankParams
from fintwin.world.retail_bank.payments import (
    Calendar,
    Rows,
    concat_rows,
    derive_payment_columns,
    genuine_payments,
    select_rows,
    sort_rows,
)
from fintwin.world.retail_bank.population import (
    build_people,
    country_labels,
    prefix_strings,
    with_merchants,
)
from fintwin.world.retail_bank.transfers import TYPE, block_transfers

__all__ = ["RetailBankModel", "auto_chunk_days"]

#: automatic chunks hold about this many card payments (bounds the parent's memory)
CHUNK_PAYMENTS = 1_000_000
MAX_CHUNK_DAYS = 28
_TX_FILL = {"scenario": np.int8, "campaign": np.int32}
_TR_FILL = {"scenario": np.int8, "campaign": np.int32, "typology": np.int8, "ato": np.int64}
_NEVER = np.iinfo(np.int64).max


def auto_chunk_days(customers: int, payments_per_day: float) -> int:
    """Days per chunk holding about ``CHUNK_PAYMENTS`` card payments (1 to ``MAX_CHUNK_DAYS``).

    Examples
    --------
    >>> auto_chunk_days(100_000, 1.6), auto_chunk_days(1_000, 1.6)
    (6, 28)
    """
    per_day = max(customers * payments_per_day, 1.0)
    return int(min(MAX_CHUNK_DAYS, max(1, CHUNK_PAYMENTS // per_day)))


class RetailBankModel(WorldModel):
    """World model of the ``retail-bank`` preset (parameters: :class:`RetailBankParams`).

    Money flows, all as ``transfers`` rows that debit and credit the same amount:

    - income arrives from external accounts: salary from employers and pension from the
      pension fund (``salary``), client payments of the self-employed and students'
      allowances from other banks (``transfer``);
    - bills go to billers' merchant accounts by standing order (``bill``); savings move by
      standing order and occasional withdrawals; person-to-person transfers go to the
      household partner, contacts or other banks (``transfer``);
    - genuine card payments are posted to the card's current account as one ``debit`` to the
      card scheme per customer and day (at 23:59:59); fraudulent card payments are refunded
      by the issuer and never posted; the scheme pays each merchant at home its day's card
      takings (``payment``, at 23:59:59.5);
    - account takeovers and mule rings move money as described in :mod:`.mules`.

    Balances are not floored (accounts may go overdrawn); external accounts open at zero and
    carry the net position of the outside world. With the defaults about 0.1 % of card
    payments and 0.05 % of transfers are fraudulent.
    """

    preset = Preset.RETAIL_BANK
    block_customers = 2_500

    def __init__(self, config: WorldConfig, params: RetailBankParams | None = None) -> None:
        super().__init__(config)
        self.params = p = params or RetailBankParams()
        n, days, seed = config.customers, config.days, config.seed
        self.chunk_days = p.chunk_days or auto_chunk_days(n, p.payments_per_day)
        self.start_ms = config.start_ms
        self.end_ms = self.start_ms + days * MS_PER_DAY
        pop = draw_population(n, stream_rng(seed, Stream.POPULATION), config.start)
        people = build_people(pop, p, config.start, stream_rng(seed, Stream.POPULATION, 1))
        merchants = build_merchants(
            n, p, stream_rng(seed, Stream.POPULATION, 2), people.layout.first_merchant
        )
        n_merchant_accounts = int((merchants.merchant_account >= 0).sum())
        with_merchants(
            people, n_merchant_accounts, config.start, stream_rng(seed, Stream.POPULATION, 3)
        )
        self.people, self.merchants = people, merchants
        self.spending = draw_spending(people, merchants, p, stream_rng(seed, Stream.BEHAVIOUR, 0))
        self.flows = draw_flows(people, merchants, p, stream_rng(seed, Stream.BEHAVIOUR, 1))
        self.trips = plan_trips(people, merchants, p, days, stream_rng(seed, Stream.BEHAVIOUR, 2))
        self.hours = hour_tables()
        dates = np.datetime64(config.start, "D") + np.arange(days)
        self.calendar = Calendar(
            start_ms=self.start_ms,
            weekday=((dates.astype(np.int64) + 3) % 7).astype(np.int8),  # 1970-01-01: Thursday
            day_of_month=((dates - dates.astype("M8[M]")).astype(np.int64) + 1).astype(np.int8),
        )
        self._plan_fraud()
        # parent state, carried from chunk to chunk
        self._balance = people.opening.copy()
        self._next_tx = 0
        self._next_tr = 0
        self._pending_tx: Rows = {}
        self._pending_tr: Rows = {}
        self._skim_seen = np.zeros(0, dtype=np.int64)
        self._membership: list[tuple[int, np.ndarray, np.ndarray]] = []
        r = self.rings.size
        self._ring_first = np.full(r, _NEVER, dtype=np.int64)
        self._ring_last = np.full(r, -1, dtype=np.int64)
        self._ring_rows = np.zeros(r, dtype=np.int64)
        self._ring_placed = np.zeros(r, dtype=np.int64)
        self._prefix_text: pa.Array | None = None

    def _plan_fraud(self) -> None:
        c, p, people = self.config, self.params, self.people
        rng = stream_rng(c.seed, Stream.CAMPAIGNS, 0)
        self.log = log = fraud.CampaignLog()
        self.skimming = fraud.plan_skimming(self.merchants, p, self.start_ms, c.days, log, rng)
        self.rings = mules.plan_rings(people, p, self.start_ms, self.end_ms, log, rng)
        n_cards = people.n_cards
        online = fraud.expected(p.cnp_per_1000_cards, n_cards, c.days)
        online += fraud.expected(p.card_testing_per_1000_cards, n_cards, c.days)
        online += fraud.expected(p.ato_per_1000_customers, c.customers, c.days)
        pool = fraud.fraudster_devices(
            people, max(1, math.ceil(online / fraud.CAMPAIGNS_PER_DEVICE)), rng
        )
        self.card_events = fraud.plan_card_fraud(
            people, self.merchants, self.spending, p, self.start_ms, c.days, log, pool, rng
        )
        self.takeovers = mules.plan_takeovers(
            people, self.rings, pool, p, self.start_ms, c.days, log, rng
        )
        seen = people.devices.first_seen
        seen[seen == fraud.NOT_SEEN] = self.start_ms  # a fraudster device no campaign used

    def __getstate__(self) -> dict[str, Any]:
        # Workers need the plans, not the parent's running state or cached text.
        state = self.__dict__.copy()
        for k in ("_prefix_text", "_pending_tx", "_pending_tr", "_membership", "_skim_seen"):
            state[k] = None
        return state

    @property
    def prefix_text(self) -> pa.Array:
        """Text of every network prefix (built once, in the parent)."""
        if self._prefix_text is None:
            net = self.people.network
            self._prefix_text = prefix_strings(net.n_domestic, net.x.size)
        return self._prefix_text

    # -- WorldModel ---------------------------------------------------------------------------
    def parameters(self) -> dict[str, Any]:
        return {**params_to_json(self.params), "chunk_days_used": self.chunk_days}

    def static_tables(self) -> dict[str, pa.Table]:
        people = self.people
        return {
            "customers": people.population.table(),
            "terminals": self.merchants.table(),
            "devices": people.devices.table(self.prefix_text),
            "cards": people.cards_table(),
            "accounts": people.accounts_table(),
        }

    def block_events(self, block: int, day0: int, day1: int) -> Parts:
        cs = self.block_slice(block)
        seed = self.config.seed
        people, merchants = self.people, self.merchants
        rows = genuine_payments(
            self.spending,
            people,
            merchants,
            self.trips,
            self.hours,
            self.calendar,
            cs,
            day0,
            day1,
            self.params.away_day_rate,
            stream_rng(seed, Stream.EVENTS, block, day0),
        )
        ev = self.card_events
        lo, hi = np.searchsorted(ev["customer"], [cs.start, cs.stop])
        ts = ev["timestamp"][lo:hi]
        ms0 = self.start_ms + day0 * MS_PER_DAY
        ms1 = self.start_ms + day1 * MS_PER_DAY
        planned = select_rows(ev, lo + np.flatnonzero((ts >= ms0) & (ts < ms1)))
        # Sorted here, the merge's sort interleaves a few sorted runs: its gathers then stream
        # through memory instead of jumping at random.
        tx = sort_rows(concat_rows([rows, planned], _TX_FILL), base=ms0)
        # genuine card spend per customer-day, posted to the current account
        n_d = day1 - day0
        genuine = tx["scenario"] < 0
        key = (tx["customer"][genuine] - cs.start).astype(np.int64) * n_d + (
            tx["timestamp"][genuine] - ms0
        ) // MS_PER_DAY
        spend = np.bincount(
            key, weights=tx["amount"][genuine], minlength=(cs.stop - cs.start) * n_d
        )
        spent = np.flatnonzero(spend)
        transfers = block_transfers(
            self.flows,
            people,
            self.hours,
            self.calendar,
            cs,
            day0,
            day1,
            self.params.p2p_per_month,
            (spent, np.round(spend[spent]).astype(np.int64)),
            stream_rng(seed, Stream.TRANSFERS, block, day0),
        )
        tr = sort_rows(concat_rows(transfers, _TR_FILL), base=ms0)
        return {"transactions": tx, "transfers": tr}

    def merge(self, parts: list[Parts], day0: int, day1: int) -> dict[str, pa.Table]:
        ms0 = self.start_ms + day0 * MS_PER_DAY
        ms1 = self.start_ms + day1 * MS_PER_DAY
        tx = concat_rows([pt["transactions"] for pt in parts] + [self._pending_tx], _TX_FILL)
        clones, self._skim_seen = fraud.skimming_clones(
            tx,
            self.skimming,
            self._skim_seen,
            self.people.n_cards,
            self.params,
            self.merchants,
            self.people.card_owner(),
            self.end_ms,
            stream_rng(self.config.seed, Stream.CAMPAIGNS, 2, day0),
        )
        tx = sort_rows(concat_rows([tx, clones], _TX_FILL), base=ms0)
        cut = int(np.searchsorted(tx["timestamp"], ms1))
        self._pending_tx = select_rows(tx, slice(cut, None))
        tx = select_rows(tx, slice(0, cut))
        settle = self._merchant_settlement(tx, day0, day1)
        pend, now = self._pending_tr, []
        if pend:
            due = pend["timestamp"] < ms1
            now, self._pending_tr = [select_rows(pend, due)], select_rows(pend, ~due)
        tr = concat_rows([pt["transfers"] for pt in parts] + [settle, *now], _TR_FILL)
        tr = self._settle_transfers(tr, ms0, ms1, day0)
        return {
            "transactions": self._transactions_table(tx, day0),
            "transfers": self._transfers_table(tr, day0),
        }

    def _merchant_settlement(self, tx: Rows, day0: int, day1: int) -> Rows:
        """Card takings of each domestic merchant per day, paid by the card scheme at
        23:59:59.5."""
        m = self.merchants
        n_d = day1 - day0
        merchant = m.merchant[tx["terminal"]]
        day = (tx["timestamp"] - self.start_ms) // MS_PER_DAY - day0
        total = np.bincount(
            merchant.astype(np.int64) * n_d + day,
            weights=tx["amount"],
            minlength=m.merchant_account.size * n_d,
        )
        key = np.flatnonzero(total)
        key = key[m.merchant_account[key // n_d] >= 0]
        d = key % n_d
        ts = self.start_ms + (day0 + d + 1) * MS_PER_DAY - 500
        return {
            "timestamp": ts.astype(np.int64),
            "src": np.full(key.size, self.people.layout.scheme, dtype=np.int64),
            "dst": m.merchant_account[key // n_d],
            "amount": np.round(total[key]).astype(np.int64),
            "type": np.full(key.size, TYPE[TransferType.PAYMENT], dtype=np.int8),
            "device": np.full(key.size, -1, dtype=np.int32),
        }

    def _settle_transfers(self, tr: Rows, ms0: int, ms1: int, day0: int) -> Rows:
        """Add takeovers (amounts from the victims' balances), ring inflows and onward
        transfers, carry later rows, and book everything (balances before and after)."""
        ato = self.takeovers
        ato_rows, which = mules.takeover_rows(ato, ms0, ms1)
        slot = ato_rows.pop("slot")
        ato_rows["ato"] = np.arange(which.size, dtype=np.int64)
        tr = concat_rows([tr, ato_rows], _TR_FILL)
        onward: list[Rows] = []
        if which.size:
            # balances of the victims' accounts, in time order, with the takeover rows booked
            # at zero (only the victims' rows are needed, so only they are sorted)
            victim = np.zeros(self._balance.size, dtype=bool)
            victim[ato.victim[which]] = True
            victim[ato.savings[which][ato.savings[which] >= 0]] = True
            sub = np.flatnonzero(victim[tr["src"]] | victim[tr["dst"]])
            sub = sort_rows({"timestamp": tr["timestamp"][sub], "i": sub})["i"]
            before, _ = post(
                tr["src"][sub], tr["dst"][sub], tr["amount"][sub], self._balance.copy()
            )
            at = sub[tr["ato"][sub] >= 0]
            k = tr["ato"][at]
            ato_rows["slot"] = slot
            amount = mules.fill_takeover_amounts(
                select_rows(ato_rows, k), which[k], ato, before[tr["ato"][sub] >= 0]
            )
            tr["amount"][at] = amount
            tr = select_rows(tr, (tr["ato"] < 0) | (tr["amount"] > 0))
            # drains (not sweeps) into a ring are passed on
            d = np.flatnonzero(tr["ato"] >= 0)
            d = d[slot[tr["ato"][d]] >= 0]
            ring = ato.ring[which[tr["ato"][d]]]
            d, ring = d[ring >= 0], ring[ring >= 0]
            self._ring_placed += np.bincount(
                ring, weights=tr["amount"][d], minlength=self.rings.size
            ).astype(np.int64)
            onward.append(
                mules.cascade(
                    self.rings, ring, tr["dst"][d], tr["timestamp"][d], tr["amount"][d],
                    stream_rng(self.config.seed, Stream.CAMPAIGNS, 3, day0),
                )
            )  # fmt: skip
        rng = stream_rng(self.config.seed, Stream.CAMPAIGNS, 1, day0)
        inflow = mules.ring_inflows(self.rings, self.people, self.params, ms0, ms1, rng)
        if inflow["timestamp"].size:
            ring = inflow["campaign"] - self.rings.campaign[0]
            self._ring_placed += np.bincount(
                ring, weights=inflow["amount"], minlength=self.rings.size
            ).astype(np.int64)
            onward.append(inflow)
            onward.append(
                mules.cascade(
                    self.rings, ring, inflow["dst"], inflow["timestamp"], inflow["amount"], rng
                )
            )
        new = concat_rows(onward, _TR_FILL)
        if new:
            new = select_rows(new, new["timestamp"] < self.end_ms)
            later = new["timestamp"] >= ms1
            self._pending_tr = concat_rows([self._pending_tr, select_rows(new, later)], _TR_FILL)
            tr = concat_rows([tr, select_rows(new, ~later)], _TR_FILL)
        tr = sort_rows(tr, base=ms0)
        src_before, dst_before = post(tr["src"], tr["dst"], tr["amount"], self._balance)
        tr["src_before"], tr["dst_before"] = src_before, dst_before
        return tr

    def _transactions_table(self, tx: Rows, day0: int) -> pa.Table:
        n = tx["timestamp"].size
        ids = np.arange(self._next_tx, self._next_tx + n, dtype=np.int64)
        self._next_tx += n
        ts, scenario = tx["timestamp"], tx["scenario"]
        fraud_row = scenario >= 0
        label = fraud.label_available_at(
            ts, fraud_row, self.params, stream_rng(self.config.seed, Stream.LABELS, 0, day0)
        )
        self._remember(0, ids, tx["campaign"])
        # derived here, after the sorts, from small lookup tables
        tx = derive_payment_columns(tx, self.people, self.merchants)
        device, prefix = tx["device"], tx["prefix"]
        return pa.table(
            {
                "transaction_id": ids,
                "timestamp": pa.array(ts, pa.timestamp("ms")),
                "customer_id": tx["customer"].astype(np.int64),
                "card_id": tx["card"].astype(np.int64),
                "terminal_id": tx["terminal"].astype(np.int64),
                "amount": money_from_minor(tx["amount"]),
                "channel": category(tx["channel"], enum_labels(Channel)),
                "device_id": pa.array(device.astype(np.int64), mask=device < 0),
                "ip_prefix": self.prefix_text.take(pa.array(prefix, mask=prefix < 0)),
                "location_x": tx["x"],
                "location_y": tx["y"],
                "country": category(tx["country"], country_labels()),
                "is_fraud": fraud_row,
                "fraud_scenario": category(scenario, enum_labels(FraudScenario)),
                "label_available_at": pa.array(label, pa.timestamp("ms")),
            }
        )

    def _transfers_table(self, tr: Rows, day0: int) -> pa.Table:
        n = tr["timestamp"].size
        ids = np.arange(self._next_tr, self._next_tr + n, dtype=np.int64)
        self._next_tr += n
        ts, scenario, typology = tr["timestamp"], tr["scenario"], tr["typology"]
        label = fraud.label_available_at(
            ts, scenario >= 0, self.params, stream_rng(self.config.seed, Stream.LABELS, 1, day0)
        )
        self._remember(1, ids, tr["campaign"])
        laundering = typology >= 0
        ring_base = int(self.rings.campaign[0]) if self.rings.size else 0
        ring = np.where(laundering, tr["campaign"] - ring_base, -1)
        if laundering.any():
            r = ring[laundering]
            np.minimum.at(self._ring_first, r, ts[laundering])
            np.maximum.at(self._ring_last, r, ts[laundering])
            self._ring_rows += np.bincount(r, minlength=self.rings.size)
        device = tr["device"]
        prefix = np.where(device >= 0, self.people.devices.prefix[np.maximum(device, 0)], -1)
        return transfers_table(
            ids,
            ts,
            tr["src"],
            tr["dst"],
            tr["amount"],
            tr["type"],
            tr["src_before"],
            tr["dst_before"],
            scenario,
            label,
            laundering_typology=typology,
            alert_id=ring,
            device_id=device,
            ip_prefix=self.prefix_text.take(pa.array(prefix, mask=prefix < 0)),
        )

    def _remember(self, table: int, ids: np.ndarray, campaign: np.ndarray) -> None:
        hit = campaign >= 0
        if hit.any():
            self._membership.append((table, ids[hit], campaign[hit]))

    def final_tables(self) -> dict[str, pa.Table]:
        n = self.config.customers
        sp = self.spending
        fav = sp.favourites
        distinct = (np.diff(np.sort(fav, axis=1), axis=1) != 0).sum(axis=1) + 1
        members = self._membership or [(0, np.zeros(0, np.int64), np.zeros(0, np.int32))]
        table_code = np.concatenate([np.full(ids.size, t, np.int32) for t, ids, _ in members])
        rings = self.rings
        first = np.where(self._ring_first == _NEVER, self.start_ms, self._ring_first)
        last = np.where(self._ring_last < 0, first, self._ring_last)
        alert_members = rings.alert_members()
        tables = {
            "customer_profiles": pa.table(
                {
                    "customer_id": np.arange(n, dtype=np.int64),
                    "mean_amount": sp.mean_amount,
                    "std_amount": sp.std_amount,
                    "mean_nb_tx_per_day": sp.rate,
                    "nb_terminals": distinct.astype(np.int32),
                }
            ),
            "fraud_campaigns": self.log.table(),
            "fraud_membership": pa.table(
                {
                    "table": category(table_code, ["transactions", "transfers"]),
                    "row_id": np.concatenate([ids for _, ids, _ in members]),
                    "campaign_id": np.concatenate([c for _, _, c in members]).astype(np.int64),
                }
            ),
            "aml_alerts": pa.table(
                {
                    "alert_id": np.arange(rings.size, dtype=np.int64),
                    "typology": category(
                        np.full(rings.size, mules.RING_TYPOLOGY, np.int32),
                        enum_labels(LaunderingTypology),
                    ),
                    "start": pa.array(first, pa.timestamp("ms")),
                    "end": pa.array(last, pa.timestamp("ms")),
                    "members": np.bincount(
                        alert_members.column("alert_id").to_numpy(), minlength=rings.size
                    ).astype(np.int32),
                    "transfers": self._ring_rows.astype(np.int32),
                    "laundered_amount": money_from_minor(self._ring_placed),
                }
            ),
            "aml_alert_members": alert_members,
        }
        # The customers table's population (household partners share the head's home).
        population = self.people.population
        return {**tables, **economy_tables(self.config, population, self.params.economy)}
