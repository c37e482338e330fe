"""Laundering alert groups of the ``aml`` preset, planned for the whole period from one stream
(so every block and chunk sees the same plan, whatever the worker count).

A group has one typology of the AMLSim catalogue and moves money in three stages:

1. *placement*: each account that must send more than it has received first gets cash
   deposits (CASH_IN from the ``external`` cash account), each just under the reporting
   threshold (structuring), within three days before its first send;
2. *layering*: the typology's pattern of TRANSFERs between members, amounts just under the
   threshold, each account passing money on keeping a small fee, one step every few hours
   to two days;
3. *integration*: accounts left holding the money take it out in sub-threshold cash
   withdrawals (CASH_OUT to the cash account) or wires (TRANSFER to an outside bank) within
   four days of their last receipt. Fees of intermediaries stay where they are.

Patterns (``m`` members; S source, I intermediate, D destination):

============== ================================================================================
fan_out        S -> D_1 .. D_{m-1}
fan_in         S_1 .. S_{m-1} -> D
cycle          A_1 -> A_2 -> ... -> A_m -> A_1 (A_1 is S), amounts decreasing at each hop
scatter_gather S -> I_1 .. I_{m-2}, each I_j -> D
gather_scatter S_1 .. S_k -> hub I -> D_1 .. D_{m-1-k}, k = (m - 1) // 2
bipartite      every S_i -> every D_j, m // 2 sources
stack          every S_i -> every I_j -> every D_k; layers of m // 3, the rest, m // 3
============== ================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fintwin.data.schemas.aml import AlertRole
from fintwin.data.schemas.vocab import LaunderingTypology, TransferType
from fintwin.world._engine import MS_PER_DAY
from fintwin.world._flows import split_under
from fintwin.world.aml._params import AmlParams

__all__ = ["LaunderingPlan", "plan_laundering"]

_MS_PER_HOUR = 3_600_000
_S, _I, _D = (list(AlertRole).index(r) for r in AlertRole)
_TYPOLOGIES = list(LaunderingTypology)
_T = {t: i for i, t in enumerate(TransferType)}


@dataclass(frozen=True)
class LaunderingPlan:
    """Every laundering transfer of the period and the alert groups' truth.

    Rows (shape (r,), sorted by timestamp): ``timestamp`` (ms), ``src``, ``dst`` (account
    ids), ``amount`` (minor units), ``kind`` (TransferType codes), ``alert_id``,
    ``label_at`` (ms). Alerts (shape (g,), by alert id): ``typology`` (LaunderingTypology
    codes), ``start``, ``end`` (ms), ``members``, ``transfers``, ``laundered`` (minor units).
    Members (shape (k,)): ``member_alert``, ``member_account``, ``member_role`` (AlertRole
    codes).
    """

    timestamp: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    amount: np.ndarray
    kind: np.ndarray
    alert_id: np.ndarray
    label_at: np.ndarray
    typology: np.ndarray
    start: np.ndarray
    end: np.ndarray
    members: np.ndarray
    transfers: np.ndarray
    laundered: np.ndarray
    member_alert: np.ndarray
    member_account: np.ndarray
    member_role: np.ndarray

    def rows_between(self, t0: int, t1: int) -> slice:
        """Rows with ``t0 <= timestamp < t1``."""
        a, b = np.searchsorted(self.timestamp, [t0, t1])
        return slice(int(a), int(b))


def _pattern(
    typology: LaunderingTypology, m: int, rng: np.random.Generator, p: AmlParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One group's pattern over local member indices ``0..m-1``.

    Returns
    -------
    src, dst : ndarray of int, shape (e,)
    amount : ndarray of float, shape (e,)
        Minor units.
    level : ndarray of int, shape (e,)
        Step of each edge (1 first): an edge runs after every edge of lower level.
    roles : ndarray of int, shape (m,)
        AlertRole codes.
    """
    cents = p.reporting_threshold * 100

    def draw(size: int) -> np.ndarray:
        return rng.uniform(p.structuring_low, p.structuring_high, size) * cents

    def keep(size: int) -> np.ndarray:
        return 1.0 - rng.uniform(0.005, p.max_hop_decrement, size)

    roles = np.full(m, _I)
    if typology is LaunderingTypology.FAN_OUT:
        src, dst = np.zeros(m - 1, int), np.arange(1, m)
        amount, level = draw(m - 1), np.ones(m - 1, int)
        roles[0], roles[1:] = _S, _D
    elif typology is LaunderingTypology.FAN_IN:
        src, dst = np.arange(1, m), np.zeros(m - 1, int)
        amount, level = draw(m - 1), np.ones(m - 1, int)
        roles[0], roles[1:] = _D, _S
    elif typology is LaunderingTypology.CYCLE:
        src, dst = np.arange(m), (np.arange(m) + 1) % m
        amount = draw(1)[0] * np.cumprod(np.r_[1.0, keep(m - 1)])
        level = np.arange(1, m + 1)
        roles[0] = _S
    elif typology is LaunderingTypology.SCATTER_GATHER:
        mid = np.arange(1, m - 1)
        first = draw(mid.size)
        src = np.r_[np.zeros(mid.size, int), mid]
        dst = np.r_[mid, np.full(mid.size, m - 1)]
        amount = np.r_[first, first * keep(mid.size)]
        level = np.repeat([1, 2], mid.size)
        roles[0], roles[-1] = _S, _D
    elif typology is LaunderingTypology.GATHER_SCATTER:
        k = (m - 1) // 2
        ins, outs = np.arange(1, k + 1), np.arange(k + 1, m)
        first = draw(k)
        share = rng.uniform(0.8, 1.0, outs.size)
        out_amount = first.sum() * keep(1)[0] * share / share.sum()
        src = np.r_[ins, np.zeros(outs.size, int)]
        dst = np.r_[np.zeros(k, int), outs]
        amount = np.r_[first, out_amount]
        level = np.r_[np.ones(k, int), np.full(outs.size, 2)]
        roles[ins], roles[outs] = _S, _D
    elif typology is LaunderingTypology.BIPARTITE:
        a = m // 2
        src = np.repeat(np.arange(a), m - a)
        dst = np.tile(np.arange(a, m), a)
        amount, level = draw(src.size), np.ones(src.size, int)
        roles[:a], roles[a:] = _S, _D
    else:  # STACK
        # Outer layers of equal size keep the second layer's amounts as high as the first's.
        k = m // 3
        l1, l2, l3 = np.arange(k), np.arange(k, m - k), np.arange(m - k, m)
        first = draw(l1.size * l2.size)
        received = first.reshape(l1.size, l2.size).sum(axis=0)
        second = np.repeat(received * keep(l2.size) / l3.size, l3.size)
        src = np.r_[np.repeat(l1, l2.size), np.repeat(l2, l3.size)]
        dst = np.r_[np.tile(l2, l1.size), np.tile(l3, l2.size)]
        amount = np.r_[first, second]
        level = np.repeat([1, 2], [first.size, second.size])
        roles[l1], roles[l3] = _S, _D
    # Stay under the threshold everywhere (splits into fewer outputs can exceed it).
    amount = amount * min(1.0, p.structuring_high * cents / amount.max())
    return src, dst, amount, level, roles


