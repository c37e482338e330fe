"""The world engine: executors give the same bytes; the contract of WorldModel holds."""

from __future__ import annotations

import pickle

import pytest

from fintwin.data import world_hashes
from fintwin.exceptions import ParameterError
from fintwin.world import build_model, simulate
from fintwin.world._engine import WorldConfig


def test_model_pickles_and_blocks_are_pure() -> None:
    model = build_model("handbook", customers=1_500, days=10, seed=2)
    clone = pickle.loads(pickle.dumps(model))
    a = model.block_events(1, 0, 10)["transactions"]
    b = clone.block_events(1, 0, 10)["transactions"]
    again = model.block_events(1, 0, 10)["transactions"]
    for col in a:
        assert (a[col] == b[col]).all()
        assert (a[col] == again[col]).all()


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
