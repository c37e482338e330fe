"""The decision service as real processes under failure: ``fintwin serve`` killed with SIGKILL
under load, Redis killed mid-run, PostgreSQL crashed mid-run.

Each test drives a real ``fintwin serve`` over loopback HTTP from client threads that send
unique payments (about one in five sent again at once with its ``Idempotency-Key``, and
every request whose answer was lost retried until answered, as a payment system does), breaks
something mid-load, and then checks what the issue promises:

- every decision answered with a 200 is in the decision table exactly once, with the
  ``decision_id`` the client was given; no key was ever answered with two ids;
- once the audit feed has caught up, the ledger has exactly one ``decision`` entry per stored
  decision (and one model activation), and verifies;
- a retry got the very answer of the original request;
- no answer was a 5xx (and, for Redis and PostgreSQL outages, every answer was a 200).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from _service_app import TOKEN_KEY, bearer

from _postgres_server import PostgresServer, free_port, start_postgres
from fintwin.governance.ledger import Ledger, verify
from fintwin.store.audit_feed import AuditFeed
from fintwin.store.decisions import open_store

FINTWIN = Path(sys.executable).with_name("fintwin")
REDIS_SERVER = shutil.which("redis-server")
T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
READY_TIMEOUT_S = 90.0  # import + model load of a cold process on a shared 2-core machine


def wait_until(what: str, done: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)


class Service:
    """``fintwin serve`` on a fixed port and data dir: start, kill -9, stop, start again."""

    def __init__(
        self, tmp: Path, model: tuple[str, Path], keys_file: Path, env: dict[str, str]
    ) -> None:
        mid, registry = model
        self.data = tmp / "data"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "serve.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FINTWIN_")},
            "FINTWIN_TOKEN_KEY": TOKEN_KEY,
            "FINTWIN_API_KEYS_FILE": str(keys_file),
            "FINTWIN_REGISTRY_DIR": str(registry),
            # the load is not limited by the key's bucket
            "FINTWIN_RATE_LIMIT_PER_SECOND": "100000",
            "FINTWIN_RATE_LIMIT_BURST": "100000",
            # retries after a restart arrive behind newer payments: lateness is not tested here
            "FINTWIN_ALLOWED_LATENESS_S": "3600",
            **env,
        }
        self.cmd = [
            str(FINTWIN), "serve", "--port", str(self.port), "--model", mid,
            "--data-dir", str(self.data), "--log-level", "warning",
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts + 1}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.cmd, env=self.env, cwd=self.data.parent, stdout=log, stderr=subprocess.STDOUT
            )
        self.starts += 1
        wait_until("fintwin serve to be ready", self.ready, READY_TIMEOUT_S)

    def ready(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log_text()
        try:
            return httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def readyz(self) -> dict[str, Any]:
        return httpx.get(f"{self.base}/readyz", timeout=10).json()  # type: ignore[no-any-return]

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        """SIGTERM: uvicorn's graceful shutdown (the runtime closes the feed and the store)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
            pytest.fail(f"fintwin serve did not stop within 60 s:\n{self.log_text()}")
        assert self.proc.returncode in (0, -signal.SIGTERM), self.log_text()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


