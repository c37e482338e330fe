"""Checks of a world's transfers against its accounts, shared by the account-to-account presets'
tests (not a test module itself)."""

from __future__ import annotations

import numpy as np

from fintwin.data import World
from fintwin.data.schemas import money_to_minor


def legs(world: World) -> dict[str, np.ndarray]:
    """Every transfer as a debit leg and a credit leg, sorted by (account, transfer_id)."""
    t = world.arrow("transfers")
    amount = money_to_minor(t.column("amount"))
    ids = t.column("transfer_id").to_numpy()
    acc = np.r_[t.column("src_account_id").to_numpy(), t.column("dst_account_id").to_numpy()]
    before = np.r_[
        money_to_minor(t.column("src_balance_before")),
        money_to_minor(t.column("dst_balance_before")),
    ]
    after = np.r_[
        money_to_minor(t.column("src_balance_after")),
        money_to_minor(t.column("dst_balance_after")),
    ]
    delta = np.r_[-amount, amount]
    order = np.lexsort((np.r_[ids, ids], acc))
    return {
        "account": acc[order],
        "transfer_id": np.r_[ids, ids][order],
        "delta": delta[order],
        "before": before[order],
        "after": after[order],
    }


def assert_money_conserved(world: World) -> None:
    """Per account: opening + credits - debits == last balance after; every balance before is
    the previous balance after (the opening balance for the first); each leg moves its amount."""
    lg = legs(world)
    accounts = world.arrow("accounts")
    opening = dict(
        zip(
            accounts.column("account_id").to_numpy(),
            money_to_minor(accounts.column("opening_balance")),
            strict=True,
        )
    )
    acc = lg["account"]
    assert np.isin(acc, list(opening)).all(), "a transfer names an unknown account"
    assert (lg["after"] - lg["before"] == lg["delta"]).all()
    first = np.r_[True, acc[1:] != acc[:-1]]
    assert (lg["before"][~first] == lg["after"][np.flatnonzero(~first) - 1]).all()
    open_bal = np.array([opening[a] for a in acc[first]])
    assert (lg["before"][first] == open_bal).all()
    last = np.r_[acc[1:] != acc[:-1], True]
    sums = np.add.reduceat(lg["delta"], np.flatnonzero(first))
    assert (open_bal + sums == lg["after"][last]).all()
    # Every movement has two sides: the world's total money (external included) is unchanged.
    assert lg["delta"].sum() == 0
