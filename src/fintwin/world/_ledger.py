"""Account balances of a simulated world, settled one day at a time in integer minor units.

Presets draw their transfers without knowing balances (blocks of customers run in separate
processes); the parent then settles each day's transfers, in time order, against the balances
carried from the day before. Settling is vectorised: the day's rows are split into a debit leg
and a credit leg, the legs are sorted once by (account, row), and a segmented cumulative sum
gives every leg's balance after it. Three rules are applied until nothing changes:

- a *droppable* debit that would take a *floored* account below zero is declined (removed),
  the first such debit of each account per round, as a sequential processor would decline it;
- a *drain* row moves the whole balance its debited account holds just before it (an account
  takeover empties the wallet), so its amount is only known once earlier rows are settled;
- an *echo* row moves the same amount as another row and shares its fate (a mule wallet cashes
  out exactly what it received).

Money is conserved by construction: every booked row debits and credits the same amount, and
declined rows move nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Ledger", "Settlement", "post", "settle_by_day"]

#: rounds in which only each account's first negative debit is declined; after that every
#: negative debit is declined at once (only reached in pathological worlds, keeps the loop short)
_SEQUENTIAL_ROUNDS = 64
_MAX_ROUNDS = 10_000


def _legs_by_account(
    src: np.ndarray, dst: np.ndarray, n_accounts: int
) -> tuple[np.ndarray, np.ndarray]:
    """Order the 2n legs of n rows by (account, row).

    Leg ``2i`` is row ``i``'s debit of ``src[i]``, leg ``2i + 1`` its credit of ``dst[i]``, so
    leg order within an account is row order. One sort of packed ``account << bits | leg``
    integers is several times faster than an argsort.

    Returns
    -------
    order : ndarray of int64, shape (2n,)
        Leg indices in (account, row) order.
    account : ndarray of int64, shape (2n,)
        Account of each leg in that order.
    """
    legs = 2 * src.size
    account = np.empty(legs, dtype=np.int64)
    account[0::2], account[1::2] = src, dst
    bits = int(legs - 1).bit_length()
    if int(n_accounts).bit_length() + bits <= 62:
        packed = np.sort((account << bits) | np.arange(legs, dtype=np.int64))
        return packed & ((1 << bits) - 1), packed >> bits
    order = np.argsort(account, kind="stable")  # pragma: no cover - over 2**30 legs and accounts
    return order, account[order]


def post(
    src: np.ndarray, dst: np.ndarray, amount: np.ndarray, balance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Book rows in order, with no declines or drains, and return the balances before each.

    Parameters
    ----------
    src, dst : ndarray of int64, shape (n,)
        Debited and credited accounts (ids index ``balance``; ``src != dst``).
    amount : ndarray of int64, shape (n,)
        Minor units moved.
    balance : ndarray of int64, shape (n_accounts,)
        Balances before the first row; updated in place to the balances after the last.

    Returns
    -------
    src_before, dst_before : ndarray of int64, shape (n,)
        Balance of the debited and of the credited account just before the row; the balances
        after are ``src_before - amount`` and ``dst_before + amount``.

    Examples
    --------
    >>> bal = np.array([100, 0, 5])
    >>> post(np.array([0, 1]), np.array([1, 2]), np.array([30, 10]), bal)
    (array([100,  30]), array([0, 5]))
    >>> bal.tolist()
    [70, 20, 15]
    """
    n = src.size
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order, acct = _legs_by_account(src, dst, balance.size)
    d = np.where(order & 1, amount[order >> 1], -amount[order >> 1])
    exclusive = np.cumsum(d) - d
    first = np.flatnonzero(np.r_[True, acct[1:] != acct[:-1]])
    run = np.diff(np.r_[first, 2 * n])
    before_sorted = balance[acct] + exclusive - np.repeat(exclusive[first], run)
    last = first + run - 1
    balance[acct[last]] = before_sorted[last] + d[last]
    before = np.empty(2 * n, dtype=np.int64)
    before[order] = before_sorted
    return before[0::2], before[1::2]


