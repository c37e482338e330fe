"""Money mules and account takeover: rings of customers who share devices and pass money on, and
takeovers that drain a victim's account into a ring.

Both happen on transfers and are generated in the parent's merge: a drain's amount depends on
the victim's balance, and a ring's onward transfers follow money that may have arrived from any
block, hours or days earlier (they are carried to later chunks when they fall after this one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fintwin.data.schemas import category
from fintwin.data.schemas.aml import AlertRole
from fintwin.data.schemas.vocab import FraudScenario, LaunderingTypology, TransferType
from fintwin.world._engine import MS_PER_DAY
from fintwin.world.retail_bank.fraud import (
    MS_PER_MINUTE,
    SCENARIO,
    CampaignLog,
    expected,
)
from fintwin.world.retail_bank.params import RetailBankParams
from fintwin.world.retail_bank.payments import MS_PER_HOUR, Rows
from fintwin.world.retail_bank.population import People
from fintwin.world.retail_bank.transfers import TYPE

__all__ = ["Rings", "Takeovers", "cascade", "plan_rings", "plan_takeovers", "ring_inflows"]

TYPOLOGY = {t: np.int8(i) for i, t in enumerate(LaunderingTypology)}
_ROLES = list(AlertRole)
#: smallest drain of a takeover (an attacker uses the overdraft when the account is empty)
MIN_DRAIN = 5_000
#: a ring gathers money from many sources and scatters it abroad: every ring transfer carries
#: this typology and the ring's alert id (fan-in hops to the collector, fan-out from it)
RING_TYPOLOGY = TYPOLOGY[LaunderingTypology.GATHER_SCATTER]
_MULE = SCENARIO[FraudScenario.MULE_RING]
_ATO = SCENARIO[FraudScenario.ACCOUNT_TAKEOVER]


def transfer_rows(ts, src, dst, amount, device, scenario, campaign, typology) -> Rows:
    """Transfer events with labels (scalars broadcast)."""
    n = np.size(ts)

    def full(v, dtype):
        return np.broadcast_to(np.asarray(v, dtype=dtype), (n,)).copy()

    return {
        "timestamp": np.asarray(ts, np.int64),
        "src": full(src, np.int64),
        "dst": full(dst, np.int64),
        "amount": full(amount, np.int64),
        "type": np.full(n, TYPE[TransferType.TRANSFER], np.int8),
        "device": full(device, np.int32),
        "scenario": full(scenario, np.int8),
        "campaign": full(campaign, np.int32),
        "typology": full(typology, np.int8),
    }


@dataclass(frozen=True)
class Rings:
    """Mule rings; members of ring ``r`` are ``member[offsets[r]:offsets[r + 1]]``, the first
    of them its collector."""

    offsets: np.ndarray  # int64 (R + 1,)
    member: np.ndarray  # int64 customer ids
    devices: np.ndarray  # int64 (R, 2) shared devices (the second may repeat the first)
    cashout: np.ndarray  # int64 (R, 3) accounts abroad
    campaign: np.ndarray  # int64 (R,)

    @property
    def size(self) -> int:
        return self.campaign.size

    def alert_members(self) -> pa.Table:
        """The ``aml_alert_members`` truth table: a ring is alert group ``ring``; its mules are
        intermediates, its accounts abroad destinations."""
        ring = np.repeat(np.arange(self.size), np.diff(self.offsets))
        dest_ring = np.repeat(np.arange(self.size), self.cashout.shape[1])
        alert = np.r_[ring, dest_ring]
        account = np.r_[self.member, self.cashout.ravel()]
        role = np.r_[
            np.full(ring.size, _ROLES.index(AlertRole.INTERMEDIATE)),
            np.full(dest_ring.size, _ROLES.index(AlertRole.DESTINATION)),
        ]
        # an account abroad drawn twice for one ring is listed once
        key = np.unique(alert * (1 << 40) + account, return_index=True)[1]
        key.sort()
        return pa.table(
            {
                "alert_id": alert[key].astype(np.int64),
                "account_id": account[key].astype(np.int64),
                "role": category(role[key], [r.value for r in _ROLES]),
            }
        )


def plan_rings(
    people: People,
    params: RetailBankParams,
    start_ms: int,
    end_ms: int,
    log: CampaignLog,
    rng: np.random.Generator,
) -> Rings:
    """Recruit mule rings (mostly customers under 30) and give each shared devices."""
    pop = people.population
    n = pop.size
    want = params.mule_rings_per_10000_customers * n / 10_000
    n_rings = max(1, round(want)) if want > 0 and n >= 40 else 0
    size = rng.integers(3, 9, n_rings)
    size = np.minimum(size, max(n // (4 * max(n_rings, 1)), 3))
    w = np.where(pop.age < 30, 4.0, 1.0)
    member = rng.choice(n, int(size.sum()), replace=False, p=w / w.sum()).astype(np.int64)
    offsets = np.zeros(n_rings + 1, dtype=np.int64)
    np.cumsum(size, out=offsets[1:])
    collector = member[offsets[:-1]]
    # one or two shared devices, registered to the collector, on the collector's home network
    two = rng.random(n_rings) < 0.5
    owner = np.r_[collector, collector[two]]
    kind = np.r_[np.zeros(n_rings, int), np.ones(int(two.sum()), int)]
    seen = start_ms - (rng.uniform(1, 60, owner.size) * MS_PER_DAY).astype(np.int64)
    ids = people.devices.append(kind, owner, people.home_prefix[owner], seen)
    devices = np.stack([ids[:n_rings], ids[:n_rings]], axis=1)
    devices[two, 1] = ids[n_rings:]
    ring = np.repeat(np.arange(n_rings), size)
    # the ring's first device joins each member's own (in the first free slot)
    people.device_list[member, people.device_count[member]] = devices[ring, 0]
    people.device_count[member] += 1
    lay = people.layout
    cashout = lay.first_abroad + rng.integers(0, lay.abroad, (n_rings, 3))
    campaign = log.add(FraudScenario.MULE_RING, "ring", np.arange(n_rings), start_ms, end_ms)
    return Rings(offsets, member, devices, cashout.astype(np.int64), campaign)


@dataclass(frozen=True)
class Takeovers:
    """Planned account takeovers, one row per campaign, sorted by time. Drains are padded to 3
    (``drain_ts`` -1 where unused)."""

    ts: np.ndarray  # int64 login
    victim: np.ndarray  # int64 customer (= current account)
    savings: np.ndarray  # int64 savings account or -1
    device: np.ndarray  # int64 fraudster device
    drain_ts: np.ndarray  # int64 (k, 3)
    share: np.ndarray  # float (k, 3): split of the drained total
    fraction: np.ndarray  # float: share of available money taken
    mule: np.ndarray  # int64 receiving account
    ring: np.ndarray  # int64 ring of the mule, -1 abroad
    campaign: np.ndarray  # int64


def plan_takeovers(
    people: People,
    rings: Rings,
    pool: np.ndarray,
    params: RetailBankParams,
    start_ms: int,
    days: int,
    log: CampaignLog,
    rng: np.random.Generator,
) -> Takeovers:
    """Choose victims (older customers twice as likely, never mules), login times between
    08:00 and 20:00, fraudster devices on networks at least 100 km from the victim's home."""
    pop = people.population
    n = pop.size
    k = rng.poisson(expected(params.ato_per_1000_customers, n, days))
    w = np.where(pop.age >= 55, 2.0, 1.0)
    w[rings.member] = 0.0
    k = min(k, int((w > 0).sum()))
    victim = np.sort(rng.choice(n, k, replace=False, p=w / w.sum())).astype(np.int64)
    day = rng.integers(0, days, k)
    ts = start_ms + day * MS_PER_DAY + (rng.uniform(8, 20, k) * MS_PER_HOUR).astype(np.int64)
    # fraudster device on a network far from home (the farthest of the pool if none is)
    net = people.network
    pfx = people.devices.prefix[pool]
    d = np.hypot(
        net.x[pfx][None, :] - pop.home_x[victim][:, None],
        net.y[pfx][None, :] - pop.home_y[victim][:, None],
    )
    score = np.where(d >= 100.0, rng.random(d.shape) + 1.0, d / d.max(initial=1.0) * 0.5)
    device = pool[score.argmax(axis=1)] if k else np.zeros(0, np.int64)
    n_drain = rng.integers(1, 4, k)
    gap = np.minimum(rng.exponential(8 * MS_PER_MINUTE, (k, 3)), 40 * MS_PER_MINUTE)
    drain_ts = ts[:, None] + 4 * MS_PER_MINUTE + np.cumsum(gap, axis=1).astype(np.int64)
    used = np.arange(3)[None, :] < n_drain[:, None]
    drain_ts = np.where(used, drain_ts, -1)
    share = np.where(used, rng.uniform(0.5, 1.5, (k, 3)), 0.0)
    share /= share.sum(axis=1, keepdims=True)
    if rings.size:
        ring = rng.integers(0, rings.size, k)
        lo, size = rings.offsets[ring], np.diff(rings.offsets)[ring]
        mule = rings.member[lo + (rng.random(k) * size).astype(np.int64)]
    else:
        ring = np.full(k, -1)
        lay = people.layout
        mule = lay.first_abroad + rng.integers(0, lay.abroad, k)
    order = np.argsort(ts, kind="stable")
    last = drain_ts.max(axis=1)
    campaign = log.add(
        FraudScenario.ACCOUNT_TAKEOVER, "account", victim[order], ts[order], last[order] + 1
    )
    # the fraudster's device is seen first at its first login
    if k:
        first = people.devices.first_seen
        np.minimum.at(first, device, ts)
    return Takeovers(
        ts=ts[order],
        victim=victim[order],
        savings=people.savings_account[victim][order],
        device=device[order].astype(np.int64),
        drain_ts=drain_ts[order],
        share=share[order],
        fraction=rng.uniform(0.6, 0.95, k)[order],
        mule=mule[order].astype(np.int64),
        ring=ring[order].astype(np.int64),
        campaign=campaign,
    )


