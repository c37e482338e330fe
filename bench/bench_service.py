"""Benchmark: ``fintwin serve`` over HTTP, open-loop load from a second process on loopback.

    python bench/bench_service.py [--backend embedded|redis-postgres] [--rate 1000]
                                  [--duration 300] [--connections 32] [--workers 1]
                                  [--timestamps world|wall] [--workers-scan 1,2]
                                  [--workdir DIR] [--json FILE] [--profile FILE [--profile-gil]]

1. Builds a handbook world (``--customers`` 500 x ``--days`` 60, seed 1, as the service tests)
   and a model (``fintwin risk train --protocol fractions`` with the built-in handbook policy)
   in a temporary registry, and a ``scorer`` API key; with ``--workdir`` they are kept there and
   reused by later runs.
2. Starts the backends: ``embedded`` (SQLite decision store and audit ledger in the data
   directory, feature state in the process) or ``redis-postgres`` (a private PostgreSQL and
   Redis on free ports, started with the test suite's helpers ``tests/_postgres_server.py``
   and ``tests/features/_redis.py``; PostgreSQL keeps ``fsync=on``).
3. Starts ``fintwin serve --workers N`` (uvicorn) on a free port, the rate limit raised out of
   the way, ``FINTWIN_ALLOWED_LATENESS_S=60``.
4. Runs ``_loadgen.py`` in its own process: ``POST /v1/decisions`` open-loop at ``--rate``
   per second for ``--duration`` seconds over ``--connections`` keep-alive connections,
   latency measured from each request's scheduled send time. The events are the world's
   payments of amount > 0 in time order with their customer, terminal and amount, a test card
   number per customer, channel ``pos`` and unique transaction ids, replayed in passes.
   ``--timestamps world`` (default) shifts the world's times so that the first event is now
   and each later pass starts one day after the previous one ended: the features see the
   world's own pace, so the online state reaches its steady size after ~37 world days (about
   37,000 events); but consecutive events are ~87 s apart in event time, so two requests the
   server takes out of order are a 409 whatever the allowed lateness. ``--timestamps wall``
   stamps each event with its scheduled send time (event time = wall time: the server's
   reordering is milliseconds, which the allowed lateness absorbs; but a customer's payments
   of 60 days then come within a minute, the features' windows never expire during a run,
   and the state and its per-event cost keep growing).
5. Samples every 5 s: RSS of the server's process tree, CPU of server, Redis and PostgreSQL
   (and the client's own, from ``getrusage``), and the load average; measures the idle
   server's CPU for 5 s before the load. Reports throughput, latency percentiles (ms), errors
   by status (anything but 200; 409s, events refused as out of order, also on their own), p99
   per 30 s window, server CPU ms per request, the RSS slope after ``--warmup-s`` (MB/min; flat
   memory is ~0), and checks after the run that the store holds exactly one decision per 200
   answer and the audit ledger one decision entry per stored decision (outbox included).
6. ``--profile FILE`` records the server with py-spy during the load (``--profile-gil``: only
   the thread holding the GIL, i.e. where the CPU goes) and reports the share of samples in
   each part of a request (HTTP, middleware, FastAPI, threadpool, engine, store, ledger...).

``--workers-scan 1,2`` instead finds, for each worker count, the highest rate with p99 <=
``--p99-ms`` and no errors other than 409 (the rates of ``--scan-rates`` tried in turn until
one fails, then on until the server saturates (``--no-scan-to-saturation``: stop at the
first failure), ``--scan-step-s`` each, after a 10 s warm-up at 50/s; 409s, which several
workers racing on one shared state produce, are shown). Run it with ``--backend
redis-postgres``: with the embedded backend each worker would keep its own feature state.

Prints a Markdown section (for bench/RESULTS.md); ``--json FILE`` writes every figure. The
machine is shared with other work: the load average is printed before each run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loadgen import ACTIONS, CONNECTION_ERROR, NO_ANSWER
from _machine import machine
from fintwin.data import open_world
from fintwin.data.schemas import money_to_minor
from fintwin.risk import builtin_policy_path
from fintwin.service.apikeys import ApiKeyFile, Role
from fintwin.world import simulate

HERE = Path(__file__).resolve().parent
TOKEN_KEY = "bench-token-key-" + "k" * 32
DAY_MS = 86_400_000
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")
PERCENTILES = (50, 90, 99, 99.9)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- world, model, key ----------------------------------------------------------------------


def prepare(workdir: Path, customers: int, days: int, seed: int) -> dict:
    """World, model and scorer key in ``workdir`` (reused when present), and the replay events
    (rebuilt every time: cheap)."""
    done = workdir / "prepared.json"
    if done.exists():
        prep = json.loads(done.read_text())
    else:
        t0 = time.perf_counter()
        world = simulate(workdir / "world", "handbook", customers=customers, days=days, seed=seed)
        registry = workdir / "registry"
        exe = Path(sys.executable).with_name("fintwin")
        cmd = [
            str(exe), "risk", "train", "--protocol", "fractions", "--json", "--world",
            str(world.path), "--registry", str(registry), "--policy",
            str(builtin_policy_path("handbook")),
        ]  # fmt: skip
        done_train = subprocess.run(cmd, check=True, capture_output=True, text=True)
        keys_file = workdir / "keys.json"
        prep = {
            "world": str(world.path),
            "customers": customers,
            "days": days,
            "seed": seed,
            "registry": str(registry),
            "model_id": json.loads(done_train.stdout)["model_id"],
            "keys_file": str(keys_file),
            "key": ApiKeyFile(keys_file).create([Role.SCORER], name="bench").key,
            "prepare_s": round(time.perf_counter() - t0, 1),
        }
        done.write_text(json.dumps(prep, indent=1))
    return prep | replay_events(Path(prep["world"]), workdir / "events.npz")


def replay_events(world: Path, out: Path) -> dict:
    """The world's payments in (timestamp, id) order as the arrays ``_loadgen`` replays."""
    tx = open_world(world).arrow("transactions")
    tx = tx.take(pc.sort_indices(tx, [("timestamp", "ascending"), ("transaction_id", "ascending")]))
    cents = money_to_minor(tx.column("amount"))
    # the API takes amounts > 0 (422 otherwise); the handbook world has a few of 0.00
    keep = cents > 0
    t_ms = tx.column("timestamp").cast(pa.int64()).to_numpy()[keep]
    np.savez(
        out,
        t_ms=t_ms,
        customer=tx.column("customer_id").to_numpy()[keep],
        terminal=tx.column("terminal_id").to_numpy()[keep],
        cents=cents[keep],
    )
    return {
        "events": str(out),
        "transactions": int(keep.sum()),
        "dropped_zero_amounts": int((~keep).sum()),
        "fraud_rate": round(float(tx.column("is_fraud").to_numpy(zero_copy_only=False).mean()), 5),
        # a pass over the events, plus one day so that passes do not overlap in event time
        "cycle_ms": int(t_ms[-1] - t_ms[0]) + DAY_MS,
        "mean_event_gap_s": round(float(t_ms[-1] - t_ms[0]) / 1e3 / max(1, len(t_ms) - 1), 1),
    }


