"""Credit models: German credit cross-validation against references, and the twin's credit run.

    python bench/bench_credit.py [--part german|reasons|twin|all] [--workers 2] [--cache DIR]
                                 [--cv-seeds 0,1,2]

**german**: repeated 5x5-fold stratified cross-validation (seed 0) on the UCI German credit
data, everything fitted inside each fold, as ``fintwin credit validate`` does, with the two
affordability ratios of ``GERMAN_CREDIT_RATIOS`` (the acceptance run); then the same without
the ratios, and with constant leaves, to show what each part adds; then the acceptance run on
the folds of the other ``--cv-seeds``. In the seed-0 folds, two references on the same inputs:
a plain logistic regression on one-hot inputs (no binning), and LightGBM with its default
settings. Prints AUC and KS (mean, std) and seconds per run.

**reasons**: the time to explain the challenger's decisions on German credit applicants (exact
baseline Shapley values, ``fintwin.credit.tree_shapley``), for linear and constant leaves, one
applicant and 300; for constant leaves, LightGBM's own ``pred_contrib`` on the same trees as a
reference.

**twin**: simulates a handbook world (20,000 customers, 120 days, 3 applications per customer
per year: about 20,000 applications) and runs ``fintwin credit train --world``: the model on
the earlier approved loans, the pre-play of new against historical policy over every later
applicant, and the value of alternative data. Prints the timings and the record's figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine
from fintwin.credit.applications import FeatureKind, read_applications
from fintwin.credit.challenger import Challenger, ChallengerConfig, LeafModel
from fintwin.credit.german_credit import (
    GERMAN_CREDIT_BAD,
    GERMAN_CREDIT_RATIOS,
    GERMAN_CREDIT_TARGET,
    fetch_german_credit,
)
from fintwin.credit.metrics import ks_statistic
from fintwin.credit.ratios import Ratio
from fintwin.credit.validation import cross_validate
from fintwin.risk.metrics import auc_roc


def _references(data, folds: int, repeats: int, seed: int) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    import lightgbm as lgb
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import RepeatedStratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    categorical = [n for n, k in data.kinds.items() if k is FeatureKind.CATEGORICAL]
    onehot = pd.get_dummies(data.features, columns=categorical, dtype=float)
    raw = data.features.copy()
    for name in categorical:
        raw[name] = raw[name].astype("category")
    raw.columns = [f"x{i}" for i in range(raw.shape[1])]
    y = data.bad.astype(int)
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    scores: dict[str, list[tuple[float, float]]] = {"onehot_logistic": [], "lightgbm_default": []}
    seconds = dict.fromkeys(scores, 0.0)
    for train, test in splitter.split(onehot, y):
        started = time.perf_counter()
        logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        risk = logistic.fit(onehot.iloc[train], y[train]).predict_proba(onehot.iloc[test])[:, 1]
        seconds["onehot_logistic"] += time.perf_counter() - started
        scores["onehot_logistic"].append((auc_roc(y[test], risk), ks_statistic(y[test], risk)))
        started = time.perf_counter()
        booster = lgb.LGBMClassifier(verbose=-1, random_state=seed, n_jobs=1)
        risk = booster.fit(raw.iloc[train], y[train]).predict_proba(raw.iloc[test])[:, 1]
        seconds["lightgbm_default"] += time.perf_counter() - started
        scores["lightgbm_default"].append((auc_roc(y[test], risk), ks_statistic(y[test], risk)))
    out = {}
    for name, pairs in scores.items():
        auc, ks = np.array(pairs).T
        out[name] = {
            "auc_mean": float(auc.mean()),
            "auc_std": float(auc.std(ddof=1)),
            "ks_mean": float(ks.mean()),
            "ks_std": float(ks.std(ddof=1)),
            "seconds": round(seconds[name], 2),
        }
    return out


def german(cache: Path | None, workers: int, cv_seeds: list[int]) -> dict[str, object]:
    path = fetch_german_credit(cache)
    plain = read_applications(path, GERMAN_CREDIT_TARGET, bad=GERMAN_CREDIT_BAD)
    ratios = [Ratio.parse(text) for text in GERMAN_CREDIT_RATIOS]
    data = plain.with_ratios(ratios)
    runs: dict[str, dict[str, object]] = {}
    # The acceptance configuration, then what each of its two parts adds.
    settings = {
        "with_ratios": (data, ChallengerConfig()),
        "without_ratios": (plain, ChallengerConfig()),
        "with_ratios_constant_leaves": (data, ChallengerConfig(leaves=LeafModel.CONSTANT)),
    }
    for name, (credit, challenger) in settings.items():
        started = time.perf_counter()
        result = cross_validate(
            credit, folds=5, repeats=5, seed=0, challenger=challenger, workers=workers
        )
        runs[name] = {
            **result.summary(),
            "seconds_both_models": round(time.perf_counter() - started, 1),
        }
    other_seeds = {}
    for seed in (s for s in cv_seeds if s != 0):
        result = cross_validate(data, folds=5, repeats=5, seed=seed, workers=workers)
        other_seeds[f"cv_seed_{seed}"] = result.summary()
    summary = {k: v for k, v in runs["with_ratios"].items() if isinstance(v, dict)}
    references = _references(data, 5, 5, 0)
    return {
        "data": f"{path.name}: {len(data)} applicants, {data.bad_rate:.0%} bad",
        "protocol": "5x5 repeated stratified k-fold, seed 0, fitted inside each fold",
        "ratios": list(GERMAN_CREDIT_RATIOS),
        "fintwin": runs,
        "fintwin_with_ratios_other_cv_seeds": other_seeds,
        "references_with_ratios": references,
        "auc_gain_over_references": {
            model: {
                ref: round(summary[model]["auc_mean"] - values["auc_mean"], 4)
                for ref, values in references.items()
            }
            for model in summary
        },
        "workers": workers,
    }


def reasons(cache: Path | None) -> dict[str, object]:
    """Seconds to explain declines: exact baseline Shapley values, per leaf kind.

    The reference is LightGBM's own ``pred_contrib`` (path-dependent tree SHAP, a different
    quantity, which LightGBM computes for constant leaves only), on the same trees.
    """
    path = fetch_german_credit(cache)
    data = read_applications(path, GERMAN_CREDIT_TARGET, bad=GERMAN_CREDIT_BAD)
    data = data.with_ratios([Ratio.parse(text) for text in GERMAN_CREDIT_RATIOS])
    applicants = data.features.iloc[:300]

    def best_of(repeats: int, function, *args, **kwargs) -> float:  # type: ignore[no-untyped-def]
        """Fewest milliseconds of ``repeats`` calls."""
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            function(*args, **kwargs)
            times.append(time.perf_counter() - started)
        return 1e3 * min(times)

    out: dict[str, object] = {"applicants": len(applicants), "inputs": data.features.shape[1]}
    for leaves in LeafModel:
        model = Challenger.fit(data, ChallengerConfig(leaves=leaves))
        baseline = model.baseline(data.features)
        model.contributions(applicants.iloc[:1], baseline)  # parse the trees once
        row = {
            "one_applicant_ms": best_of(20, model.contributions, applicants.iloc[:1], baseline),
            "300_applicants_ms": best_of(5, model.contributions, applicants, baseline),
        }
        if leaves is LeafModel.CONSTANT:
            matrix = model.inputs(applicants)
            reference = best_of(5, model.booster.predict, matrix, pred_contrib=True)
            row["lightgbm_pred_contrib_300_ms"] = reference
            row["ratio_to_pred_contrib"] = row["300_applicants_ms"] / reference
        out[leaves.value] = {k: round(v, 2) for k, v in row.items()}
    return out


def twin(workers: int) -> dict[str, object]:
    from fintwin.credit.twin_model import train_on_twin
    from fintwin.world import simulate

    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        world = simulate(
            Path(scratch) / "w",
            "handbook",
            customers=20_000,
            days=120,
            seed=0,
            params={"economy.lending.applications_per_year": 3},
            workers=workers,
        )
        simulate_seconds = time.perf_counter() - started
        started = time.perf_counter()
        model = train_on_twin(world)
        train_seconds = time.perf_counter() - started
    record = model.record
    return {
        "world": "handbook, 20,000 customers, 120 days, seed 0, 3 applications/customer/year",
        "seconds": {"simulate": round(simulate_seconds, 1), "train": round(train_seconds, 1)},
        "applications_train_test": [record["n_train"], record["n_test"]],
        "metrics_test": {m: record["metrics"][m]["test"] for m in ("scorecard", "challenger")},
        "psi_train_test": {m: record["metrics"][m]["psi_train_test"] for m in record["metrics"]},
        "cutoff": record["cutoff"],
        "policy_comparison": record["policy_comparison"]["policies"],
        "alternative_data": record["alternative_data"],
        "fairness_min_adverse_impact_ratio": {
            name: audit.get("adverse_impact", {}).get("min_ratio")
            for name, audit in record["fairness_test"].items()
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("german", "reasons", "twin", "all"), default="all")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument(
        "--cv-seeds", default="0", help="Fold seeds of the acceptance run (comma-separated)."
    )
    args = ap.parse_args()
    out: dict[str, object] = {"machine": machine()}
    if args.part in ("german", "all"):
        seeds = [int(seed) for seed in args.cv_seeds.split(",")]
        out["german"] = german(args.cache, args.workers, seeds)
    if args.part in ("reasons", "all"):
        out["reasons"] = reasons(args.cache)
    if args.part in ("twin", "all"):
        out["twin"] = twin(args.workers)
    print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
