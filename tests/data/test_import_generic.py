"""Generic import: fintwin's columns (or yours, mapped) from CSV/Parquet into a world directory."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from fintwin.data import ImportFormat, import_transactions, open_world
from fintwin.exceptions import DataError, ParameterError

HEADER = "transaction_id,timestamp,customer_id,terminal_id,amount,is_fraud,fraud_scenario"
# Rows deliberately out of time order; amounts test exact decimal rounding (half away from 0).
ROWS = [
    "10,2024-03-02 09:00:00,1,100,12.345,0,",
    "11,2024-03-01 08:30:00,2,101,0.10,1,card_not_present",
    "12,2024-03-01 23:59:59.250,1,101,2.675,false,",
    "13,2024-03-03T00:00:00,3,100,1000,TRUE,account_takeover",
]


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tx_csv(tmp_path: Path) -> Path:
    return write(tmp_path / "tx.csv", HEADER, ROWS)


def test_round_trip_sorts_by_time_and_keeps_exact_amounts(tx_csv: Path, tmp_path: Path) -> None:
    world = import_transactions(tx_csv, tmp_path / "w", label_delay_days=7)
    tx = world.arrow("transactions").to_pylist()
    assert [r["transaction_id"] for r in tx] == [11, 12, 10, 13]
    assert [r["amount"] for r in tx] == [
        Decimal("0.10"),
        Decimal("2.68"),
        Decimal("12.35"),
        Decimal("1000.00"),
    ]
    assert tx[1]["timestamp"] == dt.datetime(2024, 3, 1, 23, 59, 59, 250_000)
    assert [r["is_fraud"] for r in tx] == [True, False, False, True]
    assert [r["fraud_scenario"] for r in tx] == [
        "card_not_present",
        None,
        None,
        "account_takeover",
    ]
    assert all(r["label_available_at"] - r["timestamp"] == dt.timedelta(days=7) for r in tx)
    m = world.manifest
    assert (m.preset, m.seed, m.start, m.days) == ("import", None, "2024-03-01", 3)
    assert m.parameters["format"] == "generic"
    assert m.parameters["derived_tables"] == ["customers", "terminals"]
    assert world.arrow("customers").column("customer_id").to_pylist() == [1, 2, 3]
    assert world.arrow("terminals").column("terminal_id").to_pylist() == [100, 101]
    assert len(world.files("transactions")) == 3  # one partition per day
    open_world(world.path)  # hashes verify


def test_parquet_gives_the_same_world_as_csv(tx_csv: Path, tmp_path: Path) -> None:
    table = pa.table(
        {
            "transaction_id": [10, 11, 12, 13],
            "timestamp": pa.array(
                [
                    dt.datetime(2024, 3, 2, 9),
                    dt.datetime(2024, 3, 1, 8, 30),
                    dt.datetime(2024, 3, 1, 23, 59, 59, 250_000),
                    dt.datetime(2024, 3, 3),
                ],
                pa.timestamp("us"),
            ),
            "customer_id": [1, 2, 1, 3],
            "terminal_id": [100, 101, 101, 100],
            "amount": [12.345, 0.1, 2.675, 1000.0],
            "is_fraud": [False, True, False, True],
            "fraud_scenario": [None, "card_not_present", None, "account_takeover"],
        }
    )
    pq.write_table(table, tmp_path / "tx.parquet")
    a = import_transactions(tx_csv, tmp_path / "a", label_delay_days=7)
    b = import_transactions(tmp_path / "tx.parquet", tmp_path / "b", label_delay_days=7)
    assert a.arrow("transactions").equals(b.arrow("transactions"))


def test_map_renames_user_columns_and_derives_side_columns(tmp_path: Path) -> None:
    src = write(
        tmp_path / "bank.csv",
        "ts,client,shop,value,fraud,shop_x,shop_y,note",
        [
            "2024-01-01 10:00:00,alice-smith,shop-one,5.00,0,1.5,2.5,a",
            "2024-01-01 11:00:00,bob-jones,shop-one,6.00,1,1.5,2.5,b",
            "2024-01-02 11:00:00,alice-smith,shop-two,7.00,0,9.0,9.5,c",
        ],
    )
    mapping = {
        "ts": "timestamp",
        "client": "customer_id",
        "shop": "terminal_id",
        "value": "amount",
        "fraud": "is_fraud",
        "shop_x": "terminals.x",
        "shop_y": "terminals.y",
    }
    world = import_transactions(
        src, tmp_path / "w", mapping=mapping, label_delay_days=1, format=ImportFormat.GENERIC
    )
    tx = world.arrow("transactions")
    # Text identifiers become keys in order of first appearance; no clear id is stored.
    assert tx.column("customer_id").to_pylist() == [0, 1, 0]
    assert tx.column("terminal_id").to_pylist() == [0, 0, 1]
    assert tx.column("transaction_id").to_pylist() == [0, 1, 2]
    terminals = world.arrow("terminals").to_pylist()
    assert terminals == [
        {"terminal_id": 0, "x": 1.5, "y": 2.5},
        {"terminal_id": 1, "x": 9.0, "y": 9.5},
    ]
    params = world.manifest.parameters
    assert params["mapping"]["shop_x"] == "terminals.x"
    assert params["ignored_columns"] == ["note"]
    for f in world.path.rglob("*.parquet"):
        assert b"alice" not in f.read_bytes() and b"shop-" not in f.read_bytes()


def test_label_delay_dates_undated_labels(tx_csv: Path, tmp_path: Path) -> None:
    world = import_transactions(tx_csv, tmp_path / "w", label_delay_days=2.5)
    t = world.arrow("transactions")
    delay = pc.subtract(t.column("label_available_at"), t.column("timestamp"))
    assert set(delay.to_pylist()) == {dt.timedelta(days=2, hours=12)}
    assert world.manifest.parameters["label_delay_days"] == 2.5


def test_label_dates_from_the_file_win_over_the_delay(tmp_path: Path) -> None:
    src = write(
        tmp_path / "tx.csv",
        "timestamp,customer_id,terminal_id,amount,is_fraud,label_available_at",
        [
            "2024-01-01 10:00:00,1,1,5,1,2024-01-20 00:00:00",
            "2024-01-02 10:00:00,1,1,5,0,",
        ],
    )
    world = import_transactions(src, tmp_path / "w", label_delay_days=1)
    assert world.arrow("transactions").column("label_available_at").to_pylist() == [
        dt.datetime(2024, 1, 20),
        dt.datetime(2024, 1, 3, 10),
    ]


def test_labels_file_joins_on_transaction_id(tx_csv: Path, tmp_path: Path) -> None:
    unlabelled = write(
        tmp_path / "tx_nolabels.csv",
        "transaction_id,timestamp,customer_id,terminal_id,amount",
        [",".join(r.split(",")[:5]) for r in ROWS],
    )
    labels = write(
        tmp_path / "labels.csv",
        "transaction_id,is_fraud,fraud_scenario,label_available_at",
        ["12,1,card_testing,2024-03-09 00:00:00"],
    )
    world = import_transactions(unlabelled, tmp_path / "w", labels=labels, label_delay_days=7)
    rows = {r["transaction_id"]: r for r in world.arrow("transactions").to_pylist()}
    assert [k for k, r in rows.items() if r["is_fraud"]] == [12]
    assert rows[12]["fraud_scenario"] == "card_testing"
    assert rows[12]["label_available_at"] == dt.datetime(2024, 3, 9)
    assert rows[10]["label_available_at"] == dt.datetime(2024, 3, 9, 9)
    assert world.manifest.parameters["side_files"] == {"labels": "labels.csv"}


def test_labels_file_refuses_unknown_transactions(tx_csv: Path, tmp_path: Path) -> None:
    unlabelled = write(
        tmp_path / "tx.csv",
        "transaction_id,timestamp,customer_id,terminal_id,amount",
        [",".join(r.split(",")[:5]) for r in ROWS],
    )
    labels = write(tmp_path / "labels.csv", "transaction_id,is_fraud", ["10,0", "99,1"])
    with pytest.raises(DataError) as err:
        import_transactions(unlabelled, tmp_path / "w", labels=labels, label_delay_days=7)
    assert (Path(err.value.file).name, err.value.row, err.value.column) == (
        "labels.csv",
        2,
        "transaction_id",
    )
    assert "99" in str(err.value)


def test_side_files_give_locations_and_must_cover_every_id(tmp_path: Path) -> None:
    tx = write(
        tmp_path / "tx.csv",
        "timestamp,customer_id,terminal_id,amount,is_fraud",
        ["2024-01-01 10:00:00,7,1,5,0", "2024-01-01 11:00:00,8,2,6,0"],
    )
    customers = write(
        tmp_path / "customers.csv",
        "customer_id,home_x,home_y,age,segment",
        ["7,1.0,2.0,30,student", "8,3.0,4.0,,retired", "9,0,0,50,salaried"],
    )
    terminals = write(
        tmp_path / "terminals.csv", "TERMINAL_ID,x_terminal_id,y_terminal_id", ["1,5,5"]
    )
    with pytest.raises(DataError) as err:
        import_transactions(
            tx,
            tmp_path / "w",
            customers=customers,
            terminals=terminals,
            label_delay_days=0,
        )
    assert (Path(err.value.file).name, err.value.row, err.value.column) == (
        "tx.csv",
        2,
        "terminal_id",
    )
    write(terminals, "TERMINAL_ID,x_terminal_id,y_terminal_id", ["1,5,5", "2,6,6"])
    world = import_transactions(
        tx, tmp_path / "w", customers=customers, terminals=terminals, label_delay_days=0
    )
    cust = world.arrow("customers").to_pylist()
    assert [c["customer_id"] for c in cust] == [7, 8, 9]
    assert cust[1]["age"] is None and cust[1]["segment"] == "retired"
    assert world.arrow("terminals").column("x").to_pylist() == [5.0, 6.0]


def test_several_files_are_concatenated(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", HEADER, ROWS[:2])
    b = write(tmp_path / "b.csv", HEADER, ROWS[2:])
    world = import_transactions([a, b], tmp_path / "w", label_delay_days=7)
    assert world.arrow("transactions").column("transaction_id").to_pylist() == [11, 12, 10, 13]
    assert world.manifest.parameters["files"] == ["a.csv", "b.csv"]


def test_derived_side_column_must_be_constant_per_id(tmp_path: Path) -> None:
    src = write(
        tmp_path / "tx.csv",
        "timestamp,customer_id,terminal_id,amount,is_fraud,tx_",
        ["2024-01-01 10:00:00,1,1,5,0,1.0", "2024-01-01 11:00:00,2,1,5,0,2.0"],
    )
    with pytest.raises(DataError) as err:
        import_transactions(src, tmp_path / "w", mapping={"tx_": "terminals.x"}, label_delay_days=1)
    assert (err.value.row, err.value.column) == (2, "tx_")


def test_mapping_a_side_id_without_its_file_is_refused(tx_csv: Path, tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="needs --customers"):
        import_transactions(
            tx_csv, tmp_path / "w", mapping={"customer_id": "customers.customer_id"}
        )


def test_every_side_and_optional_column_type_parses(tmp_path: Path) -> None:
    tx = write(
        tmp_path / "tx.csv",
        "timestamp,customer_id,terminal_id,amount,is_fraud,channel,device_id,ip_prefix,country",
        ["2024-01-01 10:00,1,1,5,0,POS,,,FR", "2024-01-01 11:00,2,2,5,0,ecom,dev-9,10.0.1,DE"],
    )
    customers = write(
        tmp_path / "c.csv",
        "customer_id,age,sex,region,income,segment,thin_file,risk_appetite,customer_since",
        ["1,30,F,north,42000.50,salaried,0,3,2020-05-01", "2,,m,,,,true,,"],
    )
    terminals = write(
        tmp_path / "t.csv",
        "terminal_id,merchant_id,merchant_category,is_ecommerce",
        ["1,m-1,grocery,0", "2,,,1"],
    )
    world = import_transactions(
        tx, tmp_path / "w", customers=customers, terminals=terminals, label_delay_days=1
    )
    c = world.arrow("customers").to_pylist()
    assert c[0]["income"] == Decimal("42000.50") and c[1]["income"] is None
    assert c[0]["customer_since"] == dt.date(2020, 5, 1) and c[1]["sex"] == "M"
    assert [r["thin_file"] for r in c] == [False, True]
    t = world.arrow("terminals").to_pylist()
    assert [r["merchant_id"] for r in t] == [0, None]
    assert [r["is_ecommerce"] for r in t] == [False, True]
    tr = world.arrow("transactions").to_pylist()
    assert [r["channel"] for r in tr] == ["pos", "ecom"]
    assert [r["device_id"] for r in tr] == [None, 0]
    bad = write(tmp_path / "c.csv", "customer_id,risk_appetite", ["1,3", "2,300"])
    with pytest.raises(DataError) as err:
        import_transactions(tx, tmp_path / "x", customers=bad, label_delay_days=1)
    assert (err.value.row, err.value.column) == (2, "risk_appetite")
    assert "outside [-128, 127]" in str(err.value)
