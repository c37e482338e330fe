"""How long a durable commit waits for this machine's disk: ``fdatasync`` latency under the
decision service's write rate.

    python bench/bench_fsync.py [--dir DIR] [--seconds 20] [--write-kb 16] [--pause-ms 1.5]
                                [--overwrite]

Appends ``--write-kb`` to a file in ``--dir`` (default: the system's temporary folder; give
the service's data directory's disk), ``fdatasync``\\s it, sleeps ``--pause-ms``, for
``--seconds``: about the service's pattern at 1,000 decisions/s (a commit every few
milliseconds, some 10 MB/s of log). Prints JSON: the count of syncs and their latency
percentiles and maximum (ms), and how many took over 10 and over 30 ms. ``--overwrite``
writes in place in a 16 MiB file written and synced beforehand, so that no sync has a block to
allocate or a file size to record: stalls that remain are the device's, not the file
system's journal. Every decision waits
for one such sync before its answer, so the rare long ones bound the service's p99: while one
lasts, every request behind it waits.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--write-kb", type=int, default=16)
    ap.add_argument("--pause-ms", type=float, default=1.5)
    ap.add_argument("--overwrite", action="store_true", help="rewrite a preallocated file")
    args = ap.parse_args()
    block = b"x" * (args.write_kb * 1024)
    latencies = []
    with tempfile.NamedTemporaryFile(dir=args.dir, prefix="fintwin-fsync-") as fh:
        fd = fh.fileno()
        wrap = (16 if args.overwrite else 64) << 20  # keep the file small: rewrite from the start
        if args.overwrite:
            os.write(fd, b"\0" * wrap)
            os.fsync(fd)
            os.lseek(fd, 0, os.SEEK_SET)
        end = time.monotonic() + args.seconds
        written = 0
        while time.monotonic() < end:
            os.write(fd, block)
            written += len(block)
            if written >= wrap:
                os.lseek(fd, 0, os.SEEK_SET)
                written = 0
            start = time.perf_counter()
            os.fdatasync(fd)
            latencies.append(time.perf_counter() - start)
            time.sleep(args.pause_ms / 1000)
    ms = np.array(latencies) * 1000
    print(
        json.dumps(
            {
                "machine": machine(),
                "dir": str(args.dir),
                "overwrite": args.overwrite,
                "syncs": len(ms),
                "ms": {
                    "p50": round(float(np.percentile(ms, 50)), 3),
                    "p99": round(float(np.percentile(ms, 99)), 3),
                    "p99.9": round(float(np.percentile(ms, 99.9)), 3),
                    "max": round(float(ms.max()), 2),
                },
                "over_10_ms": int((ms > 10).sum()),
                "over_30_ms": int((ms > 30).sum()),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
