"""Card payments (the ``transactions`` table) from a user's files, with the ``customers`` and
``terminals`` tables read from side files or derived from the payments.

The :data:`GENERIC` format reads fintwin's own column names (rename yours with ``--map``); the
handbook format (:mod:`fintwin.data.importers.handbook`) is this same pipeline with the book's
column names and scenario codes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fintwin._validation import check_non_negative
from fintwin.data.importers import _columns as cols
from fintwin.data.importers._build import (
    Gathered,
    Imported,
    check_same_roles,
    parse_column,
    per_key,
)
from fintwin.data.importers._labels import (
    LABEL_ROLES,
    ScenarioParser,
    date_labels,
    labels_from_file,
    labels_from_main,
)
from fintwin.data.importers._read import (
    Source,
    expand_paths,
    locate,
    read_source,
    read_sources,
)
from fintwin.data.importers.mapping import ColumnMap, TableRoles, parse_mapping
from fintwin.data.schemas import TIMESTAMP, TableSpec, category, money_from_minor
from fintwin.data.schemas.payments import TRANSACTIONS
from fintwin.data.schemas.population import CUSTOMERS, TERMINALS
from fintwin.data.schemas.vocab import FraudScenario, labels
from fintwin.exceptions import DataError, ParameterError

__all__ = ["GENERIC", "CardFormat", "import_cards"]


def _roles(spec: TableSpec, aliases: Mapping[str, str], required: tuple[str, ...]) -> TableRoles:
    return TableRoles(
        spec.name,
        {
            c.name: (c.name, aliases[c.name]) if c.name in aliases else (c.name,)
            for c in spec.columns
        },
        required,
    )


# The book's side tables (customer and terminal profiles) are accepted under their own names.
CUSTOMER_ROLES = _roles(
    CUSTOMERS,
    {"customer_id": "CUSTOMER_ID", "home_x": "x_customer_id", "home_y": "y_customer_id"},
    ("customer_id",),
)
TERMINAL_ROLES = _roles(
    TERMINALS,
    {"terminal_id": "TERMINAL_ID", "x": "x_terminal_id", "y": "y_terminal_id"},
    ("terminal_id",),
)
SIDE_ROLES = (CUSTOMER_ROLES, TERMINAL_ROLES, LABEL_ROLES)
_SPECS = {"customers": CUSTOMERS, "terminals": TERMINALS}
_ID_ROLE = {"customers": "customer_id", "terminals": "terminal_id"}
# Optional transaction columns that hold identifiers (text ones are tokenised).
_ID_COLUMNS = ("card_id", "device_id")
_PASSTHROUGH = ("channel", "ip_prefix", "location_x", "location_y", "country")
_SCENARIOS = labels(FraudScenario)


def parse_scenario_names(src: Source, column: str, arr: pa.Array | None = None) -> np.ndarray:
    """Fraud scenarios given by name (FraudScenario values; empty for genuine rows)."""
    return cols.parse_codes(src, column, FraudScenario, arr, nullable=True)


@dataclass(frozen=True)
class CardFormat:
    """How one format's files map onto the transactions table.

    Attributes
    ----------
    name : str
        The format's name (recorded in the manifest).
    roles : TableRoles
        The transactions columns and the names the format gives them.
    parse_scenario : callable
        ``parse_scenario(source, column, array)`` -> codes into FraudScenario, -1 for none.
    default_label_delay_days : float or None
        Label delay used when the data has no label dates and none is given (None: required).
    """

    name: str
    roles: TableRoles
    parse_scenario: ScenarioParser
    default_label_delay_days: float | None = None


GENERIC = CardFormat(
    "generic",
    TableRoles(
        "transactions",
        {c.name: (c.name,) for c in TRANSACTIONS.columns},
        ("timestamp", "customer_id", "terminal_id", "amount"),
    ),
    parse_scenario_names,
)


# ---- side tables -------------------------------------------------------------------------------
@dataclass
class _Side:
    ids: pa.Array  # raw identifiers in file order
    columns: dict[str, pa.Array]  # other roles, parsed to their spec types
    merchant_ids: pa.Array | None
    ignored: list[str]


def _read_side(table: str, src: Source, over: Mapping[str, str]) -> _Side:
    roles = CUSTOMER_ROLES if table == "customers" else TERMINAL_ROLES
    spec = _SPECS[table]
    found = roles.resolve(src, over)
    roles.check_required(src, found, roles.required)
    id_role = _ID_ROLE[table]
    ids = cols.parse_ids(src, found[id_role])
    dup = cols.first_duplicate(cols.id_keys(ids))
    if dup is not None:
        raise src.error(
            f"{id_role} {ids[dup[1]].as_py()!r} appears twice (also row {dup[0] + 1})",
            index=dup[1],
            column=found[id_role],
        )
    merchant = None
    columns: dict[str, pa.Array] = {}
    for role, col in found.items():
        if role == id_role:
            continue
        if role == "merchant_id":
            merchant = cols.parse_ids(src, col, nullable=True)
        else:
            columns[role] = parse_column(src, col, spec.column(role))
    used = set(found.values())
    return _Side(ids, columns, merchant, [c for c in src.columns if c not in used])


def _check_known(g: Gathered, role: str, tx_ids: pa.Array, side: _Side, path: Path) -> None:
    a, b = cols.align_ids(tx_ids, side.ids)
    unknown = ~pc.is_in(a, value_set=b).to_numpy(zero_copy_only=False)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise g.error(role, i, f"{role} {tx_ids[i].as_py()!r} is not in {path}")


def _side_table(
    table: str,
    keys_tx: np.ndarray,
    side: _Side | None,
    side_keys: np.ndarray | None,
    derived: dict[str, pa.Array],
    on_conflict: Callable[[str, int, object, object], DataError],
) -> pa.Table:
    id_role = _ID_ROLE[table]
    if side is not None:
        data: dict[str, pa.Array | np.ndarray] = {id_role: side_keys}
        data.update(side.columns)
        if side.merchant_ids is not None:
            data["merchant_id"] = cols.encode_ids([side.merchant_ids])[0]
        return pa.table(data)
    uniq = np.unique(keys_tx)
    data = {id_role: uniq}
    for role, values in derived.items():
        _, firsts = per_key(keys_tx, values, lambda i, a, b, r=role: on_conflict(r, i, a, b))
        data[role] = firsts
    return pa.table(data)


# ---- the pipeline ------------------------------------------------------------------------------
def _read_side_file(flag: str, path: str | Path) -> Source:
    path = Path(path)
    if not path.is_file():
        what = "a directory" if path.is_dir() else "not found"
        raise DataError(f"--{flag} takes one file ({what})", file=path)
    return read_source(path)


def import_cards(
    fmt: CardFormat,
    files: Sequence[str | Path],
    *,
    mapping: Mapping[str, str] | None = None,
    customers: str | Path | None = None,
    terminals: str | Path | None = None,
    labels: str | Path | None = None,
    label_delay_days: float | None = None,
) -> Imported:
    """Read card payments in format ``fmt``; see :func:`fintwin.data.import_transactions`."""
    cmap: ColumnMap = parse_mapping(mapping, fmt.roles, SIDE_ROLES)
    if label_delay_days is not None:
        check_non_negative("label_delay_days", label_delay_days)
    delay = fmt.default_label_delay_days if label_delay_days is None else label_delay_days
    if labels is None and cmap.for_table("labels"):
        raise ParameterError("--map labels.COLUMN needs a labels file (--labels FILE)")
    sources = read_sources(expand_paths(files))
    given = {"customers": customers, "terminals": terminals, "labels": labels}
    side_src = {k: _read_side_file(k, v) for k, v in given.items() if v is not None}

    derive = {t: cmap.for_table(t) for t in ("customers", "terminals") if t not in side_src}
    for table, over in derive.items():
        if _ID_ROLE[table] in over:
            raise ParameterError(
                f"--map {over[_ID_ROLE[table]]}={table}.{_ID_ROLE[table]} needs --{table} FILE; "
                f"without it the {table} table is derived from the transactions' "
                f"{_ID_ROLE[table]}"
            )
    required = list(fmt.roles.required)
    if "labels" not in side_src:
        required.append("is_fraud")
    hint = "" if "labels" in side_src else " (labels may instead come from --labels FILE)"
    found_all: list[dict[str, str]] = []
    for src in sources:
        found = fmt.roles.resolve(src, cmap.for_table(fmt.roles.table))
        fmt.roles.check_required(src, found, required, hint)
        for table, over in derive.items():
            for role, col in over.items():
                if col not in src.columns:
                    raise src.error(
                        f"--map source column {col!r} (for {table}.{role}) is not in the file; "
                        f"its columns are {src.columns}",
                        column=col,
                    )
                found[f"{table}.{role}"] = col
        found_all.append(found)
    check_same_roles("transactions", sources, found_all, lambda r: r)
    g = Gathered(sources, found_all)

    ts = g.values("timestamp", cols.parse_timestamp)
    amount = g.values("amount", cols.parse_money)
    tx_ids = g.arrays("transaction_id", cols.parse_ids) if g.has("transaction_id") else None
    if tx_ids is not None:
        dup = cols.first_duplicate(cols.id_keys(tx_ids))
        if dup is not None:
            first_src, first_row = locate(g.sources, g.offsets, dup[0])
            raise g.error(
                "transaction_id",
                dup[1],
                f"duplicate transaction_id {tx_ids[dup[1]].as_py()!r} "
                f"(first at {first_src.path} row {first_row + 1})",
            )
    cust_ids = g.arrays("customer_id", cols.parse_ids)
    term_ids = g.arrays("terminal_id", cols.parse_ids)

    if "labels" in side_src:
        lab = labels_from_file(
            g, fmt.parse_scenario, tx_ids, side_src["labels"], cmap.for_table("labels")
        )
    else:
        lab = labels_from_main(g, fmt.parse_scenario)
    flag = "--label-delay DAYS (label_delay_days=DAYS)"
    available = date_labels(g, lab, ts, delay, flag)

    sides: dict[str, _Side] = {}
    for table, raw in (("customers", cust_ids), ("terminals", term_ids)):
        if table in side_src:
            sides[table] = _read_side(table, side_src[table], cmap.for_table(table))
            _check_known(g, _ID_ROLE[table], raw, sides[table], side_src[table].path)

    # Time order: stable, so rows at the same instant keep their file order.
    order = np.argsort(ts, kind="stable")
    take = pa.array(order)
    n = order.size
    if tx_ids is None:
        tx_keys = pa.array(np.arange(n, dtype=np.int64))
    else:
        tx_keys = cols.encode_ids([tx_ids.take(take)])[0]

    keys: dict[str, np.ndarray] = {}
    side_keys: dict[str, np.ndarray | None] = {}
    for table, raw in (("customers", cust_ids), ("terminals", term_ids)):
        side = sides.get(table)
        parts = [raw.take(take)] + ([side.ids] if side is not None else [])
        encoded = cols.encode_ids(parts)
        keys[table] = encoded[0].to_numpy(zero_copy_only=False)
        side_keys[table] = encoded[1].to_numpy(zero_copy_only=False) if side else None

    data: dict[str, pa.Array | np.ndarray] = {
        "transaction_id": tx_keys,
        "timestamp": pa.array(ts[order], TIMESTAMP),
        "customer_id": keys["customers"],
        "terminal_id": keys["terminals"],
        "amount": money_from_minor(amount[order]),
        "is_fraud": lab.is_fraud[order],
        "fraud_scenario": category(lab.scenario[order], _SCENARIOS),
        "label_available_at": pa.array(available[order], TIMESTAMP),
    }
    for role in _ID_COLUMNS:
        if g.has(role):
            raw = g.arrays(role, lambda s, c: cols.parse_ids(s, c, nullable=True))
            data[role] = cols.encode_ids([raw.take(take)])[0]
    for role in _PASSTHROUGH:
        if g.has(role):
            data[role] = g.spec_column(role, TRANSACTIONS.column(role)).take(take)

    def conflict(table: str, role: str):
        def build(i: int, first: object, value: object) -> DataError:
            return g.error(
                f"{table}.{role}",
                int(order[i]),
                f"{table}.{role} of {_ID_ROLE[table]} differs between rows ({first!r} earlier, "
                f"{value!r} here); it must be constant per {_ID_ROLE[table]}",
            )

        return build

    tables = {"transactions": pa.table(data)}
    for table in ("customers", "terminals"):
        spec = _SPECS[table]
        derived: dict[str, pa.Array] = {}
        for role in derive.get(table, {}):
            if role == "merchant_id":
                raw = g.arrays(f"{table}.{role}", lambda s, c: cols.parse_ids(s, c, nullable=True))
                derived[role] = cols.encode_ids([raw.take(take)])[0]
            else:
                derived[role] = g.spec_column(f"{table}.{role}", spec.column(role)).take(take)
        tables[table] = _side_table(
            table,
            keys[table],
            sides.get(table),
            side_keys[table],
            derived,
            lambda r, i, a, b, t=table: conflict(t, r)(i, a, b),
        )

    used = {c for f in found_all for c in f.values()}
    params = {
        "format": fmt.name,
        "files": [s.path.name for s in sources],
        "mapping": cmap.as_json(),
        "label_delay_days": delay,
        "side_files": {k: v.path.name for k, v in side_src.items()},
        "derived_tables": sorted(t for t in ("customers", "terminals") if t not in sides),
        "ignored_columns": sorted({c for s in sources for c in s.columns if c not in used}),
    }
    return Imported(tables, params)
