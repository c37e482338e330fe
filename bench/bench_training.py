"""Benchmark: fraud model training and offline evaluation on the book's protocol.

    python bench/bench_training.py [--world DIR] [--seed 0] [--validation] [--feature-set plus]

Simulates the ``handbook`` world (5,000 customers, 183 days, about 1.75 million payments) unless
``--world`` is given, then times, in this process:

- the replay: ``train_fraud_model`` under the book's protocol (features over the whole world,
  training on days 136-142, test on days 150-156, registration) followed by ``evaluate_model``
  of the registered model (features again, scoring, metrics);
- ``prequential_evaluation``: the book's 4 test folds from day 136, whose means the book reports
  (its best published: AUC 0.879, AP 0.694, CP@100 0.305), and with ``--validation`` its 4
  validation folds from day 101 too (where features and parameters are chosen).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine
from fintwin.data import open_world
from fintwin.features import handbook_feature_set
from fintwin.governance import ModelRegistry
from fintwin.risk import (
    evaluate_model,
    handbook_plus_feature_set,
    prequential_evaluation,
    train_fraud_model,
)
from fintwin.risk.protocols import HANDBOOK_VALIDATION_START_DAY
from fintwin.world import simulate

BOOK = {"auc_roc": 0.879, "average_precision": 0.694, "card_precision_at_100": 0.305}
TARGET = {"auc_roc": 0.88, "average_precision": 0.70, "card_precision_at_100": 0.31}


def _rounded(d: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", type=Path)
    ap.add_argument("--seed", type=int, default=0, help="world seed when simulating")
    ap.add_argument("--validation", action="store_true", help="also the validation folds")
    ap.add_argument(
        "--feature-set",
        choices=("plus", "book"),
        default="plus",
        help="plus: handbook_plus_feature_set (the default for tables without cards); "
        "book: the book's 15 features",
    )
    args = ap.parse_args()
    fs = handbook_plus_feature_set() if args.feature_set == "plus" else handbook_feature_set()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        if args.world is None:
            world = simulate(Path(tmp) / "world", "handbook", seed=args.seed)
        else:
            world = open_world(args.world)
        simulate_s = time.perf_counter() - t0
        n = world.manifest.tables["transactions"].rows
        registry = ModelRegistry(Path(tmp) / "registry")

        t0 = time.perf_counter()
        trained = train_fraud_model(
            world, feature_set=fs, protocol="handbook", registry=registry, name="fraud-handbook"
        )
        t1 = time.perf_counter()
        evaluation = evaluate_model(world, trained.model_id, registry=registry)
        t2 = time.perf_counter()
        assert evaluation.to_dict() == trained.evaluation.to_dict()

        folds = {"test": prequential_evaluation(world, feature_set=fs)}
        if args.validation:
            folds["validation"] = prequential_evaluation(
                world, feature_set=fs, start_day=HANDBOOK_VALIDATION_START_DAY
            )
    metrics = ("auc_roc", "average_precision", "card_precision_at_100")
    out = {
        "benchmark": "training",
        "machine": machine(),
        "world": {"transactions": n, "simulate_s": round(simulate_s, 2), "seed": args.seed},
        "feature_set": {
            "name": args.feature_set,
            "features": len(fs),
            "definitions_hash": fs.definitions_hash()[:12],
        },
        "replay": {
            "train_s": round(t1 - t0, 2),
            "evaluate_s": round(t2 - t1, 2),
            "total_s": round(t2 - t0, 2),
            "train_timings_s": {k: round(v, 2) for k, v in trained.timings.items()},
            "num_boost_round": trained.num_boost_round,
            "metrics": _rounded({k: trained.metrics[k] for k in metrics}),
        },
        "prequential": {
            name: {
                "mean": _rounded(dict(p.mean)),
                "folds": [_rounded(f) for f in p.to_dict()["folds"]],
                "seconds": round(p.timings["total"], 2),
            }
            for name, p in folds.items()
        },
        "book_best": BOOK,
        "target": TARGET,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
