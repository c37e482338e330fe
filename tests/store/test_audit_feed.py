"""The audit feed: every record the store writes reaches the ledger exactly once, across a
crash between the write and the feed, with feeds racing, and never half-chained."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fintwin.exceptions import DecisionNotFoundError, ParameterError
from fintwin.governance.ledger import Ledger, verify
from fintwin.store.audit_feed import AuditFeed
from fintwin.store.decisions import (
    DecisionRecord,
    DecisionStore,
    Label,
    ModelActivation,
    PolicyChange,
    ReviewVerdict,
    open_store,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'decisions.db'}"
    return request.getfixturevalue("pg_url")


def _ledger(url: str) -> Ledger:
    return Ledger(url.removeprefix("sqlite:///"), checkpoint_every=4)


def decision(i: int) -> DecisionRecord:
    when = T0 + timedelta(seconds=i)
    return DecisionRecord(
        decision_id=f"d-{i}", idempotency_key=f"k-{i}", event_id=str(i), received_at=when,
        decided_at=when, action="review", score=0.5, model_id="m/1", policy_hash="p",
        degraded=False, body={"decision_id": f"d-{i}", "action": "review"}, actor="scorer:key_1",
    )  # fmt: skip


def _write_every_kind(store: DecisionStore) -> None:
    """Two decisions, a verdict, a label, an activation and a policy change (6 records), each
    written twice or more: one record each is stored."""
    store.record_decisions([decision(1), decision(2), decision(1)])  # a repeat: stored once
    store.record_decision(decision(2))
    store.record_verdict(ReviewVerdict("d-1", "override", "analyst:key_2", "fraud", "decline"))
    store.record_labels(
        [Label("1", True, T0, "chargeback", actor="scorer:key_1")] * 2  # one per source
    )
    store.record_activation(ModelActivation("m/2", "admin:key_3", activation_id="a-1"))
    store.record_activation(ModelActivation("m/2", "admin:key_3", activation_id="a-1"))
    store.record_policy_change(PolicyChange("m/2", "h", "policy: x\n", "admin:key_3"))


def _check_every_kind_chained_once(ledger: Ledger) -> None:
    entries = list(ledger.entries())
    assert [(e.kind.value, e.actor) for e in entries] == [
        ("decision", "scorer:key_1"),
        ("decision", "scorer:key_1"),
        ("review", "analyst:key_2"),
        ("label", "scorer:key_1"),
        ("model_activation", "admin:key_3"),
        ("policy_change", "admin:key_3"),
    ]
    assert [e.payload["idempotency_key"] for e in entries[:2]] == ["k-1", "k-2"]
    assert entries[2].payload["action"] == "decline"
    report = verify(ledger.store)
    assert report.ok and report.entries == 6 and report.checkpoints == 1


def test_every_kind_of_record_is_chained_once_with_its_actor(db_url: str) -> None:
    with open_store(db_url) as store, _ledger(db_url) as ledger:
        _write_every_kind(store)
        assert store.audit_backlog() == 6
        feed = AuditFeed(store, ledger, batch=4)  # two rounds
        assert feed.catch_up() == 6
        assert store.audit_backlog() == 0 and feed.catch_up() == 0
        _check_every_kind_chained_once(ledger)


def test_records_written_before_a_crash_are_chained_by_the_next_feed(db_url: str) -> None:
    # the process "dies" after the store committed and before its feed ran
    with open_store(db_url) as store:
        store.record_decisions([decision(i) for i in range(5)])
    with open_store(db_url) as store, _ledger(db_url) as ledger:
        assert AuditFeed(store, ledger).catch_up() == 5
        assert [e.payload["decision_id"] for e in ledger.entries()] == [f"d-{i}" for i in range(5)]


def test_racing_feeds_chain_each_record_once(db_url: str) -> None:
    with open_store(db_url) as store:
        ledgers = [_ledger(db_url) for _ in range(3)]
        feeds = [AuditFeed(store, ledger, batch=7) for ledger in ledgers]
        writer_done = threading.Event()

        def write() -> None:
            for i in range(0, 200, 10):
                store.record_decisions([decision(j) for j in range(i, i + 10)])
            writer_done.set()

        def feed_until_done(feed: AuditFeed) -> None:
            while not writer_done.is_set() or store.audit_backlog():
                feed.run_once()

        threads = [threading.Thread(target=write)]
        threads += [threading.Thread(target=feed_until_done, args=(f,)) for f in feeds]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ids = [e.payload["decision_id"] for e in ledgers[0].entries()]
        assert sorted(ids) == sorted(f"d-{i}" for i in range(200))  # each exactly once
        assert sum(f.chained for f in feeds) == 200
        assert verify(ledgers[0].store).ok
        for ledger in ledgers:
            ledger.close()


def test_a_record_the_ledger_refuses_stays_in_the_outbox(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    with open_store(url) as store, _ledger(url) as ledger:
        store.record_decision(decision(1))
        # a row no fintwin writes: an unknown kind (the ledger refuses it)
        with ledger.store.writer() as w:
            w.conn.execute(
                "INSERT INTO audit_outbox (kind, actor, payload) VALUES ('bogus', 'x', '{}')"
            )
        with pytest.raises(ParameterError, match="kind"):
            AuditFeed(store, ledger).run_once()
        # nothing was chained, nothing removed: the good record waits with the bad one
        assert ledger.head() is None and store.audit_backlog() == 2


def test_an_sqlite_store_chains_its_records_in_their_own_transactions(tmp_path: Path) -> None:
    """With chain_in_transaction every write is in the ledger when it returns and the outbox
    stays empty; a write that fails leaves neither its record nor an entry."""
    path = tmp_path / "decisions.db"
    with open_store(f"sqlite:///{path}") as store, Ledger(path, checkpoint_every=4) as ledger:
        assert store.chain_in_transaction(ledger)
        _write_every_kind(store)
        with pytest.raises(DecisionNotFoundError):
            store.record_verdict(ReviewVerdict("d-9", "confirm", "analyst:key_2"))
        assert store.audit_backlog() == 0
        _check_every_kind_chained_once(ledger)


def test_chaining_in_transaction_needs_the_ledger_in_the_stores_file(
    tmp_path: Path, pg_url: str
) -> None:
    with (
        open_store(f"sqlite:///{tmp_path / 'a.db'}") as store,
        Ledger(tmp_path / "b.db") as elsewhere,
        pytest.raises(ParameterError, match=r"a\.db"),
    ):
        store.chain_in_transaction(elsewhere)
    with open_store(pg_url) as store, Ledger(pg_url) as ledger:
        assert not store.chain_in_transaction(ledger)  # PostgreSQL keeps the outbox
        store.record_decision(decision(1))
        assert store.audit_backlog() == 1
