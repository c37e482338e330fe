"""Reading applications files: CSV and Parquet, the bad flag, protected and excluded columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fintwin.credit.applications import CreditData, FeatureKind, read_applications
from fintwin.exceptions import DataError

# Six applicants: two bads (rows 2 and 3), a missing income (row 3), a missing purpose (row 2).
CSV = (
    "id,income,purpose,sex,default\n"
    "1,1000,car,f,0\n"
    "2,2000,,m,1\n"
    "3,,tv,f,1\n"
    "4,1500,car,m,0\n"
    "5,1200,tv,m,0\n"
    "6,900,radio,f,0\n"
)
BAD = [False, True, True, False, False, False]


def write(tmp_path: Path, text: str, name: str = "apps.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_csv_with_inputs_protected_and_excluded_apart(tmp_path: Path) -> None:
    data = read_applications(write(tmp_path, CSV), "default", protected=["sex"], exclude=["id"])
    assert isinstance(data, CreditData)
    assert len(data) == 6
    np.testing.assert_array_equal(data.bad, BAD)
    assert data.bad.dtype == bool
    assert data.bad_rate == pytest.approx(2 / 6)
    # Protected and excluded columns, and the target, are never model inputs.
    assert list(data.features.columns) == ["income", "purpose"]
    assert data.kinds == {"income": FeatureKind.NUMERIC, "purpose": FeatureKind.CATEGORICAL}
    assert data.protected["sex"].tolist() == ["f", "m", "f", "m", "m", "f"]
    assert data.source == str(tmp_path / "apps.csv")
    income = data.features["income"]
    assert income.dtype == np.float64
    assert np.isnan(income.iloc[2]) and income.iloc[0] == 1000.0
    purpose = data.features["purpose"].tolist()
    assert pd.isna(purpose[1])
    assert [p for i, p in enumerate(purpose) if i != 1] == ["car", "tv", "car", "tv", "radio"]


def test_without_protected_every_other_column_is_an_input(tmp_path: Path) -> None:
    data = read_applications(write(tmp_path, CSV), "default")
    assert list(data.features.columns) == ["id", "income", "purpose", "sex"]
    assert data.protected.shape == (6, 0)


def test_reads_a_semicolon_separated_file(tmp_path: Path) -> None:
    data = read_applications(write(tmp_path, CSV.replace(",", ";")), "default", exclude=["id"])
    np.testing.assert_array_equal(data.bad, BAD)
    assert list(data.features.columns) == ["income", "purpose", "sex"]


def test_reads_parquet_with_arrow_and_pandas_dtypes(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "amount": [1.0, 2.0, 3.0, 4.0, 5.0],
            "n_loans": pd.array([1, None, 3, 0, 2], dtype="Int64"),  # nullable integers
            "housing": pd.Categorical(["own", "rent", None, "own", "free"]),
            "age": [30, 40, 50, 60, 70],
            "bad": [True, False, True, False, False],
        }
    )
    path = tmp_path / "apps.parquet"
    frame.to_parquet(path)
    data = read_applications(path, "bad", protected=["age"])
    np.testing.assert_array_equal(data.bad, [True, False, True, False, False])
    assert data.kinds == {
        "amount": FeatureKind.NUMERIC,
        "n_loans": FeatureKind.NUMERIC,
        "housing": FeatureKind.CATEGORICAL,
    }
    assert "age" not in data.features.columns
    assert data.protected["age"].tolist() == [30, 40, 50, 60, 70]
    n_loans = data.features["n_loans"]
    assert n_loans.dtype == np.float64
    np.testing.assert_array_equal(n_loans.to_numpy(), [1.0, np.nan, 3.0, 0.0, 2.0])
    housing = data.features["housing"].tolist()
    assert pd.isna(housing[2])
    assert [h for i, h in enumerate(housing) if i != 2] == ["own", "rent", "own", "free"]


def test_bad_value_maps_a_text_target(tmp_path: Path) -> None:
    path = write(tmp_path, "x,status\n1,good\n2,bad\n3,bad\n4,good\n5,good\n")
    data = read_applications(path, "status", bad="bad")
    np.testing.assert_array_equal(data.bad, [False, True, True, False, False])


def test_bad_value_maps_a_numeric_target(tmp_path: Path) -> None:
    # German credit codes its outcome 1 = good, 2 = bad.
    path = write(tmp_path, "x,class\n1,1\n2,2\n3,2\n4,1\n5,1\n")
    data = read_applications(path, "class", bad="2")
    np.testing.assert_array_equal(data.bad, [False, True, True, False, False])


def test_bad_value_seen_nowhere_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "x,status\n1,good\n2,bad\n3,bad\n4,good\n")
    with pytest.raises(DataError, match="no row has the bad value 'BAD'") as caught:
        read_applications(path, "status", bad="BAD")
    assert caught.value.column == "status"


def test_missing_target_names_file_row_and_column(tmp_path: Path) -> None:
    # The third data row (header not counted) has no outcome.
    path = write(tmp_path, "x,y\n1,0\n2,1\n3,\n4,1\n5,0\n")
    with pytest.raises(DataError, match="has no value") as caught:
        read_applications(path, "y")
    error = caught.value
    assert (error.file, error.row, error.column) == (str(path), 3, "y")
    assert str(path) in str(error) and "row 3" in str(error) and "column 'y'" in str(error)


def test_non_binary_target_is_refused_with_its_row(tmp_path: Path) -> None:
    path = write(tmp_path, "x,y\n1,0\n2,1\n3,1\n4,2\n5,0\n")
    with pytest.raises(DataError, match="0/1 or boolean") as caught:
        read_applications(path, "y")
    assert (caught.value.row, caught.value.column) == (4, "y")
    assert "row 4" in str(caught.value)


def test_text_target_without_bad_value_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "x,y\n1,good\n2,bad\n3,bad\n4,good\n")
    with pytest.raises(DataError, match="--bad VALUE") as caught:
        read_applications(path, "y")
    assert caught.value.row == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "outcome"}, "the target column 'outcome'"),
        ({"target": "default", "protected": ["gender"]}, "the protected column 'gender'"),
        ({"target": "default", "exclude": ["customer_id"]}, "the exclude column 'customer_id'"),
        ({"target": "default", "exposure": "amount"}, "the exposure column 'amount'"),
    ],
)
def test_absent_column_is_named(tmp_path: Path, kwargs: dict, message: str) -> None:
    path = write(tmp_path, CSV)
    with pytest.raises(DataError, match=f"{message} is not in the file") as caught:
        read_applications(path, **kwargs)
    assert caught.value.file == str(path)


def test_column_without_any_value_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "x,empty,y\n1,,0\n2,,1\n3,,1\n4,,0\n")
    with pytest.raises(DataError, match="holds no value") as caught:
        read_applications(path, "y")
    assert caught.value.column == "empty"


def test_empty_column_is_fine_when_excluded(tmp_path: Path) -> None:
    path = write(tmp_path, "x,empty,y\n1,,0\n2,,1\n3,,1\n4,,0\n")
    data = read_applications(path, "y", exclude=["empty"])
    assert list(data.features.columns) == ["x"]


@pytest.mark.parametrize(
    "labels",
    [
        [0, 0, 0, 0, 1],  # one bad
        [1, 1, 1, 0, 1],  # one good
        [0, 0, 0, 0, 0],  # no bad
    ],
)
def test_fewer_than_two_of_a_class_is_refused(tmp_path: Path, labels: list[int]) -> None:
    rows = "".join(f"{i},{y}\n" for i, y in enumerate(labels))
    with pytest.raises(DataError, match="at least two bad and two good"):
        read_applications(write(tmp_path, "x,y\n" + rows), "y")


def test_two_of_each_class_is_enough(tmp_path: Path) -> None:
    data = read_applications(write(tmp_path, "x,y\n1,0\n2,1\n3,1\n4,0\n"), "y")
    assert int(data.bad.sum()) == 2


def test_no_input_left_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no column is left"):
        read_applications(
            write(tmp_path, CSV), "default", protected=["sex"], exclude=["id", "income", "purpose"]
        )


def test_absent_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_applications(tmp_path / "nowhere.csv", "y")


def test_subset_keeps_rows_aligned(tmp_path: Path) -> None:
    data = read_applications(write(tmp_path, CSV), "default", protected=["sex"], exclude=["id"])
    part = data.subset(np.array([1, 5]))
    np.testing.assert_array_equal(part.bad, [True, False])
    assert part.features["income"].tolist() == [2000.0, 900.0]
    assert part.protected["sex"].tolist() == ["m", "f"]
    assert part.kinds == data.kinds


def test_exposure_column_is_kept_apart_from_the_inputs(tmp_path: Path) -> None:
    path = write(tmp_path, "x,amount,y\n1,100,0\n2,250.5,1\n3,0,1\n4,80,0\n")
    data = read_applications(path, "y", exposure="amount")
    assert list(data.features.columns) == ["x"]
    np.testing.assert_array_equal(data.exposure, [100.0, 250.5, 0.0, 80.0])
    np.testing.assert_array_equal(data.subset(np.array([3, 1])).exposure, [80.0, 250.5])


@pytest.mark.parametrize("value", ["-5", "", "lots"])
def test_exposure_must_be_a_non_negative_number(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"x,amount,y\n1,100,0\n2,{value},1\n3,0,1\n4,80,0\n")
    with pytest.raises(DataError, match="exposure must be a non-negative number") as caught:
        read_applications(path, "y", exposure="amount")
    assert (caught.value.row, caught.value.column) == (2, "amount")
