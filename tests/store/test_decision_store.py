"""The decision store against real SQLite files, a real PostgreSQL server and real processes."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from _postgres_server import start_postgres
from fintwin.exceptions import (
    DecisionNotFoundError,
    ParameterError,
    StoreError,
    StoreUnavailableError,
)
from fintwin.risk.policy import Action
from fintwin.store._schema import LATEST_VERSION, MIGRATIONS
from fintwin.store._spool import Spool, encode, read_segment
from fintwin.store.decisions import (
    DecisionRecord,
    Label,
    ModelActivation,
    PostgresStore,
    Recorded,
    ReviewVerdict,
    SpoolingStore,
    SQLiteStore,
    Verdict,
    open_store,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HERE = Path(__file__).resolve().parent


def make_record(
    key: str, decision_id: str | None = None, *, action: str = "review", seconds: float = 0
) -> DecisionRecord:
    when = T0 + timedelta(seconds=seconds)
    decision_id = decision_id or f"d-{key}"
    return DecisionRecord(
        decision_id=decision_id,
        idempotency_key=key,
        event_id=f"tx-{key}",
        received_at=when,
        decided_at=when + timedelta(milliseconds=3),
        action=action,
        score=0.42,
        model_id="fraud-lgbm@3",
        policy_hash="f00d",
        degraded=False,
        body={"decision_id": decision_id, "action": action, "features": {"amount": 12.5}},
    )


def closed_port_url() -> str:
    """A PostgreSQL URL where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://fintwin@127.0.0.1:{port}/postgres"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'decisions.db'}"
    return request.getfixturevalue("pg_url")


# --- idempotency -------------------------------------------------------------------------------


def test_a_retried_key_returns_the_original_decision(db_url: str) -> None:
    with open_store(db_url) as store:
        first = store.record_decision(make_record("k1"))
        retry = store.record_decision(make_record("k1", "another-id", action="decline"))
        assert first.created and not first.spooled
        assert not retry.created
        assert retry.record == first.record
        assert retry.record.action is Action.REVIEW
        assert store.count_decisions() == 1


def test_a_stored_decision_reads_back_equal(db_url: str) -> None:
    record = make_record("k1")
    with open_store(db_url) as store:
        store.record_decision(record)
        assert store.get_decision("d-k1") == record
        assert store.find_decision("k1") == record
        assert store.get_decision("nope") is None
        stored = store.get_decision("d-k1")
        assert stored.received_at.tzinfo is not None
        assert stored.received_at.utcoffset() == timedelta(0)


def test_eight_threads_racing_on_the_same_keys_store_one_row_each(db_url: str) -> None:
    keys = [f"k{i}" for i in range(60)]
    barrier = threading.Barrier(8)
    results: dict[int, list] = {}

    def writer(thread: int) -> None:
        barrier.wait()
        results[thread] = [store.record_decision(make_record(k, f"t{thread}-{k}")) for k in keys]

    with open_store(db_url) as store:
        threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert store.count_decisions() == len(keys)
        for i, key in enumerate(keys):
            outcomes = [results[t][i] for t in range(8)]
            winner = store.find_decision(key).decision_id
            assert {o.record.decision_id for o in outcomes} == {winner}
            assert sum(o.created for o in outcomes) == 1


_RACER = """
import json, sys
sys.path[:0] = [{tests!r}, {tests_root!r}]
from test_decision_store import make_record
from fintwin.store.decisions import open_store
url, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = open_store(url)
print("ready", flush=True)
sys.stdin.readline()
out = {{}}
for i in range(n):
    r = store.record_decision(make_record(f"k{{i}}", f"{{tag}}-{{i}}"))
    out[f"k{{i}}"] = [r.record.decision_id, r.created]
store.close()
print(json.dumps(out), flush=True)
"""


def test_four_processes_racing_on_the_same_keys_store_one_row_each(db_url: str) -> None:
    n = 150
    script = _RACER.format(tests=str(HERE), tests_root=str(HERE.parent))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, db_url, f"p{p}", str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for p in range(4)
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:  # release them together
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    with open_store(db_url) as store:
        assert store.count_decisions() == n
        for i in range(n):
            key = f"k{i}"
            winner = store.find_decision(key).decision_id
            assert {out[key][0] for out in outputs} == {winner}
            assert sum(out[key][1] for out in outputs) == 1


