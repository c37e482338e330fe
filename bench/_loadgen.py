"""Open-loop HTTP load for ``bench_service.py``: run as its own process (``python _loadgen.py
CONFIG.json``), so that the client's CPU is measured apart from the server's.

Request ``k`` is due at ``start + k / rate`` whatever happened to the earlier ones (open loop),
and its latency is measured from that scheduled time to the end of its response, so time spent
queued behind a slow server (or a busy client) counts: no coordinated omission. Requests go
over a pool of keep-alive HTTP/1.1 connections; a request waits for a free connection, never
for its predecessors' answers on other connections.

The client is deliberately minimal (it shares the machine's cores with the server): plain
asyncio streams, each request formatted from one template (``%`` on a few numbers), the response
read as status line + headers + ``Content-Length`` bytes, the action picked out of the body by
a substring search; no HTTP library, no JSON parsing.

Config keys (JSON object): ``host``, ``port``, ``key`` (API key), ``rate`` (requests/s),
``duration_s``, ``connections``, ``events`` (``.npz`` with int64 arrays ``t_ms`` (world times,
sorted), ``customer``, ``terminal``, ``cents``), ``first_index`` (index of the first request in
the endless replay), ``timestamps`` (``world``: world times shifted so that replay index 0 is at
``time_origin_ms``, each later pass over the events one ``cycle_ms`` further on; ``wall``: each
event stamped with its scheduled send time), ``time_origin_ms``, ``cycle_ms``, ``id_base``
(transaction ids are ``id_base + index``), ``drain_s`` (how long to wait for answers after the
last send), ``out`` (``.npz`` written at the end, with a ``.json`` beside it).

Output, per request: ``lat_ms`` (scheduled send to end of answer), ``status`` (HTTP status;
:data:`CONNECTION_ERROR`, :data:`NO_ANSWER`), ``action`` (index in :data:`ACTIONS`, -1 if
none), ``degraded``, ``lag_ms`` (how late the client queued it: the client's own health; a
request then waits for a free connection, which counts in ``lat_ms`` only). The ``.json``:
the client's CPU seconds and share of one core (``getrusage``), wall and send times.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import numpy as np

ACTIONS = ("approve", "review", "step_up", "decline")
ACTION_CODES = {a.encode(): i for i, a in enumerate(ACTIONS)}
NO_ANSWER = -1
"""Status recorded for a request that had no answer within the drain time."""
CONNECTION_ERROR = 0
"""Status recorded when the connection failed (reset, closed) during the request."""
BODY = (
    '{"transaction_id":%d,"timestamp":"%s.%03dZ","amount":"%d.%02d","customer_id":%d,'
    '"terminal_id":%d,"channel":"pos","card_number":"%s"}'
)


def card_number(customer: int) -> str:
    """A Luhn-valid 16-digit test card number, one per customer (so card tokens are stable)."""
    digits = f"4{customer % 10**14:014d}"
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # doubled: these become the odd positions once the check digit is added
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return digits + str((10 - total % 10) % 10)


class Requests:
    """Request bytes of replay index ``k``, built when sent (nothing precomputed per request)."""

    def __init__(self, cfg: dict, start: float) -> None:
        ev = np.load(cfg["events"])
        self.t_ms = (ev["t_ms"] - ev["t_ms"][0]).tolist()
        self.customer = ev["customer"].tolist()
        self.terminal = ev["terminal"].tolist()
        self.cents = ev["cents"].tolist()
        self.n = len(self.t_ms)
        self.wall = cfg["timestamps"] == "wall"
        self.origin_ms = int(cfg["time_origin_ms"])
        self.cycle_ms = int(cfg["cycle_ms"])
        self.id_base = int(cfg["id_base"])
        self.first = int(cfg["first_index"])
        self.rate = float(cfg["rate"])
        self.start = start
        self.wall_origin_ms = time.time() * 1000 - (time.perf_counter() - start) * 1000
        self.cards: dict[int, str] = {}
        self.head = (
            f"POST /v1/decisions HTTP/1.1\r\nHost: {cfg['host']}:{cfg['port']}\r\n"
            f"Authorization: Bearer {cfg['key']}\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n"
        )

    def __call__(self, i: int) -> bytes:
        k = self.first + i
        j = k % self.n
        if self.wall:
            ms = int(self.wall_origin_ms + i * 1000 / self.rate)
        else:
            ms = self.origin_ms + (k // self.n) * self.cycle_ms + self.t_ms[j]
        cust = self.customer[j]
        card = self.cards.get(cust)
        if card is None:
            card = self.cards[cust] = card_number(cust)
        cents = self.cents[j]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
        body = BODY % (
            self.id_base + k, stamp, ms % 1000, cents // 100, cents % 100, cust,
            self.terminal[j], card,
        )  # fmt: skip
        return (self.head % len(body) + body).encode()


async def _connect(host: str, port: int):
    return await asyncio.open_connection(host, port)


async def _exchange(reader, writer, request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"content-length:")
    length = int(lower[at + 15 : lower.index(b"\r\n", at)]) if at >= 0 else 0
    body = await reader.readexactly(length) if length else b""
    if b"connection: close" in lower:
        raise ConnectionResetError("server closed the connection")
    return status, body


async def run(cfg: dict) -> dict:
    rate, n = float(cfg["rate"]), round(float(cfg["rate"]) * float(cfg["duration_s"]))
    host, port = cfg["host"], int(cfg["port"])
    lat_ms = np.full(n, np.nan)
    status = np.full(n, NO_ANSWER, dtype=np.int16)
    action = np.full(n, -1, dtype=np.int8)
    degraded = np.zeros(n, dtype=bool)
    lag_ms = np.zeros(n, dtype=np.float32)
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    clock = time.perf_counter
    conns = [await _connect(host, port) for _ in range(int(cfg["connections"]))]
    start = clock() + 0.2
    build = Requests(cfg, start)
    period = 1.0 / rate

    async def worker(conn) -> None:
        reader, writer = conn
        while True:
            i = await queue.get()
            if i is None:
                break
            try:
                code, body = await _exchange(reader, writer, build(i))
            except (ConnectionError, asyncio.IncompleteReadError, ValueError):
                status[i] = CONNECTION_ERROR
                lat_ms[i] = (clock() - start - i * period) * 1e3
                writer.close()
                reader, writer = await _connect(host, port)
                continue
            lat_ms[i] = (clock() - start - i * period) * 1e3
            status[i] = code
            at = body.find(b'"action":"')
            if at >= 0:
                action[i] = ACTION_CODES.get(body[at + 10 : body.index(b'"', at + 10)], -1)
            degraded[i] = b'"degraded":true' in body
        writer.close()

    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    tasks = [asyncio.create_task(worker(c)) for c in conns]
    k = 0
    while k < n:
        due = min(n, int((clock() - start) * rate) + 1)
        late_ms = (clock() - start) * 1e3
        while k < due:
            lag_ms[k] = late_ms - k * period * 1e3
            queue.put_nowait(k)
            k += 1
        await asyncio.sleep(max(0.0, start + k * period - clock()))
    sent_s = clock() - start
    for _ in tasks:
        queue.put_nowait(None)
    _, pending = await asyncio.wait(tasks, timeout=float(cfg.get("drain_s", 10.0)))
    for t in pending:
        t.cancel()
    wall_s = clock() - start
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    np.savez(
        cfg["out"], lat_ms=lat_ms, status=status, action=action, degraded=degraded, lag_ms=lag_ms
    )
    return {
        "requests": n,
        "rate": rate,
        "send_s": round(sent_s, 3),
        "wall_s": round(wall_s, 3),
        "cpu_s": round(cpu_s, 3),
        "cpu_percent_of_one_core": round(100 * cpu_s / wall_s, 1),
        "max_rss_mib": round(usage1.ru_maxrss / 1024, 1),
    }


def main() -> None:
    with open(sys.argv[1]) as fh:
        cfg = json.load(fh)
    summary = asyncio.run(run(cfg))
    with open(cfg["out"] + ".json", "w") as fh:
        json.dump(summary, fh)


if __name__ == "__main__":
    main()
