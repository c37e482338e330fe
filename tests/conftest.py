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