# -- processes: backends, server, sampling ---------------------------------------------------


def proc_tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
    return out


def tree_usage(pid: int | None) -> tuple[float, float]:
    """(CPU seconds, RSS MiB) summed over a process and its descendants."""
    if pid is None:
        return 0.0, 0.0
    cpu = rss = 0.0
    for p in proc_tree(pid):
        with contextlib.suppress(OSError):
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
            rss += int(fields[21]) * PAGE / 2**20
    return cpu, rss


class Backends:
    """The decision store / ledger database and the feature state the server is given."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.db_url: str | None = None
        self.redis_url: str | None = None
        self._pg = self._redis = None
        if kind == "redis-postgres":
            sys.path.insert(0, str(HERE.parent))  # the test suite's server helpers
            from tests._postgres_server import start_postgres
            from tests.features._redis import RedisServer

            self._pg = start_postgres()
            self._redis_dir = Path(tempfile.mkdtemp(prefix="fintwin-bench-redis-"))
            self._redis = RedisServer(self._redis_dir)
            self.redis_url = self._redis.url

    def fresh(self) -> None:
        """An empty database and an empty Redis for the next server."""
        if self._pg is not None:
            self.db_url = self._pg.create_database()
            import redis

            redis.Redis.from_url(self.redis_url).flushall()

    def pids(self) -> dict[str, int | None]:
        pg = None
        if self._pg is not None:
            pg = int((self._pg.data / "postmaster.pid").read_text().split()[0])
        return {"redis": None if self._redis is None else self._redis.process.pid, "postgres": pg}

    def count(self, data_dir: Path) -> dict[str, int]:
        """Rows in ``decisions``, decision entries in the audit ledger, rows still in its
        outbox, and files left in the spool."""
        spool = data_dir / "spool"
        left = sum(1 for p in spool.rglob("*") if p.is_file()) if spool.exists() else 0
        if self.db_url is None:
            with contextlib.closing(sqlite3.connect(data_dir / "decisions.db")) as db:
                found = _count(db, "?")
            if found["ledger_entries"] is None:  # a ledger of its own (older layout)
                with contextlib.closing(sqlite3.connect(data_dir / "audit.db")) as db:
                    found["ledger_entries"] = _count(db, "?")["ledger_entries"]
        else:
            import psycopg

            with psycopg.connect(self.db_url) as db:
                found = _count(db, "%s")
        return found | {"spool_files": left}

    def close(self) -> None:
        if self._redis is not None:
            self._redis.stop()
            shutil.rmtree(self._redis_dir, ignore_errors=True)
        if self._pg is not None:
            self._pg.destroy()


def _count(db, marker: str) -> dict[str, int | None]:
    """Decisions, decision entries of the ledger and the outbox's backlog in one database
    (None: no such table); ``marker`` is the driver's parameter marker."""

    def scalar(sql: str, *params: object) -> int | None:
        try:
            return int(db.execute(sql, params).fetchone()[0])
        except Exception:  # a missing table (sqlite3 and psycopg raise different errors)
            if hasattr(db, "rollback"):
                db.rollback()
            return None

    return {
        "decisions": scalar("SELECT count(*) FROM decisions"),
        "ledger_entries": scalar(
            f"SELECT count(*) FROM audit_entries WHERE kind = {marker}", "decision"
        ),
        "outbox_backlog": scalar("SELECT count(*) FROM audit_outbox"),
    }