def test_a_batch_is_recorded_in_order_with_duplicates_resolved(db_url: str) -> None:
    with open_store(db_url) as store:
        store.record_decision(make_record("old"))
        batch = [
            make_record("a"),
            make_record("old", "new-id"),
            make_record("a", "a-again"),
            make_record("b"),
            make_record("b"),  # the same request twice in one batch
        ]
        results = store.record_decisions(batch)
        assert [r.created for r in results] == [True, False, False, True, False]
        assert [r.record.decision_id for r in results] == ["d-a", "d-old", "d-a", "d-b", "d-b"]
        assert store.count_decisions() == 3


# --- reviews, labels, activations --------------------------------------------------------------


def test_the_review_queue_pages_oldest_first_and_drops_reviewed_decisions(db_url: str) -> None:
    with open_store(db_url) as store:
        # written newest first: the queue must sort by received_at, not by insertion
        for i in reversed(range(7)):
            store.record_decision(make_record(f"r{i}", seconds=i))
        store.record_decision(make_record("approved", action="approve", seconds=-5))
        store.record_verdict(ReviewVerdict("d-r2", Verdict.CONFIRM, analyst="ana"))
        seen = []
        page = store.review_queue(limit=3)
        while True:
            seen += [d.decision_id for d in page.items]
            if page.next_cursor is None:
                break
            page = store.review_queue(limit=3, cursor=page.next_cursor)
        assert seen == ["d-r0", "d-r1", "d-r3", "d-r4", "d-r5", "d-r6"]
        with pytest.raises(ParameterError, match="cursor"):
            store.review_queue(cursor="garbage")


def test_an_override_is_appended_and_never_overwrites(db_url: str) -> None:
    with open_store(db_url) as store:
        original = store.record_decision(make_record("k1")).record
        confirm = ReviewVerdict("d-k1", Verdict.CONFIRM, "ana", "looks fine", created_at=T0)
        override = ReviewVerdict(
            "d-k1",
            Verdict.OVERRIDE,
            "bob",
            "card reported stolen",
            action=Action.DECLINE,
            created_at=T0 + timedelta(minutes=5),
        )
        assert store.record_verdict(confirm).created
        assert store.record_verdict(override).created
        again = store.record_verdict(
            ReviewVerdict(
                "d-k1", Verdict.CONFIRM, "eve", created_at=T0, verdict_id=confirm.verdict_id
            )
        )
        assert not again.created and again.record == confirm
        assert store.verdicts("d-k1") == [confirm, override]
        assert store.get_decision("d-k1") == original
        with pytest.raises(DecisionNotFoundError, match="nope"):
            store.record_verdict(ReviewVerdict("nope", Verdict.CONFIRM, "ana"))
    with pytest.raises(ParameterError, match="override must name"):
        ReviewVerdict("d-k1", Verdict.OVERRIDE, "ana")


def _raw_execute(db_url: str, sql: str) -> None:
    if db_url.startswith("sqlite:///"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        try:
            conn.execute(sql)
            conn.commit()
        finally:
            conn.close()
    else:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE decisions SET action = 'approve'",
        "DELETE FROM decisions",
        "UPDATE review_verdicts SET verdict = 'override', action = 'approve'",
        "DELETE FROM review_verdicts",
        "UPDATE labels SET is_fraud = false",
        "DELETE FROM model_activations",
    ],
)
def test_the_database_refuses_to_change_stored_rows(db_url: str, sql: str) -> None:
    with open_store(db_url) as store:
        store.record_decision(make_record("k1"))
        store.record_verdict(ReviewVerdict("d-k1", Verdict.CONFIRM, "ana"))
        store.record_label(Label("tx-k1", True, T0, "chargeback"))
        store.record_activation(ModelActivation("fraud-lgbm@3", "admin"))
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.RaiseException), match="append"):
        _raw_execute(db_url, sql)
    with open_store(db_url) as store:
        assert store.get_decision("d-k1").action is Action.REVIEW
        assert [v.verdict for v in store.verdicts("d-k1")] == [Verdict.CONFIRM]


def test_labels_are_idempotent_per_event_and_source(db_url: str) -> None:
    with open_store(db_url) as store:
        chargeback = Label("tx-1", True, T0 + timedelta(days=20), "chargeback", recorded_at=T0)
        assert store.record_label(chargeback).created
        late = store.record_label(Label("tx-1", False, T0, "chargeback"))
        assert not late.created and late.record == chargeback
        assert store.record_label(Label("tx-1", False, T0, "review")).created
        assert [(x.source, x.is_fraud) for x in store.labels("tx-1")] == [
            ("chargeback", True),
            ("review", False),
        ]


