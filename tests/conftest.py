"""Shared fixtures: small worlds written once per test session, a private PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest

from _postgres_server import pg_url, postgres_server  # noqa: F401  (fixtures)
from fintwin.data import World
from fintwin.world import simulate


@pytest.fixture(scope="session")
def handbook_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A small handbook world (500 customers, 40 days, seed 11)."""
    out: Path = tmp_path_factory.mktemp("worlds") / "handbook"
    return simulate(out, "handbook", customers=500, days=40, seed=11)


@pytest.fixture(scope="session")
def lending_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A handbook world with enough loan applications for pre-play and a credit book (2,000
    customers applying 3 times a year, 60 days, seed 11); tests only read it."""
    out: Path = tmp_path_factory.mktemp("worlds") / "lending"
    return simulate(
        out,
        "handbook",
        customers=2000,
        days=60,
        seed=11,
        params={"economy.lending.applications_per_year": 3},
    )
