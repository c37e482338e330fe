"""A private Redis server for tests (not a test module itself).

:func:`start_redis` runs ``redis-server`` on a free loopback port in a temporary directory,
without persistence; ``redis_server`` is a session-scoped fixture around it, stopped after the
session. Tests that kill or pause a server start their own with :func:`start_redis`.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server")
_SKIP = "redis-server is not installed (apt-get install -y redis-server; make test does it)"
_names = itertools.count()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One redis-server process of ours: ``url``, :meth:`kill`, :meth:`pause`, :meth:`resume`,
    :meth:`stop`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        args = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(directory),
            "--save", "",
            "--appendonly", "no",
            "--logfile", str(directory / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server on port {self.port} not ready after {timeout_s} s")

    def kill(self) -> None:
        """SIGKILL, as a crashed server."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(5)

    def pause(self) -> None:
        """SIGSTOP: the server accepts nothing and answers nothing (a hung server)."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.resume()
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stderr is not None:
            self.process.stderr.close()


def start_redis(tmp_path_factory: pytest.TempPathFactory) -> RedisServer:
    """A fresh server in its own temporary directory; skips the test if Redis is missing."""
    if REDIS_SERVER is None:
        pytest.skip(_SKIP)
    return RedisServer(tmp_path_factory.mktemp("redis"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One Redis server for the session; tests separate themselves by namespace."""
    server = start_redis(tmp_path_factory)
    yield server
    server.stop()


def fresh_namespace(prefix: str = "t") -> str:
    """A namespace no other test of this session uses."""
    return f"{prefix}{os.getpid()}-{next(_names)}"
