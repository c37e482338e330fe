"""Benchmark: safe expression engines for policy rules, on the same ten rules and events.

    python bench/bench_policy_expressions.py [--events 20000] [--repeat 5] [--quick]

Engines (none calls Python ``eval``):

- ``common-expression-language`` (``import cel``): Google's CEL, Rust interpreter via PyO3;
- ``zen-engine`` (``import zen``): GoRules' ZEN expression language, Rust; its standalone
  expressions and, for comparison, a decision table with hit policy ``collect``;
- ``cel-python`` (``import celpy``): CEL in pure Python.

For each engine: compile time per rule; evaluation time per rule per event when every rule is
its own call; per event for the ten rules as ten calls; and per event as one program returning
the list of ten booleans. Every engine gets the event as a dict of Python floats and converts it
itself (for cel-python the conversion to its types is done once per event and counted). Timings
are the minimum over ``--repeat`` runs (the least disturbed by other processes on the machine).
All engines must agree with CEL on every event. Finally ``fintwin.risk.Policy.decide`` on a
policy made of the same rules: mean, median and p99 latency per event. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine

FEATURES = (
    "amount",
    "is_night",
    "is_weekend",
    "customer_count_1d",
    "customer_amount_mean_1d",
    "customer_amount_mean_30d",
    "terminal_risk_1d",
    "terminal_risk_7d",
    "terminal_risk_30d",
    "terminal_count_7d",
)

# (name, CEL, ZEN): the same condition in both languages.
RULES = (
    ("large_amount", "amount > 220.0", "amount > 220"),
    (
        "compromised_terminal",
        "terminal_risk_7d >= 0.5 && terminal_count_7d >= 2.0",
        "terminal_risk_7d >= 0.5 and terminal_count_7d >= 2",
    ),
    ("risky_terminal", "terminal_risk_30d >= 0.1", "terminal_risk_30d >= 0.1"),
    (
        "amount_spike",
        "customer_amount_mean_30d > 0.0 && amount >= 4.0 * customer_amount_mean_30d",
        "customer_amount_mean_30d > 0 and amount >= 4 * customer_amount_mean_30d",
    ),
    ("burst", "customer_count_1d >= 8.0", "customer_count_1d >= 8"),
    ("night_large", "is_night > 0.5 && amount > 150.0", "is_night > 0.5 and amount > 150"),
    (
        "daily_surge",
        "customer_amount_mean_1d > 3.0 * customer_amount_mean_30d && customer_count_1d >= 3.0",
        "customer_amount_mean_1d > 3 * customer_amount_mean_30d and customer_count_1d >= 3",
    ),
    ("score_large", "score >= 0.5 && amount > 100.0", "score >= 0.5 and amount > 100"),
    (
        "terminal_rising",
        "terminal_risk_1d > terminal_risk_30d + 0.3",
        "terminal_risk_1d > terminal_risk_30d + 0.3",
    ),
    (
        "weekend_burst",
        "is_weekend > 0.5 && customer_count_1d >= 6.0",
        "is_weekend > 0.5 and customer_count_1d >= 6",
    ),
)


def make_events(n: int, seed: int) -> list[dict[str, float]]:
    """Plausible feature values (floats, as a feature engine would give) and scores."""
    rng = np.random.default_rng(seed)
    cols = {
        "amount": rng.lognormal(3.8, 0.9, n),
        "is_night": (rng.random(n) < 0.2).astype(float),
        "is_weekend": (rng.random(n) < 0.28).astype(float),
        "customer_count_1d": rng.poisson(3.0, n).astype(float),
        "customer_amount_mean_1d": rng.lognormal(3.8, 0.6, n),
        "customer_amount_mean_30d": rng.lognormal(3.8, 0.4, n),
        "terminal_risk_1d": rng.beta(0.3, 8.0, n),
        "terminal_risk_7d": rng.beta(0.3, 6.0, n),
        "terminal_risk_30d": rng.beta(0.3, 5.0, n),
        "terminal_count_7d": rng.poisson(4.0, n).astype(float),
        "score": rng.beta(0.5, 6.0, n),
    }
    lists = {k: v.tolist() for k, v in cols.items()}
    return [{k: lists[k][i] for k in lists} for i in range(n)]


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """Minimum wall time of ``run`` over ``repeat`` runs, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)


