"""Import a user's own data into a world directory, so every engine runs on real data.

Formats: ``generic`` (CSV/Parquet with fintwin's column names, or yours renamed with a mapping),
``handbook`` (the Fraud Detection Handbook simulator's raw files), ``paysim`` and ``amlsim``.
See :func:`import_transactions`; the command is ``fintwin data import transactions``.
"""

from fintwin.data.importers.api import ImportFormat, import_transactions

__all__ = ["ImportFormat", "import_transactions"]
