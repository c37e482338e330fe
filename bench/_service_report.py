"""What ``bench_service.py`` makes of a run: latency and throughput summaries, the share of a
py-spy profile in each part of a request, the store's exactly-once check, the Markdown."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loadgen import ACTIONS, CONNECTION_ERROR, NO_ANSWER

PERCENTILES = (50, 90, 99, 99.9)


def pct(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {}
    out = {
        f"p{str(p).replace('.', '_')}_ms": round(float(np.percentile(values, p)), 2)
        for p in PERCENTILES
    }
    out["max_ms"] = round(float(values.max()), 2)
    out["mean_ms"] = round(float(values.mean()), 2)
    return out


def _status_name(code: int) -> str:
    return {CONNECTION_ERROR: "connection_error", NO_ANSWER: "no_answer"}.get(code, str(code))


def summarise(load: dict, window_s: float, warmup_s: float) -> dict:
    raw, rate = load["raw"], load["rate"]
    lat, status = raw["lat_ms"], raw["status"]
    n = len(lat)
    answered = status != NO_ANSWER
    ok = status == 200
    sched_s = np.arange(n) / rate
    done_s = sched_s + np.where(answered, lat, 0) / 1e3
    span = float(done_s[answered].max()) if answered.any() else float("nan")
    errors = Counter(_status_name(int(s)) for s in status[~ok])
    windows = []
    for w0 in np.arange(0, n / rate, window_s):
        sel = (sched_s >= w0) & (sched_s < w0 + window_s) & answered
        windows.append(
            {
                "from_s": int(w0),
                "requests": int(sel.sum()),
                "p99_ms": round(float(np.percentile(lat[sel], 99)), 2) if sel.any() else None,
                "errors": int((sel & ~ok).sum()),
            }
        )
    samples = load["samples"]
    dt = samples[-1]["t_s"] - samples[0]["t_s"]
    cpu = {
        name: round(100 * (samples[-1][f"{name}_cpu_s"] - samples[0][f"{name}_cpu_s"]) / dt, 1)
        for name in ("server", "redis", "postgres")
        if f"{name}_cpu_s" in samples[0] and samples[0][f"{name}_rss_mib"] > 0
    }
    cpu["client"] = load["client"]["cpu_percent_of_one_core"]
    answered_per_s = float(answered.sum()) / span
    server_ms = 10 * (cpu["server"] - load.get("idle_cpu_percent", 0.0)) / answered_per_s
    rss = np.array([s["server_rss_mib"] for s in samples])
    ts = np.array([s["t_s"] for s in samples])
    late = ts >= warmup_s
    slope = float(np.polyfit(ts[late], rss[late], 1)[0] * 60) if late.sum() >= 3 else None
    actions = raw["action"][ok]
    return {
        "offered_rate": rate,
        "requests": n,
        "answered": int(answered.sum()),
        "ok_200": int(ok.sum()),
        "achieved_per_s": round(answered_per_s, 1),
        "ok_per_s": round(float(ok.sum()) / span, 1),
        "latency_all_answers": pct(lat[answered]),
        "latency_200": pct(lat[ok]),
        "errors": int((~ok).sum()),
        "errors_by_status": dict(errors),
        "errors_409": int((status == 409).sum()),
        "errors_other_than_409": int((~ok & (status != 409)).sum()),
        "actions": {a: int((actions == i).sum()) for i, a in enumerate(ACTIONS)},
        "degraded": int(raw["degraded"][ok].sum()),
        "unanswered": int(((status == NO_ANSWER) | (status == CONNECTION_ERROR)).sum()),
        "client_dispatch_lag": pct(raw["lag_ms"].astype(float)),
        "windows": windows,
        "cpu_percent_of_one_core": cpu,
        "server_idle_cpu_percent": load.get("idle_cpu_percent"),
        # what bounds one process: its Python runs one thread at a time (the GIL)
        "server_cpu_ms_per_request": round(server_ms, 2),
        "client_self_reported": load["client"],
        "server_rss_mib": {
            "start": float(rss[0]),
            "end": float(rss[-1]),
            "max": float(rss.max()),
            f"slope_mb_per_min_after_{int(warmup_s)}s": None if slope is None else round(slope, 2),
        },
        "load1_during": [s["load1"] for s in samples],
        "samples": samples,
    }


# -- profile ---------------------------------------------------------------------------------

# A py-spy sample belongs to the first service part with one of its frames anywhere in the
# stack; else to the generic part of its innermost frame that matches one (the ASGI app runs
# inside uvicorn's and starlette's frames, so "anywhere" would credit them with everything).
SERVICE_PARTS = (
    ("audit ledger: chaining, outbox feed", ("Ledger.append", "AuditFeed.", "take_outbox")),
    ("store: group-commit thread", ("GroupCommitter._run",)),
    ("store: record decision, wait for its commit", ("record_decision (", "record_decisions (")),
    ("store: idempotency lookup", ("find_decision (", "find_decisions (")),
    ("engine: features, score, policy, reasons", ("Decider.decide", "DecisionEngine.decide")),
    (
        "decision record, tokenise",
        ("DecisionRecord.from_decision", "service_event (", "_new_record"),
    ),
    ("auth: API key and role check", ("RoleCheck.__call__", "SecurityGuard")),
    ("metrics", ("ServiceMetrics.",)),
    (
        "fast path: headers, key, body, pydantic, answer",
        ("DecisionFastPath",),
    ),
    ("decision lane: rounds, hand-offs", ("ThreadLane.", "EventLoopLane.")),
)
GENERIC_PARTS = (
    (
        "threadpool handoffs (anyio, locks, queues)",
        ("anyio/", "run_in_threadpool", "queue.py", "threading.py", "concurrent/"),
    ),
    (
        "FastAPI request: dependencies, body, pydantic",
        ("fastapi/dependencies", "pydantic", "fastapi/_compat"),
    ),
    (
        "FastAPI response: JSON, headers",
        ("serialize_response", "responses.py", "json/", "jsonable_encoder"),
    ),
    ("HTTP: uvicorn parsing and writing", ("h11/", "h11_impl.py", "httptools_impl.py")),
    (
        "ASGI middleware and routing",
        ("middleware", "routing.py", "fintwin/service", "starlette/"),
    ),
    ("PostgreSQL driver (psycopg; caller not resolved)", ("psycopg/",)),
    ("endpoint, other", ("fintwin/",)),
    ("asyncio event loop", ("asyncio/", "selectors.py")),
)


def _part(frames: list[str]) -> str:
    for part, anchors in SERVICE_PARTS:
        if any(a in f for f in frames for a in anchors):
            return part
    for frame in reversed(frames):
        for part, anchors in GENERIC_PARTS:
            if any(a in frame for a in anchors):
                return part
    return "other"


def profile_parts(raw: Path) -> dict[str, float]:
    """Share (%) of a py-spy ``--format raw`` profile's samples in each part of the request
    (:data:`SERVICE_PARTS`, :data:`GENERIC_PARTS`)."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        counts[_part(stack.split(";"))] += int(n)
    total = sum(counts.values()) or 1
    return {p: round(100 * c / total, 1) for p, c in counts.most_common()}


