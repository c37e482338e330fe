"""Benchmark: durable decisions/s and record_decision latency with concurrent writers.

    python bench/bench_decision_store.py [--writers 8] [--per-writer 1000] [--pg-url URL]
                                [--skip-postgres] [--features 40]

For each store, ``--writers`` threads (a service's request handlers) each record
``--per-writer`` decisions with distinct idempotency keys, all started together; every call
returns only once its decision is durable (fsynced). Each decision carries a body like a real
one (``Decision.to_dict()`` with ``--features`` features and explanation, about 2 KB).

Stores measured:

- ``sqlite_group``: SQLite, WAL, ``synchronous=FULL``, group commit (the embedded default);
- ``sqlite_per_call``: the same, one transaction per call in the caller's thread;
- ``postgres_group`` / ``postgres_per_call``: PostgreSQL (a private server started with the
  tests' helper unless ``--pg-url`` is given; ``fsync=on``, ``synchronous_commit=on``);
- ``spool_only``: the database unreachable, every decision appended to the spool (fsync each).

Reports decisions/s (wall clock over all writers, successful calls only), failed calls,
p50 / p99 / max latency of record_decision, transactions committed and writes per
transaction, and the machine. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from fintwin.exceptions import StoreError

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine
from fintwin.store.decisions import (
    DecisionRecord,
    DecisionStore,
    PostgresStore,
    SpoolingStore,
    SQLiteStore,
)

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _body(features: int, i: int) -> dict:
    names = [f"feature_{k:02d}" for k in range(features)]
    return {
        "transaction_id": i,
        "timestamp": 1_740_787_200_000 + i,
        "action": "review",
        "score": 0.73,
        "band": "review",
        "rules": ["velocity_1h", "new_device"],
        "reasons": ["R12", "R31"],
        "top_features": [{"feature": n, "value": 1.5, "contribution": 0.2} for n in names[:3]],
        "explanation": {
            "margin": 1.2,
            "bias": -3.1,
            "contributions": {n: 0.01 * k for k, n in enumerate(names)},
            "top": [],
        },
        "features": {n: 0.5 * k for k, n in enumerate(names)},
        "latency_s": 0.0004,
        "model_id": "fraud-lgbm@3",
        "model_digest": "ab" * 32,
        "policy": "handbook",
        "policy_version": "1",
        "policy_hash": "cd" * 32,
    }


def _record(writer: int, i: int, features: int) -> DecisionRecord:
    when = T0 + timedelta(milliseconds=i)
    return DecisionRecord(
        decision_id=f"w{writer}-{i}",
        idempotency_key=f"key-w{writer}-{i}",
        event_id=f"tx-w{writer}-{i}",
        received_at=when,
        decided_at=when,
        action="review",
        score=0.73,
        model_id="fraud-lgbm@3",
        policy_hash="cd" * 32,
        degraded=False,
        body=_body(features, i),
    )


def run(store: DecisionStore, writers: int, per_writer: int, features: int) -> dict:
    records = [[_record(w, i, features) for i in range(per_writer)] for w in range(writers)]
    latencies = [np.empty(per_writer) for _ in range(writers)]
    barrier = threading.Barrier(writers + 1)
    errors: list[str] = []

    def writer(w: int) -> None:
        barrier.wait()
        lat = latencies[w]
        for i, record in enumerate(records[w]):
            t = time.perf_counter()
            try:
                store.record_decision(record)
            except StoreError as exc:
                errors.append(str(exc))
                lat[i] = np.nan
                continue
            lat[i] = time.perf_counter() - t

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    status = store.status()
    lat_ms = np.concatenate(latencies) * 1000
    lat_ms = lat_ms[~np.isnan(lat_ms)]  # the latency of the calls that succeeded
    n = len(lat_ms)
    return {
        "decisions": n,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": round(elapsed, 3),
        "decisions_per_s": round(n / elapsed),
        "p50_ms": round(float(np.percentile(lat_ms, 50)), 3),
        "p99_ms": round(float(np.percentile(lat_ms, 99)), 3),
        "max_ms": round(float(lat_ms.max()), 3),
        "commits": status.commits,
        "writes_per_commit": round(status.writes / status.commits, 2) if status.commits else None,
        "spooled": status.spooled,
    }


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"postgresql://fintwin@127.0.0.1:{sock.getsockname()[1]}/postgres"


def _private_postgres():
    path = Path(__file__).parents[1] / "tests" / "service" / "_postgres.py"
    spec = importlib.util.spec_from_file_location("fintwin_bench_postgres", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = module.PostgresServer(Path(tempfile.mkdtemp(prefix="fintwin-bench-pg-")))
    server.start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--per-writer", type=int, default=1000)
    parser.add_argument("--features", type=int, default=40)
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, object] = {"machine": machine(), "load_before": os.getloadavg()}
    sample = _record(0, 0, args.features)
    results["body_bytes"] = len(sample.body_json())
    results["writers"] = args.writers
    run_args = (args.writers, args.per_writer, args.features)
    with tempfile.TemporaryDirectory() as tmp:
        for name, group in (("sqlite_group", True), ("sqlite_per_call", False)):
            with SQLiteStore(Path(tmp) / f"{name}.db", group_commit=group) as store:
                results[name] = run(store, *run_args)
        spool = SpoolingStore(
            PostgresStore(_closed_port_url(), connect_timeout_s=0.5),
            Path(tmp) / "spool",
            retry_after_s=3600,
            background=False,
        )
        spool.record_decision(_record(99, 0, args.features))  # pays the one connect timeout
        results["spool_only"] = run(spool, *run_args)
        spool._stop.set()  # leave the spool undrained: nothing to drain into
        spool.inner.close()
        spool._spool.close()
    if not args.skip_postgres:
        server = None if args.pg_url else _private_postgres()
        try:
            for name, group in (("postgres_group", True), ("postgres_per_call", False)):
                url = args.pg_url or server.create_database()
                with PostgresStore(url, group_commit=group, pool_size=args.writers + 1) as store:
                    results[name] = run(store, *run_args)
        finally:
            if server is not None:
                server.destroy()
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
