"""Benchmark: a retail-bank world of about 20 million card payments.

    python bench/bench_retail_bank.py [--customers 140000] [--days 90] [--workers 1 2]

Runs the real command (`fintwin world simulate --preset retail-bank`) once per worker count and
samples the resident memory of the whole process tree (parent and worker processes) every 0.1 s.
Prints one JSON object: rows, seconds, rows per second and peak memory per run, and the speed-up
of the last worker count over the first.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine


def _tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak tree RSS of ``cmd``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_bytes(proc.pid))
        time.sleep(0.1)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed with {proc.returncode}")
    return time.perf_counter() - t0, peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=140_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    fintwin = str(Path(sys.executable).with_name("fintwin"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-retail-"))
    runs = []
    try:
        for workers in args.workers:
            out = tmp / f"w{workers}"
            cmd = [
                fintwin,
                "world",
                "simulate",
                "--preset",
                "retail-bank",
                "--quiet",
                "--customers",
                str(args.customers),
                "--days",
                str(args.days),
                "--seed",
                "1",
                "--workers",
                str(workers),
                "--out",
                str(out),
            ]
            seconds, peak = run(cmd)
            from fintwin.data import open_world, world_hashes

            m = open_world(out, verify=False).manifest
            payments, transfers = m.tables["transactions"].rows, m.tables["transfers"].rows
            runs.append(
                {
                    "workers": workers,
                    "seconds": round(seconds, 1),
                    "card_payments": payments,
                    "transfers": transfers,
                    "payments_per_second": round(payments / seconds),
                    "rows_per_second": round((payments + transfers) / seconds),
                    "peak_rss_mib": round(peak / 2**20),
                    "hashes": world_hashes(out),
                }
            )
            if len(runs) > 1:
                shutil.rmtree(tmp / f"w{runs[-2]['workers']}", ignore_errors=True)
        same = all(r["hashes"] == runs[0]["hashes"] for r in runs)
        for r in runs:
            del r["hashes"]
        print(
            json.dumps(
                {
                    "benchmark": f"retail-bank, {args.customers:,} customers x {args.days} days",
                    "command": "fintwin world simulate --preset retail-bank --customers "
                    f"{args.customers} --days {args.days} --seed 1 --workers N",
                    "machine": machine(),
                    "runs": runs,
                    "speedup_last_over_first": round(runs[0]["seconds"] / runs[-1]["seconds"], 2),
                    "identical_tables_across_worker_counts": same,
                },
                indent=2,
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
