"""``import_transactions``: a user's files in, a world directory out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path

import pyarrow as pa

from fintwin._validation import to_enum
from fintwin.data.importers._build import MS_PER_DAY, Imported
from fintwin.data.world_dir import World, WorldWriter, open_world
from fintwin.exceptions import ParameterError, WorldExistsError

__all__ = ["ImportFormat", "import_transactions", "write_imported"]

#: The world directory's manifest names this as the preset of imported data.
IMPORT_PRESET = "import"


class ImportFormat(StrEnum):
    """Layout of the files to import."""

    #: fintwin's own transactions columns (rename yours with ``mapping``)
    GENERIC = "generic"
    #: the Fraud Detection Handbook simulator's raw files (TX_* columns, daily pickles)
    HANDBOOK = "handbook"
    #: PaySim's CSV (mobile-money transfers)
    PAYSIM = "paysim"
    #: AMLSim's output directory (transactions.csv, accounts.csv, alert files)
    AMLSIM = "amlsim"


def _parse_start(start: dt.date | str | None) -> dt.date | None:
    if start is None or isinstance(start, dt.date):
        return start
    try:
        return dt.date.fromisoformat(start)
    except ValueError:
        raise ParameterError(f"start must be a date YYYY-MM-DD (got {start!r})") from None


def import_transactions(
    files: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    format: ImportFormat | str = ImportFormat.GENERIC,
    mapping: Mapping[str, str] | None = None,
    customers: str | Path | None = None,
    terminals: str | Path | None = None,
    labels: str | Path | None = None,
    label_delay_days: float | None = None,
    start: dt.date | str | None = None,
    overwrite: bool = False,
) -> World:
    """Import a user's payments into a new world directory, so every engine runs on them.

    Parameters
    ----------
    files : path or sequence of paths
        CSV (``.csv``, optionally ``.gz``), Parquet or pandas pickle files; a directory stands
        for the readable files in it. Files of one import are concatenated and must have the
        same columns. Pickles run code when loaded: name only pickles you trust.
    out : path
        World directory to create (written atomically: nothing is left there on error).
    format : ImportFormat or str
        ``generic`` (fintwin's column names), ``handbook``, ``paysim`` or ``amlsim``.
    mapping : mapping of str to str, optional
        ``{YOUR_COLUMN: TARGET}``: which of your columns plays which column of the format.
        ``TARGET`` is a fintwin column (``amount``) or the format's own name (``TX_AMOUNT``),
        optionally qualified by table (``customers.home_x``, ``terminals.x``,
        ``labels.is_fraud``) to address a side file, or, when that side file is not given, a
        column of the main file the side table is derived from.
    customers, terminals : path, optional
        Side files of the generic and handbook formats. Without them the tables are derived:
        one row per identifier seen in the payments (locations only if mapped).
    labels : path, optional
        ``transaction_id, is_fraud[, fraud_scenario, label_available_at]``; payments absent
        from it are genuine. The payments must then carry no label of their own.
    label_delay_days : float, optional
        Date undated labels at ``timestamp + label_delay_days``. Required by the generic format
        when the data has no ``label_available_at``; the simulators' formats default to 7
        days (the handbook's delay period).
    start : date or str, optional
        Day PaySim's step 0 and AMLSim's day 0 fall on (default 2024-01-01).
    overwrite : bool
        Replace an existing world at ``out``.

    Returns
    -------
    World
        The new world (preset ``"import"``; its manifest records the format, files, mapping and
        label delay).

    Raises
    ------
    DataError
        A file is unreadable, empty, lacks a required column, or holds a bad value; the error
        names the file, the 1-based data row and the column.
    ParameterError
        A parameter is wrong (unknown format, ``mapping`` target, negative delay ...).
    WorldExistsError
        ``out`` exists and ``overwrite`` is false.
    """
    fmt = to_enum(ImportFormat, "format", format)
    paths = [files] if isinstance(files, str | Path) else list(files)
    start_date = _parse_start(start)
    out = Path(out)
    if out.exists() and not overwrite:
        raise WorldExistsError(f"{out} exists; pass overwrite=True (--overwrite)")
    if fmt in (ImportFormat.GENERIC, ImportFormat.HANDBOOK):
        from fintwin.data.importers.cards import GENERIC, import_cards
        from fintwin.data.importers.handbook import HANDBOOK

        if start_date is not None:
            raise ParameterError(f"start is not used by format {fmt.value!r} (its rows are dated)")
        imported = import_cards(
            GENERIC if fmt is ImportFormat.GENERIC else HANDBOOK,
            paths,
            mapping=mapping,
            customers=customers,
            terminals=terminals,
            labels=labels,
            label_delay_days=label_delay_days,
        )
    else:
        for flag, value in (("customers", customers), ("terminals", terminals), ("labels", labels)):
            if value is not None:
                raise ParameterError(f"--{flag} is not used by format {fmt.value!r}")
        if fmt is ImportFormat.PAYSIM:
            from fintwin.data.importers.paysim import import_paysim as run
        else:
            from fintwin.data.importers.amlsim import import_amlsim as run
        imported = run(paths, mapping=mapping, label_delay_days=label_delay_days, start=start_date)
    return write_imported(imported, out, overwrite=overwrite)


def write_imported(imported: Imported, out: str | Path, *, overwrite: bool = False) -> World:
    """Write an importer's tables as a world directory (atomically) and open it."""
    events = next(n for n in ("transactions", "transfers") if n in imported.tables)
    ms = imported.tables[events].column("timestamp").cast(pa.int64()).to_numpy()
    first, last = (int(ms.min()) // MS_PER_DAY, int(ms.max()) // MS_PER_DAY)
    start = dt.date(1970, 1, 1) + dt.timedelta(days=first)
    with WorldWriter(out, overwrite=overwrite) as writer:
        for name, table in imported.tables.items():
            writer.write_table(name, table)
        writer.commit(
            preset=IMPORT_PRESET,
            seed=None,
            start=start.isoformat(),
            days=last - first + 1,
            parameters=imported.parameters,
        )
    return open_world(out, verify=False)
