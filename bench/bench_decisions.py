"""Benchmark: the decision engine online (one event at a time) and in batch replay.

    python bench/bench_decisions.py [--customers 5000] [--days 60] [--train-days 30]
                                    [--trees 300] [--leaves 15] [--compare-days 1]

On a handbook world (``simulate(out, "handbook", customers=5000, days=60, seed=0)``):

1. offline handbook features of the whole table; a LightGBM model (``--trees`` trees of
   ``--leaves`` leaves, one thread) trained on the first ``--train-days`` days but the last 14,
   an isotonic calibrator fitted on those 14 days, both with only the labels known at the end
   of the training period; registered and loaded back;
2. the built-in ``handbook`` policy;
3. online: ``DecisionEngine.decide`` (explain non-approve decisions, the default) on every event
   in time order; the first ``--train-days`` days warm the state up, the remaining days are
   timed: p50 / p90 / p99 / p99.9 of the latency each decision records (wall clock around the
   whole decide: features + score + rules + reasons), the same percentiles of the thread's CPU
   time per decision (the machine is shared: wall time includes time the process was
   descheduled, CPU time does not), decisions/s on one core (single thread), and the online
   state's size at the end of every day;
4. the three :class:`Explain` modes on the first ``--compare-days`` test days, each from a copy
   of the state at the end of training: how much the tree-SHAP reasons cost;
5. the single-row costs of the parts (score, contributions, policy) on test rows, and the
   contributions' cost for models of other sizes (``--explain-sizes``), trained on the same rows;
6. batch replay: ``decide_batch`` on the whole table (decisions/s, one thread) and its
   agreement with the online decisions of the test period.

Prints one JSON object, with the load average before and after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine
from fintwin.features import compute_offline, handbook_feature_set, iter_events
from fintwin.governance import IsotonicCalibrator, ModelMetadata, ModelRegistry
from fintwin.risk import Action, DecisionEngine, Explain, auc_roc, builtin_policy_path, load_policy
from fintwin.risk._scorer import ModelScorer
from fintwin.world import simulate

DAY_MS = 86_400_000
PERCENTILES = (50, 90, 99, 99.9)


def pct(us: np.ndarray) -> dict[str, float]:
    out = {
        f"p{str(p).replace('.', '_')}_us": round(float(np.percentile(us, p)), 1)
        for p in PERCENTILES
    }
    out["mean_us"] = round(float(us.mean()), 1)
    return out


def train(fs, tx: pa.Table, feats: pa.Table, day: np.ndarray, args) -> tuple:
    t = tx.column("timestamp").cast(pa.int64()).to_numpy()
    avail = tx.column("label_available_at").cast(pa.int64()).to_numpy()
    day0 = t.min() - t.min() % DAY_MS
    train_cut = day0 + args.train_days * DAY_MS
    fit_cut = train_cut - 14 * DAY_MS
    x = np.column_stack([feats.column(n).to_numpy() for n in fs.names])
    y = tx.column("is_fraud").to_numpy(zero_copy_only=False).astype(int)
    # only labels known when training ends (train_cut); the last 14 days calibrate
    fit = (t < fit_cut) & (avail <= train_cut)
    cal = (t >= fit_cut) & (t < train_cut) & (avail <= train_cut)
    params = {
        "objective": "binary",
        "num_leaves": args.leaves,
        "learning_rate": 0.05,
        "min_data_in_leaf": 100,
        "verbosity": -1,
        "seed": 0,
        "deterministic": True,
        "num_threads": 1,
    }
    t0 = time.perf_counter()
    booster = lgb.train(params, lgb.Dataset(x[fit], y[fit], feature_name=fs.names), args.trees)
    train_s = time.perf_counter() - t0
    calibrator = IsotonicCalibrator.fit(booster.predict(x[cal]), y[cal])
    meta = ModelMetadata(
        "bench-handbook",
        tuple(fs.names),
        fs.definitions_hash(),
        dt.datetime.fromtimestamp(t.min() / 1000, dt.UTC).replace(tzinfo=None),
        dt.datetime.fromtimestamp(t[t < train_cut].max() / 1000, dt.UTC).replace(tzinfo=None),
        dt.datetime.fromtimestamp(train_cut / 1000, dt.UTC).replace(tzinfo=None),
        "bench",
        parameters=params | {"num_boost_round": args.trees},
    )
    info = {
        "trees": args.trees,
        "leaves": args.leaves,
        "train_rows": int(fit.sum()),
        "calibration_rows": int(cal.sum()),
        "train_s": round(train_s, 1),
    }
    info["fit"] = (x[fit], y[fit], params, meta)
    return booster, calibrator, meta, info, x, y


def explain_cost_by_size(info: dict, registry, sizes: str, x_rows: np.ndarray, names) -> dict:
    """Single-row contributions cost (us) of models of other sizes, trained on the same rows."""
    x_fit, y_fit, params, meta = info.pop("fit")
    out = {}
    for size in filter(None, sizes.split(",")):
        trees, rest = size.split("x")
        leaves, _, depth = rest.partition("d")
        booster = lgb.train(
            params | {"num_leaves": int(leaves), "max_depth": int(depth or -1)},
            lgb.Dataset(x_fit, y_fit, feature_name=list(names)),
            int(trees),
        )
        model = registry.load(registry.register(meta.name, booster, meta).model_id)
        scorer = ModelScorer(model)
        depth = max(_depth(t["tree_structure"]) for t in booster.dump_model()["tree_info"])
        lat = np.empty(len(x_rows))
        clock = time.perf_counter_ns
        for i, row in enumerate(x_rows):
            scorer.row[:] = row
            t0 = clock()
            scorer.contributions_row()
            lat[i] = (clock() - t0) / 1e3
        out[size] = {
            "max_depth": depth,
            "p50_us": round(float(np.median(lat)), 1),
            "p99_us": round(float(np.percentile(lat, 99)), 1),
        }
    return out


def _depth(node: dict) -> int:
    if "left_child" not in node:  # a leaf
        return 0
    return 1 + max(_depth(node["left_child"]), _depth(node["right_child"]))


def run_days(engine: DecisionEngine, tx: pa.Table, day: np.ndarray, days: range, record: bool):
    """Decide on ``days``; per decision wall latency and CPU ns; state size per day."""
    wall_us, cpu_us, ids, scores, actions, explained = [], [], [], [], [], 0
    sizes = []
    elapsed = 0.0
    for d in days:
        events = list(iter_events(tx.filter(pa.array(day == d))))
        gc.collect()
        thread_ns = time.thread_time_ns
        lat = np.empty(len(events))
        cpu = np.empty(len(events), dtype=np.int64)
        t0 = time.perf_counter()
        for i, e in enumerate(events):
            c0 = thread_ns()
            dec = engine.decide(e)
            cpu[i] = thread_ns() - c0
            lat[i] = dec.latency_s
            if record:
                ids.append(dec.transaction_id)
                scores.append(dec.score)
                actions.append(dec.action.value)
                explained += dec.explanation is not None
        elapsed += time.perf_counter() - t0
        wall_us.append(lat * 1e6)
        cpu_us.append(cpu / 1e3)
        sizes.append([d + 1, engine.state.size(), engine.state.keys()])
    return {
        "wall_us": np.concatenate(wall_us),
        "cpu_us": np.concatenate(cpu_us),
        "elapsed_s": elapsed,
        "sizes": sizes,
        "ids": ids,
        "scores": scores,
        "actions": actions,
        "explained": explained,
    }


def parts(engine: DecisionEngine, model, policy, feats: pa.Table, rows: np.ndarray) -> dict:
    """Single-row cost of each part, median and p99 over ``rows`` (microseconds)."""
    scorer = ModelScorer(model)
    pick = [feats.column_names.index(n) - 1 for n in scorer.feature_names]
    sample = feats.drop_columns(feats.column_names[0]).take(rows).to_pylist()

    def fill(f: dict) -> None:
        values = list(f.values())
        scorer.row[:] = [values[j] for j in pick]

    def score(f: dict) -> None:
        fill(f)
        scorer.score_row()

    def contributions(f: dict) -> None:
        fill(f)
        scorer.contributions_row()

    clock = time.perf_counter_ns
    out = {}
    for label, fn in (
        ("fill_and_score", score),
        ("fill_and_contributions", contributions),
        ("engine_explain", engine.explain),
        ("policy_decide", lambda f: policy.decide(f, 0.1)),
    ):
        lat = np.empty(len(sample))
        for i, f in enumerate(sample):
            t0 = clock()
            fn(f)
            lat[i] = (clock() - t0) / 1e3
        out[label] = {
            "p50_us": round(float(np.median(lat)), 1),
            "p99_us": round(float(np.percentile(lat, 99)), 1),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--train-days", type=int, default=30)
    ap.add_argument("--trees", type=int, default=300)
    ap.add_argument("--leaves", type=int, default=15)
    ap.add_argument("--compare-days", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--explain-sizes",
        default="100x15,300x31,300x31d6",
        help="other models (TREESxLEAVES[dMAX_DEPTH]) whose explanation cost is measured",
    )
    args = ap.parse_args()
    out: dict[str, object] = {"machine": machine(), "load_average_start": os.getloadavg()}
    fs = handbook_feature_set()
    policy = load_policy(builtin_policy_path("handbook"), fs.names)
    with tempfile.TemporaryDirectory() as tmp:
        world = simulate(
            Path(tmp) / "w", "handbook", customers=args.customers, days=args.days, seed=args.seed
        )
        tx = world.arrow("transactions")
        tx = tx.take(
            pc.sort_indices(tx, [("timestamp", "ascending"), ("transaction_id", "ascending")])
        )
        t = tx.column("timestamp").cast(pa.int64()).to_numpy()
        day = (t - (t.min() - t.min() % DAY_MS)) // DAY_MS
        t0 = time.perf_counter()
        feats = compute_offline(fs, tx)
        out["world"] = {
            "transactions": tx.num_rows,
            "days": args.days,
            "fraud_rate": round(
                float(pc.mean(tx.column("is_fraud").cast(pa.float64())).as_py()), 5
            ),
            "offline_features_s": round(time.perf_counter() - t0, 2),
        }
        booster, calibrator, meta, info, x, y = train(fs, tx, feats, day, args)
        registry = ModelRegistry(Path(tmp) / "registry")
        model = registry.load(
            registry.register("bench-handbook", booster, meta, calibrator).model_id
        )
        test = day >= args.train_days
        info["test_auc_roc"] = round(auc_roc(y[test], model.predict(x[test])), 4)
        out["model"] = info

        # -- online: warm up on the training days, then the timed test days --------------------
        engine = DecisionEngine(fs, model, policy)
        warm = run_days(engine, tx, day, range(args.train_days), record=False)
        snapshot = pickle.dumps(engine.state)
        modes = {}
        for mode in Explain:
            other = DecisionEngine(fs, model, policy, state=pickle.loads(snapshot), explain=mode)
            r = run_days(
                other,
                tx,
                day,
                range(args.train_days, args.train_days + args.compare_days),
                record=True,
            )
            n = len(r["wall_us"])
            modes[mode.value] = {
                "decisions": n,
                "explained": r["explained"],
                "wall": pct(r["wall_us"]),
                "cpu": pct(r["cpu_us"]),
                "decisions_per_s": round(n / r["elapsed_s"]),
            }
        main_run = run_days(engine, tx, day, range(args.train_days, args.days), record=True)
        n = len(main_run["wall_us"])
        acts = np.array(main_run["actions"])
        sizes = warm["sizes"] + main_run["sizes"]
        out["online"] = {
            "explain": engine.explain_mode.value,
            "decisions": n,
            "test_days": args.days - args.train_days,
            "latency_wall": pct(main_run["wall_us"]),
            "latency_cpu": pct(main_run["cpu_us"]),
            "share_over_1ms_wall": round(float((main_run["wall_us"] > 1000).mean()), 5),
            "share_over_1ms_cpu": round(float((main_run["cpu_us"] > 1000).mean()), 5),
            "decisions_per_s": round(n / main_run["elapsed_s"]),
            "decisions_per_s_cpu": round(n / (main_run["cpu_us"].sum() / 1e6)),
            "actions": {a.value: int((acts == a.value).sum()) for a in Action},
            "explained": main_run["explained"],
            "warmup_decisions_per_s": round(len(warm["wall_us"]) / warm["elapsed_s"]),
            "state_entries_by_day": [[d, s] for d, s, _ in sizes if d % 5 == 0],
            "state_keys_by_day": [[d, k] for d, _, k in sizes if d % 5 == 0],
        }
        out["explain_modes_first_test_days"] = modes
        rows = np.flatnonzero(test)[:: max(1, int(test.sum()) // 5000)]
        out["parts_single_row"] = parts(engine, model, policy, feats, rows)
        out["parts_single_row"]["contributions_by_model_size"] = {
            f"{args.trees}x{args.leaves}": {
                "max_depth": max(
                    _depth(t["tree_structure"]) for t in booster.dump_model()["tree_info"]
                ),
                **out["parts_single_row"]["fill_and_contributions"],
            }
        } | explain_cost_by_size(info, registry, args.explain_sizes, x[rows[:2000]], fs.names)

        # -- batch replay ------------------------------------------------------------------------
        batch_engine = DecisionEngine(fs, model, policy)
        gc.collect()
        t0 = time.perf_counter()
        batch = batch_engine.decide_batch(tx)
        batch_s = time.perf_counter() - t0
        tail = batch.slice(batch.num_rows - n)
        same_ids = tail.column("transaction_id").to_pylist() == main_run["ids"]
        score_diff = np.abs(tail.column("score").to_numpy() - np.array(main_run["scores"]))
        out["batch"] = {
            "decisions": batch.num_rows,
            "seconds": round(batch_s, 2),
            "decisions_per_s": round(batch.num_rows / batch_s),
            "same_ids_as_online": same_ids,
            "max_abs_score_difference": float(score_diff.max()),
            "action_mismatches": int(
                (tail.column("action").to_numpy(zero_copy_only=False) != acts).sum()
            ),
        }
    out["load_average_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