def test_the_latest_activation_is_the_active_model(db_url: str) -> None:
    with open_store(db_url) as store:
        assert store.active_model() is None
        first = ModelActivation("m@1", "admin", activated_at=T0)
        second = ModelActivation("m@2", "admin", "better recall", T0 + timedelta(hours=1))
        store.record_activation(first)
        store.record_activation(second)
        assert not store.record_activation(first).created
        assert store.active_model() == second
        assert store.activations() == [second, first]


# --- schema --------------------------------------------------------------------------------------


def test_migrations_are_idempotent(db_url: str) -> None:
    with open_store(db_url) as store:
        assert store.schema_version() == LATEST_VERSION
        assert store.migrate() == LATEST_VERSION
        assert store.migrate() == LATEST_VERSION
        store.record_decision(make_record("k1"))
    with open_store(db_url) as store:  # reopening migrates again: nothing changes
        assert store.migrate() == LATEST_VERSION
        assert store.count_decisions() == 1
    _raw_execute(db_url, "SELECT 1")
    if db_url.startswith("sqlite:///"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        rows = conn.execute("SELECT version FROM fintwin_schema_version").fetchall()
        conn.close()
    else:
        with psycopg.connect(db_url) as conn:
            rows = conn.execute("SELECT version FROM fintwin_schema_version").fetchall()
    assert rows == [(m.version,) for m in MIGRATIONS]


def test_a_schema_newer_than_the_code_is_refused(db_url: str) -> None:
    with open_store(db_url):
        pass
    _raw_execute(
        db_url,
        "INSERT INTO fintwin_schema_version VALUES (99, 'future', '2030-01-01T00:00:00+00:00')",
    )
    with pytest.raises(StoreError, match="version 99, newer"), open_store(db_url):
        pass


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "d.db") as store:
        conn = store._connection()
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # 2 = FULL


# --- records -----------------------------------------------------------------------------------


def test_records_refuse_naive_times_nan_and_clear_identifiers() -> None:
    naive = datetime(2025, 3, 1, 12, 0)
    with pytest.raises(ParameterError, match="received_at must be timezone-aware"):
        DecisionRecord("d", "k", "e", naive, T0, "approve", 0.1, None, "h", False, {})
    with pytest.raises(ParameterError, match="score must be finite"):
        DecisionRecord("d", "k", "e", T0, T0, "approve", math.nan, None, "h", False, {})
    with pytest.raises(ParameterError, match="card_number"):
        DecisionRecord(
            "d", "k", "e", T0, T0, "approve", 0.1, None, "h", False, {"card_number": "4111"}
        )
    with pytest.raises(ParameterError, match="NaN"):
        DecisionRecord("d", "k", "e", T0, T0, "approve", 0.1, None, "h", False, {"x": math.nan})
    with pytest.raises(ParameterError, match=r"explanation\.PAN"):  # nested, any case
        DecisionRecord(
            "d", "k", "e", T0, T0, "approve", 0.1, None, "h", False, {"explanation": {"PAN": 1}}
        )
    # the name inside a string value is not a field
    DecisionRecord("d", "k", "e", T0, T0, "approve", 0.1, None, "h", False, {"x": '"pan":1'})
    paris = timezone(timedelta(hours=1))
    shifted = DecisionRecord(
        "d", "k", "e", T0.astimezone(paris), T0, "approve", 0, None, "h", 0, {}
    )
    assert shifted.received_at == T0 and shifted.received_at.tzinfo is UTC


def test_open_store_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINTWIN_DB_URL", f"sqlite:///{tmp_path / 'env.db'}")
    with open_store() as store:
        assert isinstance(store, SQLiteStore)
    assert (tmp_path / "env.db").exists()
    monkeypatch.delenv("FINTWIN_DB_URL")
    with open_store(data_dir=tmp_path / "data", background_drain=False) as store:
        assert isinstance(store, SpoolingStore) and store.status().spool_enabled
    with pytest.raises(ParameterError, match="mysql"):
        open_store("mysql://x")
    with pytest.raises(ParameterError, match="data_dir"):
        open_store()


# --- group commit ------------------------------------------------------------------------------


