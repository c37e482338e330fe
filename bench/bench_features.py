"""Benchmark: offline and online feature engines.

    python bench/bench_features.py [--repeat 3] [--online-days 75] [--retail-customers 2000]
                                   [--sections offline,online,graph]

- offline: transactions/s of ``compute_offline(handbook_feature_set())`` and of the fraud
  models' ``handbook_plus_feature_set()`` on the handbook world at the book's size
  (``simulate(out, "handbook", seed=0)``, about 1.75M payments; the table is in memory, reading it
  is timed apart), and of ``retail_feature_set()`` on a retail-bank world;
- online: per-event latency of ``OnlineFeatureEngine.update`` (p50 / p99 / p99.9 in
  microseconds) and events/s on one core, replaying the first ``--online-days`` days of each
  world (long enough for every window, 30 days plus the 7-day label delay, to fill), with the
  state size (entries and keys held) at the end of every day, to show it stays bounded;
- graph: the relationship-graph families, offline and online: ``FraudDistance`` and
  ``ComponentSize`` over the card-device graph of the retail-bank world, ``ShortCycle`` over the
  transfers of an ``aml`` world (one incremental algorithm serves both engines, so offline is a
  Python loop too).

Prints one JSON object. The machine is shared with other work: the load average is printed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine
from fintwin.features import (
    ComponentSize,
    FeatureSet,
    FraudDistance,
    OnlineFeatureEngine,
    ShortCycle,
    compute_offline,
    compute_world,
    handbook_feature_set,
    iter_events,
    retail_feature_set,
)
from fintwin.risk import handbook_plus_feature_set
from fintwin.world import simulate

DAY_S = 86_400
DAY_MS = 1000 * DAY_S


def offline(fs: FeatureSet, world, repeat: int, table: str = "transactions") -> dict[str, object]:
    id_column = "transfer_id" if table == "transfers" else "transaction_id"
    t0 = time.perf_counter()
    tx = world.arrow(table, columns=[id_column, "timestamp", *fs.columns])
    read_s = time.perf_counter() - t0
    customers = world.arrow("customers") if fs.needs_customers else None
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        compute_offline(fs, tx, customers)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    compute_world(fs, world, table)
    world_s = time.perf_counter() - t0
    best = statistics.median(times)
    return {
        "rows": tx.num_rows,
        "features": len(fs),
        "compute_s_median": round(best, 3),
        "compute_s_all": [round(t, 3) for t in times],
        "transactions_per_s": round(tx.num_rows / best),
        "read_s": round(read_s, 3),
        "compute_world_s": round(world_s, 3),
        "compute_world_transactions_per_s": round(tx.num_rows / world_s),
    }


def online(fs: FeatureSet, world, days: int, table: str = "transactions") -> dict[str, object]:
    tx = world.arrow(table)
    start = pc.min(tx.column("timestamp")).cast(pa.int64()).as_py()
    ts = tx.column("timestamp").cast(pa.int64())
    tx = tx.filter(pc.less(ts, start + days * DAY_MS))
    events = list(iter_events(tx))  # decoded up front: the engine's work alone is timed
    customers = world.arrow("customers") if fs.needs_customers else None
    eng = OnlineFeatureEngine(fs, customers=customers)
    lat = np.empty(len(events), dtype=np.int64)
    sizes: list[tuple[int, int, int]] = []
    next_day = start + DAY_MS
    clock = time.perf_counter_ns
    gc.collect()
    t_all, sampling = clock(), 0
    for i, e in enumerate(events):
        if e["timestamp"] >= next_day:
            t0 = clock()
            sizes.append(((next_day - start) // DAY_MS, eng.state.size(), eng.state.keys()))
            next_day += DAY_MS
            sampling += clock() - t0
        t0 = clock()
        eng.update(e)
        lat[i] = clock() - t0
    wall = (clock() - t_all - sampling) / 1e9
    sizes.append((days, eng.state.size(), eng.state.keys()))
    us = lat / 1000
    # windows fill within the first 37 days (30-day window + 7-day label delay); after that
    # the state should stay level: compare the last third with the middle third
    middle = [n for d, n, _ in sizes if days // 3 < d <= 2 * days // 3]
    last = [n for d, n, _ in sizes if d > 2 * days // 3]
    return {
        "events": len(events),
        "days": days,
        "features": len(fs),
        "p50_us": round(float(np.percentile(us, 50)), 1),
        "p99_us": round(float(np.percentile(us, 99)), 1),
        "p99_9_us": round(float(np.percentile(us, 99.9)), 1),
        "mean_us": round(float(us.mean()), 1),
        "events_per_s": round(len(events) / (lat.sum() / 1e9)),
        "events_per_s_wall": round(len(events) / wall),
        "state_entries_by_day": [[d, n] for d, n, _ in sizes if d % 5 == 0],
        "state_keys_by_day": [[d, k] for d, _, k in sizes if d % 5 == 0],
        "state_entries_max_last_third": max(last),
        "state_entries_max_middle_third": max(middle),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--online-days", type=int, default=75)
    ap.add_argument("--retail-customers", type=int, default=2000)
    ap.add_argument("--retail-days", type=int, default=90)
    ap.add_argument("--aml-customers", type=int, default=2000)
    ap.add_argument("--sections", default="offline,online,graph")
    args = ap.parse_args()
    sections = set(args.sections.split(","))
    out: dict[str, object] = {"machine": machine(), "load_average_start": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        hb = simulate(Path(tmp) / "handbook", "handbook", seed=0)
        out["handbook_simulate_s"] = round(time.perf_counter() - t0, 2)
        rb = simulate(
            Path(tmp) / "retail",
            "retail-bank",
            customers=args.retail_customers,
            days=args.retail_days,
            seed=0,
        )
        if "offline" in sections:
            out["offline_handbook"] = offline(handbook_feature_set(), hb, args.repeat)
            out["offline_handbook_plus"] = offline(handbook_plus_feature_set(), hb, args.repeat)
            out["offline_retail"] = offline(retail_feature_set(), rb, args.repeat)
        if "online" in sections:
            out["online_handbook"] = online(handbook_feature_set(), hb, args.online_days)
            out["online_handbook_plus"] = online(handbook_plus_feature_set(), hb, args.online_days)
            out["online_retail"] = online(retail_feature_set(), rb, args.online_days)
        if "graph" in sections:
            aml = simulate(Path(tmp) / "aml", "aml", customers=args.aml_customers, days=90, seed=0)
            card_graph = FeatureSet([FraudDistance(), ComponentSize()])
            cycles = FeatureSet([ShortCycle(30 * DAY_S, max_length=10)])
            out["offline_graph_retail"] = offline(card_graph, rb, 1)
            out["online_graph_retail"] = online(card_graph, rb, args.online_days)
            out["offline_graph_aml"] = offline(cycles, aml, 1, "transfers")
            out["online_graph_aml"] = online(cycles, aml, 90, "transfers")
    out["load_average_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
