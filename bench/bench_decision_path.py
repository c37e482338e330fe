"""Where a decision's CPU goes outside HTTP: each step of the service's decision path, timed in
a warm loop in one process (no sockets, no threads).

    python bench/bench_decision_path.py [--workdir DIR] [--events 20000]
                                        [--commit-sizes 1,2,4,16] [--data-dir DIR]

Uses the world, model and key of ``bench_service.py`` (built in ``--workdir`` when missing,
reused when present) and the load generator's request bodies. Steps, in the order a request
meets them: parse and validate the body (as the fast path does, and with pydantic's own JSON
parser for comparison), tokenise, decide (features, score, policy; the online state warmed by
the first half of the events), build the stored record (``DecisionRecord.from_decision``,
with its canonical JSON body), and store it as a lane round does: the keys looked up, then one
commit of ``--commit-sizes`` decisions (SQLite in ``--data-dir``, fsync included, each
decision chained into the audit ledger in the same transaction). Prints JSON: microseconds per
event for each step (CPU of the process too for the store, whose wall time is partly waiting
for the disk).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loadgen import Requests
from _machine import machine
from _service_processes import TOKEN_KEY
from bench_service import prepare
from fintwin.governance.ledger import canonical_json
from fintwin.service.runtime import open_runtime
from fintwin.service.schemas import PaymentEvent
from fintwin.service.settings import get_settings
from fintwin.service.tokens import service_event
from fintwin.store.decisions import DecisionRecord


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument(
        "--commit-sizes",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[1, 2, 4, 16],
        help="decisions per commit to time the store at, e.g. 1,2,4,16",
    )
    ap.add_argument("--data-dir", type=Path, default=None, help="the store's folder (a tmpfs?)")
    args = ap.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fintwin-path-"))
    workdir.mkdir(parents=True, exist_ok=True)
    prep = prepare(workdir, customers=500, days=60, seed=1)
    os.environ.update(
        {
            "FINTWIN_TOKEN_KEY": TOKEN_KEY,
            "FINTWIN_API_KEYS_FILE": prep["keys_file"],
            "FINTWIN_REGISTRY_DIR": prep["registry"],
            "FINTWIN_DATA_DIR": tempfile.mkdtemp(prefix="fintwin-path-data-", dir=args.data_dir),
            "FINTWIN_MODEL": prep["model_id"],
        }
    )
    rt = open_runtime(get_settings())
    cfg = {
        "events": prep["events"], "timestamps": "world", "time_origin_ms": int(time.time() * 1e3),
        "cycle_ms": prep["cycle_ms"], "id_base": 1_000_000_000, "first_index": 0, "rate": 1000,
        "host": "127.0.0.1", "port": 1, "key": prep["key"],
    }  # fmt: skip
    build = Requests(cfg, time.perf_counter())
    n = args.events
    bodies = [build(i).partition(b"\r\n\r\n")[2] for i in range(n)]
    us: dict[str, float] = {}

    def timed(step: str, f, items: list) -> list:
        t0 = time.perf_counter()
        out = [f(x) for x in items]
        us[step] = round((time.perf_counter() - t0) / len(items) * 1e6, 1)
        return out

    payments = timed(
        "parse + validate (json.loads, model_validate)",
        lambda b: PaymentEvent.model_validate(json.loads(b)),
        bodies,
    )
    timed("parse + validate (model_validate_json)", PaymentEvent.model_validate_json, bodies)
    events = timed(
        "tokenise (service_event)",
        lambda p: service_event(p, rt.tokeniser, rt.settings.tokenise_fields),
        payments,
    )
    half = n // 2
    for event in events[:half]:
        rt.decider.decide(event)
    decisions = timed(
        "decide (features, score, policy)", lambda e: rt.decider.decide(e)[0], events[half:]
    )
    now = dt.datetime.now(dt.UTC)
    records = timed(
        "record (DecisionRecord.from_decision)",
        lambda d: DecisionRecord.from_decision(
            d,
            idempotency_key=str(d.transaction_id),
            event_id=str(d.transaction_id),
            received_at=now,
        ),
        decisions,
    )
    timed("  of which Decision.to_dict", lambda d: d.to_dict(), decisions)
    timed("  of which canonical JSON of the body", lambda r: canonical_json(r.body), records)

    def cpu_s() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    # a lane round: the key lookup, then one commit; the records split among the sizes
    share = len(records) // len(args.commit_sizes)
    for k, size in enumerate(args.commit_sizes):
        mine = records[k * share : (k + 1) * share]
        t0, c0 = time.perf_counter(), cpu_s()
        for i in range(0, len(mine), size):
            batch = mine[i : i + size]
            rt.store.find_decisions([r.idempotency_key for r in batch])
            rt.store.record_decisions(batch)
        step = f"look up, store and chain, {size} per commit"
        us[f"{step} (wall)"] = round((time.perf_counter() - t0) / len(mine) * 1e6, 1)
        us[f"{step} (CPU)"] = round((cpu_s() - c0) / len(mine) * 1e6, 1)
    rt.close()
    print(json.dumps({"machine": machine(), "events": n, "us_per_event": us}, indent=1))


if __name__ == "__main__":
    main()
