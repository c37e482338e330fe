"""The day-by-day settlement of transfers: declines, drains, echoes and conservation."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fintwin.world._ledger import Ledger


def test_a_drain_moves_the_whole_balance_and_its_echo_follows() -> None:
    # account 0 victim, 1 mule, 2 agent, 3 shop
    led = Ledger(np.array([1_000, 0, 5_000, 0]), np.array([True, True, True, True]))
    s = led.settle(
        src=np.array([0, 0, 1, 0]),
        dst=np.array([3, 1, 2, 3]),
        amount=np.array([300, 0, 0, 50]),
        drain=np.array([False, True, False, False]),
        echo=np.array([-1, -1, 1, -1]),
    )
    assert s.kept.tolist() == [True, True, True, False]  # nothing left to pay the shop
    assert s.amount[:3].tolist() == [300, 700, 700]
    assert (s.src_before[1], s.src_after[1]) == (700, 0)
    assert led.balance.tolist() == [0, 0, 5_700, 300]


def test_a_drain_of_an_empty_account_moves_nothing() -> None:
    led = Ledger(np.array([0, 0, 0]), np.array([True, True, True]))
    s = led.settle(
        np.array([0, 1]),
        np.array([1, 2]),
        np.array([0, 0]),
        drain=np.array([True, False]),
        echo=np.array([-1, 0]),
    )
    assert not s.kept.any()
    assert led.balance.tolist() == [0, 0, 0]


def test_declines_follow_time_order_and_credits_received() -> None:
    led = Ledger(np.array([100, 0, 0]), np.array([True, True, False]))
    s = led.settle(
        src=np.array([0, 1, 0, 2, 1]),
        dst=np.array([1, 0, 2, 1, 0]),
        amount=np.array([80, 90, 30, 500, 400]),
    )
    # 1 cannot send 90 out of 80; 0 then has 20 and cannot pay 30; the external account 2
    # may go negative; 1 then holds 580 and can send 400.
    assert s.kept.tolist() == [True, False, False, True, True]
    assert led.balance.tolist() == [420, 180, -500]


def test_rows_that_are_not_droppable_may_overdraw() -> None:
    led = Ledger(np.array([10, 0]), np.array([True, True]))
    s = led.settle(np.array([0]), np.array([1]), np.array([50]), droppable=np.array([False]))
    assert s.kept.all() and s.src_after[0] == -40


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(2, 8),
    st.integers(0, 60),
    st.integers(1, 3),
)
def test_settling_conserves_money_and_never_overdraws(seed, n_acc, n_rows, days) -> None:
    rng = np.random.default_rng(seed)
    opening = rng.integers(0, 1_000, n_acc)
    floored = rng.random(n_acc) < 0.8
    led = Ledger(opening, floored)
    booked = np.zeros(n_acc, dtype=np.int64)
    for _ in range(days):
        src = rng.integers(0, n_acc, n_rows)
        dst = (src + rng.integers(1, n_acc, n_rows)) % n_acc
        amount = rng.integers(1, 600, n_rows)
        droppable = rng.random(n_rows) < 0.9
        closing = led.balance.copy()
        s = led.settle(src, dst, amount, droppable=droppable)
        k = s.kept
        assert k[~droppable].all()
        assert (s.amount[k] == amount[k]).all()
        assert (s.src_before - s.src_after == s.amount)[k].all()
        assert (s.dst_after - s.dst_before == s.amount)[k].all()
        overdrawn = k & droppable & floored[src] & (s.src_after < 0)
        assert not overdrawn.any()
        # each kept leg starts where the account's previous kept leg ended (or the closing)
        last = closing.copy()
        for i in np.flatnonzero(k):
            assert s.src_before[i] == last[src[i]]
            last[src[i]] = s.src_after[i]
            assert s.dst_before[i] == last[dst[i]]
            last[dst[i]] = s.dst_after[i]
        assert (last == led.balance).all()
        np.add.at(booked, src[k], -amount[k])
        np.add.at(booked, dst[k], amount[k])
    assert (led.balance == opening + booked).all()
    led.reset()
    assert (led.balance == opening).all()
