"""The world engine: executors give the same bytes; the contract of WorldModel holds."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from fintwin.data import world_hashes
from fintwin.exceptions import ParameterError
from fintwin.world import PRESETS, Preset, build_model, simulate
from fintwin.world._engine import WorldConfig


@pytest.mark.parametrize("preset", list(Preset))
def test_model_contract(preset: Preset) -> None:
    """Every preset's model pickles (workers receive it), its blocks are pure functions of
    the model, and its parameters are frozen with no mutable default shared between instances."""
    model = build_model(preset, customers=2_500, days=9, seed=2)
    assert model.n_blocks >= 1
    clone = pickle.loads(pickle.dumps(model))
    d0, d1 = next(model.chunks())
    block = model.n_blocks - 1
    first = model.block_events(block, d0, d1)
    again = model.block_events(block, d0, d1)
    cloned = clone.block_events(block, d0, d1)
    assert first
    for table, columns in first.items():
        for name, values in columns.items():
            assert np.array_equal(values, again[table][name]), (table, name)
            assert np.array_equal(values, cloned[table][name]), (table, name)
    params_type = PRESETS[preset].params_type
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.params.economy = None
    assert params_type().economy is not params_type().economy
    assert params_type() == params_type()


def test_bad_config_is_named() -> None:
    with pytest.raises(ParameterError, match=r"customers must be positive \(got 0\)"):
        build_model("handbook", customers=0)
    with pytest.raises(ParameterError, match="preset must be one of"):
        build_model("moon-bank")
    with pytest.raises(ParameterError, match="start must be a date"):
        build_model("handbook", start="yesterday")
    with pytest.raises(ParameterError, match="days must be positive"):
        WorldConfig(customers=1, days=0, start=build_model("handbook").config.start, seed=0)


@pytest.mark.ray
def test_ray_cluster_gives_identical_hashes(tmp_path) -> None:
    kw = {"customers": 2_500, "days": 20, "seed": 9}
    local = simulate(tmp_path / "local", "handbook", **kw)
    on_ray = simulate(tmp_path / "ray", "handbook", ray_address="local", **kw)
    assert world_hashes(local.path) == world_hashes(on_ray.path)


def test_dotted_parameters_reach_nested_sections() -> None:
    model = build_model(
        "handbook",
        customers=10,
        days=2,
        params={"economy.lending.policy.min_bureau_score": "640", "radius": "4.5"},
    )
    assert model.params.economy.lending.policy.min_bureau_score == 640
    assert model.params.radius == 4.5
    with pytest.raises(ParameterError, match=r"unknown parameter 'economy\.lending\.nope'"):
        build_model("handbook", customers=10, days=2, params={"economy.lending.nope": "1"})
    with pytest.raises(ParameterError, match="radius has no sub-parameters"):
        build_model("handbook", customers=10, days=2, params={"radius.x": "1"})
    with pytest.raises(ParameterError, match=r"economy\.macro\.initial_regime must be one of"):
        build_model(
            "handbook", customers=10, days=2, params={"economy.macro.initial_regime": "boom"}
        )
