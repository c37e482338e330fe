"""Column mapping (``--map SRC=TARGET``): which column of a user's file plays which role.

Each format declares, per table it reads, its *roles* (fintwin's column names) and the names a
file may use for each role (the format's own names come first: ``TX_AMOUNT`` for the handbook's
``amount``). ``--map SRC=TARGET`` says that the file's column ``SRC`` plays ``TARGET``, given as
the role or as one of the format's names. ``TARGET`` may be qualified with a table
(``customers.home_x``) to address a side file (``--customers``); when that side file is not
given, the column is read from the main file and the side table is derived from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fintwin.data.importers._read import Source
from fintwin.exceptions import DataError, ParameterError

__all__ = ["ColumnMap", "TableRoles", "parse_mapping"]


@dataclass(frozen=True)
class TableRoles:
    """The roles of one table a format reads.

    Parameters
    ----------
    table : str
        Name used to qualify ``--map`` targets (``transactions``, ``customers`` ...).
    roles : mapping of str to tuple of str
        Role -> column names accepted in a file, the format's own name first.
    required : tuple of str
        Roles every file of this table must have.
    """

    table: str
    roles: Mapping[str, tuple[str, ...]]
    required: tuple[str, ...] = ()

    def role_of(self, target: str) -> str | None:
        """The role a ``--map`` target names (a role or one of its accepted names)."""
        if target in self.roles:
            return target
        for role, names in self.roles.items():
            if target in names:
                return role
        return None

    def targets(self) -> list[str]:
        """Every accepted ``--map`` target, for messages."""
        out: list[str] = []
        for role, names in self.roles.items():
            out.extend(dict.fromkeys((names[0], role)))
        return out

    def native(self, role: str) -> str:
        """The format's own name of ``role``."""
        return self.roles[role][0]

    def resolve(self, source: Source, overrides: Mapping[str, str]) -> dict[str, str]:
        """Role -> column of ``source`` for every role the file has.

        Raises
        ------
        DataError
            A ``--map`` source column is not in the file.
        """
        cols = source.columns
        present = set(cols)
        used = set(overrides.values())
        out: dict[str, str] = {}
        for role, names in self.roles.items():
            if role in overrides:
                src = overrides[role]
                if src not in present:
                    raise source.error(
                        f"--map source column {src!r} (for {self.table}.{role}) is not in the "
                        f"file; its columns are {cols}",
                        column=src,
                    )
                out[role] = src
                continue
            for name in names:
                if name in present and name not in used:
                    out[role] = name
                    break
        return out

    def check_required(
        self, source: Source, found: Mapping[str, str], required: Sequence[str], hint: str = ""
    ) -> None:
        """Refuse a file lacking a required role, listing the columns it has."""
        for role in required:
            if role not in found:
                name = self.native(role)
                raise DataError(
                    f"required column {name!r} is missing; the file has columns "
                    f"{source.columns}; name yours with --map YOUR_COLUMN={name}{hint}",
                    file=source.path,
                    column=name,
                )


@dataclass(frozen=True)
class ColumnMap:
    """A parsed ``--map``: table -> {role: source column}."""

    by_table: Mapping[str, Mapping[str, str]]

    def for_table(self, table: str) -> dict[str, str]:
        return dict(self.by_table.get(table, {}))

    def as_json(self) -> dict[str, str]:
        """The mapping as ``SRC -> table.role`` (recorded in the manifest)."""
        return {
            src: f"{table}.{role}"
            for table, roles in sorted(self.by_table.items())
            for role, src in sorted(roles.items())
        }


def parse_mapping(
    mapping: Mapping[str, str] | None, main: TableRoles, sides: Sequence[TableRoles] = ()
) -> ColumnMap:
    """Read ``{SRC: TARGET}`` into roles of ``main`` (bare targets) and ``sides`` (qualified).

    Raises
    ------
    ParameterError
        A target is not a column fintwin knows for that table, is qualified with an unknown
        table, or is the target of two source columns.

    Examples
    --------
    >>> roles = TableRoles("transactions", {"amount": ("TX_AMOUNT",)})
    >>> parse_mapping({"Amt": "TX_AMOUNT"}, roles).for_table("transactions")
    {'amount': 'Amt'}
    """
    tables = {t.table: t for t in (main, *sides)}
    out: dict[str, dict[str, str]] = {}
    for src, target in (mapping or {}).items():
        if not str(src).strip() or not str(target).strip():
            raise ParameterError(f"--map takes SRC=TARGET (got {src!r}={target!r})")
        qualifier, dot, col = target.partition(".")
        if dot and qualifier in tables:
            roles = tables[qualifier]
        elif dot and main.role_of(target) is None:
            raise ParameterError(
                f"--map target {target!r}: {qualifier!r} is not a table of this import; "
                f"qualify with one of {sorted(tables)}"
            )
        else:
            roles, col = main, target
        role = roles.role_of(col)
        if role is None:
            raise ParameterError(
                f"--map target {target!r} is not a column of {roles.table}; "
                f"allowed: {roles.targets()}"
            )
        table_map = out.setdefault(roles.table, {})
        if role in table_map:
            raise ParameterError(
                f"--map gives two columns for {roles.table}.{role}: {table_map[role]!r} and {src!r}"
            )
        table_map[role] = src
    return ColumnMap(out)
