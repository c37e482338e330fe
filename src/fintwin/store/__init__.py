"""Persistence backends behind small interfaces: the embedded default and PostgreSQL.

- :mod:`fintwin.store.decisions`: the service's durable decision log, review verdicts, labels
  and model activations (:func:`~fintwin.store.decisions.open_store`: SQLite with write-ahead
  logging and group commit by default, PostgreSQL when ``FINTWIN_DB_URL`` says so, a local
  spool while the database is down).

The shared online feature state in Redis is :class:`fintwin.features.RedisState`; the audit
ledger's stores are in :mod:`fintwin.governance.ledger`.
"""