class Load:
    """Client threads sending unique payments, keeping what each key was answered.

    Parameters
    ----------
    base : str
        The service's URL.
    key : str
        A scorer's API key.
    threads : int
        Concurrent clients (each with its own keep-alive connection).
    """

    def __init__(self, base: str, key: str, threads: int = 4) -> None:
        self.base = base
        self.headers = bearer(key)
        self.n_threads = threads
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self.bodies: dict[str, dict[str, Any]] = {}
        self.answered: dict[str, str] = {}  # idempotency key -> decision_id
        self.answers: list[dict[str, Any]] = []  # every 200 body, in order of arrival
        self.unanswered: set[str] = set()  # sent, answer lost: to retry
        self.conflicts: list[tuple[str, str, str]] = []
        self.statuses: Counter[int] = Counter()
        self.errors: list[tuple[int, str]] = []  # non-200 answers
        self.transport_errors = 0
        self.replays_checked = 0
        self.replay_mismatches: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- what was answered -----------------------------------------------------------------

    @property
    def ok(self) -> int:
        return self.statuses[200]

    def reached(self, ok: int) -> Callable[[], bool]:
        """A wait condition: ``ok`` answers of 200, or any other answer (fail fast)."""
        return lambda: self.ok >= ok or bool(self.errors)

    def last(self, n: int) -> list[dict[str, Any]]:
        with self._lock:
            return self.answers[-n:]

    def count(self, predicate: Callable[[dict[str, Any]], bool]) -> int:
        with self._lock:
            return sum(1 for a in self.answers if predicate(a))

    # --- sending ---------------------------------------------------------------------------

    def _new(self) -> tuple[str, dict[str, Any]]:
        with self._lock:
            seq = next(self._seq)
        body = {
            "transaction_id": 1_000_000 + seq,
            # 5 ms apart in event time, whatever the wall clock does
            "timestamp": (T0 + dt.timedelta(milliseconds=5 * seq)).isoformat(),
            "amount": f"{10 + seq % 490}.{seq % 100:02d}",
            "customer_id": seq % 50,
            "terminal_id": seq % 20,
            "channel": "pos" if seq % 3 else "ecom",
            "card_number": "4111 1111 1111 1111",
        }
        key = f"load-{seq}"
        with self._lock:
            self.bodies[key] = body
        return key, body

    def send(self, client: httpx.Client, key: str) -> dict[str, Any] | None:
        """Send one request; its 200 body, or None (non-200, or the answer was lost)."""
        body = self.bodies[key]
        try:
            r = client.post("/v1/decisions", json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError:
            with self._lock:
                self.unanswered.add(key)
                self.transport_errors += 1
            return None
        with self._lock:
            self.statuses[r.status_code] += 1
            if r.status_code != 200:
                self.errors.append((r.status_code, r.text[:300]))
                self.unanswered.add(key)
                return None
            answer = r.json()
            first = self.answered.setdefault(key, answer["decision_id"])
            if first != answer["decision_id"]:
                self.conflicts.append((key, first, answer["decision_id"]))
            self.answers.append(answer)
            self.unanswered.discard(key)
        return answer  # type: ignore[no-any-return]

    def _pending(self, rng: random.Random) -> str | None:
        with self._lock:
            if not self.unanswered:
                return None
            return rng.choice(sorted(self.unanswered))

    def _worker(self, index: int) -> None:
        rng = random.Random(index)
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=30) as client:
            while not self._stop.is_set():
                key = self._pending(rng) if rng.random() < 0.2 else None
                if key is None:
                    key, _ = self._new()
                before = self.transport_errors
                answer = self.send(client, key)
                if answer is not None and rng.random() < 0.2:
                    # the same request again at once: the original decision, changed nothing
                    again = self.send(client, key)
                    if again is not None:
                        with self._lock:
                            self.replays_checked += 1
                            if again != answer:
                                self.replay_mismatches.append((key, answer, again))
                if self.transport_errors != before:
                    time.sleep(0.05)  # the server is away: do not spin

    def start(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._worker, args=(i,), daemon=True)
            for i in range(self.n_threads)
        ]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)
            assert not t.is_alive(), "a load thread is stuck"

    def finish(self) -> None:
        """Retry every request whose answer was lost until it is answered."""
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=30) as client:
            for _ in range(20):
                with self._lock:
                    todo = sorted(self.unanswered)
                if not todo:
                    return
                for key in todo:
                    self.send(client, key)
        pytest.fail(f"{len(self.unanswered)} requests never answered: {self.errors[-3:]}")


def stored_decisions(db_url: str | None, data: Path) -> list[tuple[str, str]]:
    """(idempotency_key, decision_id) of every row of the decision table."""
    sql = "SELECT idempotency_key, decision_id FROM decisions"
    if db_url is None:
        with contextlib.closing(sqlite3.connect(data / "decisions.db")) as conn:
            return conn.execute(sql).fetchall()
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[return-value]


