"""The twin's lending replayed: the recorded policy reproduces history; the PD model's macro
term is swapped exactly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fintwin.data import World
from fintwin.stress.lending_replay import LendingBook, lending_book, policy_params
from fintwin.world import simulate


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return simulate(
        tmp_path_factory.mktemp("replay") / "w",
        "handbook",
        customers=3_000,
        days=60,
        seed=5,
        params={"economy.lending.applications_per_year": 3},
    )


@pytest.fixture(scope="module")
def book(world: World) -> LendingBook:
    return lending_book(world)


def test_the_recorded_policy_reproduces_every_historical_decision(
    world: World, book: LendingBook
) -> None:
    decision = book.replay(policy_params(world))
    assert len(book) > 500
    np.testing.assert_array_equal(decision.approved, book.frame["historical_approved"])
    recorded = world.frame("loan_applications")["approved_amount"].astype(float).fillna(0)
    np.testing.assert_allclose(decision.approved_minor / 100, recorded.to_numpy())


def test_a_stricter_cutoff_approves_a_subset(world: World, book: LendingBook) -> None:
    current = policy_params(world)
    stricter = book.replay(replace(current, min_bureau_score=current.min_bureau_score + 60))
    base = book.replay(current)
    assert stricter.approved.sum() < base.approved.sum()
    assert not (stricter.approved & ~base.approved).any()


def test_the_realised_macro_gives_back_the_true_pd(book: LendingBook) -> None:
    # Applications whose loan year saw the same macro share one macro term t; a scenario with
    # growth at potential and unemployment u* + t / d_u has the same term, so the same PDs.
    term = book.frame["macro_term"].to_numpy()
    first = term == term[0]
    unemployment = book.macro.natural_unemployment + term[0] / book.lending.pd_unemployment
    again = book.pd_under(unemployment, book.macro.potential_growth)[first]
    # exact up to the logit round trip of float64 (~1e-15 relative)
    np.testing.assert_allclose(again, book.frame["pd_12m"].to_numpy()[first], rtol=1e-12)


def test_pd_rises_with_unemployment_and_falls_with_growth(book: LendingBook) -> None:
    u, g = book.macro.natural_unemployment, book.macro.potential_growth
    calm = book.pd_under(u, g)
    assert (book.pd_under(u + 3, g) > calm).all()
    assert (book.pd_under(u, g - 3) > calm).all()
