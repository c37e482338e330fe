"""Schemas of every table a world directory may hold.

``TABLE_SPECS`` maps a table name to its :class:`TableSpec`; ``docs/world.md`` is rendered from
it by ``python -m fintwin.data.schemas`` and a test keeps the two equal.
"""

from __future__ import annotations

from fintwin.data.schemas import aml, economy, payments, population, truth
from fintwin.data.schemas._spec import (
    CATEGORY,
    MONEY,
    TIMESTAMP,
    Column,
    TableSpec,
    category,
    money_from_minor,
    money_to_minor,
)

# One line per schema module; keep them in the order the data dictionary should read.
_MODULES = (population, payments, economy, truth, aml)

TABLE_SPECS: dict[str, TableSpec] = {spec.name: spec for m in _MODULES for spec in m.TABLES}

__all__ = [
    "CATEGORY",
    "MONEY",
    "TABLE_SPECS",
    "TIMESTAMP",
    "Column",
    "TableSpec",
    "category",
    "money_from_minor",
    "money_to_minor",
]