@dataclass(frozen=True)
class Settlement:
    """Outcome of settling one day's rows, shape (n,) each, in the order the rows were given.

    Attributes
    ----------
    kept : ndarray of bool
        The row was booked; false for declined rows and for drains of an empty account
        (and their echoes).
    amount : ndarray of int64
        Final amount in minor units (drains and echoes filled in).
    src_before, src_after, dst_before, dst_after : ndarray of int64
        Balances of the debited and credited accounts around the row, in minor units
        (meaningful for kept rows only).
    """

    kept: np.ndarray
    amount: np.ndarray
    src_before: np.ndarray
    src_after: np.ndarray
    dst_before: np.ndarray
    dst_after: np.ndarray


class Ledger:
    """Balances of every account, carried from one settled day to the next.

    Parameters
    ----------
    opening : ndarray of int64, shape (n_accounts,)
        Balance of each account at the world's start (or when opened), in minor units; account
        ids are positions in this array.
    floored : ndarray of bool, shape (n_accounts,)
        Accounts whose balance may not go below zero through a droppable debit (wallets,
        current accounts). Others (``external`` accounts, whose balance is the net position
        of the outside world) are never declined.

    Examples
    --------
    >>> led = Ledger(np.array([500, 0]), np.array([True, True]))
    >>> s = led.settle(np.array([0, 0]), np.array([1, 1]), np.array([300, 300]))
    >>> s.kept.tolist(), led.balance.tolist()
    ([True, False], [200, 300])
    """

    def __init__(self, opening: np.ndarray, floored: np.ndarray) -> None:
        self.opening = np.asarray(opening, dtype=np.int64).copy()
        self.floored = np.asarray(floored, dtype=bool).copy()
        if self.opening.shape != self.floored.shape:
            raise ValueError("opening and floored must have the same shape")
        self.balance = self.opening.copy()

    def reset(self) -> None:
        """Back to the opening balances (a model run again from the start)."""
        self.balance = self.opening.copy()

    def settle(
        self,
        src: np.ndarray,
        dst: np.ndarray,
        amount: np.ndarray,
        *,
        droppable: np.ndarray | None = None,
        drain: np.ndarray | None = None,
        echo: np.ndarray | None = None,
    ) -> Settlement:
        """Book one day's rows, given in time order, and advance the balances.

        Parameters
        ----------
        src, dst : ndarray of int64, shape (n,)
            Debited and credited accounts (``src != dst``).
        amount : ndarray of int64, shape (n,)
            Amounts in minor units (ignored for drain and echo rows).
        droppable : ndarray of bool, shape (n,), optional
            Rows that are declined when they would overdraw a floored account (default: all).
            Rows that are not droppable are always booked and may overdraw.
        drain : ndarray of bool, shape (n,), optional
            Rows that move the debited account's whole balance just before them.
        echo : ndarray of int64, shape (n,), optional
            ``echo[i] = j >= 0``: row ``i`` moves row ``j``'s final amount and is booked only
            if row ``j`` is; ``-1`` otherwise.

        Returns
        -------
        Settlement
        """
        n = src.size
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        amt = np.asarray(amount, dtype=np.int64).copy()
        droppable = np.ones(n, dtype=bool) if droppable is None else np.asarray(droppable, bool)
        drain_rows = np.flatnonzero(drain) if drain is not None else np.zeros(0, dtype=np.int64)
        echo = np.full(n, -1, dtype=np.int64) if echo is None else np.asarray(echo, np.int64)
        echo_rows = np.flatnonzero(echo >= 0)
        echo_ref = echo[echo_rows]
        droppable = droppable.copy()
        droppable[drain_rows] = False
        droppable[echo_rows] = False
        if n == 0:
            empty = np.zeros(0, dtype=np.int64)
            return Settlement(np.zeros(0, dtype=bool), empty, empty, empty, empty, empty)

        order, acc_s = _legs_by_account(src, dst, self.balance.size)
        row_s = order >> 1
        debit = (order & 1) == 0
        m = acc_s.size
        new_acc = np.r_[True, acc_s[1:] != acc_s[:-1]]
        seg_first = np.maximum.accumulate(np.where(new_acc, np.arange(m), 0))
        seg_last = np.flatnonzero(np.r_[acc_s[1:] != acc_s[:-1], True])
        opening = self.balance[acc_s]
        may_decline = debit & self.floored[acc_s] & droppable[row_s]
        src_pos = np.empty(n, dtype=np.int64)
        src_pos[row_s[debit]] = np.flatnonzero(debit)
        dst_pos = np.empty(n, dtype=np.int64)
        dst_pos[row_s[~debit]] = np.flatnonzero(~debit)
        sign = np.where(debit, -1, 1)

        kept = np.ones(n, dtype=bool)
        for rounds in range(_MAX_ROUNDS):
            delta = sign * np.where(kept, amt, 0)[row_s]
            c = np.cumsum(delta)
            after = opening + c - (c[seg_first] - delta[seg_first])
            before = after - delta
            if drain_rows.size:
                want = np.maximum(before[src_pos[drain_rows]], 0)
                changed = bool((want != amt[drain_rows]).any())
                amt[drain_rows] = want
                amt[echo_rows] = amt[echo_ref]
                if changed:
                    continue
            bad = may_decline & (after < 0) & kept[row_s]
            if not bad.any():
                break
            idx = np.flatnonzero(bad)
            if rounds < _SEQUENTIAL_ROUNDS:
                idx = idx[np.r_[True, acc_s[idx[1:]] != acc_s[idx[:-1]]]]
            kept[row_s[idx]] = False
            kept[echo_rows] = kept[echo_ref]
        else:  # pragma: no cover - the loop always ends well before
            raise RuntimeError("settlement did not converge")

        # Drains of an empty account move nothing: not a transfer (their balances are unchanged).
        amt[echo_rows] = amt[echo_ref]
        kept &= amt > 0
        kept[echo_rows] &= kept[echo_ref]
        self.balance[acc_s[seg_last]] = after[seg_last]
        return Settlement(
            kept=kept,
            amount=amt,
            src_before=before[src_pos],
            src_after=after[src_pos],
            dst_before=before[dst_pos],
            dst_after=after[dst_pos],
        )