def check_nothing_lost_nothing_doubled(load: Load, db_url: str | None, data: Path) -> None:
    """The promises of the issue, checked after the service stopped."""
    assert load.conflicts == [], f"keys answered with two decision ids: {load.conflicts[:5]}"
    assert load.replay_mismatches == [], load.replay_mismatches[:2]
    assert [s for s in load.statuses if s >= 500] == [], load.errors[:5]
    rows = stored_decisions(db_url, data)
    by_key = Counter(k for k, _ in rows)
    assert [k for k, n in by_key.items() if n > 1] == [], "a key stored twice"
    assert len({d for _, d in rows}) == len(rows), "a decision id stored twice"
    stored = dict(rows)
    missing = [k for k in load.answered if k not in stored]
    assert missing == [], f"{len(missing)} answered decisions are not stored: {missing[:5]}"
    changed = [k for k, d in load.answered.items() if stored[k] != d]
    assert changed == [], f"stored with another id than answered: {changed[:5]}"
    # nothing stored that no one asked for
    assert set(stored) <= set(load.bodies)

    # the feed of the last process chained what it could; chain the rest as a restart would
    store = open_store(db_url, data_dir=data)
    ledger = Ledger(db_url or data / "decisions.db")
    try:
        feed = AuditFeed(store, ledger)
        feed.catch_up()
        assert store.audit_backlog() == 0
        entries = list(ledger.entries())
        report = verify(ledger.store)
    finally:
        ledger.close()
        store.close()
    kinds = Counter(e.kind.value for e in entries)
    chained = Counter(e.payload["decision_id"] for e in entries if e.kind.value == "decision")
    assert [d for d, n in chained.items() if n > 1] == [], "a decision chained twice"
    assert set(chained) == set(stored.values()), (
        f"{len(set(stored.values()) - set(chained))} stored decisions not in the ledger, "
        f"{len(set(chained) - set(stored.values()))} ledger decisions not stored"
    )
    # FINTWIN_MODEL was activated by the first start only: the restarts found it in force
    assert kinds["model_activation"] == 1, kinds
    assert report.ok, report


