"""``fintwin data``: bring your own data into a world directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fintwin.cli._common import console, parse_pairs, reports_errors
from fintwin.data.importers import ImportFormat, import_transactions

app = typer.Typer(help="Import your own data as a world directory.", no_args_is_help=True)
import_app = typer.Typer(help="Import files into a new world directory.", no_args_is_help=True)
app.add_typer(import_app, name="import")


@import_app.command("transactions")
@reports_errors
def transactions(
    files: Annotated[
        list[Path],
        typer.Argument(help="CSV, Parquet or pickle files, or directories of them."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="World directory to create.")],
    format: Annotated[
        ImportFormat, typer.Option("--format", "-f", help="Layout of the files.")
    ] = ImportFormat.GENERIC,
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            "-m",
            help="YOUR_COLUMN=TARGET: your column plays TARGET (repeat); TARGET may be "
            "qualified: customers.home_x, terminals.x, labels.is_fraud.",
        ),
    ] = None,
    customers: Annotated[
        Path | None, typer.Option(help="Customers file (generic, handbook).")
    ] = None,
    terminals: Annotated[
        Path | None, typer.Option(help="Terminals file (generic, handbook).")
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            help="Labels file: transaction_id, is_fraud[, fraud_scenario, label_available_at]."
        ),
    ] = None,
    label_delay: Annotated[
        float | None,
        typer.Option(
            "--label-delay",
            help="Days from a payment until its label is known, for undated labels.",
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Day 0 of PaySim steps / AMLSim day numbers, YYYY-MM-DD.")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing directory.")] = False,
) -> None:
    """Import payments (card transactions, or PaySim/AMLSim transfers) as a world directory.

    Pickles run code when loaded: import only pickles you trust.
    """
    world = import_transactions(
        files,
        out,
        format=format,
        mapping=parse_pairs(map_, "--map"),
        customers=customers,
        terminals=terminals,
        labels=labels,
        label_delay_days=label_delay,
        start=start,
        overwrite=overwrite,
    )
    rows = {n: e.rows for n, e in world.manifest.tables.items() if not e.truth}
    console.print(
        f"wrote {world.path}: " + ", ".join(f"{n} {r:,}" for n, r in sorted(rows.items())),
        soft_wrap=True,
    )