def settle_by_day(
    ledger: Ledger,
    rows: dict[str, np.ndarray],
    day_starts_ms: np.ndarray,
    midnight_rows: Callable[[int], dict[str, np.ndarray]],
    options: Callable[[dict[str, np.ndarray]], dict[str, Any]] | None = None,
) -> dict[str, np.ndarray]:
    """Settle a chunk day by day: each day's rows in time order, after that day's midnight rows.

    Parameters
    ----------
    ledger : Ledger
        Balances carried in from the previous chunk; advanced to the end of this one.
    rows : dict of str to ndarray, shape (n,) each
        The chunk's rows with at least ``timestamp`` (ms), ``src``, ``dst`` and
        ``amount_minor``, in any order.
    day_starts_ms : ndarray of int64, shape (d + 1,)
        Start of each day of the chunk and the end of the last.
    midnight_rows : callable
        ``midnight_rows(i)`` gives the rows booked first on day ``i`` (same keys as ``rows``).
    options : callable, optional
        ``options(day_rows)`` gives keyword arguments of :meth:`Ledger.settle` for one day
        (``droppable``, ``drain``, ``echo``).

    Returns
    -------
    dict of str to ndarray
        The booked rows of every day, in booking order, with ``amount_minor`` final and
        ``src_before``, ``src_after``, ``dst_before``, ``dst_after`` added.
    """
    order = np.argsort(rows["timestamp"], kind="stable")
    rows = {k: v[order] for k, v in rows.items()}
    bounds = np.searchsorted(rows["timestamp"], day_starts_ms)
    booked = []
    for i in range(day_starts_ms.size - 1):
        first = midnight_rows(i)
        day = {k: np.concatenate([first[k], v[bounds[i] : bounds[i + 1]]]) for k, v in rows.items()}
        s = ledger.settle(
            day["src"], day["dst"], day["amount_minor"], **(options(day) if options else {})
        )
        day.update(
            amount_minor=s.amount,
            src_before=s.src_before,
            src_after=s.src_after,
            dst_before=s.dst_before,
            dst_after=s.dst_after,
        )
        booked.append({k: v[s.kept] for k, v in day.items()})
    return {k: np.concatenate([b[k] for b in booked]) for k in booked[0]}
