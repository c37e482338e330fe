"""A private PostgreSQL server for the tests (decision store, audit ledger): initdb + pg_ctl on
a free port.

``postgres_server`` is a session-scoped fixture (registered in ``tests/conftest.py``) shared by
every test; ``pg_url`` gives a fresh database on it; :func:`start_postgres` starts another
server for a test that stops and restarts its own. The server listens on 127.0.0.1 only,
trusts local connections, keeps ``fsync=on`` (the tests are about durability) and lives in a
temporary directory removed at the end. When the tests run as root (containers), the server
runs as the ``postgres`` user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN_DIR = Path(os.environ.get("FINTWIN_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One PostgreSQL server in its own directory.

    Attributes
    ----------
    port : int
    url : str
        Connection URL of the ``postgres`` database as the superuser ``fintwin``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self.url = f"postgresql://fintwin@127.0.0.1:{self.port}/postgres"
        self._user: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(root, pw.pw_uid, pw.pw_gid)
            self._user = ["runuser", "-u", "postgres", "--"]
        self._run(
            BIN_DIR / "initdb",
            "-D",
            self.data,
            "-U",
            "fintwin",
            "--auth=trust",
            "--no-sync",  # the cluster's creation need not survive a power cut
            "-E",
            "UTF8",
        )

    def _run(self, *args: object) -> None:
        cmd = [*self._user, *map(str, args)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{cmd} failed: {done.stdout}{done.stderr}\n{log}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
            " -c fsync=on -c synchronous_commit=on -c max_connections=200"
        )
        self._run(BIN_DIR / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """``mode="immediate"`` is a crash: no checkpoint, connections cut."""
        self._run(BIN_DIR / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql://fintwin@127.0.0.1:{self.port}/{name}"

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """Start a new private server (skips the test when PostgreSQL is not installed)."""
    if not (BIN_DIR / "initdb").exists():
        pytest.skip(f"PostgreSQL binaries not found in {BIN_DIR} (set FINTWIN_PG_BIN)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: PostgreSQL cannot be started")
    # not under pytest's tmp dir: that one is private to root, and the server may run as postgres
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="fintwin-pg-")))
    try:
        server.start()
    except BaseException:
        server.destroy()
        raise
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_postgres()
    yield server
    server.destroy()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """URL of a fresh database on the session's server."""
    return postgres_server.create_database()
