"""Small DuckDB helpers shared by the report sections."""

from __future__ import annotations

import duckdb

__all__ = ["columns_of", "first_present", "quote"]


def quote(name: str) -> str:
    """``name`` as a quoted SQL identifier (column names come from user data on imports)."""
    return '"' + name.replace('"', '""') + '"'


def columns_of(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str] | None:
    """Column name -> DuckDB type name of view or table ``table``, or None when it is absent.

    Works for the views of :meth:`fintwin.data.World.connect` and for DataFrames registered with
    ``con.register`` alike, which is what lets sections be tested without a world directory.
    """
    try:
        rows = con.sql(f"DESCRIBE {quote(table)}").fetchall()
    except duckdb.CatalogException:
        return None
    return {str(r[0]): str(r[1]) for r in rows}


def first_present(columns: dict[str, str], candidates: tuple[str, ...]) -> str | None:
    """The first of ``candidates`` that is a column, or None."""
    return next((c for c in candidates if c in columns), None)
