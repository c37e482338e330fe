"""Reference for ``bench_service.py``: what uvicorn alone costs per request on this machine.

    python bench/bench_http_floor.py [--rate 1000] [--duration 30] [--connections 32]

Serves a bare ASGI app (it reads the body and answers a fixed JSON body of a decision's size,
2,300 bytes) with ``uvicorn`` on uvloop and httptools, as ``fintwin serve`` runs, and drives
it with the service benchmark's own client (``_loadgen.py``: same requests, same open loop,
same connections). The server's CPU per request is the floor under the decision service's:
HTTP parsing, the event loop and the socket writes, with no decision, store or ledger.
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine
from _service_processes import free_port, tree_usage, wait_http_ok

HERE = Path(__file__).resolve().parent
BODY = json.dumps({"detail": "x" * 2280}).encode()


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


def serve(port: int) -> None:
    import uvicorn

    uvicorn.run(app, port=port, log_level="warning", loop="uvloop", http="httptools")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            events = Path(tmp) / "events.npz"
            n = 10_000  # any payments: the app does not read them
            np.savez(
                events,
                t_ms=np.arange(n, dtype=np.int64) * 1000,
                customer=np.arange(n) % 500,
                terminal=np.arange(n) % 1000,
                cents=np.full(n, 1234),
            )
            cfg = {
                "host": "127.0.0.1", "port": port, "key": "unused", "rate": args.rate,
                "duration_s": args.duration, "connections": args.connections,
                "events": str(events), "first_index": 0, "timestamps": "world",
                "time_origin_ms": int(time.time() * 1000), "cycle_ms": n * 1000 + 86_400_000,
                "id_base": 1_000_000_000, "drain_s": 10.0, "out": str(Path(tmp) / "load.npz"),
            }  # fmt: skip
            (Path(tmp) / "load.json").write_text(json.dumps(cfg))
            if not wait_http_ok(f"http://127.0.0.1:{port}/", server, timeout_s=60):
                sys.exit("the reference server did not start")
            cpu0 = tree_usage(server.pid)[0]
            subprocess.run(
                [sys.executable, str(HERE / "_loadgen.py"), str(Path(tmp) / "load.json")],
                check=True,
            )
            cpu_s = tree_usage(server.pid)[0] - cpu0
            raw = np.load(cfg["out"])
            client = json.loads(Path(cfg["out"] + ".json").read_text())
    finally:
        server.terminate()
        server.wait(30)
    ok = raw["status"] == 200
    lat = raw["lat_ms"][ok]
    print(
        json.dumps(
            {
                "machine": machine(),
                "rate": args.rate,
                "duration_s": args.duration,
                "requests": int(raw["status"].size),
                "answered_200": int(ok.sum()),
                "server_cpu_us_per_request": round(1e6 * cpu_s / max(1, int(ok.sum())), 1),
                "latency_ms": {
                    q: round(float(np.percentile(lat, p)), 2)
                    for q, p in (("p50", 50), ("p99", 99), ("max", 100))
                },
                "client_cpu_percent_of_one_core": client["cpu_percent_of_one_core"],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
