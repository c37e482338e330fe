"""Benchmark: the handbook preset at the book's size against the book's own procedure.

    python bench/bench_handbook.py [--repeat 3] [--skip-reference] [--seeds 6]

Both write Parquet, one file per day. fintwin runs as the real command (`fintwin world simulate`,
a fresh process each time: interpreter start and imports included); the reference runs once in a
fresh process too. ``--seeds N`` adds the spread of the book's summary statistics over seeds
0..N-1 (what the tolerances of tests/world/test_handbook.py rest on). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine

HERE = Path(__file__).parent


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def spread_over_seeds(n: int, out: Path) -> dict[str, object]:
    """Mean and sample sd of the transaction count and fraud rate over seeds 0..n-1."""
    import numpy as np

    from fintwin.world import simulate

    counts, rates = [], []
    for seed in range(n):
        con = simulate(out, "handbook", seed=seed, overwrite=True).connect()
        rows, rate = con.execute("SELECT count(*), avg(is_fraud::INT) FROM transactions").fetchone()
        counts.append(rows)
        rates.append(rate)
    return {
        "seeds": n,
        "transactions_mean": round(float(np.mean(counts))),
        "transactions_sd": round(float(np.std(counts, ddof=1))),
        "fraud_rate_mean": round(float(np.mean(rates)), 6),
        "fraud_rate_sd": round(float(np.std(rates, ddof=1)), 6),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--seeds", type=int, default=0)
    args = ap.parse_args()
    fintwin = str(Path(sys.executable).with_name("fintwin"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-handbook-"))
    try:
        runs = [
            timed(
                [
                    fintwin,
                    "world",
                    "simulate",
                    "--preset",
                    "handbook",
                    "--seed",
                    "0",
                    "--quiet",
                    "--out",
                    str(tmp / "fintwin"),
                    "--overwrite",
                ]
            )
            for _ in range(args.repeat)
        ]
        from fintwin.data import open_world

        con = open_world(tmp / "fintwin").connect()
        rows, fraud_rate = con.execute(
            "SELECT count(*), avg(is_fraud::INT) FROM transactions"
        ).fetchone()
        result: dict[str, object] = {
            "benchmark": "handbook preset, book size (5,000 customers, 10,000 terminals, 183 days)",
            "machine": machine(),
            "fintwin": {
                "command": "fintwin world simulate --preset handbook --seed 0",
                "seconds_median": round(statistics.median(runs), 3),
                "seconds_runs": [round(r, 3) for r in runs],
                "transactions": rows,
                "fraud_rate": round(fraud_rate, 5),
                "rows_per_second": round(rows / statistics.median(runs)),
            },
            "book": {"transactions": 1_754_155, "fraud_rate": 0.0084},
        }
        if not args.skip_reference:
            ref = timed([sys.executable, str(HERE / "reference_handbook.py"), str(tmp / "ref")])
            result["reference"] = {
                "command": "python bench/reference_handbook.py",
                "seconds": round(ref, 2),
            }
            result["speedup"] = round(ref / statistics.median(runs), 1)
        if args.seeds:
            result["over_seeds"] = spread_over_seeds(args.seeds, tmp / "seeds")
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
