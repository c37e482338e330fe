"""Benchmark: OnlineFeatureEngine.update over RedisState against InMemoryState.

    python bench/bench_redis_state.py [--customers 500] [--days 40] [--events 8000]

Simulates a handbook world, starts a private ``redis-server`` on a free loopback port, and
replays the first ``--events`` payments (in time order) with the handbook feature set through:

- ``memory``: ``InMemoryState``;
- ``redis-atomic``: ``RedisState``, each event one ``state.atomic(engine.update, event)``
  (per-event read cache, one Lua commit), as the service runs it;
- ``redis-direct``: ``RedisState`` without transactions (a round trip per get and per put).

Each in two modes: ``live`` (events without labels, as the service receives them: each event
leaves a label target) and ``replay`` (events carry ``is_fraud`` / ``label_available_at``, so the
engine's pending-label heap holds every label not yet available, about 7 days of payments, and
every event rewrites it). Reports per-event latency p50 / p99 (microseconds) and events/s on
one core, with the Redis keys held at the end. Prints one JSON object; the machine is shared
with other work, so the load average is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine
from fintwin.features import (
    InMemoryState,
    OnlineFeatureEngine,
    RedisState,
    handbook_feature_set,
    iter_events,
)
from fintwin.world import simulate


def start_redis(directory: Path) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install -y redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    probe = RedisState.from_url(url, timeout_s=1.0)
    for _ in range(500):
        if probe.ping():
            return proc, url
        time.sleep(0.02)
    proc.kill()
    sys.exit("redis-server did not start")


def run(events: list[dict], state, atomic: bool) -> dict[str, float]:
    fs = handbook_feature_set()
    eng = OnlineFeatureEngine(fs, state=state)
    lat = np.empty(len(events))
    call = state.atomic if atomic else (lambda fn, e: fn(e))
    clock = time.perf_counter
    start = clock()
    for i, e in enumerate(events):
        t0 = clock()
        call(eng.update, e)
        lat[i] = clock() - t0
    total = clock() - start
    out = {
        "p50_us": round(float(np.percentile(lat, 50)) * 1e6, 1),
        "p99_us": round(float(np.percentile(lat, 99)) * 1e6, 1),
        "events_per_s": round(len(events) / total),
    }
    if isinstance(state, RedisState):
        out["redis_keys"] = state.keys()
        out["conflicts"] = state.conflicts
    else:
        out["keys"] = state.keys()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=500)
    ap.add_argument("--days", type=int, default=40)
    ap.add_argument("--events", type=int, default=8000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    world = simulate(tmp / "world", "handbook", customers=args.customers, days=args.days, seed=0)
    tx = world.arrow("transactions")
    replay = list(iter_events(tx))[: args.events]
    live = [{k: v for k, v in e.items() if k not in ("is_fraud", "label_available_at")}
            for e in replay]  # fmt: skip
    proc, url = start_redis(tmp)
    results: dict[str, object] = {}
    try:
        for mode, events in (("live", live), ("replay", replay)):
            results[f"memory/{mode}"] = run(events, InMemoryState(), atomic=False)
            for atomic in (True, False):
                name = f"redis-{'atomic' if atomic else 'direct'}/{mode}"
                state = RedisState.from_url(url, namespace=name.replace("/", "-"), timeout_s=1.0)
                results[name] = run(events, state, atomic)
                state.clear()
                state.close()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        json.dumps(
            {
                "world": {"customers": args.customers, "days": args.days, "events": len(live)},
                "results": results,
                "load_average": os.getloadavg(),
                "machine": machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
