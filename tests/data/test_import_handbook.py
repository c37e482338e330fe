"""Handbook import: the book's raw files (daily pickles, or CSV/Parquet with TX_* columns)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from fintwin.data import World, import_transactions
from fintwin.exceptions import DataError

BOOK_CODES = {"amount_over_threshold": 1, "compromised_terminal": 2, "compromised_customer": 3}


def to_book(world: World) -> pd.DataFrame:
    """The world's transactions with the book's column names and types (as its pickles hold)."""
    tx = world.frame("transactions")
    ts = tx["timestamp"].astype("datetime64[ns]")
    start = pd.Timestamp(world.manifest.start)
    seconds = (ts - start).dt.total_seconds().astype(np.int64)
    return pd.DataFrame(
        {
            "TRANSACTION_ID": tx["transaction_id"],
            "TX_DATETIME": ts,
            "CUSTOMER_ID": tx["customer_id"].astype(str),  # the book stores ids as text
            "TERMINAL_ID": tx["terminal_id"].astype(str),
            "TX_AMOUNT": tx["amount"].astype(float),
            "TX_TIME_SECONDS": seconds,
            "TX_TIME_DAYS": seconds // 86_400,
            "TX_FRAUD": tx["is_fraud"].astype(np.int64),
            "TX_FRAUD_SCENARIO": (
                tx["fraud_scenario"].astype(object).map(BOOK_CODES).fillna(0).astype(np.int64)
            ),
        }
    )


def write_daily_pickles(frame: pd.DataFrame, folder: Path) -> Path:
    folder.mkdir()
    for day, part in frame.groupby(frame["TX_DATETIME"].dt.date):
        part.reset_index(drop=True).to_pickle(folder / f"{day}.pkl")
    return folder


def test_simulated_world_round_trips_through_the_books_pickles(
    handbook_world: World, tmp_path: Path
) -> None:
    folder = write_daily_pickles(to_book(handbook_world), tmp_path / "raw")
    customers = handbook_world.frame("customers")
    pd.DataFrame(
        {
            "CUSTOMER_ID": customers["customer_id"],
            "x_customer_id": customers["home_x"],
            "y_customer_id": customers["home_y"],
            "mean_amount": 1.0,
            "available_terminals": [[1, 2]] * len(customers),
        }
    ).to_pickle(tmp_path / "customer_profiles.pkl")
    terminals = handbook_world.frame("terminals")
    pd.DataFrame(
        {
            "TERMINAL_ID": terminals["terminal_id"],
            "x_terminal_id": terminals["x"],
            "y_terminal_id": terminals["y"],
        }
    ).to_pickle(tmp_path / "terminal_profiles.pkl")

    world = import_transactions(
        folder,
        tmp_path / "w",
        format="handbook",
        customers=tmp_path / "customer_profiles.pkl",
        terminals=tmp_path / "terminal_profiles.pkl",
    )
    # Identical transactions: ids, times, amounts to the cent, labels, scenarios, and label
    # dates (the book's 7-day delay is the import's default, as it is the preset's).
    assert world.arrow("transactions").equals(handbook_world.arrow("transactions"))
    assert len(world.files("transactions")) == handbook_world.manifest.days
    got = world.arrow("customers")
    want = handbook_world.arrow("customers").select(["customer_id", "home_x", "home_y"])
    assert got.equals(want)
    assert world.arrow("terminals").equals(
        handbook_world.arrow("terminals").select(["terminal_id", "x", "y"])
    )
    params = world.manifest.parameters
    assert params["format"] == "handbook" and params["label_delay_days"] == 7
    assert params["ignored_columns"] == ["TX_TIME_DAYS", "TX_TIME_SECONDS"]
    assert (world.manifest.start, world.manifest.days) == (
        handbook_world.manifest.start,
        handbook_world.manifest.days,
    )


def test_book_csv_gives_the_same_world(handbook_world: World, tmp_path: Path) -> None:
    book = to_book(handbook_world)
    book.to_csv(tmp_path / "book.csv", index=False)
    world = import_transactions(tmp_path / "book.csv", tmp_path / "w", format="handbook")
    assert world.arrow("transactions").equals(handbook_world.arrow("transactions"))
    assert world.manifest.parameters["derived_tables"] == ["customers", "terminals"]
    assert world.arrow("terminals").column_names == ["terminal_id"]


def write_book_csv(path: Path, rows: list[str]) -> Path:
    header = (
        "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD,TX_FRAUD_SCENARIO"
    )
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_scenarios_and_label_delay(tmp_path: Path) -> None:
    f = write_book_csv(
        tmp_path / "d.csv",
        [
            "0,2018-04-01 00:00:31,1,2,57.16,0,0",
            "1,2018-04-01 00:02:10,1,3,281.06,1,1",
            "2,2018-04-01 00:07:56,2,3,10.00,1,2",
            "3,2018-04-02 00:09:29,2,4,90.10,1,3",
        ],
    )
    world = import_transactions(f, tmp_path / "w", format="handbook", label_delay_days=14)
    t = world.arrow("transactions")
    assert t.column("fraud_scenario").to_pylist() == [
        None,
        "amount_over_threshold",
        "compromised_terminal",
        "compromised_customer",
    ]
    assert t.column("label_available_at")[0].as_py() == dt.datetime(2018, 4, 15, 0, 0, 31)


def test_bad_scenario_code_names_the_book_column(tmp_path: Path) -> None:
    f = write_book_csv(
        tmp_path / "d.csv",
        ["0,2018-04-01 00:00:31,1,2,57.16,0,0", "1,2018-04-01 00:02:10,1,3,281.06,1,4"],
    )
    with pytest.raises(DataError) as err:
        import_transactions(f, tmp_path / "w", format="handbook")
    assert (Path(err.value.file).name, err.value.row, err.value.column) == (
        "d.csv",
        2,
        "TX_FRAUD_SCENARIO",
    )
    assert "expected 0 (genuine), 1, 2 or 3" in str(err.value)


def test_missing_book_column_is_named_by_its_book_name(tmp_path: Path) -> None:
    f = tmp_path / "d.csv"
    f.write_text("TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_FRAUD\n2018-04-01,1,1,0\n")
    with pytest.raises(DataError, match="required column 'TX_AMOUNT' is missing") as err:
        import_transactions(f, tmp_path / "w", format="handbook")
    assert err.value.column == "TX_AMOUNT"
    # --map may name the book's column or fintwin's.
    f.write_text("TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_FRAUD,AMT\n2018-04-01,1,1,0,5\n")
    for target in ("TX_AMOUNT", "amount"):
        world = import_transactions(
            f, tmp_path / target, format="handbook", mapping={"AMT": target}
        )
        assert world.arrow("transactions").column("amount").to_pylist()[0] == 5


def test_a_pickle_that_is_not_a_dataframe_is_refused(tmp_path: Path) -> None:
    pd.Series([1, 2]).to_pickle(tmp_path / "s.pkl")
    with pytest.raises(DataError, match="holds a Series, expected a pandas DataFrame"):
        import_transactions(tmp_path / "s.pkl", tmp_path / "w", format="handbook")


def test_book_pickle_amounts_round_as_they_read(tmp_path: Path) -> None:
    # Float amounts are read in their shortest decimal form: 2.675 is 2.68, not 2.67.
    frame = pd.DataFrame(
        {
            "TX_DATETIME": pd.to_datetime(["2018-04-01 00:00:01", "2018-04-01 00:00:02"]),
            "CUSTOMER_ID": [1, 2],
            "TERMINAL_ID": [1, 1],
            "TX_AMOUNT": [2.675, 0.1 + 0.2],
            "TX_FRAUD": [0, 0],
        }
    )
    frame.to_pickle(tmp_path / "2018-04-01.pkl")
    world = import_transactions(tmp_path / "2018-04-01.pkl", tmp_path / "w", format="handbook")
    amounts = world.arrow("transactions").column("amount")
    assert [str(a) for a in amounts.to_pylist()] == ["2.68", "0.30"]
    assert amounts.type == pa.decimal128(18, 2)
