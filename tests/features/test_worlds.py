"""Both feature sets on small simulated worlds: the handbook's own procedure, engine parity,
clear errors, and no reading of ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from _feature_streams import assert_tables_identical

from fintwin.data import World
from fintwin.exceptions import DataError
from fintwin.features import (
    DistanceFromHome,
    FeatureSet,
    OnlineFeatureEngine,
    compute_offline,
    compute_world,
    handbook_feature_set,
    retail_feature_set,
)
from fintwin.world import simulate


@pytest.fixture(scope="module")
def retail_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A small retail-bank world (150 customers, 20 days, seed 2: about 5,000 payments)."""
    out: Path = tmp_path_factory.mktemp("worlds") / "retail"
    return simulate(out, "retail-bank", customers=150, days=20, seed=2)


def _book_features(tx: pa.Table, delay: int = 7) -> pd.DataFrame:
    """The handbook's chapter 3.4 feature code, with pandas as the book writes it."""
    df = tx.to_pandas().sort_values(["timestamp", "transaction_id"]).reset_index(drop=True)
    df["TX_AMOUNT"] = df["amount"].astype(float)
    df["TX_FRAUD"] = df["is_fraud"].astype(float)
    out = pd.DataFrame({"transaction_id": df["transaction_id"]})
    out["is_weekend"] = (df["timestamp"].dt.day_of_week >= 5).astype(float)
    out["is_night_0_7h"] = (df["timestamp"].dt.hour <= 6).astype(float)
    by_customer = df.groupby("customer_id", sort=False)
    by_terminal = df.groupby("terminal_id", sort=False)

    def rolling(groups, column: str, days: int, how: str) -> pd.Series:
        # the result runs group by group, rows in order within each: put it back in row order
        r = getattr(groups.rolling(f"{days}D", on="timestamp")[column], how)()
        rows = np.argsort(groups.ngroup().to_numpy(), kind="stable")
        out = np.empty(len(rows))
        out[rows] = r.to_numpy()
        return pd.Series(out)

    for w in (1, 7, 30):
        n = rolling(by_customer, "TX_AMOUNT", w, "count")
        out[f"customer_count_{w}d"] = n
        out[f"customer_amount_mean_{w}d"] = rolling(by_customer, "TX_AMOUNT", w, "sum") / n
    for w in (1, 7, 30):
        fraud_delay = rolling(by_terminal, "TX_FRAUD", delay, "sum")
        n_delay = rolling(by_terminal, "TX_FRAUD", delay, "count")
        fraud_all = rolling(by_terminal, "TX_FRAUD", delay + w, "sum")
        n_all = rolling(by_terminal, "TX_FRAUD", delay + w, "count")
        n_window = n_all - n_delay
        out[f"terminal_labelled_count_{w}d_delay_7d"] = n_window
        out[f"terminal_fraud_rate_{w}d_delay_7d"] = ((fraud_all - fraud_delay) / n_window).fillna(0)
    return out


def test_handbook_features_match_the_books_procedure(handbook_world: World) -> None:
    fs = handbook_feature_set()
    ours = compute_world(fs, handbook_world).to_pandas()
    book = _book_features(handbook_world.arrow("transactions"))
    assert (ours["transaction_id"] == book["transaction_id"]).all()
    assert ours["amount"].to_numpy() == pytest.approx(
        handbook_world.arrow("transactions")
        .to_pandas()
        .sort_values(["timestamp", "transaction_id"])["amount"]
        .astype(float)
        .to_numpy()
    )
    for name in fs.names[1:]:
        # Counts and rates of counts are exact in both; the book's rolling mean sums binary
        # floats, ours exact cents, so means agree to rounding (1e-9 relative).
        np.testing.assert_allclose(ours[name], book[name], rtol=1e-9, atol=0, err_msg=name)
    # the delayed terminal features are not trivially zero in this world
    assert ours["terminal_fraud_rate_7d_delay_7d"].max() > 0


def _first_days(table: pa.Table, days: int) -> pa.Table:
    start = pc.min(table.column("timestamp")).as_py()
    return table.filter(
        pc.less(table.column("timestamp"), pa.scalar(start + pd.Timedelta(days=days)))
    )


@pytest.mark.parametrize("world_name", ["handbook_world", "retail_world"])
def test_online_replay_equals_offline_on_a_world(world_name: str, request) -> None:
    world: World = request.getfixturevalue(world_name)
    fs = handbook_feature_set() if world_name == "handbook_world" else retail_feature_set()
    # the first 12 days keep the replay short while every window and the label delay matter
    tx = _first_days(world.arrow("transactions"), 12)
    customers = world.arrow("customers")
    want = compute_offline(fs, tx, customers)
    got = OnlineFeatureEngine(fs, customers=customers).replay(tx)
    assert_tables_identical(want, got)
    assert want.num_rows == tx.num_rows


def test_retail_features_have_signal_on_the_retail_world(retail_world: World) -> None:
    feats = compute_world(retail_feature_set(), retail_world)
    assert feats.num_rows == retail_world.manifest.tables["transactions"].rows
    for name in ("card_distinct_terminal_1d", "distance_from_home_km", "card_new_device_90d"):
        values = feats.column(name).to_numpy()
        assert np.nanstd(values) > 0, name


def test_retail_set_on_a_handbook_world_names_the_missing_column(handbook_world: World) -> None:
    with pytest.raises(DataError, match="card_id"):
        compute_world(retail_feature_set(), handbook_world)
    fs = retail_feature_set().restricted_to(handbook_world.arrow("transactions").column_names)
    assert compute_world(fs, handbook_world).num_columns == len(fs) + 1


def test_engines_never_read_ground_truth(retail_world: World, monkeypatch) -> None:
    def refuse(self, name):
        raise AssertionError(f"an engine read truth/{name}")

    monkeypatch.setattr(World, "truth", refuse)
    compute_world(retail_feature_set(), retail_world)


def test_duplicate_events_are_refused() -> None:
    t = pa.table(
        {
            "transaction_id": [1, 1],
            "timestamp": pa.array([0, 0], pa.timestamp("ms")),
            "card_id": [1, 1],
            "amount": pa.array([1, 2], pa.decimal128(18, 2)),
        }
    )
    fs = FeatureSet(retail_feature_set().definitions[:1])
    with pytest.raises(DataError, match="share transaction_id=1"):
        compute_offline(fs, t)


def test_offline_distance_needs_customers(retail_world: World) -> None:
    tx = retail_world.arrow("transactions")
    with pytest.raises(DataError, match="customers"):
        compute_offline(FeatureSet([DistanceFromHome()]), tx)
    no_homes = retail_world.arrow("customers").select(["customer_id"])
    with pytest.raises(DataError, match="home_x"):
        compute_offline(FeatureSet([DistanceFromHome()]), tx, no_homes)
