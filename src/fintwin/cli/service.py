"""``fintwin service``: manage the decision service's API keys.

``fintwin service keys create --role analyst`` prints a new key once, on stdout, and stores only
its hash in the keys file (``--file``, else ``FINTWIN_API_KEYS_FILE``, else
``./fintwin-keys.json``). ``keys list`` shows ids, roles and dates, never hashes; ``keys revoke
ID`` marks a key revoked (a running service stops accepting it within seconds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fintwin.cli._common import console, err_console, reports_errors
from fintwin.exceptions import ServiceConfigError
from fintwin.service.apikeys import ApiKeyFile, Role

app = typer.Typer(help="The decision service: API keys.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

KeysFileOption = Annotated[
    Path,
    typer.Option(
        "--file",
        envvar="FINTWIN_API_KEYS_FILE",
        help="API keys file (env FINTWIN_API_KEYS_FILE; default ./fintwin-keys.json).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _keys_file(path: Path) -> ApiKeyFile:
    if not path.parent.is_dir():
        raise ServiceConfigError(f"the folder of the API keys file {path} does not exist")
    return ApiKeyFile(path)


@keys_app.command("create")
@reports_errors
def create(
    role: Annotated[
        list[Role],
        typer.Option("--role", help="Role of the key; repeat for several.", show_choices=True),
    ],
    name: Annotated[
        str | None, typer.Option("--name", help="Who or what holds the key (shown in lists).")
    ] = None,
    file: KeysFileOption = Path("fintwin-keys.json"),
    as_json: JsonOption = False,
) -> None:
    """Create a key with the given roles; print it ONCE (only its hash is stored)."""
    try:
        new = _keys_file(file).create(role, name=name)
    except OSError as exc:
        raise ServiceConfigError(f"API keys file {file} cannot be written: {exc}") from None
    rec = new.record
    if as_json:
        out = {"id": rec.id, "roles": sorted(r.value for r in rec.roles), "key": new.key}
        typer.echo(json.dumps(out))
    else:
        typer.echo(new.key)
    err_console.print(
        f"created key {rec.id} ({', '.join(sorted(r.value for r in rec.roles))}) in {file}; "
        "it is shown only this once: store it in the caller's secret store now",
        highlight=False,
        soft_wrap=True,
    )


@keys_app.command("list")
@reports_errors
def list_keys(
    file: KeysFileOption = Path("fintwin-keys.json"), as_json: JsonOption = False
) -> None:
    """List keys: id, roles, name, created, revoked (never the hashes)."""
    records = ApiKeyFile(file).read()
    rows = [
        {
            "id": r.id,
            "roles": sorted(x.value for x in r.roles),
            "name": r.name,
            "created_at": r.created_at,
            "revoked_at": r.revoked_at,
        }
        for r in records
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("id", "roles", "name", "created", "revoked")
    for row in rows:
        table.add_row(
            row["id"],
            ", ".join(row["roles"]),
            row["name"] or "",
            row["created_at"],
            row["revoked_at"] or "",
        )
    console.print(table)


@keys_app.command("revoke")
@reports_errors
def revoke(
    key_id: Annotated[str, typer.Argument(help="Id of the key (the hex part after fwk_).")],
    file: KeysFileOption = Path("fintwin-keys.json"),
) -> None:
    """Revoke a key; it stays in the file for the record."""
    rec = ApiKeyFile(file).revoke(key_id)
    err_console.print(f"key {rec.id} revoked at {rec.revoked_at}", highlight=False, soft_wrap=True)


@reports_errors
def serve(
    host: Annotated[
        str | None, typer.Option(help="Listen address (default FINTWIN_HOST, else 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Listen port (default FINTWIN_PORT, else 8000).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            envvar="FINTWIN_MODEL",
            help="Model id to serve (env FINTWIN_MODEL; default: the last activated model).",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="FINTWIN_DATA_DIR",
            help="Embedded database, spool and audit ledger (env FINTWIN_DATA_DIR; default "
            "./fintwin-data).",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the decision service (FastAPI under uvicorn); settings from FINTWIN_* variables."""
    import os

    import uvicorn

    from fintwin.service.settings import get_settings

    # the app is built from the environment (uvicorn's factory, in each worker): pass these on
    if model is not None:
        os.environ["FINTWIN_MODEL"] = model
    if data_dir is not None:
        os.environ["FINTWIN_DATA_DIR"] = str(data_dir)
    get_settings.cache_clear()
    settings = get_settings()
    settings.tokeniser()  # a missing key is "error: ..." here, not a crashed worker
    uvicorn.run(
        "fintwin.service.app:app_from_env",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        # client addresses are not used (keys identify callers): skip X-Forwarded-* parsing
        proxy_headers=False,
    )