def takeover_rows(ato: Takeovers, ms0: int, ms1: int) -> tuple[Rows, np.ndarray]:
    """Rows of the takeovers that log in during ``[ms0, ms1)``, amounts still zero.

    Returns the rows (sweep of the savings first, then the drains) and, per row, the index
    of its takeover in ``ato``.
    """
    sel = np.flatnonzero((ato.ts >= ms0) & (ato.ts < ms1))
    sweep = sel[ato.savings[sel] >= 0]
    k_d = (ato.drain_ts[sel] >= 0).sum(axis=1)
    drain = np.repeat(sel, k_d)
    slot = np.arange(drain.size) - np.repeat(np.cumsum(k_d) - k_d, k_d)
    which = np.r_[sweep, drain]
    rows = transfer_rows(
        np.r_[ato.ts[sweep] + 2 * MS_PER_MINUTE, ato.drain_ts[drain, slot]],
        np.r_[ato.savings[sweep], ato.victim[drain]],
        np.r_[ato.victim[sweep], ato.mule[drain]],
        0,
        ato.device[which],
        _ATO,
        ato.campaign[which],
        -1,
    )
    rows["slot"] = np.r_[np.full(sweep.size, -1), slot]
    return rows, which


def fill_takeover_amounts(
    rows: Rows, which: np.ndarray, ato: Takeovers, src_before: np.ndarray
) -> np.ndarray:
    """Amounts of takeover rows given the balances before them computed with zero amounts.

    The sweep takes the whole savings balance (rows of an empty savings account get amount 0
    and must be dropped); the drains take ``fraction`` of what the current account then holds
    (at least ``MIN_DRAIN``), split by ``share``.
    """
    slot = rows["slot"]
    is_sweep = slot < 0
    amount = np.zeros(slot.size, dtype=np.int64)
    amount[is_sweep] = np.maximum(src_before[is_sweep], 0)
    swept = np.zeros(ato.ts.size, dtype=np.int64)
    swept[which[is_sweep]] = amount[is_sweep]
    # current balance before the first drain (the sweep, booked at zero, added back)
    first = np.flatnonzero(slot == 0)
    available = np.zeros(ato.ts.size, dtype=np.int64)
    available[which[first]] = src_before[first] + swept[which[first]]
    total = np.maximum(np.round(ato.fraction * np.maximum(available, 0)), MIN_DRAIN)
    d = np.flatnonzero(~is_sweep)
    t = which[d]
    amount[d] = np.maximum(np.round(total[t] * ato.share[t, slot[d]]), 100)
    return amount


