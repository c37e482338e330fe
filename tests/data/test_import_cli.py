"""`fintwin data import transactions` from the command line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from fintwin.cli import app
from fintwin.data import open_world

runner = CliRunner()

HEADER = "when,who,where,how_much,fraud"
ROWS = ["2024-01-01 10:00:00,1,1,10.00,0", "2024-01-02 11:00:00,2,1,11.00,1"]
MAP = ["--map", "when=timestamp", "-m", "who=customer_id", "-m", "where=terminal_id"]
MAP += ["-m", "how_much=amount", "-m", "fraud=is_fraud"]


def write(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def run(*args: str):
    return runner.invoke(app, ["data", "import", "transactions", *args])


def test_import_with_map_and_label_delay(tmp_path: Path) -> None:
    f = write(tmp_path / "tx.csv", ROWS)
    out = tmp_path / "w"
    result = run(str(f), "--out", str(out), *MAP, "--label-delay", "3")
    assert result.exit_code == 0, result.output
    assert "transactions 2" in result.output and "customers 2" in result.output
    world = open_world(out)
    assert world.manifest.parameters["label_delay_days"] == 3.0
    assert world.manifest.parameters["mapping"]["how_much"] == "transactions.amount"


def test_bad_input_exits_2_with_one_error_line(tmp_path: Path) -> None:
    f = write(tmp_path / "tx.csv", [ROWS[0], ROWS[1].replace("11.00", "eleven")])
    result = run(str(f), "--out", str(tmp_path / "w"), *MAP, "--label-delay", "3")
    assert result.exit_code == 2
    assert "error:" in result.output
    assert "tx.csv" in result.output and "row 2" in result.output
    assert "'how_much'" in result.output
    assert not (tmp_path / "w").exists()


def test_missing_label_dates_and_bad_map_exit_2(tmp_path: Path) -> None:
    f = write(tmp_path / "tx.csv", ROWS)
    result = run(str(f), "--out", str(tmp_path / "w"), *MAP)
    assert result.exit_code == 2
    assert "error:" in result.output and "--label-delay" in result.output
    result = run(str(f), "--out", str(tmp_path / "w"), "--map", "who")
    assert result.exit_code == 2 and "--map takes KEY=VALUE" in result.output
    result = run(str(f), "--out", str(tmp_path / "w"), "--map", "who=client")
    assert result.exit_code == 2 and "--map target 'client'" in result.output


def test_overwrite_flag(tmp_path: Path) -> None:
    f = write(tmp_path / "tx.csv", ROWS)
    args = [str(f), "--out", str(tmp_path / "w"), *MAP, "--label-delay", "1"]
    assert run(*args).exit_code == 0
    again = run(*args)
    assert again.exit_code == 2 and "exists" in again.output
    assert run(*args, "--overwrite").exit_code == 0