def _schedule(level: np.ndarray, rng: np.random.Generator, p: AmlParams) -> np.ndarray:
    """Times of the pattern's edges, ms from the first step's start."""
    n_levels = int(level.max())
    half = p.max_step_hours / 2 * _MS_PER_HOUR
    window = rng.uniform(_MS_PER_HOUR, max(half, _MS_PER_HOUR), n_levels)
    gap = rng.uniform(_MS_PER_HOUR, max(half, _MS_PER_HOUR), n_levels)
    level_start = np.r_[0.0, np.cumsum(window + gap)[:-1]]
    return level_start[level - 1] + rng.uniform(0, 1, level.size) * window[level - 1]


def _group_rows(
    typology: LaunderingTypology,
    accounts: np.ndarray,
    rng: np.random.Generator,
    p: AmlParams,
    cash_account: int,
    wire_accounts: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """Rows of one group (times relative, unsorted) and its members' roles."""
    m = accounts.size
    src, dst, amount, level, roles = _pattern(typology, m, rng, p)
    amount = np.floor(amount).astype(np.int64)
    t = _schedule(level, rng, p)
    # Each member's balance from the pattern alone, in time order: a deficit is placed first.
    balance = np.zeros(m, dtype=np.int64)
    need = np.zeros(m, dtype=np.int64)
    for e in np.argsort(t, kind="stable"):  # a few dozen edges per group
        balance[src[e]] -= amount[e]
        need[src[e]] = max(need[src[e]], -balance[src[e]])
        balance[dst[e]] += amount[e]
    final = need + balance
    cap = int(p.structuring_high * p.reporting_threshold * 100)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("t", "src", "dst", "amount", "kind")}

    def add(times, s, d, amounts, kind) -> None:
        cols["t"].append(np.asarray(times, dtype=float))
        cols["src"].append(np.broadcast_to(s, len(amounts)).astype(np.int64))
        cols["dst"].append(np.broadcast_to(d, len(amounts)).astype(np.int64))
        cols["amount"].append(np.asarray(amounts, dtype=np.int64))
        cols["kind"].append(np.full(len(amounts), _T[kind], dtype=np.int8))

    for i in np.flatnonzero(need > 0):
        parts = split_under(int(need[i]), cap, rng)
        first_send = t[src == i].min()
        when = first_send - rng.uniform(_MS_PER_HOUR, 72 * _MS_PER_HOUR, parts.size)
        add(np.sort(when), cash_account, accounts[i], parts, TransferType.CASH_IN)
    add(t, accounts[src], accounts[dst], amount, TransferType.TRANSFER)
    wire = rng.random() < 0.5
    exit_account = int(rng.choice(wire_accounts)) if wire else cash_account
    exit_kind = TransferType.TRANSFER if wire else TransferType.CASH_OUT
    # Fees (a few percent of a transfer) stay; what is left of the money itself goes out.
    for i in np.flatnonzero(final >= 0.5 * p.structuring_low * p.reporting_threshold * 100):
        parts = split_under(int(final[i]), cap, rng)
        last = t[(dst == i) | (src == i)].max()
        when = last + rng.uniform(2 * _MS_PER_HOUR, 96 * _MS_PER_HOUR, parts.size)
        add(np.sort(when), accounts[i], exit_account, parts, exit_kind)
    rows = {k: np.concatenate(v) for k, v in cols.items()}
    return rows, roles, int(need.sum())


