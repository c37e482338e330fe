"""The processes of ``bench_service.py``: the backends (embedded, or a private PostgreSQL and
Redis), the ``fintwin serve`` server, and the sampler of their CPU, RSS and load."""

from __future__ import annotations

import contextlib
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOKEN_KEY = "bench-token-key-" + "k" * 32
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- processes: backends, server, sampling ---------------------------------------------------


def wait_http_ok(url: str, proc: subprocess.Popen, timeout_s: float) -> bool:
    """Whether ``url`` answered 200 within ``timeout_s`` while ``proc`` (the server) lived."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                return True
        time.sleep(0.2)
    return False


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
        if wait_http_ok(f"{self.base}/readyz", self.proc, timeout_s):
            return
        if self.proc.poll() is not None:
            sys.exit(f"fintwin serve exited:\n{self.tail()}")
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