class Engine:
    """One engine: compile rules, evaluate them rule by rule or as one program."""

    name = ""
    static_checks = ""

    def compile(self, text: str) -> object:
        raise NotImplementedError

    def compile_all(self, texts: Sequence[str]) -> object:
        raise NotImplementedError

    def prepare(self, event: dict[str, float]) -> object:
        return event

    def run(self, program: object, context: object) -> object:
        raise NotImplementedError

    def booleans(self, result: object) -> list[bool]:
        return [bool(x) for x in result]  # type: ignore[attr-defined]


class CelRust(Engine):
    name = "common-expression-language"
    static_checks = "Program.variables()/functions() list names before running"

    def __init__(self) -> None:
        import cel

        self.cel = cel

    def compile(self, text: str) -> object:
        return self.cel.compile(text)

    def compile_all(self, texts: Sequence[str]) -> object:
        return self.cel.compile("[" + ", ".join(f"({t})" for t in texts) + "]")

    def run(self, program: object, context: object) -> object:
        return program.execute(context)  # type: ignore[attr-defined]


class Zen(Engine):
    name = "zen-engine"
    static_checks = "syntax only: an unknown variable evaluates to null, no error"

    def __init__(self) -> None:
        import zen

        self.zen = zen

    def compile(self, text: str) -> object:
        return self.zen.compile_expression(text)

    def compile_all(self, texts: Sequence[str]) -> object:
        return self.zen.compile_expression("[" + ", ".join(f"({t})" for t in texts) + "]")

    def run(self, program: object, context: object) -> object:
        return program.evaluate(context)  # type: ignore[attr-defined]


class ZenTable(Zen):
    """A JDM decision table, hit policy collect: one row per rule, output the rule's name."""

    name = "zen-engine decision table"

    def compile_all(self, texts: Sequence[str]) -> object:
        rules = [{"_id": f"r{i}", "c": t, "o": json.dumps(i)} for i, t in enumerate(texts)]
        pos = {"x": 0, "y": 0}
        content = {
            "nodes": [
                {"id": "in", "type": "inputNode", "name": "event", "position": pos},
                {
                    "id": "table",
                    "type": "decisionTableNode",
                    "name": "rules",
                    "position": pos,
                    "content": {
                        "hitPolicy": "collect",
                        "inputs": [{"id": "c", "name": "when"}],
                        "outputs": [{"id": "o", "name": "rule", "field": "rule"}],
                        "rules": rules,
                    },
                },
                {"id": "out", "type": "outputNode", "name": "decision", "position": pos},
            ],
            "edges": [
                {"id": "e1", "sourceId": "in", "targetId": "table", "type": "edge"},
                {"id": "e2", "sourceId": "table", "targetId": "out", "type": "edge"},
            ],
        }
        self.n = len(texts)
        return self.zen.ZenEngine().create_decision(json.dumps(content))

    def run(self, program: object, context: object) -> object:
        return program.evaluate(context)["result"]  # type: ignore[attr-defined]

    def booleans(self, result: object) -> list[bool]:
        hit = {row["rule"] for row in result}  # type: ignore[attr-defined]
        return [i in hit for i in range(self.n)]


class CelPython(Engine):
    name = "cel-python"
    static_checks = "lark parse tree available (pure Python)"

    def __init__(self) -> None:
        import celpy
        from celpy import celtypes

        self.env = celpy.Environment()
        self.double = celtypes.DoubleType

    def compile(self, text: str) -> object:
        return self.env.program(self.env.compile(text))

    def compile_all(self, texts: Sequence[str]) -> object:
        return self.compile("[" + ", ".join(f"({t})" for t in texts) + "]")

    def prepare(self, event: dict[str, float]) -> object:
        double = self.double
        return {k: double(v) for k, v in event.items()}

    def run(self, program: object, context: object) -> object:
        return program.evaluate(context)  # type: ignore[attr-defined]


