"""``fintwin world``: simulate and describe worlds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fintwin.cli._common import console, parse_pairs, reports_errors
from fintwin.data import open_world
from fintwin.world import Preset, build_model
from fintwin.world.describe import describe_world
from fintwin.world.simulate import write_world

app = typer.Typer(help="Simulate the twin world and look at it.", no_args_is_help=True)


@app.command()
@reports_errors
def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="World directory to create.")],
    preset: Annotated[Preset, typer.Option(help="Which world.")] = Preset.RETAIL_BANK,
    customers: Annotated[int | None, typer.Option(help="Number of customers.")] = None,
    days: Annotated[int | None, typer.Option(help="Days simulated.")] = None,
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
    seed: Annotated[int, typer.Option(help="Root seed.")] = 0,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Preset parameter KEY=VALUE (repeat).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    ray: Annotated[
        str | None, typer.Option("--ray", help="Ray cluster address ('local' starts one).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing directory.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Simulate a world and write it to a world directory (atomically)."""
    model = build_model(
        preset,
        customers=customers,
        days=days,
        start=start,
        seed=seed,
        params=parse_pairs(param, "--param"),
    )
    with Progress(
        TextColumn("[bold]simulating[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=False,
    ) as progress:
        task = progress.add_task(preset.value, total=model.config.days)
        world = write_world(
            model,
            out,
            workers=workers,
            ray_address=ray,
            overwrite=overwrite,
            on_chunk=lambda d0, d1: progress.update(task, completed=d1),
        )
    rows = {n: e.rows for n, e in world.manifest.tables.items() if not e.truth}
    console.print(
        f"wrote {world.path}: " + ", ".join(f"{n} {r:,}" for n, r in sorted(rows.items()))
    )


@app.command()
@reports_errors
def describe(
    world: Annotated[Path, typer.Argument(help="World directory.")],
) -> None:
    """Print summary tables of a world directory."""
    for title, frame in describe_world(open_world(world)):
        table = Table(title=title, title_justify="left")
        for col in frame.columns:
            table.add_column(
                str(col), justify="right" if frame[col].dtype.kind in "iuf" else "left"
            )
        for row in frame.itertuples(index=False):
            table.add_row(
                *(
                    f"{v:,.4g}"
                    if isinstance(v, float)
                    else f"{v:,}"
                    if isinstance(v, int)
                    else str(v)
                    for v in row
                )
            )
        console.print(table)


@app.command()
@reports_errors
def presets(
    preset: Annotated[
        Preset | None, typer.Option(help="Show this preset's parameters (default: list presets).")
    ] = None,
) -> None:
    """List the presets, or one preset's parameters with defaults and meaning."""
    from fintwin.world import PRESETS
    from fintwin.world._params_doc import parameter_docs

    if preset is None:
        table = Table(title="presets", title_justify="left")
        for col in ("preset", "customers", "days", "start"):
            table.add_column(col)
        for p in Preset:
            d = PRESETS[p].defaults
            table.add_row(p.value, f"{d['customers']:,}", str(d["days"]), str(d["start"]))
        console.print(table)
        return
    table = Table(title=f"{preset.value} parameters (-p NAME=VALUE)", title_justify="left")
    for col in ("parameter", "type", "default"):
        table.add_column(col, no_wrap=True)
    table.add_column("meaning", overflow="fold")
    for doc in parameter_docs(PRESETS[preset].params_type()):
        table.add_row(doc.name, doc.type, doc.default, doc.description)
    console.print(table)