def store_check(stored: dict, ok: int, unanswered: int) -> dict:
    """Whether the store holds one decision per answer 200 (exactly; or, when some requests
    had no answer, which the server may still have decided, at most that many more), and the
    ledger one decision entry per stored decision (counting those still in its outbox)."""
    d = stored["decisions"]
    chained = (stored["ledger_entries"] or 0) + (stored.get("outbox_backlog") or 0)
    if unanswered == 0:
        verdict = "exactly one per answer 200" if d == ok else "MISMATCH"
    elif ok <= d <= ok + unanswered:
        verdict = f"one per answer 200, plus {d - ok} decided without an answer received"
    else:
        verdict = "MISMATCH"
    ledger = "ledger: one entry per decision" if chained == d else "ledger: MISMATCH"
    return stored | {"answers_200": ok, "unanswered": unanswered, "verdict": f"{verdict}; {ledger}"}


# -- Markdown --------------------------------------------------------------------------------


def _note_409(result: dict, n409: int) -> list[str]:
    if n409 == 0:
        return []
    a, gap = result["args"], result["prepared"]["mean_event_gap_s"]
    if a["timestamps"] == "world":
        why = (
            f"world-time replay puts consecutive events {gap} s apart in event time on average, "
            "more than the server's allowed lateness (FINTWIN_ALLOWED_LATENESS_S=60), so two "
            "requests the server takes in the opposite order of their timestamps give a 409"
        )
    else:
        why = "events later than the allowed lateness behind the latest one seen"
    return [f"- 409s (events refused as out of order): {n409:,}; {why}"]


