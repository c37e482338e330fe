"""Card-fraud typologies: campaign plans (parent, ``Stream.CAMPAIGNS``), the card events they
cause, cloned cards from skimmed terminals, and the late arrival of labels.

Plans are global, so blocks stay independent: a block emits the planned events of its own
customers that fall in its chunk. Skimming depends on who actually paid at a compromised
terminal, so its clones are drawn in the parent's merge from a per-chunk stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from fintwin.data.schemas import category
from fintwin.data.schemas.vocab import FraudScenario, labels
from fintwin.world._engine import MS_PER_DAY
from fintwin.world.population import REGIONS
from fintwin.world.retail_bank.behaviour import Spending
from fintwin.world.retail_bank.catalogue import CATEGORIES, COUNTRIES, MerchantCategory
from fintwin.world.retail_bank.merchants import Merchants
from fintwin.world.retail_bank.params import RetailBankParams
from fintwin.world.retail_bank.payments import MS_PER_HOUR, Rows
from fintwin.world.retail_bank.population import People

__all__ = [
    "SCENARIO",
    "CampaignLog",
    "Skimming",
    "label_available_at",
    "plan_card_fraud",
    "plan_skimming",
    "skimming_clones",
]

SCENARIO = {s: np.int8(i) for i, s in enumerate(FraudScenario)}
TARGET_KINDS = ["terminal", "customer", "card", "account", "ring"]
_CAT = {c.category: i for i, c in enumerate(CATEGORIES)}
MS_PER_MINUTE = 60_000
#: share of fraudster networks abroad (the rest are domestic hosting / VPN exits)
FRAUDSTER_ABROAD = 0.6
#: campaigns served by one fraudster device on average
CAMPAIGNS_PER_DEVICE = 3
#: ``first_seen`` of a device no campaign has used yet
NOT_SEEN = np.iinfo(np.int64).max


def expected(rate: float, units: int, days: int) -> float:
    """Expected campaigns: ``rate`` per 1,000 ``units`` per 30 days."""
    return rate * units / 1000 * days / 30


@dataclass
class CampaignLog:
    """Campaigns as they are planned; ids are positions."""

    scenario: list[np.ndarray] = field(default_factory=list)
    kind: list[np.ndarray] = field(default_factory=list)
    target: list[np.ndarray] = field(default_factory=list)
    start: list[np.ndarray] = field(default_factory=list)
    end: list[np.ndarray] = field(default_factory=list)
    size: int = 0

    def add(self, scenario: FraudScenario, kind: str, target, start, end) -> np.ndarray:
        """Record campaigns; returns their ids."""
        target = np.asarray(target, dtype=np.int64)
        k = target.size
        self.scenario.append(np.full(k, SCENARIO[scenario], dtype=np.int32))
        self.kind.append(np.full(k, TARGET_KINDS.index(kind), dtype=np.int32))
        self.target.append(target)
        self.start.append(np.broadcast_to(np.asarray(start, dtype=np.int64), (k,)).copy())
        self.end.append(np.broadcast_to(np.asarray(end, dtype=np.int64), (k,)).copy())
        ids = np.arange(self.size, self.size + k, dtype=np.int64)
        self.size += k
        return ids

    def table(self) -> pa.Table:
        """The ``fraud_campaigns`` table."""

        def cat(parts: list[np.ndarray], dtype) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype)

        return pa.table(
            {
                "campaign_id": np.arange(self.size, dtype=np.int64),
                "scenario": category(cat(self.scenario, np.int32), labels(FraudScenario)),
                "target_kind": category(cat(self.kind, np.int32), TARGET_KINDS),
                "target_id": cat(self.target, np.int64),
                "start": pa.array(cat(self.start, np.int64), pa.timestamp("ms")),
                "end": pa.array(cat(self.end, np.int64), pa.timestamp("ms")),
            }
        )


def label_available_at(
    ts: np.ndarray, fraud: np.ndarray, params: RetailBankParams, rng: np.random.Generator
) -> np.ndarray:
    """When each row's label becomes known, ms: genuine rows ``genuine_label_delay_days``
    after, fraud rows a lognormal delay after (drawn per fraud row, at least 1 ms)."""
    out = ts + params.genuine_label_delay_days * MS_PER_DAY
    k = int(fraud.sum())
    if k:
        days = rng.lognormal(np.log(params.fraud_label_delay_median_days),
                             params.fraud_label_delay_sigma, k)  # fmt: skip
        out[fraud] = ts[fraud] + np.maximum(np.ceil(days * MS_PER_DAY), 1).astype(np.int64)
    return out


def fraudster_devices(people: People, n: int, rng: np.random.Generator) -> np.ndarray:
    """Add ``n`` fraudster devices, each on its own hosting prefix (abroad or a domestic
    VPN exit near a region centre). ``first_seen`` is left at the largest int64 for the
    campaigns to lower to their start (``NOT_SEEN``)."""
    abroad = rng.random(n) < FRAUDSTER_ABROAD
    country = np.where(abroad, rng.integers(1, len(COUNTRIES), n), 0)
    centres = np.array([c.centre_km for c in COUNTRIES])
    regions = np.array([r.centre_km for r in REGIONS])
    xy = np.where(
        abroad[:, None], centres[country], regions[rng.integers(0, len(REGIONS), n)]
    ) + rng.normal(0, 10.0, (n, 2))
    prefix = people.network.append(xy[:, 0], xy[:, 1], country)
    kind = np.where(rng.random(n) < 0.5, 0, 1)  # mobile, desktop
    return people.devices.append(kind, np.full(n, -1), prefix, np.full(n, NOT_SEEN))


def _shops(merchants: Merchants, cats: tuple[MerchantCategory, ...]) -> np.ndarray:
    web = np.flatnonzero(merchants.is_ecommerce)
    web = web[~np.isin(web, merchants.billers)]
    pick = web[np.isin(merchants.category[web], [_CAT[c] for c in cats])]
    return pick if pick.size else web


def _events(ts, customer, card, terminal, amount, device, scenario, campaign) -> Rows:
    n = np.size(ts)
    return {
        "timestamp": np.asarray(ts, np.int64),
        "customer": np.asarray(customer, np.int32),
        "card": np.asarray(card, np.int32),
        "terminal": np.asarray(terminal, np.int32),
        "device": np.broadcast_to(np.asarray(device, np.int32), (n,)).copy(),
        "amount": np.asarray(amount, np.int64),
        "scenario": np.broadcast_to(np.asarray(scenario, np.int8), (n,)).copy(),
        "campaign": np.broadcast_to(np.asarray(campaign, np.int32), (n,)).copy(),
    }


def _bursts(rng, first_ms, count, gap_ms, cap_ms=None) -> tuple[np.ndarray, np.ndarray]:
    """``count[i]`` event times per campaign: ``first_ms[i]`` then exponential gaps."""
    owner = np.repeat(np.arange(count.size), count)
    gap = rng.exponential(gap_ms, owner.size)
    if cap_ms is not None:
        gap = np.minimum(gap, cap_ms)
    start_of = np.cumsum(count) - count
    gap[start_of[count > 0]] = 0.0
    cum = np.cumsum(gap)
    cum -= np.repeat(cum[start_of], count)
    return owner, first_ms[owner] + cum.astype(np.int64)


@dataclass(frozen=True)
class Skimming:
    """Compromised terminals: campaign ``i`` skims terminal ``terminal[i]`` during
    ``[start[i], end[i])``; its clones are used in destination ``group[i]``."""

    terminal: np.ndarray
    start: np.ndarray
    end: np.ndarray
    group: np.ndarray
    campaign: np.ndarray
    by_terminal: np.ndarray  # int32 (n_terminals,): index of its campaign or -1


def plan_skimming(
    merchants: Merchants,
    params: RetailBankParams,
    start_ms: int,
    days: int,
    log: CampaignLog,
    rng: np.random.Generator,
) -> Skimming:
    """Choose compromised terminals (Poisson count, each terminal at most once)."""
    n_dom = merchants.n_domestic_pos
    k = min(rng.poisson(expected(params.skimming_per_1000_terminals, n_dom, days)), n_dom)
    terminal = np.sort(rng.choice(n_dom, k, replace=False)).astype(np.int32)
    start = start_ms + (rng.random(k) * days * MS_PER_DAY).astype(np.int64)
    end = start + params.skimming_days * MS_PER_DAY
    # Clones are cashed out abroad or in another region.
    abroad = (rng.random(k) < 0.6) & (merchants.n_foreign_pos > 0)
    country = rng.integers(1, len(COUNTRIES), k)
    other = (merchants.region[terminal] + 1 + rng.integers(0, len(REGIONS) - 1, k)) % len(REGIONS)
    group = np.where(abroad, merchants.group_of_country(country), other).astype(np.int64)
    ids = log.add(FraudScenario.COMPROMISED_TERMINAL, "terminal", terminal, start, end)
    by_terminal = np.full(merchants.size, -1, dtype=np.int32)
    by_terminal[terminal] = np.arange(k)
    return Skimming(terminal, start, end, group, ids, by_terminal)


def skimming_clones(
    tx: Rows,
    skim: Skimming,
    seen: np.ndarray,
    n_cards: int,
    params: RetailBankParams,
    merchants: Merchants,
    owner: np.ndarray,
    end_ms: int,
    rng: np.random.Generator,
) -> tuple[Rows, np.ndarray]:
    """Cloned-card payments caused by the genuine payments ``tx`` of one chunk.

    A card used at a compromised terminal during its window is captured with probability
    ``skimming_capture``, decided once per (campaign, card) (``seen`` carries the decided keys
    ``campaign * n_cards + card`` across chunks, sorted). A captured card is used
    1 + Poisson(``clone_uses`` - 1) times card-present in the campaign's destination, the first
    use 1 to 14 days after the skimmer is removed, then hours apart.

    Returns
    -------
    clones : Rows
        Payment events (not yet sorted), only those before ``end_ms``.
    seen : ndarray of int64
        Updated decided keys.
    """
    i = skim.by_terminal[tx["terminal"]]
    hit = np.flatnonzero((i >= 0) & (tx["scenario"] < 0))
    i = i[hit]
    ts = tx["timestamp"][hit]
    hit = hit[(ts >= skim.start[i]) & (ts < skim.end[i])]
    i = skim.by_terminal[tx["terminal"][hit]]
    key = np.unique(i.astype(np.int64) * n_cards + tx["card"][hit])
    key = key[~np.isin(key, seen, assume_unique=True)]
    seen = np.union1d(seen, key)
    key = key[rng.random(key.size) < params.skimming_capture]
    camp, card = key // n_cards, key % n_cards
    uses = 1 + rng.poisson(params.clone_uses - 1, key.size)
    first = skim.end[camp] + (rng.uniform(1, 14, key.size) * MS_PER_DAY).astype(np.int64)
    row, ts = _bursts(rng, first, uses, 6 * MS_PER_HOUR)
    ts += 10 * MS_PER_MINUTE * (ts > first[row])
    terminal = merchants.pick_in_group(skim.group[camp[row]], rng.random(row.size))
    amount = np.round(rng.lognormal(np.log(180.0), 0.7, row.size) * 100)
    keep = ts < end_ms
    out = _events(
        ts,
        owner[card[row]],
        card[row],
        terminal,
        np.maximum(amount, 500),
        -1,
        SCENARIO[FraudScenario.COMPROMISED_TERMINAL],
        skim.campaign[camp[row]],
    )
    return {k: v[keep] for k, v in out.items()}, seen


def plan_card_fraud(
    people: People,
    merchants: Merchants,
    spending: Spending,
    params: RetailBankParams,
    start_ms: int,
    days: int,
    log: CampaignLog,
    pool: np.ndarray,
    rng: np.random.Generator,
) -> Rows:
    """Events of card-not-present, card-testing and impossible-travel campaigns.

    ``pool`` holds fraudster devices for the online campaigns (each device serves about
    ``CAMPAIGNS_PER_DEVICE`` campaigns). Returns payment events sorted by (customer, time),
    impossible-travel anchors (genuine) included.
    """
    owner = people.card_owner()
    n_cards = owner.size
    period = days * MS_PER_DAY
    parts: list[Rows] = []
    dev_use: list[tuple[np.ndarray, np.ndarray]] = []

    # Card not present: leaked credentials used online from a fraudster's device.
    k = rng.poisson(expected(params.cnp_per_1000_cards, n_cards, days))
    card = rng.integers(0, n_cards, k)
    leak = start_ms + (rng.random(k) * period).astype(np.int64)
    uses = 1 + rng.poisson(params.cnp_uses - 1, k)
    row, ts = _bursts(rng, leak, uses, 6 * MS_PER_HOUR)
    device = pool[rng.integers(0, pool.size, k)] if pool.size else np.full(k, -1)
    shops = _shops(merchants, (MerchantCategory.MARKETPLACE, MerchantCategory.ELECTRONICS,
                               MerchantCategory.TRAVEL, MerchantCategory.DIGITAL,
                               MerchantCategory.RETAIL))  # fmt: skip
    amount = np.maximum(np.round(rng.lognormal(np.log(150.0), 0.8, row.size) * 100), 500)
    last = np.maximum.reduceat(ts, np.cumsum(uses) - uses) if k else ts
    ids = log.add(FraudScenario.CARD_NOT_PRESENT, "card", card, leak, last + 1)
    parts.append(
        _events(ts, owner[card[row]], card[row], shops[rng.integers(0, shops.size, row.size)],
                amount, device[row], SCENARIO[FraudScenario.CARD_NOT_PRESENT], ids[row])
    )  # fmt: skip
    dev_use.append((device, leak))

    # Card testing: tiny payments seconds apart at one or two shops, then a large one.
    k = rng.poisson(expected(params.card_testing_per_1000_cards, n_cards, days))
    card = rng.integers(0, n_cards, k)
    t0 = start_ms + (rng.random(k) * max(period - MS_PER_DAY, period // 2)).astype(np.int64)
    tests = 3 + rng.poisson(4, k)
    row, ts = _bursts(rng, t0, tests, 40_000.0)
    digital = _shops(merchants, (MerchantCategory.DIGITAL,))
    pair = digital[rng.integers(0, digital.size, (k, 2))]
    test_shop = pair[row, rng.integers(0, 2, row.size)]
    tiny = rng.integers(10, 201, row.size)
    end_tests = np.maximum.reduceat(ts, np.cumsum(tests) - tests) if k else ts
    big_ts = end_tests + (rng.uniform(5, 120, k) * MS_PER_MINUTE).astype(np.int64)
    big_shops = _shops(merchants, (MerchantCategory.ELECTRONICS, MerchantCategory.TRAVEL,
                                   MerchantCategory.MARKETPLACE))  # fmt: skip
    big = np.maximum(np.round(rng.lognormal(np.log(700.0), 0.6, k) * 100), 20_000)
    device = pool[rng.integers(0, pool.size, k)] if pool.size else np.full(k, -1)
    ids = log.add(FraudScenario.CARD_TESTING, "card", card, t0, big_ts + 1)
    every = np.r_[row, np.arange(k)]
    parts.append(
        _events(np.r_[ts, big_ts], owner[card[every]], card[every],
                np.r_[test_shop, big_shops[rng.integers(0, big_shops.size, k)]],
                np.r_[tiny, big], device[every], SCENARIO[FraudScenario.CARD_TESTING],
                ids[every])
    )  # fmt: skip
    dev_use.append((device, t0))

    parts.append(_impossible_travel(people, merchants, spending, params, start_ms, days, log, rng))
    # A fraudster device is first seen at the first campaign that uses it.
    for dev, t in dev_use:
        np.minimum.at(people.devices.first_seen, dev[dev >= 0], t[dev >= 0])
    events = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((events["timestamp"], events["customer"]))
    return {k: v[order] for k, v in events.items()}


def _impossible_travel(
    people: People,
    merchants: Merchants,
    spending: Spending,
    params: RetailBankParams,
    start_ms: int,
    days: int,
    log: CampaignLog,
    rng: np.random.Generator,
) -> Rows:
    """A genuine card-present payment at a favourite terminal (the anchor), then a clone's use
    at a terminal at least ``impossible_travel_min_km`` away, faster than the speed limit
    allows by a factor of at least 1.25. A campaign that finds no terminal that far is dropped
    (with terminals abroad, a chance below 1e-4)."""
    owner = people.card_owner()
    n_cards = owner.size
    k = rng.poisson(expected(params.impossible_travel_per_1000_cards, n_cards, days))
    card = rng.integers(0, n_cards, k)
    cust = owner[card]
    day = rng.integers(0, days, k)
    anchor_ts = start_ms + day * MS_PER_DAY + (rng.uniform(8, 20, k) * MS_PER_HOUR).astype(np.int64)
    slots = spending.favourites.shape[1]
    anchor = spending.favourites[cust, rng.integers(0, slots, k)]
    cat = merchants.category[anchor]
    med = np.array([c.median for c in CATEGORIES])[cat]
    sd = np.array([c.log_sd for c in CATEGORIES])[cat]
    anchor_amount = np.maximum(
        np.round(spending.scale[cust] * med * np.exp(sd * rng.standard_normal(k)) * 100), 50
    )
    # Destination: the first far enough of 16 random POS terminals, each abroad with
    # probability 1/2 (clones are mostly cashed out across the border).
    n_dom, n_for = merchants.n_domestic_pos, merchants.n_foreign_pos
    abroad = (rng.random((k, 16)) < 0.5) & (n_for > 0)
    cand = np.where(
        abroad,
        n_dom + rng.integers(0, max(n_for, 1), (k, 16)),
        rng.integers(0, n_dom, (k, 16)),
    )
    dist = np.hypot(
        merchants.x[cand] - merchants.x[anchor][:, None],
        merchants.y[cand] - merchants.y[anchor][:, None],
    )
    far = dist >= params.impossible_travel_min_km
    ok = far.any(axis=1)
    j = far.argmax(axis=1)
    dest = cand[np.arange(k), j]
    km = dist[np.arange(k), j]
    card, cust, anchor_ts, anchor, anchor_amount, dest, km = (
        a[ok] for a in (card, cust, anchor_ts, anchor, anchor_amount, dest, km)
    )
    k = card.size
    # fastest honest trip: km / speed hours; the clone comes at most 0.8 of that later
    limit_ms = km / params.impossible_travel_speed_kmh / 1.25 * MS_PER_HOUR
    lag = (rng.uniform(0.1, 1.0, k) * np.maximum(limit_ms - 60_000, 1)).astype(np.int64)
    fraud_ts = anchor_ts + 60_000 + lag
    amount = np.maximum(np.round(rng.lognormal(np.log(250.0), 0.7, k) * 100), 500)
    ids = log.add(FraudScenario.IMPOSSIBLE_TRAVEL, "card", card, anchor_ts, fraud_ts + 1)
    return _events(
        np.r_[anchor_ts, fraud_ts],
        np.r_[cust, cust],
        np.r_[card, card],
        np.r_[anchor, dest],
        np.r_[anchor_amount, amount],
        -1,
        np.r_[np.full(k, -1, np.int8), np.full(k, SCENARIO[FraudScenario.IMPOSSIBLE_TRAVEL])],
        np.r_[np.full(k, -1), ids],
    )
