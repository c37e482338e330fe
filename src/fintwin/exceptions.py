"""All errors fintwin raises, in one hierarchy.

Every error is a :class:`FintwinError`, and also the built-in it refines, so callers that
catch ``ValueError`` or ``OSError`` keep working::

    FintwinError
    ├── ParameterError (ValueError)        a parameter is outside its rule
    ├── DataError (ValueError)             input data is wrong: names file, row, column
    │   └── SchemaError                    a table does not match its declared schema
    ├── PolicyError (ValueError)           a decision policy is invalid: names file, line, rule
    ├── ModelRegistryError (OSError)       a model registry cannot be read or written
    │   ├── ModelNotFoundError (LookupError)   no registered model version has that id
    │   ├── IncompleteModelError           a version lacks its manifest or a file it lists
    │   └── CorruptModelError              a file differs from its hash or cannot be parsed
    └── WorldDirectoryError (OSError)      a world directory cannot be used
        ├── IncompleteWorldError           files are missing or the manifest is absent
        ├── CorruptWorldError              a file's content hash differs from the manifest
        └── WorldExistsError               the output directory already exists
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CorruptModelError",
    "CorruptWorldError",
    "DataError",
    "FintwinError",
    "IncompleteModelError",
    "IncompleteWorldError",
    "ModelNotFoundError",
    "ModelRegistryError",
    "ParameterError",
    "PolicyError",
    "SchemaError",
    "WorldDirectoryError",
    "WorldExistsError",
]


class FintwinError(Exception):
    """Root of every error raised by fintwin."""


class ParameterError(FintwinError, ValueError):
    """A parameter breaks its rule; the message states the rule and the value given."""


class DataError(FintwinError, ValueError):
    """Input data is wrong.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    file : str or Path, optional
        The file the data came from.
    row : int, optional
        1-based data row (the header is not counted), when one row is at fault.
    column : str, optional
        The column at fault.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        where = []
        if self.file is not None:
            where.append(f"file {self.file}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class SchemaError(DataError):
    """A table does not match the schema declared for it."""


class PolicyError(FintwinError, ValueError):
    """A decision policy is invalid, or fails on an event.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    file : str or Path, optional
        The policy file (``"<text>"`` for a policy given as text).
    line : int, optional
        1-based line in the file.
    rule : str, optional
        The rule at fault.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        rule: str | None = None,
    ) -> None:
        self.file = None if file is None else str(file)
        self.line = line
        self.rule = rule
        where = []
        if self.file is not None:
            where.append(f"policy {self.file}")
        if line is not None:
            where.append(f"line {line}")
        if rule is not None:
            where.append(f"rule {rule!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class ModelRegistryError(FintwinError, OSError):
    """A model registry cannot be read or written."""


class ModelNotFoundError(ModelRegistryError, LookupError):
    """No registered model version has the id asked for."""


class IncompleteModelError(ModelRegistryError):
    """A model version lacks its manifest or a file the manifest lists."""


class CorruptModelError(ModelRegistryError):
    """A model file differs from the hash in its manifest, or cannot be parsed."""


class WorldDirectoryError(FintwinError, OSError):
    """A world directory cannot be opened or written."""


class IncompleteWorldError(WorldDirectoryError):
    """A world directory lacks its manifest or a file the manifest lists."""


class CorruptWorldError(WorldDirectoryError):
    """A file in a world directory differs from the hash recorded in its manifest."""


class WorldExistsError(WorldDirectoryError):
    """The output directory exists and overwriting was not asked for."""