def ring_inflows(
    rings: Rings,
    people: People,
    params: RetailBankParams,
    ms0: int,
    ms1: int,
    rng: np.random.Generator,
) -> Rows:
    """Fraud proceeds arriving at rings from other banks during ``[ms0, ms1)``: Poisson
    ``mule_inflows_per_ring_week`` per ring per week, lognormal around 1,500."""
    if rings.size == 0:
        return transfer_rows(np.zeros(0, np.int64), 0, 0, 0, -1, -1, -1, -1)
    weeks = (ms1 - ms0) / (7 * MS_PER_DAY)
    k = rng.poisson(params.mule_inflows_per_ring_week * rings.size * weeks)
    ring = rng.integers(0, rings.size, k)
    lo, size = rings.offsets[ring], np.diff(rings.offsets)[ring]
    member = rings.member[lo + (rng.random(k) * size).astype(np.int64)]
    ts = np.sort(ms0 + (rng.random(k) * (ms1 - ms0)).astype(np.int64))
    lay = people.layout
    src = lay.first_other_bank + rng.integers(0, lay.other_banks, k)
    amount = np.maximum(np.round(rng.lognormal(np.log(1_500.0), 0.6, k) * 100), 10_000)
    return transfer_rows(ts, src, member, amount, -1, _MULE, rings.campaign[ring], RING_TYPOLOGY)


