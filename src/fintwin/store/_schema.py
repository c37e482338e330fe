"""The decision store's tables, per SQL dialect, as numbered migrations.

``fintwin_schema_version`` holds one row per applied migration. Migrating applies the missing
ones in order, each in its own transaction with its version row (both SQLite and PostgreSQL
have transactional DDL, so a migration is applied whole or not at all), under a lock so that
processes starting together do not race. Every statement is also idempotent
(``IF NOT EXISTS`` / ``OR REPLACE``), so rerunning a migration is harmless.

The record tables are append-only: triggers refuse UPDATE and DELETE, so an analyst's override
is a new ``review_verdicts`` row and can never overwrite the decision or an earlier verdict.

``audit_outbox`` is the one mutable table: every record written gets an outbox row in the same
transaction (what the audit ledger should say of it; an SQLite store that chains in its own
transactions, ``chain_in_transaction``, appends to the ledger there instead), and the audit feed
(:mod:`fintwin.store.audit_feed`) moves outbox rows into the ledger and deletes them in one
transaction. A record therefore reaches the ledger exactly once, even across crashes and while
its decision waited in the spool.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["LATEST_VERSION", "MIGRATIONS", "Dialect", "Migration"]


class Dialect(Enum):
    SQLITE = "sqlite"
    POSTGRES = "postgres"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]

    def statements(self, dialect: Dialect) -> tuple[str, ...]:
        return self.sqlite if dialect is Dialect.SQLITE else self.postgres


_ACTIONS = "('approve', 'review', 'step_up', 'decline')"
_TABLES = ("decisions", "review_verdicts", "labels", "model_activations")
_TABLES_V2 = ("policy_changes",)

VERSION_TABLE = {
    Dialect.SQLITE: (
        "CREATE TABLE IF NOT EXISTS fintwin_schema_version ("
        " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    ),
    Dialect.POSTGRES: (
        "CREATE TABLE IF NOT EXISTS fintwin_schema_version ("
        " version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL)"
    ),
}


def _tables(ts: str, real: str, boolean: str, json: str) -> tuple[str, ...]:
    # SQLite keeps timestamps as ISO 8601 text in UTC with a fixed format, so text order is
    # time order; PostgreSQL as timestamptz.
    return (
        f"""CREATE TABLE IF NOT EXISTS decisions (
            decision_id TEXT PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            event_id TEXT NOT NULL,
            received_at {ts} NOT NULL,
            decided_at {ts} NOT NULL,
            action TEXT NOT NULL CHECK (action IN {_ACTIONS}),
            score {real} NOT NULL,
            model_id TEXT,
            policy_hash TEXT NOT NULL,
            degraded {boolean} NOT NULL,
            body {json} NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS decisions_event_id ON decisions (event_id)",
        # the review queue reads only this partial index, oldest first
        "CREATE INDEX IF NOT EXISTS decisions_review_queue ON decisions (received_at, decision_id)"
        " WHERE action = 'review'",
        f"""CREATE TABLE IF NOT EXISTS review_verdicts (
            verdict_id TEXT PRIMARY KEY,
            decision_id TEXT NOT NULL REFERENCES decisions (decision_id),
            verdict TEXT NOT NULL CHECK (verdict IN ('confirm', 'override')),
            action TEXT CHECK (action IN {_ACTIONS}),
            analyst TEXT NOT NULL,
            comment TEXT NOT NULL,
            created_at {ts} NOT NULL,
            CHECK ((verdict = 'override') = (action IS NOT NULL)))""",
        "CREATE INDEX IF NOT EXISTS review_verdicts_decision"
        " ON review_verdicts (decision_id, created_at)",
        f"""CREATE TABLE IF NOT EXISTS labels (
            event_id TEXT NOT NULL,
            source TEXT NOT NULL,
            is_fraud {boolean} NOT NULL,
            available_at {ts} NOT NULL,
            recorded_at {ts} NOT NULL,
            PRIMARY KEY (event_id, source))""",
        f"""CREATE TABLE IF NOT EXISTS model_activations (
            activation_id TEXT PRIMARY KEY,
            model_id TEXT NOT NULL,
            activated_by TEXT NOT NULL,
            note TEXT NOT NULL,
            activated_at {ts} NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS model_activations_time"
        " ON model_activations (activated_at, activation_id)",
    )


def _tables_v2(ts: str, serial: str) -> tuple[str, ...]:
    return (
        f"""CREATE TABLE IF NOT EXISTS policy_changes (
            change_id TEXT PRIMARY KEY,
            model_id TEXT NOT NULL,
            policy_hash TEXT NOT NULL,
            policy_yaml TEXT NOT NULL,
            changed_by TEXT NOT NULL,
            note TEXT NOT NULL,
            changed_at {ts} NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS policy_changes_model"
        " ON policy_changes (model_id, changed_at, change_id)",
        # payload: the ledger record's JSON text, written by the transaction that stored it
        f"""CREATE TABLE IF NOT EXISTS audit_outbox (
            id {serial},
            kind TEXT NOT NULL,
            actor TEXT NOT NULL,
            payload TEXT NOT NULL)""",
    )


def _sqlite_append_only(tables: tuple[str, ...] = _TABLES) -> tuple[str, ...]:
    return tuple(
        f"CREATE TRIGGER IF NOT EXISTS {table}_append_only_{verb.lower()} BEFORE {verb} ON {table}"
        f" BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
        for table in tables
        for verb in ("UPDATE", "DELETE")
    )


def _postgres_append_only(tables: tuple[str, ...] = _TABLES) -> tuple[str, ...]:
    function = """CREATE OR REPLACE FUNCTION fintwin_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
        END $$"""
    triggers = tuple(
        f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
        " FOR EACH ROW EXECUTE FUNCTION fintwin_append_only()"
        for table in tables
    )
    return (function, *triggers)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "decisions, review verdicts, labels, model activations; append-only",
        sqlite=_tables("TEXT", "REAL", "INTEGER", "TEXT") + _sqlite_append_only(),
        postgres=_tables("TIMESTAMPTZ", "DOUBLE PRECISION", "BOOLEAN", "JSONB")
        + _postgres_append_only(),
    ),
    Migration(
        2,
        "policy changes (append-only); audit outbox",
        sqlite=_tables_v2("TEXT", "INTEGER PRIMARY KEY AUTOINCREMENT")
        + _sqlite_append_only(_TABLES_V2),
        postgres=_tables_v2("TIMESTAMPTZ", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
        + _postgres_append_only(_TABLES_V2)[1:],  # the function exists since version 1
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version
