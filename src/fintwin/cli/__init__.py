"""The ``fintwin`` command: one Typer sub-app per package, thin adapters over the Python API."""

from __future__ import annotations

import typer

from fintwin.cli import audit, credit, data, report, risk, service, stress, world

app = typer.Typer(
    name="fintwin",
    help="A digital twin of a financial institution and its risk engines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(world.app, name="world")
app.add_typer(data.app, name="data")
app.add_typer(report.app, name="report")
app.add_typer(risk.app, name="risk")
app.add_typer(credit.app, name="credit")
app.add_typer(stress.app, name="stress")
app.add_typer(audit.app, name="audit")
app.add_typer(service.app, name="service")
app.command("serve")(service.serve)


def main() -> None:  # pragma: no cover - console entry point
    app()