@pytest.fixture
def scorer(keys: tuple[Path, dict[str, str]]) -> str:
    return keys[1]["scorer"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_under_load_loses_and_doubles_nothing(
    backend: str,
    model_id: tuple[str, Path],
    keys: tuple[Path, dict[str, str]],
    scorer: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    db_url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    env = {} if db_url is None else {"FINTWIN_DB_URL": db_url}
    service = Service(tmp_path, model_id, keys[0], env)
    load = Load(service.base, scorer)
    try:
        service.start()
        load.start()
        wait_until("200 decisions before the kill", load.reached(200))
        service.kill()
        killed_at = load.ok
        # the clients see the server gone (refused connections, lost answers) ...
        wait_until("the clients to notice", lambda: load.transport_errors >= 4)
        service.start()
        # ... and go on against the restarted one, retrying what was lost
        wait_until("200 decisions after the restart", load.reached(killed_at + 200))
        load.stop()
        load.finish()
    finally:
        load.stop()
        service.stop()
    assert load.replays_checked > 0
    check_nothing_lost_nothing_doubled(load, db_url, service.data)


# --- Redis killed mid-run ------------------------------------------------------------------


class Redis:
    """redis-server on a fixed port, without persistence: kill it, start it again (empty)."""

    def __init__(self, directory: Path) -> None:
        if REDIS_SERVER is None:
            pytest.skip("redis-server is not installed (make test installs it)")
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [
            str(REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.directory), "--save", "", "--appendonly", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_timeout=1)

        def pong() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        try:
            wait_until("redis-server", pong, 15)
        finally:
            client.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


def _degraded(answer: dict[str, Any]) -> bool:
    return bool(answer["degraded"])


def _healthy(answer: dict[str, Any]) -> bool:
    return not answer["degraded"]


@pytest.mark.slow
def test_redis_killed_mid_run_gives_degraded_answers_then_recovers(
    model_id: tuple[str, Path],
    keys: tuple[Path, dict[str, str]],
    scorer: str,
    tmp_path: Path,
) -> None:
    redis_server = Redis(tmp_path)
    redis_server.start()
    service = Service(tmp_path, model_id, keys[0], {"FINTWIN_REDIS_URL": redis_server.url})
    load = Load(service.base, scorer, threads=3)
    try:
        service.start()
        load.start()
        wait_until("200 decisions with Redis up", load.reached(200))
        assert load.errors == [], load.errors[:3]
        assert load.count(_degraded) == 0, "degraded while Redis was up"

        redis_server.kill()
        before = load.count(_degraded)
        wait_until(
            "150 degraded decisions",
            lambda: load.count(_degraded) >= before + 150 or bool(load.errors),
        )
        assert load.errors == [], load.errors[:3]
        during = service.readyz()
        # an unreachable state does not take the service out of the load balancer
        assert during["ready"] is True and during["state_ok"] is False, during
        assert during["degraded"] is True

        redis_server.start()  # the same port, empty: the history of the cards is gone
        healthy = load.count(_healthy)
        wait_until(
            "non-degraded decisions after Redis returned",
            lambda: (
                load.count(_healthy) >= healthy + 100 and not any(map(_degraded, load.last(20)))
            ),
            timeout_s=60,
        )
        after = service.readyz()
        assert after["state_ok"] is True and after["degraded"] is False, after
        load.stop()
        load.finish()
    finally:
        load.stop()
        service.stop()
        redis_server.kill()
    assert load.errors == [], load.errors[:5]  # every answer a 200, none a 5xx
    degraded = [a for a in load.answers if a["degraded"]]
    assert all(a["degraded_reason"].startswith("state_unavailable") for a in degraded)
    assert all(a["degraded_reason"] is None for a in load.answers if not a["degraded"])
    check_nothing_lost_nothing_doubled(load, None, service.data)


# --- PostgreSQL crashed mid-run ------------------------------------------------------------


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own, since it is crashed and restarted."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.destroy()


@pytest.mark.slow
def test_postgres_crash_spools_then_drains_nothing_lost(
    model_id: tuple[str, Path],
    keys: tuple[Path, dict[str, str]],
    scorer: str,
    tmp_path: Path,
    own_postgres: PostgresServer,
) -> None:
    db_url = own_postgres.create_database()
    service = Service(tmp_path, model_id, keys[0], {"FINTWIN_DB_URL": db_url})
    load = Load(service.base, scorer, threads=3)
    try:
        service.start()
        load.start()
        wait_until("200 decisions with PostgreSQL up", load.reached(200))
        own_postgres.stop("immediate")  # a crash: connections cut, no checkpoint
        down_at = load.ok
        wait_until("200 decisions with PostgreSQL down", load.reached(down_at + 200))
        # decisions go on while the database is down: 200s, spooled, never a 503
        assert load.errors == [], load.errors[:3]
        # readyz's database probe is cached for a second: it reports the outage soon after
        wait_until(
            "readyz to report PostgreSQL down",
            lambda: service.readyz()["store"]["database_ok"] is False,
            timeout_s=15.0,
        )
        during = service.readyz()
        assert during["store"]["spooled"] > 0, during
        assert during["ready"] is True, during  # the spool makes decisions durable

        own_postgres.start()
        wait_until(
            "the spool to drain",
            lambda: (s := service.readyz()["store"])["database_ok"] and s["spooled"] == 0,
            timeout_s=60,
        )
        up_at = load.ok
        wait_until("100 decisions after the restart", load.reached(up_at + 100))
        load.stop()
        load.finish()
        drained = service.readyz()["store"]["drained"]
    finally:
        load.stop()
        service.stop()
    assert drained > 0
    assert load.errors == [], load.errors[:5]  # every answer a 200, none a 5xx
    assert list((service.data / "spool").glob("*.spool")) == []
    check_nothing_lost_nothing_doubled(load, db_url, service.data)