def markdown(result: dict) -> str:
    a = result["args"]
    m = result["machine"]
    lines = [
        f"### Decision service over HTTP ({a['backend']}, {a['timestamps']} timestamps)",
        "",
        f"Machine: {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}; shared with "
        "other jobs (load average before the run below). World: handbook "
        f"{result['prepared']['customers']} customers x {result['prepared']['days']} days "
        f"({result['prepared']['transactions']:,} payments of amount > 0, replayed in passes), "
        "model "
        f"`{result['prepared']['model_id']}`. Client: `bench/_loadgen.py` in its own process, "
        f"open loop, {a['connections']} keep-alive connections, latency from the scheduled send "
        "time.",
        "",
    ]
    r = result.get("run")
    if r is not None:
        lat = r["latency_all_answers"]
        rss = r["server_rss_mib"]
        slope_key = next(k for k in rss if k.startswith("slope"))
        cpu = ", ".join(f"{k} {v}%" for k, v in r["cpu_percent_of_one_core"].items())
        st = r["store"]
        lines += [
            f"`python bench/bench_service.py --backend {a['backend']} --rate {a['rate']:g} "
            f"--duration {a['duration']:g} --workers {a['workers']}"
            + (f" --runs-dir {a['runs_dir']}" if a.get("runs_dir") else "")
            + "`, load average before "
            f"{' / '.join(f'{x:.2f}' for x in r['load_average_before'])}:",
            "",
            "| offered /s | achieved /s | 200 /s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms "
            "| errors (409) | RSS MiB start / end / max | RSS slope MB/min |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {r['offered_rate']:g} | {r['achieved_per_s']:,} | {r['ok_per_s']:,} "
            f"| {lat['p50_ms']} | {lat['p90_ms']} | {lat['p99_ms']} | {lat['p99_9_ms']} "
            f"| {lat['max_ms']} | {r['errors']} ({r['errors_409']}) "
            f"| {rss['start']:.0f} / {rss['end']:.0f} / {rss['max']:.0f} | {rss[slope_key]} |",
            "",
            f"- errors by status: {r['errors_by_status'] or 'none'}; actions of the 200s: "
            f"{r['actions']}; degraded: {r['degraded']}",
            *_note_409(result, r["errors_409"]),
            f"- server CPU per request {r['server_cpu_ms_per_request']} ms (idle server "
            f"{r['server_idle_cpu_percent']}% of a core, subtracted); uvicorn on "
            + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in r["server_native_parts"].items()),
            f"- CPU (% of one core, whole run): {cpu}; load average during the run "
            f"{min(r['load1_during']):.2f} to {max(r['load1_during']):.2f}",
            f"- p99 (ms) per {a['window_s']:g} s window: "
            + ", ".join(str(w["p99_ms"]) for w in r["windows"]),
            f"- store after the run: {st['decisions']:,} decisions, {st['ledger_entries']:,} "
            f"ledger decision entries ({st.get('outbox_backlog')} still in the outbox), "
            f"{st['spool_files']} spool files, for {r['ok_200']:,} answers 200 "
            f"({r['unanswered']} unanswered): {st['verdict']}",
            f"- client dispatch lag p99 {r['client_dispatch_lag'].get('p99_ms')} ms",
            "",
        ]
        if "profile" in r:
            prof = r["profile"]
            what = "thread holding the GIL" if prof["gil_only"] else "all threads, waits included"
            lines += [f"py-spy profile of the server ({what}), share of samples:", ""]
            lines += [f"- {p}: {v}%" for p, v in prof["parts_percent_of_samples"].items()]
            lines.append("")
    s = result.get("scan")
    if s is not None:
        lines += [
            f"Worker scan (`--workers-scan {a['workers_scan']}`, {a['scan_step_s']:g} s per "
            f"rate, pass: p99 <= {a['p99_ms']:g} ms and no errors but 409):",
            "",
            "| workers | rate /s | achieved /s | p50 ms | p99 ms | 409s | other errors "
            "| server CPU ms/request | CPU % of a core | passed |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for workers, res in s.items():
            for step in res["steps"]:
                cpu = ", ".join(f"{k} {v}" for k, v in step["cpu_percent_of_one_core"].items())
                lines.append(
                    f"| {workers} | {step['rate']:g} | {step['achieved_per_s']:,} "
                    f"| {step['latency'].get('p50_ms')} | {step['latency'].get('p99_ms')} "
                    f"| {step['errors_409']} | {step['errors_other_than_409']} "
                    f"| {step['server_cpu_ms_per_request']} | {cpu} "
                    f"| {'yes' if step['passed'] else 'no'} |"
                )
        lines.append("")
        lines += [
            f"- {w} worker(s): highest passing rate {res['best_rate']}/s; most answered "
            f"{res['capacity_answers_per_s']}/s ({res['capacity_200_per_s']} 200s/s); store "
            f"{res['store']['decisions']:,} decisions for {res['store']['answers_200']:,} answers "
            f"200: {res['store']['verdict']}"
            for w, res in s.items()
        ]
        lines.append("")
    return "\n".join(lines)
