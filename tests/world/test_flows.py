"""Shared building blocks of the account-to-account presets."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fintwin.world._flows import (
    HOURLY_ACTIVITY,
    draw_in_group,
    millis_of_day,
    nearest_of,
    split_under,
)


def test_draws_stay_in_the_group_and_follow_the_weights() -> None:
    rng = np.random.default_rng(0)
    site_group = np.array([0, 0, 0, 1, 1])
    weight = np.array([1.0, 1.0, 8.0, 1.0, 1.0])
    idx = draw_in_group(rng, np.zeros(20_000, dtype=int), site_group, weight, 1).ravel()
    assert set(idx) <= {0, 1, 2}
    # site 2 carries 8/10 of group 0's weight; 20,000 draws give sd 0.003.
    assert abs(np.mean(idx == 2) - 0.8) < 0.015
    lonely = draw_in_group(rng, np.array([5]), site_group, weight, 50)  # no site in group 5
    assert set(lonely.ravel()) <= set(range(5))


def test_nearest_of_keeps_the_closest_candidates() -> None:
    sites = np.array([[0.0, 0.0], [10.0, 0.0], [3.0, 0.0]])
    got = nearest_of(np.array([[2.0, 0.0]]), sites, np.array([[1, 0, 2]]), 2)
    assert got.tolist() == [[2, 0]]


def test_times_of_day_follow_the_profile() -> None:
    t = millis_of_day(np.random.default_rng(1), 200_000)
    share = np.bincount(t // 3_600_000, minlength=24) / t.size
    expected = HOURLY_ACTIVITY / HOURLY_ACTIVITY.sum()
    # 200,000 draws: sd of an hour's share is below 0.0005.
    assert np.abs(share - expected).max() < 0.003


@given(
    st.integers(100, 10**7), st.integers(0, 200), st.integers(0, 10**7), st.integers(0, 2**32 - 1)
)
def test_split_under_sums_exactly_and_respects_the_cap(cap, whole, rest, seed) -> None:
    total = whole * cap + rest % cap + 1
    parts = split_under(total, cap, np.random.default_rng(seed))
    assert parts.sum() == total
    assert (parts <= cap).all() and (parts > 0).all()