def cascade(
    rings: Rings,
    ring: np.ndarray,
    member: np.ndarray,
    ts: np.ndarray,
    amount: np.ndarray,
    rng: np.random.Generator,
) -> Rows:
    """Onward transfers of money that reached ``member`` of ``ring`` at ``ts``.

    A member other than the collector keeps 3-8 % and forwards the rest to the collector after
    10 minutes plus an exponential delay of mean 4 hours (fan-in); the collector keeps 3-8 %
    and sends the rest in two to four parts to the ring's accounts abroad, starting 30 minutes
    plus an exponential delay of mean 12 hours later (fan-out). Devices are the ring's shared
    ones.
    """
    k = ring.size
    collector = rings.member[rings.offsets[ring]]
    fwd = np.flatnonzero(member != collector)
    t1 = ts.copy()
    a1 = amount.copy()
    t1[fwd] = (
        ts[fwd] + 10 * MS_PER_MINUTE + rng.exponential(4 * MS_PER_HOUR, fwd.size).astype(np.int64)
    )
    a1[fwd] = amount[fwd] - np.floor(amount[fwd] * rng.uniform(0.03, 0.08, fwd.size)).astype(
        np.int64
    )
    dev = rings.devices[ring, rng.integers(0, 2, k)]
    hop = transfer_rows(
        t1[fwd], member[fwd], collector[fwd], a1[fwd], dev[fwd], _MULE,
        rings.campaign[ring[fwd]], RING_TYPOLOGY,
    )  # fmt: skip
    total = a1 - np.floor(a1 * rng.uniform(0.03, 0.08, k)).astype(np.int64)
    parts = rng.integers(2, 5, k)
    owner = np.repeat(np.arange(k), parts)
    w = rng.uniform(0.5, 1.5, owner.size)
    w /= np.bincount(owner, weights=w, minlength=k)[owner]
    out = np.floor(total[owner] * w).astype(np.int64)
    last = np.cumsum(parts) - 1
    out[last] += total - np.bincount(owner, weights=out, minlength=k).astype(np.int64)
    start = t1 + 30 * MS_PER_MINUTE + rng.exponential(12 * MS_PER_HOUR, k).astype(np.int64)
    gap = rng.exponential(15 * MS_PER_MINUTE, owner.size)
    gap[np.cumsum(parts) - parts] = 0.0
    cum = np.cumsum(gap)
    cum -= np.repeat(cum[np.cumsum(parts) - parts], parts)
    dst = rings.cashout[ring[owner], rng.integers(0, 3, owner.size)]
    spread = transfer_rows(
        start[owner] + cum.astype(np.int64), collector[owner], dst, out, dev[owner], _MULE,
        rings.campaign[ring[owner]], RING_TYPOLOGY,
    )  # fmt: skip
    return {c: np.concatenate([hop[c], spread[c]]) for c in hop}
