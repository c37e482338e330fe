"""``fintwin audit``: verify the tamper-evident ledger, take checkpoints, export periods.

Exit codes of ``verify`` and ``verify-export``: 0 intact, 1 tampered (the first bad entry is
printed), 2 bad input (no ledger there, unreadable file, bad option).

The ledger is ``--db``, else the environment variable ``FINTWIN_DB_URL``, else the decision
service's embedded database ``./fintwin-data/decisions.db`` (its ledger shares the decision
store's database): a ``postgresql://`` URL or an SQLite file path.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from fintwin.cli._common import console, err_console, reports_errors
from fintwin.exceptions import LedgerFormatError, ParameterError
from fintwin.governance.ledger import (
    Checkpoint,
    Ledger,
    VerifyReport,
    export,
    open_store,
    verify,
    verify_export,
)

app = typer.Typer(
    help="Audit ledger: verify the hash chain, take checkpoints, export periods with proofs.",
    no_args_is_help=True,
)

DEFAULT_DB = "fintwin-data/decisions.db"
DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="FINTWIN_DB_URL",
        help="Ledger: postgresql:// URL or SQLite file (env FINTWIN_DB_URL).",
        show_envvar=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def parse_instant(text: str, option: str) -> dt.datetime:
    """ISO 8601 with a UTC offset (``2026-11-01T00:00:00+01:00``, ``...Z``), or a date (UTC)."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ParameterError(f"{option} must be an ISO 8601 date or time (got {text!r})") from None
    if len(text) == 10:  # a plain date: midnight UTC
        return value.replace(tzinfo=dt.UTC)
    if value.utcoffset() is None:
        raise ParameterError(f"{option} must carry a UTC offset such as Z or +01:00 (got {text!r})")
    return value


def _print_report(report: VerifyReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), sort_keys=True))
        return
    if report.ok:
        console.print(
            f"[green]intact[/]: {report.entries:,} entries and {report.checkpoints:,} "
            f"checkpoints verified in {report.source}; head {report.head}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        err_console.print(
            f"[bold red]TAMPERED[/]: {report.source}: {report.first_problem} "
            f"({report.entries:,} entries before it verified)",
            highlight=False,
            soft_wrap=True,
        )


@app.command("verify")
@reports_errors
def verify_cmd(db: DbOption = DEFAULT_DB, as_json: JsonOption = False) -> None:
    """Walk the whole chain and every checkpoint; report the first entry that is wrong."""
    with open_store(db, create=False) as store:
        report = verify(store)
    _print_report(report, as_json)
    raise typer.Exit(0 if report.ok else 1)


@app.command("checkpoint")
@reports_errors
def checkpoint_cmd(
    db: DbOption = DEFAULT_DB,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the checkpoint JSON here.")
    ] = None,
) -> None:
    """Take a checkpoint at the head now and print its JSON: anchor it elsewhere."""
    with Ledger(open_store(db, create=False), checkpoint_every=None) as ledger:
        cp = ledger.checkpoint()
    if cp is None:
        raise ParameterError(f"the ledger at {db} is empty: nothing to checkpoint")
    text = json.dumps(cp.to_dict(), sort_keys=True)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
    print(text)


@app.command("export")
@reports_errors
def export_cmd(
    start: Annotated[str, typer.Option("--from", help="Period start (ISO 8601; a date is UTC).")],
    end: Annotated[str, typer.Option("--to", help="Period end, excluded.")],
    out: Annotated[Path, typer.Option("--out", help="JSON Lines file to write.")],
    db: DbOption = DEFAULT_DB,
    checkpoint: Annotated[
        int | None,
        typer.Option("--checkpoint", help="Prove against the stored checkpoint of this size."),
    ] = None,
) -> None:
    """Write a period's entries with Merkle inclusion proofs for an auditor."""
    t0, t1 = parse_instant(start, "--from"), parse_instant(end, "--to")
    with open_store(db, create=False) as store:
        summary = export(store, t0, t1, out, checkpoint_size=checkpoint)
    console.print(
        f"wrote {summary.count:,} entries ({summary.first}..{summary.last}) to {summary.path}, "
        f"proved against checkpoint {summary.checkpoint.size} root {summary.checkpoint.root.hex()}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("verify-export")
@reports_errors
def verify_export_cmd(
    file: Annotated[Path, typer.Argument(help="An export written by `fintwin audit export`.")],
    anchor: Annotated[
        Path | None,
        typer.Option("--anchor", help="A checkpoint JSON kept elsewhere to compare against."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check an export on its own, without the database."""
    anchored = None
    if anchor is not None:
        try:
            anchored = Checkpoint.from_dict(json.loads(anchor.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LedgerFormatError(f"{anchor} is not a checkpoint JSON: {exc}") from None
    report = verify_export(file, anchor=anchored)
    _print_report(report, as_json)
    raise typer.Exit(0 if report.ok else 1)
