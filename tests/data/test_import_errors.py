"""Bad input gives one specific error naming file, row and column; nothing is left behind."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fintwin.data import import_transactions
from fintwin.exceptions import DataError, ParameterError, WorldExistsError

HEADER = "transaction_id,timestamp,customer_id,terminal_id,amount,is_fraud"
GOOD = [
    "1,2024-01-01 10:00:00,1,1,10.00,0",
    "2,2024-01-01 11:00:00,2,1,11.00,1",
    "3,2024-01-02 12:00:00,1,2,12.00,0",
]


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def bad_row(row: int, column: str, value: str, header: str = HEADER) -> list[str]:
    """GOOD with ``column`` of data row ``row`` (1-based) replaced by ``value``."""
    k = header.split(",").index(column)
    rows = [r.split(",") for r in GOOD]
    rows[row - 1][k] = value
    return [",".join(r) for r in rows]


def import_error(tmp_path: Path, files, **kwargs) -> DataError:
    out = tmp_path / "world"
    kwargs.setdefault("label_delay_days", 7)
    with pytest.raises(DataError) as err:
        import_transactions(files, out, **kwargs)
    # Nothing partial is left: no world, no hidden scratch directory beside it.
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".world")]
    return err.value


def where(err: DataError) -> tuple[str | None, int | None, str | None]:
    return (Path(err.file).name if err.file else None, err.row, err.column)


def test_missing_required_column_lists_what_is_there(tmp_path: Path) -> None:
    f = write(
        tmp_path / "tx.csv",
        "transaction_id,timestamp,customer_id,amount,is_fraud",
        ["1,2024-01-01 10:00:00,1,10.00,0"],
    )
    err = import_error(tmp_path, f)
    assert where(err) == ("tx.csv", None, "terminal_id")
    assert "required column 'terminal_id' is missing" in str(err)
    assert "['transaction_id', 'timestamp', 'customer_id', 'amount', 'is_fraud']" in str(err)
    assert "--map YOUR_COLUMN=terminal_id" in str(err)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("timestamp", "01/02/2024 10:00", "is not an ISO 8601 date-time"),
        ("timestamp", "2024-02-30 10:00:00", "is not an ISO 8601 date-time"),
        ("amount", '"12,50"', "is not an amount"),
        ("amount", "abc", "is not an amount"),
        ("amount", "-0.01", "negative amount"),
        ("is_fraud", "yes", "is not a flag; expected 0, 1, true or false"),
        ("is_fraud", "2", "is not a flag"),
        ("customer_id", " ", "the identifier is empty"),
    ],
)
def test_bad_value_names_its_first_row(tmp_path: Path, column, value, message) -> None:
    f = write(tmp_path / "tx.csv", HEADER, bad_row(2, column, value))
    err = import_error(tmp_path, f)
    assert where(err) == ("tx.csv", 2, column)
    assert message in str(err)
    assert "file " in str(err) and "row 2" in str(err) and repr(column) in str(err)


def test_first_bad_row_among_many(tmp_path: Path) -> None:
    # Bisection must find the first bad value, not any bad value.
    rows = [f"{i},2024-01-01 10:00:00,1,1,{i}.00,0" for i in range(1, 5001)]
    rows[3210] = rows[3210].replace("3211.00", "3211.0.0")
    rows[4000] = rows[4000].replace("4001.00", "x")
    f = write(tmp_path / "big.csv", HEADER, rows)
    assert where(import_error(tmp_path, f)) == ("big.csv", 3211, "amount")


def test_missing_value_is_named(tmp_path: Path) -> None:
    f = write(tmp_path / "tx.csv", HEADER, bad_row(3, "timestamp", ""))
    err = import_error(tmp_path, f)
    assert where(err) == ("tx.csv", 3, "timestamp")
    assert "missing" in str(err)


def test_duplicate_transaction_id_across_files(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", HEADER, GOOD)
    b = write(tmp_path / "b.csv", HEADER, ["9,2024-01-03 10:00:00,1,1,1.00,0", GOOD[1]])
    err = import_error(tmp_path, [a, b])
    assert where(err) == ("b.csv", 2, "transaction_id")
    assert "duplicate transaction_id 2" in str(err) and "a.csv row 2" in str(err)


def test_parquet_errors_name_the_row_too(tmp_path: Path) -> None:
    pq.write_table(
        pa.table(
            {
                "timestamp": pa.array([0, 1, 2], pa.timestamp("s")),
                "customer_id": [1, 2, 3],
                "terminal_id": [1, 1, 1],
                "amount": [1.0, float("nan"), -1.0],
                "is_fraud": [0, 1, 0],
            }
        ),
        tmp_path / "tx.parquet",
    )
    err = import_error(tmp_path, tmp_path / "tx.parquet")
    assert where(err) == ("tx.parquet", 2, "amount")


def test_unknown_map_source_column(tmp_path: Path) -> None:
    f = write(tmp_path / "tx.csv", HEADER, GOOD)
    err = import_error(tmp_path, f, mapping={"Amount": "amount"})
    assert where(err) == ("tx.csv", None, "Amount")
    assert "--map source column 'Amount'" in str(err) and "transaction_id" in str(err)


def test_unknown_map_target_column(tmp_path: Path) -> None:
    f = write(tmp_path / "tx.csv", HEADER, GOOD)
    with pytest.raises(
        ParameterError,
        match=r"--map target 'amt' is not a column of "
        r"transactions; allowed: \['transaction_id'",
    ):
        import_transactions(f, tmp_path / "w", mapping={"amount": "amt"})
    with pytest.raises(ParameterError, match="'shops' is not a table"):
        import_transactions(f, tmp_path / "w", mapping={"amount": "shops.x"})
    with pytest.raises(ParameterError, match=r"two columns for transactions\.amount"):
        import_transactions(f, tmp_path / "w", mapping={"amount": "amount", "x": "amount"})
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "the file is empty"), (HEADER + "\n", "no data rows"), ("\n\n", "the file is empty")],
)
def test_empty_file(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "tx.csv"
    f.write_text(content, encoding="utf-8")
    err = import_error(tmp_path, f)
    assert where(err) == ("tx.csv", None, None)
    assert message in str(err)


def test_no_label_dates_names_column_and_flag(tmp_path: Path) -> None:
    f = write(tmp_path / "tx.csv", HEADER, GOOD)
    err = import_error(tmp_path, f, label_delay_days=None)
    assert where(err) == ("tx.csv", None, "label_available_at")
    assert "--label-delay DAYS" in str(err)


def test_label_before_payment_is_refused(tmp_path: Path) -> None:
    header = HEADER + ",label_available_at"
    rows = [r + ",2024-01-09 00:00:00" for r in GOOD]
    rows[1] = rows[1].replace("2024-01-09", "2023-12-31")
    err = import_error(tmp_path, write(tmp_path / "tx.csv", header, rows))
    assert where(err) == ("tx.csv", 2, "label_available_at")


def test_unknown_fraud_scenario(tmp_path: Path) -> None:
    header = HEADER + ",fraud_scenario"
    rows = [GOOD[0] + ",", GOOD[1] + ",phishing", GOOD[2] + ","]
    err = import_error(tmp_path, write(tmp_path / "tx.csv", header, rows))
    assert where(err) == ("tx.csv", 2, "fraud_scenario")
    assert "'phishing' is not one of amount_over_threshold" in str(err)


def test_files_of_one_import_need_the_same_columns(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", HEADER + ",channel", [r + ",pos" for r in GOOD])
    b = write(tmp_path / "b.csv", HEADER, ["9,2024-01-03 10:00:00,1,1,1.00,0"])
    err = import_error(tmp_path, [a, b])
    assert where(err) == ("b.csv", None, "channel")


def test_unsupported_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "tx.xlsx").write_bytes(b"PK")
    assert "unsupported file type" in str(import_error(tmp_path, tmp_path / "tx.xlsx"))
    assert "no such file" in str(import_error(tmp_path, tmp_path / "nope.csv"))


def test_unreadable_csv_row(tmp_path: Path) -> None:
    f = write(tmp_path / "tx.csv", HEADER, [*GOOD, "4,2024-01-01 10:00:00,1"])
    err = import_error(tmp_path, f)
    assert where(err)[0] == "tx.csv" and "not a readable CSV" in str(err)


def test_existing_world_is_kept(tmp_path: Path) -> None:
    f = write(tmp_path / "tx.csv", HEADER, GOOD)
    out = tmp_path / "w"
    import_transactions(f, out, label_delay_days=1)
    before = sorted(p.name for p in out.rglob("*"))
    with pytest.raises(WorldExistsError):
        import_transactions(f, out, label_delay_days=1)
    # A failed overwrite leaves the old world as it was.
    bad = write(tmp_path / "bad.csv", HEADER, bad_row(1, "amount", "x"))
    with pytest.raises(DataError):
        import_transactions(bad, out, label_delay_days=1, overwrite=True)
    assert sorted(p.name for p in out.rglob("*")) == before


def test_negative_label_delay_is_a_parameter_error(tmp_path: Path) -> None:
    f = write(tmp_path / "tx.csv", HEADER, GOOD)
    with pytest.raises(ParameterError, match="label_delay_days must be non-negative"):
        import_transactions(f, tmp_path / "w", label_delay_days=-1)
    with pytest.raises(ParameterError, match="format must be one of"):
        import_transactions(f, tmp_path / "w", format="excel")