def _race(store, threads: int, per_thread: int) -> None:
    barrier = threading.Barrier(threads)

    def writer(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            store.record_decision(make_record(f"t{t}-{i}"))

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_group_commit_batches_concurrent_writes(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    def open_(group_commit: bool):
        if backend == "sqlite":
            return SQLiteStore(tmp_path / f"{group_commit}.db", group_commit=group_commit)
        return PostgresStore(request.getfixturevalue("pg_url"), group_commit=group_commit)

    calls = 8 * 50
    with open_(True) as store:
        _race(store, 8, 50)
        grouped = store.status()
        assert store.count_decisions() == calls
    with open_(False) as store:
        _race(store, 8, 50)
        single = store.status()
    assert single.commits == single.writes == calls
    assert grouped.writes == calls
    # 8 writers blocked on one writer thread: while it commits, the other 7 queue up, so
    # batches average several writes. Half is a loose bound that fails if batching breaks.
    assert grouped.commits <= calls / 2, grouped


_FSYNC_COUNTER = """
import sys, threading
sys.path[:0] = [{tests!r}, {tests_root!r}]
from test_decision_store import _race
from fintwin.store.decisions import SQLiteStore
store = SQLiteStore(sys.argv[1], group_commit=sys.argv[2] == "group")
_race(store, 8, 50)
store.close()
"""


def test_group_commit_saves_fsyncs(tmp_path: Path) -> None:
    """Count the real fsync/fdatasync system calls with strace, not the store's own counter."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    counts = {}
    for mode in ("group", "single"):
        trace = tmp_path / f"{mode}.trace"
        script = _FSYNC_COUNTER.format(tests=str(HERE), tests_root=str(HERE.parent))
        done = subprocess.run(
            [
                *("strace", "-f", "-qq", "-e", "trace=fsync,fdatasync", "-o", trace),
                *(sys.executable, "-c", script, tmp_path / f"{mode}.db", mode),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0 and "ptrace" in done.stderr:
            pytest.skip(f"strace cannot trace here: {done.stderr.strip()}")
        assert done.returncode == 0, done.stderr
        lines = trace.read_text().splitlines()
        counts[mode] = sum("fsync(" in line or "fdatasync(" in line for line in lines)
    # one commit is one WAL fsync; 400 single commits need at least 400
    assert counts["single"] >= 400
    print(f"fsync calls for 400 writes from 8 threads: {counts}")
    assert counts["group"] <= counts["single"] / 2, counts


# --- spool ---------------------------------------------------------------------------------------


def test_the_spool_reader_skips_a_torn_or_corrupt_tail(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    payloads = [json.dumps({"n": i, "pad": "x" * i}).encode() for i in range(5)]
    for payload in payloads:
        segment, _ = spool.append(payload)
    spool.close()
    data = segment.path.read_bytes()
    last = len(data) - len(encode(payloads[-1]))
    torn = tmp_path / "torn"
    for cut in range(last + 1, len(data)):  # every place a crash could cut the last record
        torn.write_bytes(data[:cut])
        content = read_segment(torn)
        assert [p for _, p in content.records] == payloads[:4]
        assert content.torn_bytes == cut - last
    flipped = bytearray(data)
    flipped[-3] ^= 0x40  # one bit of the last payload: the CRC catches it
    torn.write_bytes(bytes(flipped))
    assert [p for _, p in read_segment(torn).records] == payloads[:4]
    assert [p for _, p in read_segment(segment.path).records] == payloads


def test_a_live_processes_segment_is_not_claimed(tmp_path: Path) -> None:
    live = Spool(tmp_path)
    live.append(b"{}")
    other = Spool(tmp_path)
    assert other.claim_orphans(exclude=set()) == []
    live.close()  # its process "ends": the segment becomes an orphan
    claimed = other.claim_orphans(exclude=set())
    assert len(claimed) == 1
    for segment in claimed:
        segment.close()


def test_while_the_database_is_down_decisions_are_spooled_and_retries_answered(
    tmp_path: Path,
) -> None:
    inner = PostgresStore(closed_port_url(), connect_timeout_s=0.5)
    with SpoolingStore(inner, tmp_path / "spool", retry_after_s=60, background=False) as store:
        first = store.record_decision(make_record("k1"))
        assert first.created and first.spooled
        retry = store.record_decision(make_record("k1", "other"))
        assert not retry.created and retry.spooled and retry.record == first.record
        assert store.get_decision("d-k1") == first.record
        assert store.find_decision("k1") == first.record
        status = store.status()
        assert (status.spooled, status.database_ok, status.ready) == (1, False, True)
        with pytest.raises(StoreUnavailableError):
            store.drain()
        with pytest.raises(StoreUnavailableError):
            store.record_label(Label("tx-1", True, T0, "chargeback"))


_SPOOLER = """
import sys
sys.path[:0] = [{tests!r}, {tests_root!r}]
from test_decision_store import make_record
from fintwin.store.decisions import PostgresStore, SpoolingStore
store = SpoolingStore(
    PostgresStore(sys.argv[1], connect_timeout_s=0.5), sys.argv[2],
    retry_after_s=3600, background=False,
)
i = 0
while True:
    result = store.record_decision(make_record(f"k{{i}}"))
    assert result.spooled
    print(f"k{{i}}", flush=True)  # acknowledged: durable in the spool
    i += 1
"""


def test_kill_9_while_spooling_loses_nothing_acknowledged(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    script = _SPOOLER.format(tests=str(HERE), tests_root=str(HERE.parent))
    proc = subprocess.Popen(
        [sys.executable, "-c", script, closed_port_url(), str(spool_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    acknowledged = []
    while len(acknowledged) < 300:
        line = proc.stdout.readline()
        assert line, "the spooling process died"
        acknowledged.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    acknowledged += [line.strip() for line in proc.stdout]  # printed before the kill
    proc.wait()
    proc.stdout.close()
    (segment,) = spool_dir.glob("*.spool")
    # kill -9 cannot split one write() in the page cache; a power cut can. Leave what a torn
    # append looks like: a header and part of a payload.
    with segment.open("ab") as f:
        f.write(encode(json.dumps(make_record("torn").to_json()).encode())[:40])
    with SpoolingStore(SQLiteStore(tmp_path / "d.db"), spool_dir, background=False) as store:
        status = store.status()
        assert status.torn_records == 1
        assert status.spooled >= len(acknowledged)
        assert store.find_decision(acknowledged[-1]) is not None  # retries answered
        replayed = store.drain()
        assert replayed == status.spooled
        assert store.status().spooled == 0
        assert store.count_decisions() == replayed
        for key in acknowledged:
            assert store.find_decision(key) is not None
        assert store.find_decision("torn") is None
    assert list(spool_dir.glob("*.spool")) == []


def test_an_interrupted_drain_rerun_stores_each_decision_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    records = [make_record(f"k{i}") for i in range(1200)]
    for record in records:
        spool.append(json.dumps(record.to_json()).encode())
    spool.close()  # its writer is gone: an orphan segment
    with SQLiteStore(tmp_path / "d.db") as db:
        # what a drain killed after committing its first chunks leaves in the database
        db.record_decisions(records[:500])
    for _ in range(2):  # and a second full rerun changes nothing
        with SpoolingStore(
            SQLiteStore(tmp_path / "d.db"), tmp_path / "spool", background=False
        ) as store:
            store.drain()
            assert store.count_decisions() == len(records)
    assert list((tmp_path / "spool").glob("*.spool")) == []


def test_postgres_stopped_mid_run_spools_then_drains_every_decision_once(
    tmp_path: Path,
) -> None:
    server = start_postgres()
    try:
        url = server.create_database()
        inner = PostgresStore(url, connect_timeout_s=0.5, write_timeout_s=2.0)
        store = SpoolingStore(inner, tmp_path / "spool", retry_after_s=0.3, drain_interval_s=0.2)
        acknowledged: dict[str, tuple[str, bool]] = {}
        lock = threading.Lock()
        stop_at, restart_at = 400, 900  # acknowledged decisions when the server stops/restarts
        total = 8 * 200

        def writer(t: int) -> None:
            for i in range(200):
                key = f"t{t}-{i}"
                result = store.record_decision(make_record(key))
                with lock:
                    acknowledged[key] = (result.record.decision_id, result.spooled)
                time.sleep(0.002)  # spread the load over the outage

        workers = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
        for w in workers:
            w.start()
        while len(acknowledged) < stop_at:
            time.sleep(0.01)
        server.stop("immediate")  # a crash: connections cut, no checkpoint
        while len(acknowledged) < restart_at and any(w.is_alive() for w in workers):
            time.sleep(0.01)
        server.start()
        for w in workers:
            w.join()
        assert len(acknowledged) == total
        # at least the writes between the stop and the restart (500 acknowledgements, less
        # those that were in flight while pg_ctl was stopping the server) went to the spool
        assert sum(spooled for _, spooled in acknowledged.values()) >= 100
        deadline = time.monotonic() + 60
        while store.status().spooled and time.monotonic() < deadline:
            time.sleep(0.1)  # the background thread drains once the server answers
        assert store.status().spooled == 0
        store.close()
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT idempotency_key, decision_id FROM decisions").fetchall()
        counts = Counter(key for key, _ in rows)
        assert len(rows) == total and max(counts.values()) == 1
        assert dict(rows) == {k: v[0] for k, v in acknowledged.items()}
        assert list((tmp_path / "spool").glob("*.spool")) == []
    finally:
        server.destroy()


# --- reads of many keys, packed records, the outbox's encoding ---------------------------------


def test_find_decisions_reads_many_keys_in_one_call(db_url: str) -> None:
    with open_store(db_url) as store:
        store.record_decisions([make_record(f"k{i}") for i in range(3)])
        found = store.find_decisions(["k2", "nope", "k0", "k2"])
        assert found == {"k2": make_record("k2"), "k0": make_record("k0")}
        many = [f"k{i}" for i in range(1200)]  # more keys than one query takes
        assert set(store.find_decisions(many)) == {"k0", "k1", "k2"}
        assert store.find_decisions([]) == {}


def test_find_decisions_while_the_database_is_down(tmp_path: Path) -> None:
    """Spooled decisions are found; so are those this process answered before the outage."""
    inner = PostgresStore(closed_port_url(), connect_timeout_s=0.5)
    with SpoolingStore(inner, tmp_path / "spool", retry_after_s=60, background=False) as store:
        store._remember([Recorded(make_record("answered"), created=True)])
        store.record_decision(make_record("spooled"))
        found = store.find_decisions(["answered", "spooled", "unknown"])
    assert found == {"answered": make_record("answered"), "spooled": make_record("spooled")}


def test_a_packed_record_unpacks_equal_and_is_not_tracked_by_the_gc() -> None:
    import gc

    record = make_record("k1")
    packed = record.packed()
    gc.collect()  # the collector untracks tuples of scalars it has seen once
    assert not gc.is_tracked(packed)
    again = DecisionRecord.unpacked(packed)
    assert again == record and again.actor == record.actor


def test_outbox_payloads_are_stored_as_canonical_json(db_url: str) -> None:
    """The audit feed chains outbox payloads without re-encoding them: each must already be the
    RFC 8785 text of its value, and a decision's must hold its idempotency key."""
    from fintwin.governance.ledger import canonical_json

    with open_store(db_url) as store:
        store.record_decision(make_record("k1"))
        store.record_label(Label("tx-1", True, T0, "chargeback"))
        store.record_activation(ModelActivation("m/2", "admin:key_3", activation_id="a-1"))
        rows = store._read("SELECT kind, payload FROM audit_outbox ORDER BY id")
    assert [kind for kind, _ in rows] == ["decision", "label", "model_activation"]
    for _, payload in rows:
        assert payload == canonical_json(json.loads(payload))
    assert json.loads(rows[0][1])["idempotency_key"] == "k1"


def test_group_commit_keeps_one_callers_writes_together(tmp_path: Path) -> None:
    """A caller's writes commit or fail together; another caller's writes in the same batch
    still commit."""
    from fintwin.store._group_commit import GroupCommitter

    committed: list[list[str]] = []
    release = threading.Event()

    def transaction(ops: list[tuple[str, str]]) -> list[str]:
        release.wait(5)
        if any(value == "bad" for _, value in ops):
            raise ValueError("bad write")
        committed.append([value for _, value in ops])
        return [value.upper() for _, value in ops]

    committer = GroupCommitter(transaction)
    results: dict[str, object] = {}

    def submit(name: str, ops: list[tuple[str, str]]) -> None:
        try:
            results[name] = committer.submit(ops, timeout=10)
        except ValueError as exc:
            results[name] = exc

    callers = [
        threading.Thread(target=submit, args=("good", [("w", "a"), ("w", "b")])),
        threading.Thread(target=submit, args=("mixed", [("w", "c"), ("w", "bad")])),
    ]
    for t in callers:
        t.start()
    time.sleep(0.2)  # both are queued or in a transaction held until release
    release.set()
    for t in callers:
        t.join()
    committer.close()
    assert results["good"] == ["A", "B"]
    assert isinstance(results["mixed"], ValueError)
    assert ["c"] not in committed and all("c" not in batch for batch in committed)