class Server:
    """``fintwin serve`` as a subprocess, output to ``run_dir/server.log``."""

    def __init__(self, prep: dict, backends: Backends, workers: int, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.data_dir = run_dir / "data"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "FINTWIN_TOKEN_KEY": TOKEN_KEY,
            "FINTWIN_API_KEYS_FILE": prep["keys_file"],
            "FINTWIN_REGISTRY_DIR": prep["registry"],
            "FINTWIN_DATA_DIR": str(self.data_dir),
            "FINTWIN_MODEL": prep["model_id"],
            "FINTWIN_RATE_LIMIT_PER_SECOND": "1000000",
            "FINTWIN_RATE_LIMIT_BURST": "1000000",
            # ignored until the engine's allowed lateness lands; then 409s should vanish
            "FINTWIN_ALLOWED_LATENESS_S": "60",
        }
        urls = {"FINTWIN_DB_URL": backends.db_url, "FINTWIN_REDIS_URL": backends.redis_url}
        for name, value in urls.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        exe = Path(sys.executable).with_name("fintwin")
        cmd = [str(exe), "serve", "--port", str(self.port), "--workers", str(workers)]
        cmd += ["--log-level", "warning"]
        self.log = open(run_dir / "server.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(cmd, env=env, cwd=run_dir, stdout=self.log, stderr=self.log)
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"fintwin serve exited:\n{self.tail()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.base}/readyz", timeout=1) as r,
            ):
                if r.status == 200:
                    return
            time.sleep(0.2)
        self.stop()
        sys.exit(f"fintwin serve not ready after {timeout_s} s:\n{self.tail()}")

    def native_parts(self) -> dict[str, bool]:
        """Whether uvicorn runs on uvloop and httptools (it picks them when installed; else
        asyncio's loop and the pure-Python h11), from the libraries the processes mapped."""
        maps = ""
        for p in proc_tree(self.proc.pid):
            with contextlib.suppress(OSError), open(f"/proc/{p}/maps") as fh:
                maps += fh.read()
        return {name: f"/{name}/" in maps for name in ("uvloop", "httptools")}

    def tail(self, chars: int = 3000) -> str:
        self.log.flush()
        return (self.run_dir / "server.log").read_text(errors="replace")[-chars:]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        return self.proc.returncode


