"""Preset parameters are documented, and docs/presets.md is what the code says."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fintwin.cli import app
from fintwin.world import PRESETS, Preset
from fintwin.world._params_doc import parameter_docs, render_presets_doc

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("preset", list(Preset))
def test_every_parameter_has_a_description(preset: Preset) -> None:
    docs = list(parameter_docs(PRESETS[preset].params_type()))
    assert any(d.name.startswith("economy.") for d in docs)
    missing = [d.name for d in docs if not d.description]
    assert missing == []


def test_docs_presets_md_matches_the_code() -> None:
    # Regenerate with `make docs` when a parameter changes.
    assert (ROOT / "docs" / "presets.md").read_text(encoding="utf-8") == render_presets_doc()


def test_cli_lists_presets_and_parameters() -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["world", "presets"])
    assert listed.exit_code == 0
    for p in Preset:
        assert p.value in listed.output
    params = runner.invoke(app, ["world", "presets", "--preset", "handbook"])
    assert params.exit_code == 0
    assert "amount_threshold" in params.output
    assert "economy.lending" in params.output
