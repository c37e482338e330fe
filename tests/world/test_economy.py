"""The economy's entry point: every table, its spec, its period, its streams."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from fintwin.data.schemas import TABLE_SPECS
from fintwin.exceptions import ParameterError
from fintwin.world._engine import WorldConfig
from fintwin.world._seeding import Stream, stream_rng
from fintwin.world.economy import EconomyParams, economy_tables
from fintwin.world.lending import LendingParams
from fintwin.world.lending_policy import PolicyParams
from fintwin.world.population import draw_population

TABLES = {
    "macro": False,
    "macro_regimes": True,
    "asset_prices": False,
    "market_regimes": True,
    "loan_applications": False,
    "sme_cash_flows": False,
    "loan_truth": True,
}


def _tables(seed: int = 1, days: int = 120, params: EconomyParams | None = None):
    config = WorldConfig(customers=2_000, days=days, start=dt.date(2023, 11, 15), seed=seed)
    pop = draw_population(config.customers, stream_rng(seed, Stream.DEMOGRAPHICS), config.start)
    return config, pop, economy_tables(config, pop, params)


def test_every_table_is_there_and_matches_its_spec() -> None:
    _, _, tables = _tables()
    assert set(tables) == set(TABLES)
    for name, table in tables.items():
        spec = TABLE_SPECS[name]
        assert spec.truth is TABLES[name], name
        conformed = spec.conform(table)
        assert conformed.num_rows > 0, name


def test_tables_cover_the_period_and_the_year_after() -> None:
    config, pop, tables = _tables()
    end = config.start + dt.timedelta(days=config.days)
    quarters = tables["macro"].column("quarter_start").to_pylist()
    assert quarters[0] == dt.date(2023, 10, 1)
    # the last application's year (to 2025-03-14) ends in 2025Q1
    assert quarters[-1] == dt.date(2025, 1, 1)
    dates = tables["asset_prices"].column("date").to_pylist()
    assert min(dates) >= config.start and max(dates) < end
    applied = tables["loan_applications"].column("applied_at").to_pylist()
    assert min(applied).date() >= config.start and max(applied).date() < end
    customers = set(tables["loan_applications"].column("customer_id").to_pylist())
    assert customers <= set(pop.customer_id.tolist())


def test_same_seed_same_economy_other_seed_other_economy() -> None:
    _, _, a = _tables(seed=4)
    _, _, b = _tables(seed=4)
    _, _, c = _tables(seed=5)
    for name in TABLES:
        assert a[name].equals(b[name]), name
    for name in ("macro", "asset_prices", "loan_applications", "loan_truth"):
        assert not a[name].equals(c[name]), name


def test_parts_draw_from_their_own_streams() -> None:
    strict = EconomyParams(lending=LendingParams(policy=PolicyParams(min_bureau_score=720)))
    _, _, a = _tables(seed=2)
    _, _, b = _tables(seed=2, params=strict)
    for name in ("macro", "macro_regimes", "asset_prices", "market_regimes", "loan_truth"):
        assert a[name].equals(b[name]), name
    assert not a["loan_applications"].equals(b["loan_applications"])


def test_params_are_validated_and_frozen() -> None:
    with pytest.raises(ParameterError, match="lending must be a LendingParams"):
        EconomyParams(lending={"applications_per_year": 1.0})  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        EconomyParams().macro = None  # type: ignore[misc]


def test_handbook_world_carries_the_economy(handbook_world) -> None:
    for name, truth in TABLES.items():
        assert name in (handbook_world.truth_tables if truth else handbook_world.tables), name
    customers = handbook_world.arrow("customers")
    apps = handbook_world.arrow("loan_applications")
    known = set(customers.column("customer_id").to_pylist())
    assert set(apps.column("customer_id").to_pylist()) <= known
    # thin-file applicants (per the customers table) are exactly those without a bureau score
    thin = dict(
        zip(
            customers.column("customer_id").to_pylist(),
            customers.column("thin_file").to_pylist(),
            strict=True,
        )
    )
    no_score = np.asarray(apps.column("bureau_score").is_null())
    is_thin = np.array([thin[c] for c in apps.column("customer_id").to_pylist()], dtype=bool)
    assert (no_score == is_thin).all()
