"""PaySim import: transfers, wallets and merchants, tokenised account names."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from fintwin.data import import_transactions
from fintwin.exceptions import DataError, ParameterError

HEADER = (
    "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,"
    "newbalanceDest,isFraud,isFlaggedFraud"
)
ROWS = [
    "1,PAYMENT,9839.64,C1231006815,170136.0,160296.36,M1979787155,0.0,0.0,0,0",
    "1,TRANSFER,181.0,C1305486145,181.0,0.0,C553264065,0.0,0.0,1,0",
    "2,CASH_OUT,181.0,C553264065,181.0,0.0,C38997010,21182.0,0.0,1,0",
    "2,DEBIT,5337.77,C712410124,41720.0,36382.23,C1305486145,0.0,5337.77,0,0",
    "3,CASH_IN,100.005,C1231006815,160296.36,160396.37,C38997010,0.0,0.0,0,0",
]


def write(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_paysim_round_trip(tmp_path: Path) -> None:
    f = write(tmp_path / "paysim.csv", ROWS)
    world = import_transactions(f, tmp_path / "w", format="paysim", start="2024-05-01")
    assert world.tables == ["accounts", "customers", "transfers"]
    t = world.arrow("transfers").to_pylist()
    assert [r["timestamp"] for r in t] == [
        dt.datetime(2024, 5, 1, h) for h in (1, 1, 2, 2, 3)
    ]  # step = hours since the start
    # Keys in order of first appearance, origin before destination.
    assert [(r["src_account_id"], r["dst_account_id"]) for r in t] == [
        (0, 1),
        (2, 3),
        (3, 4),
        (5, 2),
        (0, 4),
    ]
    assert [r["transfer_type"] for r in t] == [
        "payment",
        "transfer",
        "cash_out",
        "debit",
        "cash_in",
    ]
    assert t[4]["amount"] == Decimal("100.01")
    assert [r["fraud_scenario"] for r in t] == [
        None,
        "account_takeover",
        "account_takeover",
        None,
        None,
    ]
    assert t[3]["dst_balance_after"] == Decimal("5337.77")
    assert all(r["label_available_at"] - r["timestamp"] == dt.timedelta(days=7) for r in t)
    accounts = world.arrow("accounts").to_pylist()
    assert [a["kind"] for a in accounts] == ["wallet", "merchant", *["wallet"] * 4]
    assert [a["customer_id"] for a in accounts] == [0, None, 2, 3, 4, 5]
    # Opening balance: the balance before the account's first transfer.
    assert [a["opening_balance"] for a in accounts] == [
        Decimal("170136.00"),
        Decimal("0.00"),
        Decimal("181.00"),
        Decimal("0.00"),
        Decimal("21182.00"),
        Decimal("41720.00"),
    ]
    assert all(a["opened_at"] == dt.date(2024, 5, 1) for a in accounts)
    assert world.arrow("customers").column("customer_id").to_pylist() == [0, 2, 3, 4, 5]
    assert world.manifest.parameters["ignored_columns"] == ["isFlaggedFraud"]
    for p in world.path.rglob("*.parquet"):
        assert b"C1231006815" not in p.read_bytes()


def test_paysim_errors_name_row_and_column(tmp_path: Path) -> None:
    rows = list(ROWS)
    rows[2] = rows[2].replace("CASH_OUT", "BITCOIN")
    with pytest.raises(DataError) as err:
        import_transactions(write(tmp_path / "p.csv", rows), tmp_path / "w", format="paysim")
    assert (err.value.row, err.value.column) == (3, "type")
    assert "'BITCOIN' is not one of transfer, payment" in str(err.value)
    rows = list(ROWS)
    rows[1] = rows[1].replace(",1,0", ",maybe,0")
    with pytest.raises(DataError) as err:
        import_transactions(write(tmp_path / "p.csv", rows), tmp_path / "w", format="paysim")
    assert (err.value.row, err.value.column) == (2, "isFraud")
    assert not (tmp_path / "w").exists()


def test_paysim_mapping_and_flags(tmp_path: Path) -> None:
    header = HEADER.replace("nameOrig", "from").replace("isFraud", "fraud")
    f = write(tmp_path / "p.csv", ROWS, header)
    with pytest.raises(DataError, match="required column 'nameOrig' is missing"):
        import_transactions(f, tmp_path / "w", format="paysim")
    world = import_transactions(
        f,
        tmp_path / "w",
        format="paysim",
        mapping={"from": "nameOrig", "fraud": "is_fraud"},
        label_delay_days=1,
    )
    assert world.arrow("transfers").num_rows == 5
    assert world.manifest.parameters["mapping"] == {
        "fraud": "transfers.is_fraud",
        "from": "transfers.src_account_id",
    }
    with pytest.raises(ParameterError, match="--customers is not used by format 'paysim'"):
        import_transactions(f, tmp_path / "x", format="paysim", customers=f)
