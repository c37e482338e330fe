"""Balances of accounts: one vectorised cumulative pass per time chunk.

Every transfer debits ``src`` and credits ``dst`` with the same amount, so money is conserved by
construction; the pass only tells each row the balances around it, in time order, carrying the
closing balance of every account to the next chunk.
"""

from __future__ import annotations

import numpy as np

__all__ = ["post"]


def post(
    src: np.ndarray, dst: np.ndarray, amount: np.ndarray, balance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Book transfers in row order and return the balances before each row.

    The rows' two legs are ordered by (account, row) with one sort of packed integers; a
    cumulative sum within each account's run gives every leg's balance.

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
    legs = 2 * n
    account = np.empty(legs, dtype=np.int64)
    account[0::2], account[1::2] = src, dst
    delta = np.empty(legs, dtype=np.int64)
    delta[0::2], delta[1::2] = -amount, amount
    bits = int(legs - 1).bit_length()
    if int(balance.size).bit_length() + bits <= 62:
        packed = np.sort((account << bits) | np.arange(legs, dtype=np.int64))
        order = packed & ((1 << bits) - 1)
        acct = packed >> bits
    else:  # pragma: no cover - needs more than 2**30 accounts and rows together
        order = np.argsort(account, kind="stable")
        acct = account[order]
    d = delta[order]
    running = np.cumsum(d)
    exclusive = running - d
    first = np.flatnonzero(np.r_[True, acct[1:] != acct[:-1]])
    run = np.diff(np.r_[first, legs])
    before_sorted = balance[acct] + exclusive - np.repeat(exclusive[first], run)
    last = first + run - 1
    balance[acct[last]] = before_sorted[last] + d[last]
    before = np.empty(legs, dtype=np.int64)
    before[order] = before_sorted
    return before[0::2], before[1::2]
