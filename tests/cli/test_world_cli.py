"""`fintwin world ...` from the command line."""

from __future__ import annotations

from typer.testing import CliRunner

from fintwin.cli import app
from fintwin.data import open_world

runner = CliRunner()


def test_simulate_then_describe(tmp_path) -> None:
    out = tmp_path / "w"
    args = ["world", "simulate", "--preset", "handbook", "--customers", "300", "--days", "6"]
    result = runner.invoke(app, [*args, "--seed", "4", "--out", str(out), "-p", "radius=6"])
    assert result.exit_code == 0, result.output
    world = open_world(out)
    assert world.manifest.parameters["radius"] == 6.0
    assert f"transactions {world.manifest.tables['transactions'].rows:,}" in result.output
    described = runner.invoke(app, ["world", "describe", str(out)])
    assert described.exit_code == 0, described.output
    assert "compromised_terminal" in described.output or "genuine" in described.output
    assert "handbook" in described.output


def test_refuses_to_overwrite_without_flag(tmp_path) -> None:
    out = tmp_path / "w"
    args = ["world", "simulate", "--preset", "handbook", "--customers", "50", "--days", "2"]
    assert runner.invoke(app, [*args, "--out", str(out), "-q"]).exit_code == 0
    again = runner.invoke(app, [*args, "--out", str(out), "-q"])
    assert again.exit_code == 2
    assert "exists" in again.output
    assert runner.invoke(app, [*args, "--out", str(out), "-q", "--overwrite"]).exit_code == 0


def test_bad_parameter_is_one_clear_line(tmp_path) -> None:
    result = runner.invoke(
        app,
        ["world", "simulate", "--preset", "handbook", "--out", str(tmp_path / "w"), "-p", "radius"],
    )
    assert result.exit_code == 2
    assert "--param takes KEY=VALUE (got 'radius')" in result.output
    result = runner.invoke(
        app,
        [
            "world",
            "simulate",
            "--preset",
            "handbook",
            "--out",
            str(tmp_path / "w"),
            "-p",
            "radius=x",
        ],
    )
    assert result.exit_code == 2
    assert "radius must be float (got 'x')" in result.output
    assert not (tmp_path / "w").exists()


def test_describe_names_a_missing_world(tmp_path) -> None:
    result = runner.invoke(app, ["world", "describe", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "no such world directory" in result.output
