"""Benchmark: ``fintwin serve`` over HTTP, open-loop load from a second process on loopback.

    python bench/bench_service.py [--backend embedded|redis-postgres] [--rate 1000]
                                  [--duration 300] [--connections 32] [--workers 1]
                                  [--timestamps world|wall] [--workers-scan 1,2]
                                  [--workdir DIR] [--runs-dir DIR] [--json FILE]
                                  [--profile FILE [--profile-gil]]

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
   ``--runs-dir`` puts the server's data directory (store, ledger, spool) elsewhere: on a
   tmpfs such as ``/dev/shm`` the disk's sync latency is out of the measurement, which says
   how much of the tail is the disk's (a diagnosis: nothing there is durable).
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
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine
from _service_processes import Backends, Sampler, Server, tree_usage
from _service_report import markdown, profile_parts, store_check, summarise
from fintwin.data import open_world
from fintwin.data.schemas import money_to_minor
from fintwin.risk import builtin_policy_path
from fintwin.service.apikeys import ApiKeyFile, Role
from fintwin.world import simulate

HERE = Path(__file__).resolve().parent
DAY_MS = 86_400_000


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


# -- the two modes ---------------------------------------------------------------------------


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
    ap.add_argument(
        "--runs-dir",
        type=Path,
        default=None,
        help="where the server's data directories go (default: the workdir); a tmpfs such as "
        "/dev/shm takes the disk's sync latency out of the measurement, for diagnosis only",
    )
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
        runs = root if args.runs_dir is None else args.runs_dir.resolve()
        runs.mkdir(parents=True, exist_ok=True)
        if args.workers_scan:
            result["scan"] = scan(args, prep, backends, runs)
        else:
            result["run"] = single_run(args, prep, backends, runs)
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
