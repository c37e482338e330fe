from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from fintwin.data import WorldWriter, open_world, world_hashes
from fintwin.exceptions import (
    CorruptWorldError,
    IncompleteWorldError,
    ParameterError,
    WorldExistsError,
)

CUSTOMERS = pa.table({"customer_id": [1, 2], "home_x": [0.0, 1.0], "home_y": [0.0, 1.0]})
COMMIT = {"preset": "import", "seed": None, "start": "2024-01-01", "days": 1, "parameters": {}}


def _write(path: Path, **kw) -> None:
    with WorldWriter(path, **kw) as w:
        w.write_table("customers", CUSTOMERS)
        w.commit(**COMMIT)


def test_written_world_opens_with_hashes(tmp_path: Path) -> None:
    _write(tmp_path / "w")
    world = open_world(tmp_path / "w")
    assert world.tables == ["customers"]
    assert world.frame("customers")["customer_id"].tolist() == [1, 2]
    assert list(world_hashes(tmp_path / "w")) == ["customers.parquet"]


def test_existing_directory_is_refused_unless_overwrite(tmp_path: Path) -> None:
    _write(tmp_path / "w")
    with pytest.raises(WorldExistsError, match="overwrite"):
        _write(tmp_path / "w")
    _write(tmp_path / "w", overwrite=True)
    assert open_world(tmp_path / "w").manifest.tables["customers"].rows == 2


def test_exception_while_writing_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "w"
    with pytest.raises(RuntimeError), WorldWriter(target) as w:
        w.write_table("customers", CUSTOMERS)
        raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_world(tmp_path: Path) -> None:
    _write(tmp_path / "w")
    before = world_hashes(tmp_path / "w")
    with pytest.raises(RuntimeError), WorldWriter(tmp_path / "w", overwrite=True) as w:
        w.write_table("customers", CUSTOMERS.slice(0, 1))
        raise RuntimeError("boom")
    assert world_hashes(tmp_path / "w") == before


_SLOW_WRITER = """
import sys, time, pyarrow as pa
from fintwin.data import WorldWriter
with WorldWriter(sys.argv[1]) as w:
    w.write_table("customers", pa.table({"customer_id": [1], "home_x": [0.0], "home_y": [0.0]}))
    print("written", flush=True)
    time.sleep(60)
    w.commit(preset="import", seed=None, start="2024-01-01", days=1, parameters={})
"""


def test_kill_mid_write_leaves_no_directory(tmp_path: Path) -> None:
    target = tmp_path / "w"
    with subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "written"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert not target.exists()
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".w.partial-")]
    assert len(leftovers) == 1  # the killed writer's scratch space, hidden
    # The next writer to the same target removes a dead writer's scratch space.
    time.sleep(0.01)
    _write(target)
    assert [p.name for p in tmp_path.iterdir()] == ["w"]


def test_missing_manifest_is_incomplete(tmp_path: Path) -> None:
    _write(tmp_path / "w")
    (tmp_path / "w" / "manifest.json").unlink()
    with pytest.raises(IncompleteWorldError, match=r"manifest\.json is missing"):
        open_world(tmp_path / "w")


def test_missing_file_is_incomplete(tmp_path: Path) -> None:
    _write(tmp_path / "w")
    (tmp_path / "w" / "customers.parquet").unlink()
    with pytest.raises(IncompleteWorldError, match=r"customers\.parquet is listed"):
        open_world(tmp_path / "w")


def test_changed_byte_is_corrupt(tmp_path: Path) -> None:
    _write(tmp_path / "w")
    f = tmp_path / "w" / "customers.parquet"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(CorruptWorldError, match=r"customers\.parquet does not match"):
        open_world(tmp_path / "w")
    open_world(tmp_path / "w", verify=False)  # presence-only check still opens it


def test_unreadable_or_future_manifest_is_corrupt(tmp_path: Path) -> None:
    _write(tmp_path / "w")
    m = tmp_path / "w" / "manifest.json"
    data = json.loads(m.read_text())
    m.write_text(json.dumps({**data, "schema_version": 99}))
    with pytest.raises(CorruptWorldError, match="schema_version 99"):
        open_world(tmp_path / "w")
    m.write_text("{not json")
    with pytest.raises(CorruptWorldError, match="not valid JSON"):
        open_world(tmp_path / "w")


def test_day_partitions_must_be_sorted_and_new(tmp_path: Path, handbook_world) -> None:
    tx = handbook_world.arrow("transactions").slice(0, 100)
    with WorldWriter(tmp_path / "w") as w:
        with pytest.raises(ParameterError, match="sorted by timestamp"):
            w.append_days("transactions", tx.take(list(range(99, -1, -1))))
        w.append_days("transactions", tx)
        with pytest.raises(ParameterError, match="already written"):
            w.append_days("transactions", tx)


def test_truth_tables_are_read_only_through_truth(handbook_world) -> None:
    assert "fraud_campaigns" not in handbook_world.tables
    with pytest.raises(ParameterError, match="no table 'fraud_campaigns'"):
        handbook_world.arrow("fraud_campaigns")
    assert handbook_world.truth("fraud_campaigns").num_rows > 0
    with pytest.raises(ParameterError, match="no truth table 'transactions'"):
        handbook_world.truth("transactions")
    con = handbook_world.connect()
    views = {
        r[0]
        for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    }
    assert "fraud_campaigns" not in views and "transactions" in views


def test_unknown_table_is_refused(tmp_path: Path) -> None:
    with (
        WorldWriter(tmp_path / "w") as w,
        pytest.raises(ParameterError, match="table must be one of"),
    ):
        w.write_table("shoes", CUSTOMERS)