def measure(
    engine: Engine, texts: Sequence[str], events: list[dict[str, float]], repeat: int
) -> dict[str, object]:
    n_rules, n_events = len(texts), len(events)
    compile_s = best_of(max(repeat, 3), lambda: [engine.compile(t) for t in texts])
    compile_all_s = best_of(max(repeat, 3), lambda: engine.compile_all(texts))
    out: dict[str, object] = {
        "engine": engine.name,
        "compile_us_per_rule": round(compile_s / n_rules * 1e6, 2),
        "compile_us_one_program": round(compile_all_s * 1e6, 2),
        "static_checks": engine.static_checks,
    }
    whole = engine.compile_all(texts)
    if not isinstance(engine, ZenTable):
        programs = [engine.compile(t) for t in texts]

        def rule_by_rule() -> None:
            for event in events:
                ctx = engine.prepare(event)
                for p in programs:
                    engine.run(p, ctx)

        s = best_of(repeat, rule_by_rule)
        out["eval_us_per_rule_per_event"] = round(s / (n_events * n_rules) * 1e6, 3)
        out["eval_us_per_event_rule_by_rule"] = round(s / n_events * 1e6, 2)

    def one_program() -> None:
        for event in events:
            engine.run(whole, engine.prepare(event))

    s = best_of(repeat, one_program)
    out["eval_us_per_event_one_program"] = round(s / n_events * 1e6, 2)
    out["results"] = [engine.booleans(engine.run(whole, engine.prepare(e))) for e in events]
    return out


def policy_latency(events: list[dict[str, float]], repeat: int) -> dict[str, object]:
    """fintwin's Policy.decide on a policy holding the same rules (CEL)."""
    from fintwin.risk.policy import load_policy

    rules = "\n".join(
        f"  - {{name: {n}, when: '{c}', action: review, reason: {n.upper()}}}" for n, c, _ in RULES
    )
    text = (
        "policy: bench\nversion: 1\nthresholds: {review: 0.3, decline: 0.8}\n"
        f"rules:\n{rules}\n"
        "default: {bands: {review: review, decline: decline}, otherwise: approve}\n"
    )
    policy = load_policy(text, FEATURES)
    times_ns: list[int] = []
    for _ in range(repeat):
        run = []
        for event in events:
            t0 = time.perf_counter_ns()
            policy.decide(event, event["score"])
            run.append(time.perf_counter_ns() - t0)
        if not times_ns or sum(run) < sum(times_ns):
            times_ns = run
    us = np.asarray(times_ns) / 1e3
    fired = [len(policy.decide(e, e["score"]).fired) for e in events]
    return {
        "rules": len(policy.rules),
        "features_passed": len(policy.features) + 1,
        "mean_us": round(float(us.mean()), 2),
        "p50_us": round(float(np.percentile(us, 50)), 2),
        "p99_us": round(float(np.percentile(us, 99)), 2),
        "decisions_per_second": round(1e6 / float(us.mean())),
        "mean_rules_fired": round(statistics.fmean(fired), 3),
        "target_us": 100,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="500 events, 1 repeat: a smoke run")
    args = ap.parse_args()
    if args.quick:
        args.events, args.repeat = 500, 1
    events = make_events(args.events, args.seed)
    cel_texts = [c for _, c, _ in RULES]
    zen_texts = [z for _, _, z in RULES]
    engines: list[tuple[Engine, list[str], str]] = [
        (CelRust(), cel_texts, "common-expression-language"),
        (Zen(), zen_texts, "zen-engine"),
        (ZenTable(), zen_texts, "zen-engine"),
        (CelPython(), cel_texts, "cel-python"),
    ]
    results = []
    for engine, texts, package in engines:
        # cel-python is ~50x slower: a tenth of the events keeps the run short, per-event
        # figures stay comparable.
        sample = events[: max(len(events) // 10, 100)] if isinstance(engine, CelPython) else events
        r = measure(engine, texts, sample, args.repeat)
        r["package"] = f"{package} {version(package)}"
        r["events"] = len(sample)
        results.append(r)
    reference = results[0].pop("results")
    for r in results[1:]:
        got = r.pop("results")
        r["agrees_with_cel"] = got == reference[: len(got)]
    base = results[0]["eval_us_per_event_one_program"]
    for r in results:
        r["one_program_time_vs_cel"] = round(r["eval_us_per_event_one_program"] / base, 2)
    out = {
        "benchmark": "policy rule expressions: 10 rules over 10 features + score",
        "machine": machine(),
        "events": args.events,
        "repeat": args.repeat,
        "timing": "minimum over repeats; microseconds",
        "engines": results,
        "fintwin_policy_decide": policy_latency(events, args.repeat),
        "chosen": "common-expression-language",
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
