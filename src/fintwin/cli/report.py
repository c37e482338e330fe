"""``fintwin report``: self-contained HTML reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fintwin.cli._common import console, reports_errors
from fintwin.report import world_report

app = typer.Typer(help="Write readable HTML reports (self-contained).", no_args_is_help=True)


@app.command("world")
@reports_errors
def world_cmd(
    world: Annotated[Path, typer.Argument(help="World directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")],
) -> None:
    """Write the HTML report of a world: summary, volume, fraud, map, loans, markets."""
    path = world_report(world, out)
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