class Sampler(threading.Thread):
    """CPU and RSS of the processes every ``every_s`` seconds, while a load runs."""

    def __init__(self, pids: dict[str, int | None], every_s: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.pids, self.every_s = pids, every_s
        self.samples: list[dict] = []
        self._done = threading.Event()
        self.t0 = time.monotonic()

    def sample(self) -> None:
        row: dict[str, float] = {"t_s": round(time.monotonic() - self.t0, 2)}
        for name, pid in self.pids.items():
            cpu, rss = tree_usage(pid)
            row[f"{name}_cpu_s"] = round(cpu, 2)
            row[f"{name}_rss_mib"] = round(rss, 1)
        row["load1"] = os.getloadavg()[0]
        self.samples.append(row)

    def run(self) -> None:
        self.sample()
        while not self._done.wait(self.every_s):
            self.sample()

    def finish(self) -> list[dict]:
        self._done.set()
        self.join()
        self.sample()
        return self.samples


# -- load and its summary --------------------------------------------------------------------


def run_load(
    prep: dict,
    server: Server,
    backends: Backends,
    *,
    rate: float,
    duration_s: float,
    connections: int,
    first_index: int,
    timestamps: str,
    time_origin_ms: int,
    profile: Path | None = None,
    profile_gil: bool = False,
    idle_s: float = 5.0,
) -> dict:
    """One open-loop load; raw per-request arrays and the samples."""
    tag = f"load-{first_index}"
    cfg = {
        "host": "127.0.0.1",
        "port": server.port,
        "key": prep["key"],
        "rate": rate,
        "duration_s": duration_s,
        "connections": connections,
        "events": prep["events"],
        "first_index": first_index,
        "timestamps": timestamps,
        "time_origin_ms": time_origin_ms,
        "cycle_ms": prep["cycle_ms"],
        "id_base": 1_000_000_000,
        "drain_s": 10.0,
        "out": str(server.run_dir / f"{tag}.npz"),
    }
    cfg_path = server.run_dir / f"{tag}.json"
    cfg_path.write_text(json.dumps(cfg))
    spy = None
    if profile is not None:
        spy = subprocess.Popen(
            [str(Path(sys.executable).with_name("py-spy")), "record",
             "--pid", str(server.proc.pid), "--subprocesses", "--rate", "250",
             "--format", "raw", "--output", str(profile), "--nonblocking",
             *(["--gil"] if profile_gil else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    # the server's own background work (outbox feed, pollers), without load
    idle0 = tree_usage(server.proc.pid)[0]
    time.sleep(idle_s)
    idle = 100 * (tree_usage(server.proc.pid)[0] - idle0) / idle_s if idle_s else 0.0
    client = subprocess.Popen([sys.executable, str(HERE / "_loadgen.py"), str(cfg_path)])
    # the client reports its own CPU (it has exited by the last sample)
    sampler = Sampler({"server": server.proc.pid, **backends.pids()})
    sampler.start()
    rc = client.wait()
    samples = sampler.finish()
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        spy.wait(60)
    if rc != 0:
        sys.exit(f"load generator failed ({rc}); server log:\n{server.tail()}")
    raw = dict(np.load(cfg["out"]))
    client_summary = json.loads(Path(cfg["out"] + ".json").read_text())
    return {
        "raw": raw,
        "client": client_summary,
        "samples": samples,
        "rate": rate,
        "idle_cpu_percent": round(idle, 1),
    }


def pct(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {}
    out = {
        f"p{str(p).replace('.', '_')}_ms": round(float(np.percentile(values, p)), 2)
        for p in PERCENTILES
    }
    out["max_ms"] = round(float(values.max()), 2)
    out["mean_ms"] = round(float(values.mean()), 2)
    return out


def _status_name(code: int) -> str:
    return {CONNECTION_ERROR: "connection_error", NO_ANSWER: "no_answer"}.get(code, str(code))


def summarise(load: dict, window_s: float, warmup_s: float) -> dict:
    raw, rate = load["raw"], load["rate"]
    lat, status = raw["lat_ms"], raw["status"]
    n = len(lat)
    answered = status != NO_ANSWER
    ok = status == 200
    sched_s = np.arange(n) / rate
    done_s = sched_s + np.where(answered, lat, 0) / 1e3
    span = float(done_s[answered].max()) if answered.any() else float("nan")
    errors = Counter(_status_name(int(s)) for s in status[~ok])
    windows = []
    for w0 in np.arange(0, n / rate, window_s):
        sel = (sched_s >= w0) & (sched_s < w0 + window_s) & answered
        windows.append(
            {
                "from_s": int(w0),
                "requests": int(sel.sum()),
                "p99_ms": round(float(np.percentile(lat[sel], 99)), 2) if sel.any() else None,
                "errors": int((sel & ~ok).sum()),
            }
        )
    samples = load["samples"]
    dt = samples[-1]["t_s"] - samples[0]["t_s"]
    cpu = {
        name: round(100 * (samples[-1][f"{name}_cpu_s"] - samples[0][f"{name}_cpu_s"]) / dt, 1)
        for name in ("server", "redis", "postgres")
        if f"{name}_cpu_s" in samples[0] and samples[0][f"{name}_rss_mib"] > 0
    }
    cpu["client"] = load["client"]["cpu_percent_of_one_core"]
    answered_per_s = float(answered.sum()) / span
    server_ms = 10 * (cpu["server"] - load.get("idle_cpu_percent", 0.0)) / answered_per_s
    rss = np.array([s["server_rss_mib"] for s in samples])
    ts = np.array([s["t_s"] for s in samples])
    late = ts >= warmup_s
    slope = float(np.polyfit(ts[late], rss[late], 1)[0] * 60) if late.sum() >= 3 else None
    actions = raw["action"][ok]
    return {
        "offered_rate": rate,
        "requests": n,
        "answered": int(answered.sum()),
        "ok_200": int(ok.sum()),
        "achieved_per_s": round(answered_per_s, 1),
        "ok_per_s": round(float(ok.sum()) / span, 1),
        "latency_all_answers": pct(lat[answered]),
        "latency_200": pct(lat[ok]),
        "errors": int((~ok).sum()),
        "errors_by_status": dict(errors),
        "errors_409": int((status == 409).sum()),
        "errors_other_than_409": int((~ok & (status != 409)).sum()),
        "actions": {a: int((actions == i).sum()) for i, a in enumerate(ACTIONS)},
        "degraded": int(raw["degraded"][ok].sum()),
        "unanswered": int(((status == NO_ANSWER) | (status == CONNECTION_ERROR)).sum()),
        "client_dispatch_lag": pct(raw["lag_ms"].astype(float)),
        "windows": windows,
        "cpu_percent_of_one_core": cpu,
        "server_idle_cpu_percent": load.get("idle_cpu_percent"),
        # what bounds one process: its Python runs one thread at a time (the GIL)
        "server_cpu_ms_per_request": round(server_ms, 2),
        "client_self_reported": load["client"],
        "server_rss_mib": {
            "start": float(rss[0]),
            "end": float(rss[-1]),
            "max": float(rss.max()),
            f"slope_mb_per_min_after_{int(warmup_s)}s": None if slope is None else round(slope, 2),
        },
        "load1_during": [s["load1"] for s in samples],
        "samples": samples,
    }


# -- profile ---------------------------------------------------------------------------------

# A py-spy sample belongs to the first service part with one of its frames anywhere in the
# stack; else to the generic part of its innermost frame that matches one (the ASGI app runs
# inside uvicorn's and starlette's frames, so "anywhere" would credit them with everything).
SERVICE_PARTS = (
    ("audit ledger: chaining, outbox feed", ("Ledger.append", "AuditFeed.", "take_outbox")),
    ("store: group-commit thread", ("GroupCommitter._run",)),
    ("store: record decision, wait for its commit", ("record_decision (", "record_decisions (")),
    ("store: idempotency lookup", ("find_decision (", "find_decisions (")),
    ("engine: features, score, policy, reasons", ("Decider.decide", "DecisionEngine.decide")),
    (
        "decision record, tokenise",
        ("DecisionRecord.from_decision", "service_event (", "_new_record"),
    ),
    ("auth: API key and role check", ("RoleCheck.__call__", "SecurityGuard")),
    ("metrics", ("ServiceMetrics.",)),
    (
        "fast path: headers, key, body, pydantic, answer",
        ("DecisionFastPath",),
    ),
    ("decision lane: rounds, hand-offs", ("DecisionLane.",)),
)
GENERIC_PARTS = (
    (
        "threadpool handoffs (anyio, locks, queues)",
        ("anyio/", "run_in_threadpool", "queue.py", "threading.py", "concurrent/"),
    ),
    (
        "FastAPI request: dependencies, body, pydantic",
        ("fastapi/dependencies", "pydantic", "fastapi/_compat"),
    ),
    (
        "FastAPI response: JSON, headers",
        ("serialize_response", "responses.py", "json/", "jsonable_encoder"),
    ),
    ("HTTP: uvicorn parsing and writing", ("h11/", "h11_impl.py", "httptools_impl.py")),
    (
        "ASGI middleware and routing",
        ("middleware", "routing.py", "fintwin/service", "starlette/"),
    ),
    ("PostgreSQL driver (psycopg; caller not resolved)", ("psycopg/",)),
    ("endpoint, other", ("fintwin/",)),
    ("asyncio event loop", ("asyncio/", "selectors.py")),
)


def _part(frames: list[str]) -> str:
    for part, anchors in SERVICE_PARTS:
        if any(a in f for f in frames for a in anchors):
            return part
    for frame in reversed(frames):
        for part, anchors in GENERIC_PARTS:
            if any(a in frame for a in anchors):
                return part
    return "other"


def profile_parts(raw: Path) -> dict[str, float]:
    """Share (%) of a py-spy ``--format raw`` profile's samples in each part of the request
    (:data:`SERVICE_PARTS`, :data:`GENERIC_PARTS`)."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        counts[_part(stack.split(";"))] += int(n)
    total = sum(counts.values()) or 1
    return {p: round(100 * c / total, 1) for p, c in counts.most_common()}


# -- the two modes ---------------------------------------------------------------------------


def store_check(stored: dict, ok: int, unanswered: int) -> dict:
    """Whether the store holds one decision per answer 200 (exactly; or, when some requests
    had no answer, which the server may still have decided, at most that many more), and the
    ledger one decision entry per stored decision (counting those still in its outbox)."""
    d = stored["decisions"]
    chained = (stored["ledger_entries"] or 0) + (stored.get("outbox_backlog") or 0)
    if unanswered == 0:
        verdict = "exactly one per answer 200" if d == ok else "MISMATCH"
    elif ok <= d <= ok + unanswered:
        verdict = f"one per answer 200, plus {d - ok} decided without an answer received"
    else:
        verdict = "MISMATCH"
    ledger = "ledger: one entry per decision" if chained == d else "ledger: MISMATCH"
    return stored | {"answers_200": ok, "unanswered": unanswered, "verdict": f"{verdict}; {ledger}"}


def single_run(args, prep: dict, backends: Backends, root: Path) -> dict:
    backends.fresh()
    run_dir = root / f"run-{args.backend}-w{args.workers}-{int(time.time())}"
    run_dir.mkdir()
    load_before = os.getloadavg()
    server = Server(prep, backends, args.workers, run_dir)
    native = server.native_parts()
    try:
        load = run_load(
            prep, server, backends, rate=args.rate, duration_s=args.duration,
            connections=args.connections, first_index=0, timestamps=args.timestamps,
            time_origin_ms=int(time.time() * 1000), profile=args.profile,
            profile_gil=args.profile_gil,
        )  # fmt: skip
    finally:
        rc = server.stop()
    out = summarise(load, args.window_s, args.warmup_s)
    if args.profile is not None and args.profile.exists():
        out["profile"] = {
            "file": str(args.profile),
            "gil_only": args.profile_gil,
            "parts_percent_of_samples": profile_parts(args.profile),
        }
    out["load_average_before"] = load_before
    out["server_native_parts"] = native
    out["server_exit_code"] = rc
    out["store"] = store_check(backends.count(server.data_dir), out["ok_200"], out["unanswered"])
    if rc not in (0, -signal.SIGTERM):
        out["server_log_tail"] = server.tail()
    if args.keep_runs is False:
        shutil.rmtree(run_dir, ignore_errors=True)
    return out


def scan(args, prep: dict, backends: Backends, root: Path) -> dict:
    if ":" in args.scan_rates:
        start, stop, step = (float(x) for x in args.scan_rates.split(":"))
        rates = [float(r) for r in np.arange(start, stop + step / 2, step)]
    else:
        rates = [float(r) for r in args.scan_rates.split(",")]
    out = {}
    for workers in (int(w) for w in args.workers_scan.split(",")):
        backends.fresh()
        run_dir = root / f"scan-{args.backend}-w{workers}-{int(time.time())}"
        run_dir.mkdir()
        server = Server(prep, backends, workers, run_dir)
        native = server.native_parts()
        origin = int(time.time() * 1000)
        steps, best, ok_total, unanswered, index = [], None, 0, 0, 0
        try:
            warm = run_load(
                prep, server, backends, rate=50, duration_s=10, connections=args.connections,
                first_index=0, timestamps=args.timestamps, time_origin_ms=origin,
            )  # fmt: skip
            ok_total += int((warm["raw"]["status"] == 200).sum())
            unanswered += int((warm["raw"]["status"] <= 0).sum())
            index = len(warm["raw"]["status"])
            for rate in rates:
                load_before = os.getloadavg()
                load = run_load(
                    prep, server, backends, rate=float(rate), duration_s=args.scan_step_s,
                    connections=args.connections, first_index=index, timestamps=args.timestamps,
                    time_origin_ms=origin,
                )  # fmt: skip
                index += len(load["raw"]["status"])
                s = summarise(load, args.scan_step_s, 0)
                ok_total += s["ok_200"]
                unanswered += s["unanswered"]
                passed = (
                    s["latency_all_answers"].get("p99_ms", 1e9) <= args.p99_ms
                    and s["errors_other_than_409"] == 0
                )
                steps.append(
                    {
                        "rate": float(rate),
                        "passed": passed,
                        "load_average_before": load_before,
                        **{k: s[k] for k in ("achieved_per_s", "ok_per_s", "errors_409")},
                        "errors_other_than_409": s["errors_other_than_409"],
                        "errors_by_status": s["errors_by_status"],
                        "latency": s["latency_all_answers"],
                        "cpu_percent_of_one_core": s["cpu_percent_of_one_core"],
                        "server_cpu_ms_per_request": s["server_cpu_ms_per_request"],
                        "server_rss_mib_end": s["server_rss_mib"]["end"],
                    }
                )
                print(f"workers {workers} rate {rate:.0f}: {steps[-1]}", file=sys.stderr)
                if passed:
                    best = float(rate)
                # past the first failure, go on until saturated: how far throughput scales
                saturated = s["achieved_per_s"] < 0.9 * rate
                if saturated or not (passed or args.scan_to_saturation):
                    break
        finally:
            rc = server.stop()
        out[str(workers)] = {
            "best_rate": best,
            "capacity_answers_per_s": max((st["achieved_per_s"] for st in steps), default=None),
            "capacity_200_per_s": max((st["ok_per_s"] for st in steps), default=None),
            "server_native_parts": native,
            "steps": steps,
            "server_exit_code": rc,
            "store": store_check(backends.count(server.data_dir), ok_total, unanswered),
        }
        if not args.keep_runs:
            shutil.rmtree(run_dir, ignore_errors=True)
    return out


# -- Markdown --------------------------------------------------------------------------------


def _note_409(result: dict, n409: int) -> list[str]:
    if n409 == 0:
        return []
    a, gap = result["args"], result["prepared"]["mean_event_gap_s"]
    if a["timestamps"] == "world":
        why = (
            f"world-time replay puts consecutive events {gap} s apart in event time on average, "
            "more than the server's allowed lateness (FINTWIN_ALLOWED_LATENESS_S=60), so two "
            "requests the server takes in the opposite order of their timestamps give a 409"
        )
    else:
        why = "events later than the allowed lateness behind the latest one seen"
    return [f"- 409s (events refused as out of order): {n409:,}; {why}"]


def markdown(result: dict) -> str:
    a = result["args"]
    m = result["machine"]
    lines = [
        f"### Decision service over HTTP ({a['backend']}, {a['timestamps']} timestamps)",
        "",
        f"Machine: {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}; shared with "
        "other jobs (load average before the run below). World: handbook "
        f"{result['prepared']['customers']} customers x {result['prepared']['days']} days "
        f"({result['prepared']['transactions']:,} payments of amount > 0, replayed in passes), "
        "model "
        f"`{result['prepared']['model_id']}`. Client: `bench/_loadgen.py` in its own process, "
        f"open loop, {a['connections']} keep-alive connections, latency from the scheduled send "
        "time.",
        "",
    ]
    r = result.get("run")
    if r is not None:
        lat = r["latency_all_answers"]
        rss = r["server_rss_mib"]
        slope_key = next(k for k in rss if k.startswith("slope"))
        cpu = ", ".join(f"{k} {v}%" for k, v in r["cpu_percent_of_one_core"].items())
        st = r["store"]
        lines += [
            f"`python bench/bench_service.py --backend {a['backend']} --rate {a['rate']:g} "
            f"--duration {a['duration']:g} --workers {a['workers']}`, load average before "
            f"{' / '.join(f'{x:.2f}' for x in r['load_average_before'])}:",
            "",
            "| offered /s | achieved /s | 200 /s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms "
            "| errors (409) | RSS MiB start / end / max | RSS slope MB/min |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {r['offered_rate']:g} | {r['achieved_per_s']:,} | {r['ok_per_s']:,} "
            f"| {lat['p50_ms']} | {lat['p90_ms']} | {lat['p99_ms']} | {lat['p99_9_ms']} "
            f"| {lat['max_ms']} | {r['errors']} ({r['errors_409']}) "
            f"| {rss['start']:.0f} / {rss['end']:.0f} / {rss['max']:.0f} | {rss[slope_key]} |",
            "",
            f"- errors by status: {r['errors_by_status'] or 'none'}; actions of the 200s: "
            f"{r['actions']}; degraded: {r['degraded']}",
            *_note_409(result, r["errors_409"]),
            f"- server CPU per request {r['server_cpu_ms_per_request']} ms (idle server "
            f"{r['server_idle_cpu_percent']}% of a core, subtracted); uvicorn on "
            + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in r["server_native_parts"].items()),
            f"- CPU (% of one core, whole run): {cpu}; load average during the run "
            f"{min(r['load1_during']):.2f} to {max(r['load1_during']):.2f}",
            f"- p99 (ms) per {a['window_s']:g} s window: "
            + ", ".join(str(w["p99_ms"]) for w in r["windows"]),
            f"- store after the run: {st['decisions']:,} decisions, {st['ledger_entries']:,} "
            f"ledger decision entries ({st.get('outbox_backlog')} still in the outbox), "
            f"{st['spool_files']} spool files, for {r['ok_200']:,} answers 200 "
            f"({r['unanswered']} unanswered): {st['verdict']}",
            f"- client dispatch lag p99 {r['client_dispatch_lag'].get('p99_ms')} ms",
            "",
        ]
        if "profile" in r:
            prof = r["profile"]
            what = "thread holding the GIL" if prof["gil_only"] else "all threads, waits included"
            lines += [f"py-spy profile of the server ({what}), share of samples:", ""]
            lines += [f"- {p}: {v}%" for p, v in prof["parts_percent_of_samples"].items()]
            lines.append("")
    s = result.get("scan")
    if s is not None:
        lines += [
            f"Worker scan (`--workers-scan {a['workers_scan']}`, {a['scan_step_s']:g} s per "
            f"rate, pass: p99 <= {a['p99_ms']:g} ms and no errors but 409):",
            "",
            "| workers | rate /s | achieved /s | p50 ms | p99 ms | 409s | other errors "
            "| server CPU ms/request | CPU % of a core | passed |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for workers, res in s.items():
            for step in res["steps"]:
                cpu = ", ".join(f"{k} {v}" for k, v in step["cpu_percent_of_one_core"].items())
                lines.append(
                    f"| {workers} | {step['rate']:g} | {step['achieved_per_s']:,} "
                    f"| {step['latency'].get('p50_ms')} | {step['latency'].get('p99_ms')} "
                    f"| {step['errors_409']} | {step['errors_other_than_409']} "
                    f"| {step['server_cpu_ms_per_request']} | {cpu} "
                    f"| {'yes' if step['passed'] else 'no'} |"
                )
        lines.append("")
        lines += [
            f"- {w} worker(s): highest passing rate {res['best_rate']}/s; most answered "
            f"{res['capacity_answers_per_s']}/s ({res['capacity_200_per_s']} 200s/s); store "
            f"{res['store']['decisions']:,} decisions for {res['store']['answers_200']:,} answers "
            f"200: {res['store']['verdict']}"
            for w, res in s.items()
        ]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=("embedded", "redis-postgres"), default="embedded")
    ap.add_argument("--rate", type=float, default=1000.0, help="offered requests per second")
    ap.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1, help="fintwin serve --workers")
    ap.add_argument("--timestamps", choices=("world", "wall"), default="world")
    ap.add_argument("--workers-scan", default=None, help="e.g. 1,2: scan rates per worker count")
    ap.add_argument(
        "--scan-rates",
        default="50,100,150,200,300,400,500,750,1000,1250,1500,2000,2500,3000",
        help="rates to try in turn (per second): a comma list or start:stop:step",
    )
    ap.add_argument("--scan-step-s", type=float, default=30.0)
    ap.add_argument(
        "--scan-to-saturation",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after the first failing rate, go on until the server answers < 90%% of the rate",
    )
    ap.add_argument("--p99-ms", type=float, default=20.0)
    ap.add_argument("--window-s", type=float, default=30.0, help="p99 reported per window")
    ap.add_argument("--warmup-s", type=float, default=30.0, help="before the RSS slope is fitted")
    ap.add_argument("--customers", type=int, default=500)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=None, help="keep and reuse world and model")
    ap.add_argument("--keep-runs", action="store_true", help="keep data dirs and server logs")
    ap.add_argument("--profile", type=Path, default=None, help="py-spy raw profile of the run")
    ap.add_argument(
        "--profile-gil",
        action="store_true",
        help="profile only the thread holding the GIL (where the CPU goes, not the waits)",
    )
    ap.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = ap.parse_args()

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="fintwin-bench-service-")
        root = Path(tmp.name)
    else:
        root = args.workdir.resolve()
        root.mkdir(parents=True, exist_ok=True)
    backends = None
    try:
        prep = prepare(root, args.customers, args.days, args.seed)
        result: dict = {
            "machine": machine(),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "prepared": {k: v for k, v in prep.items() if k != "key"},
        }
        backends = Backends(args.backend)
        if args.workers_scan:
            result["scan"] = scan(args, prep, backends, root)
        else:
            result["run"] = single_run(args, prep, backends, root)
        result["load_average_end"] = os.getloadavg()
    finally:
        if backends is not None:
            backends.close()
        if tmp is not None:
            tmp.cleanup()
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))
    print(markdown(result))


if __name__ == "__main__":
    main()
