"""AMLSim import: transfers with SAR labels and alert typologies, plus accounts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from fintwin.data import import_transactions
from fintwin.exceptions import DataError

TX_HEADER = "tran_id,orig_acct,bene_acct,tx_type,base_amt,tran_timestamp,is_sar,alert_id"
TX_ROWS = [
    "1,10,11,TRANSFER,100.5,2017-01-01T00:00:00Z,False,-1",
    "2,11,12,TRANSFER,99.25,2017-01-02T00:00:00Z,True,5",
    "3,12,10,TRANSFER,98.00,2017-01-03T00:00:00Z,True,5",
    "4,13,10,WIRE,7.00,2017-01-03T00:00:00Z,True,6",
    "5,10,13,TRANSFER,1.00,2017-01-02T12:00:00Z,False,5",
]
ACCOUNTS = [
    "acct_id,dsply_nm,type,acct_stat,open_dt,close_dt,initial_deposit,bank_id",
    "10,C_10,SAV,A,0,1000000,50000.00,bank",
    "11,C_11,SAV,A,3,1000000,60000.5,bank",
    "12,C_12,CHK,A,0,1000000,70000,bank",
    "13,C_13,SAV,A,0,1000000,70000,bank",
]
ALERTS = [
    "alert_id,alert_type,is_sar,tran_id,orig_acct,bene_acct,tx_type,base_amt,tran_timestamp",
    "5,cycle,True,2,11,12,TRANSFER,99.25,2017-01-02T00:00:00Z",
    "5,cycle,True,3,12,10,TRANSFER,98.00,2017-01-03T00:00:00Z",
    "6,random,True,4,13,10,TRANSFER,7.00,2017-01-03T00:00:00Z",
]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    """An AMLSim output directory, with a file the importer must leave alone."""
    d = tmp_path / "amlsim_out"
    d.mkdir()
    write(d / "transactions.csv", [TX_HEADER, *TX_ROWS])
    write(d / "accounts.csv", ACCOUNTS)
    write(d / "alert_transactions.csv", ALERTS)
    write(d / "tx_count.csv", ["step,normal,sar", "0,1,2"])
    return d


def test_amlsim_output_directory_round_trip(output_dir: Path, tmp_path: Path) -> None:
    world = import_transactions(output_dir, tmp_path / "w", format="amlsim", start="2017-01-01")
    t = world.arrow("transfers").to_pylist()
    assert [r["transfer_id"] for r in t] == [1, 2, 5, 3, 4]  # in time order
    assert [r["is_laundering"] for r in t] == [False, True, False, True, True]
    assert not any(r["is_fraud"] for r in t)
    # alert ids only on laundering transfers; typology from the alerts file ('random' has none)
    assert [r["alert_id"] for r in t] == [None, 5, None, 5, 6]
    assert [r["laundering_typology"] for r in t] == [None, "cycle", None, "cycle", None]
    assert t[0]["amount"] == Decimal("100.50")
    assert t[2]["timestamp"] == dt.datetime(2017, 1, 2, 12)
    assert t[0]["label_available_at"] == dt.datetime(2017, 1, 8)
    assert {r["transfer_type"] for r in t} == {"transfer"}
    accounts = world.arrow("accounts").to_pylist()
    assert [a["account_id"] for a in accounts] == [10, 11, 12, 13]
    assert [a["kind"] for a in accounts] == ["savings", "savings", "current", "savings"]
    assert accounts[1]["opening_balance"] == Decimal("60000.50")
    assert accounts[1]["opened_at"] == dt.date(2017, 1, 4)  # open_dt is a day number
    assert world.arrow("customers").column("customer_id").to_pylist() == [10, 11, 12, 13]
    params = world.manifest.parameters
    assert params["files"] == ["transactions.csv", "accounts.csv", "alert_transactions.csv"]
    assert params["unmapped_alert_types"] == ["random"]


def test_amlsim_files_are_told_apart_by_columns(output_dir: Path, tmp_path: Path) -> None:
    files = [output_dir / n for n in ("alert_transactions.csv", "accounts.csv", "transactions.csv")]
    a = import_transactions(files, tmp_path / "a", format="amlsim")
    b = import_transactions(output_dir, tmp_path / "b", format="amlsim")
    assert a.arrow("transfers").equals(b.arrow("transfers"))
    assert a.arrow("accounts").equals(b.arrow("accounts"))


def test_amlsim_without_accounts_derives_them(tmp_path: Path) -> None:
    rows = [r.replace("2017-01-0", "").replace("T00:00:00Z", "") for r in TX_ROWS[:3]]
    f = write(tmp_path / "transactions.csv", [TX_HEADER, *rows])  # day numbers 1, 2, 3
    world = import_transactions(f, tmp_path / "w", format="amlsim", start="2020-02-01")
    t = world.arrow("transfers")
    assert t.column("timestamp")[0].as_py() == dt.datetime(2020, 2, 2)
    accounts = world.arrow("accounts").to_pylist()
    assert [a["account_id"] for a in accounts] == [10, 11, 12]
    assert {a["kind"] for a in accounts} == {"current"}
    assert all(a["opened_at"] == dt.date(2020, 2, 2) for a in accounts)
    assert world.arrow("transfers").column("laundering_typology").null_count == 3


def test_amlsim_account_missing_from_accounts_file(output_dir: Path, tmp_path: Path) -> None:
    write(output_dir / "accounts.csv", ACCOUNTS[:-1])  # drop account 13
    with pytest.raises(DataError) as err:
        import_transactions(output_dir, tmp_path / "w", format="amlsim")
    assert (Path(err.value.file).name, err.value.row, err.value.column) == (
        "transactions.csv",
        4,
        "orig_acct",
    )


def test_amlsim_alert_with_two_types_is_refused(output_dir: Path, tmp_path: Path) -> None:
    write(output_dir / "alert_transactions.csv", [*ALERTS, ALERTS[1].replace("cycle", "fan_in")])
    with pytest.raises(DataError) as err:
        import_transactions(output_dir, tmp_path / "w", format="amlsim")
    assert (Path(err.value.file).name, err.value.row, err.value.column) == (
        "alert_transactions.csv",
        4,
        "alert_type",
    )


def test_amlsim_directory_needs_transactions(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"transactions\.csv"):
        import_transactions(tmp_path / "empty", tmp_path / "w", format="amlsim")
