"""All errors fintwin raises, in one hierarchy.

Every error is a :class:`FintwinError`, and also the built-in it refines, so callers that
catch ``ValueError`` or ``OSError`` keep working::

    FintwinError
    ├── ParameterError (ValueError)        a parameter is outside its rule
    ├── DataError (ValueError)             input data is wrong: names file, row, column
    │   └── SchemaError                    a table does not match its declared schema
    ├── PolicyError (ValueError)           a decision policy is invalid: names file, line, rule
    ├── LedgerError (OSError)              the audit ledger cannot be opened, read or written
    │   ├── LedgerUnavailableError (ConnectionError)  its database cannot be reached: retry
    │   └── LedgerFormatError              a store or export file is not in a format fintwin reads
    ├── ServiceConfigError (ValueError)    the service's settings or API keys file are invalid
    │   └── AuthorisationConfigError       a route's declared roles differ from the matrix
    ├── ModelRegistryError (OSError)       a model registry cannot be read or written
    │   ├── ModelNotFoundError (LookupError)   no registered model version has that id
    │   ├── IncompleteModelError           a version lacks its manifest or a file it lists
    │   └── CorruptModelError              a file differs from its hash or cannot be parsed
    ├── StoreError (OSError)               the decision store cannot be read or written
    │   ├── StoreUnavailableError (ConnectionError)  the database cannot be reached now
    │   └── DecisionNotFoundError (LookupError)      no stored decision has that id
    ├── StateUnavailableError (ConnectionError)  shared online state (Redis) failed or timed out
    └── WorldDirectoryError (OSError)      a world directory cannot be used
        ├── IncompleteWorldError           files are missing or the manifest is absent
        ├── CorruptWorldError              a file's content hash differs from the manifest
        └── WorldExistsError               the output directory already exists
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AuthorisationConfigError",
    "CorruptModelError",
    "CorruptWorldError",
    "DataError",
    "DecisionNotFoundError",
    "FintwinError",
    "IncompleteModelError",
    "IncompleteWorldError",
    "LedgerError",
    "LedgerFormatError",
    "LedgerUnavailableError",
    "ModelNotFoundError",
    "ModelRegistryError",
    "ParameterError",
    "PolicyError",
    "SchemaError",
    "ServiceConfigError",
    "StateUnavailableError",
    "StoreError",
    "StoreUnavailableError",
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


class ServiceConfigError(FintwinError, ValueError):
    """The service's settings, token key or API keys file are invalid; names the setting or file.

    Messages never contain a secret's value, only its name and what is wrong with it.
    """


class AuthorisationConfigError(ServiceConfigError):
    """A route of the service declares no roles, or roles other than the authorisation matrix."""


class LedgerError(FintwinError, OSError):
    """The audit ledger cannot be opened, read or written."""


class LedgerUnavailableError(LedgerError, ConnectionError):
    """The ledger's database cannot be reached or refused the write; nothing was appended."""


class LedgerFormatError(LedgerError):
    """A ledger store or an export file is not in a format this version of fintwin reads."""


class ModelRegistryError(FintwinError, OSError):
    """A model registry cannot be read or written."""


class ModelNotFoundError(ModelRegistryError, LookupError):
    """No registered model version has the id asked for."""


class IncompleteModelError(ModelRegistryError):
    """A model version lacks its manifest or a file the manifest lists."""


class CorruptModelError(ModelRegistryError):
    """A model file differs from the hash in its manifest, or cannot be parsed."""


class StoreError(FintwinError, OSError):
    """The decision store cannot be read or written, or its schema is newer than this code."""


class StoreUnavailableError(StoreError, ConnectionError):
    """The database cannot be reached now (refused, timed out, lost): retry, or spool."""


class DecisionNotFoundError(StoreError, LookupError):
    """No stored decision has the id asked for (a review verdict must name a stored decision)."""


class StateUnavailableError(FintwinError, ConnectionError):
    """The shared online-state store failed, timed out or stayed contended.

    Raised within a bounded time (the store's socket timeout), never after a hang, so a
    service can answer in degraded mode instead. A write that timed out may or may not have
    been applied.
    """


class WorldDirectoryError(FintwinError, OSError):
    """A world directory cannot be opened or written."""


class IncompleteWorldError(WorldDirectoryError):
    """A world directory lacks its manifest or a file the manifest lists."""


class CorruptWorldError(WorldDirectoryError):
    """A file in a world directory differs from the hash recorded in its manifest."""


class WorldExistsError(WorldDirectoryError):
    """The output directory exists and overwriting was not asked for."""
