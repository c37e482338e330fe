from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fintwin.data.schemas import TABLE_SPECS, money_from_minor, money_to_minor
from fintwin.data.schemas._render import render_data_dictionary
from fintwin.exceptions import SchemaError

ROOT = Path(__file__).resolve().parents[2]


@given(st.lists(st.integers(-(10**15), 10**15), max_size=50))
def test_money_round_trips_through_decimal(cents: list[int]) -> None:
    arr = money_from_minor(np.array(cents, dtype=np.int64))
    expected = [f"{'-' if c < 0 else ''}{abs(c) // 100}.{abs(c) % 100:02d}" for c in cents]
    assert [str(d) for d in arr.to_pylist()] == expected
    assert money_to_minor(arr).tolist() == cents


def test_money_keeps_cents_exactly() -> None:
    arr = money_from_minor(np.array([1, -1, 10**12 + 7]))
    assert [str(v) for v in arr.to_pylist()] == ["0.01", "-0.01", "10000000000.07"]


def _customers(**cols) -> pa.Table:
    base = {"customer_id": [1, 2], "home_x": [0.0, 1.0], "home_y": [2.0, 3.0]}
    base.update(cols)
    return pa.table({k: v for k, v in base.items() if v is not None})


def test_conform_orders_and_casts_columns() -> None:
    t = pa.table({"home_y": [2.0], "customer_id": pa.array([1], pa.int32()), "home_x": [0.0]})
    out = TABLE_SPECS["customers"].conform(t)
    assert out.column_names == ["customer_id", "home_x", "home_y"]
    assert out.schema.field("customer_id").type == pa.int64()


def test_conform_names_a_missing_required_column() -> None:
    with pytest.raises(SchemaError, match=r"required columns \['customer_id'\] are missing"):
        TABLE_SPECS["customers"].conform(_customers(customer_id=None))


def test_conform_names_an_unknown_column() -> None:
    with pytest.raises(SchemaError, match="unknown columns"):
        TABLE_SPECS["customers"].conform(_customers(shoe_size=[40, 41]))


def test_conform_refuses_nulls_in_a_complete_column() -> None:
    with pytest.raises(SchemaError) as err:
        TABLE_SPECS["customers"].conform(_customers(home_x=[0.0, None]))
    assert err.value.column == "home_x"


def test_conform_names_a_column_that_cannot_be_cast() -> None:
    with pytest.raises(SchemaError) as err:
        TABLE_SPECS["customers"].conform(_customers(customer_id=["a", "b"]))
    assert err.value.column == "customer_id"


def test_every_spec_has_documented_columns() -> None:
    for spec in TABLE_SPECS.values():
        assert spec.description, spec.name
        for col in spec.columns:
            assert col.description and col.unit, (spec.name, col.name)


def test_docs_world_md_matches_the_schemas() -> None:
    # docs/world.md is generated; regenerate with `make docs` when a schema changes.
    assert (ROOT / "docs" / "world.md").read_text(encoding="utf-8") == render_data_dictionary()
