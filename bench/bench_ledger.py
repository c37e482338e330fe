"""Benchmark: audit ledger appends/s and verification throughput, SQLite and PostgreSQL.

    python bench/bench_ledger.py [--appends 2000] [--batch 100] [--entries 1000000]
                                 [--pg-url URL | --no-postgres]

For each store (an SQLite file in a temporary folder; PostgreSQL at ``--pg-url``, else a private
server started like the tests' one, tests/_postgres_server.py):

1. durable single appends (``Ledger.append``: one transaction and one fsync each), appends/s and
   the p50 / p99 latency;
2. group commits (``Ledger.append_many`` of ``--batch`` records), records/s;
3. ``--entries`` entries in total (bulk-appended in batches of 10,000), then ``verify`` of the
   whole chain and its checkpoints (every 1,024) in a fresh process: entries/s and that
   process's peak RSS (the walk streams, so it should not grow with the ledger).

Payloads look like decision records (~330 bytes of canonical JSON). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine
from fintwin.governance.ledger import Ledger, RecordKind

_VERIFY = """
import json, resource, sys, time
from fintwin.governance.ledger import open_store, verify
store = open_store(sys.argv[1], create=False)
t = time.perf_counter()
report = verify(store)
seconds = time.perf_counter() - t
store.close()
print(json.dumps({"ok": report.ok, "entries": report.entries, "checkpoints": report.checkpoints,
                  "seconds": seconds, "peak_rss_mib": resource.getrusage(
                      resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def payload(i: int) -> dict:
    return {
        "decision_id": f"dec_{i:012d}",
        "event_id": f"txn_{i:012d}",
        "action": ("approve", "review", "decline")[i % 3],
        "score": (i % 1000) / 1000,
        "amount": f"{(i % 50000) / 100:.2f}",
        "rules": ["high_amount_new_device", "velocity_1h"][: i % 3],
        "reasons": ["R12", "R31"][: i % 3],
        "model_id": "fraud-handbook/3",
        "model_digest": "9f2c" * 16,
        "policy": "handbook@7",
        "latency_ms": 0.84,
    }


def bench_store(target: str, appends: int, batch: int, entries: int) -> dict:
    out: dict = {}
    ledger = Ledger(target)
    lat = []
    t0 = time.perf_counter()
    for i in range(appends):
        t = time.perf_counter()
        ledger.append(RecordKind.DECISION, payload(i), actor="scorer:key_01")
        lat.append(time.perf_counter() - t)
    out["single_appends_per_s"] = round(appends / (time.perf_counter() - t0))
    out["single_append_ms_p50_p99"] = [
        round(float(np.percentile(lat, q)) * 1e3, 3) for q in (50, 99)
    ]
    n = 0
    t0 = time.perf_counter()
    while n < 20 * batch:
        ledger.append_many([("decision", payload(n + j), "scorer:key_01") for j in range(batch)])
        n += batch
    out[f"group_commit_{batch}_records_per_s"] = round(n / (time.perf_counter() - t0))
    have = appends + n
    t0 = time.perf_counter()
    while have < entries:
        k = min(10_000, entries - have)
        ledger.append_many([("decision", payload(have + j), "scorer:key_01") for j in range(k)])
        have += k
    out["bulk_fill_records_per_s"] = round((have - appends - n) / (time.perf_counter() - t0))
    ledger.close()
    res = subprocess.run([sys.executable, "-c", _VERIFY, target], capture_output=True, text=True,
                         check=True)  # fmt: skip
    verified = json.loads(res.stdout)
    assert verified["ok"] and verified["entries"] == entries, verified
    out["verify_entries"] = verified["entries"]
    out["verify_checkpoints"] = verified["checkpoints"]
    out["verify_seconds"] = round(verified["seconds"], 2)
    out["verify_entries_per_s"] = round(verified["entries"] / verified["seconds"])
    out["verify_peak_rss_mib"] = round(verified["peak_rss_mib"], 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--pg-url")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    result: dict = {"machine": machine(), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "audit.db")
        result["sqlite"] = bench_store(db, args.appends, args.batch, args.entries)
        result["sqlite"]["file_mib"] = round(
            sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20, 1
        )
    if not args.no_postgres:
        url, pg = args.pg_url, None
        if url is None:
            path = Path(__file__).parents[1] / "tests" / "_postgres_server.py"
            spec = importlib.util.spec_from_file_location("_bench_postgres", path)
            pg = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = pg
            spec.loader.exec_module(pg)
            pg = pg.start_postgres()
            url = pg.create_database()
        try:
            result["postgres"] = bench_store(url, args.appends, args.batch, args.entries)
        finally:
            if pg is not None:
                pg.destroy()
    result["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