def plan_laundering(
    rng: np.random.Generator,
    p: AmlParams,
    pool: int,
    cash_account: int,
    wire_accounts: np.ndarray,
    start_ms: int,
    days: int,
) -> LaunderingPlan:
    """Plan every alert group of the period.

    Parameters
    ----------
    rng : numpy.random.Generator
        The world's laundering stream.
    p : AmlParams
    pool : int
        Members are drawn from accounts ``0..pool-1`` (customers' and businesses').
    cash_account : int
        The ``external`` account cash comes from and goes to.
    wire_accounts : ndarray of int
        ``external`` accounts of outside banks (wires out).
    start_ms : int
        Start of the first day.
    days : int
        Length of the period.

    Returns
    -------
    LaunderingPlan
    """
    n_groups = round(p.alerts_per_1000_accounts * pool / 1000)
    if p.alerts_per_1000_accounts > 0:
        n_groups = max(n_groups, len(_TYPOLOGIES))
    typology = rng.permutation(np.arange(n_groups) % len(_TYPOLOGIES))
    horizon = days * MS_PER_DAY
    groups = []
    for g in range(n_groups):
        m = min(int(rng.integers(p.min_alert_members, p.max_alert_members + 1)), pool)
        accounts = rng.choice(pool, m, replace=False).astype(np.int64)
        rows, roles, placed = _group_rows(
            _TYPOLOGIES[typology[g]], accounts, rng, p, cash_account, wire_accounts
        )
        t = rows.pop("t")
        t = t - t.min()
        span = float(t.max())
        if span > 0.9 * horizon:  # a long cycle in a short world: compress its timeline
            t = t * (0.9 * horizon / span)
            span = 0.9 * horizon
        offset = rng.uniform(1.0, horizon - span)
        ts = start_ms + np.floor(offset + t).astype(np.int64)
        delay = p.laundering_label_delay_median_days * rng.lognormal(
            0.0, p.laundering_label_delay_sigma
        )
        groups.append((ts, rows, accounts, roles, placed, max(delay, 1.0)))
    # Alert ids follow start time.
    first = np.array([g[0].min() for g in groups], dtype=np.int64)
    by_start = np.argsort(first, kind="stable")
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("timestamp", "src", "dst", "amount", "kind", "alert_id", "label_at")
    }
    members: dict[str, list[np.ndarray]] = {"alert": [], "account": [], "role": []}
    start, end, n_members, n_rows, laundered = [], [], [], [], []
    for alert_id, g in enumerate(by_start):
        ts, rows, accounts, roles, placed, delay = groups[g]
        order = np.argsort(ts, kind="stable")
        for k in ("src", "dst", "amount", "kind"):
            parts[k].append(rows[k][order])
        parts["timestamp"].append(ts[order])
        parts["alert_id"].append(np.full(ts.size, alert_id, dtype=np.int64))
        parts["label_at"].append(np.full(ts.size, ts.max() + round(delay * MS_PER_DAY)))
        members["alert"].append(np.full(accounts.size, alert_id, dtype=np.int64))
        members["account"].append(accounts)
        members["role"].append(roles.astype(np.int32))
        start.append(ts.min())
        end.append(ts.max())
        n_members.append(accounts.size)
        n_rows.append(ts.size)
        laundered.append(placed)

    def cat(xs: list[np.ndarray], dtype) -> np.ndarray:
        return np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype)

    ts_all = cat(parts["timestamp"], np.int64)
    order = np.argsort(ts_all, kind="stable")
    return LaunderingPlan(
        timestamp=ts_all[order],
        src=cat(parts["src"], np.int64)[order],
        dst=cat(parts["dst"], np.int64)[order],
        amount=cat(parts["amount"], np.int64)[order],
        kind=cat(parts["kind"], np.int8)[order],
        alert_id=cat(parts["alert_id"], np.int64)[order],
        label_at=cat(parts["label_at"], np.int64)[order],
        typology=typology[by_start].astype(np.int32),
        start=np.array(start, dtype=np.int64),
        end=np.array(end, dtype=np.int64),
        members=np.array(n_members, dtype=np.int32),
        transfers=np.array(n_rows, dtype=np.int32),
        laundered=np.array(laundered, dtype=np.int64),
        member_alert=cat(members["alert"], np.int64),
        member_account=cat(members["account"], np.int64),
        member_role=cat(members["role"], np.int32),
    )
