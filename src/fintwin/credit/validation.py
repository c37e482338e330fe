"""Repeated stratified k-fold cross-validation of the scorecard and the challenger.

Everything learnt from data is learnt inside each fold: the binning and its WoE, the
regression, the trees and their calibration. Nothing of a fold's test part leaks into its model,
which is what makes the figures comparable with published leak-free baselines. Folds are
independent, so they run in worker processes; results do not depend on the number of workers.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from enum import Enum

import numpy as np

from fintwin.credit.applications import CreditData
from fintwin.credit.challenger import Challenger, ChallengerConfig
from fintwin.credit.metrics import ks_statistic
from fintwin.credit.scorecard import Scorecard, ScorecardConfig
from fintwin.exceptions import ParameterError
from fintwin.risk.metrics import auc_roc

__all__ = ["CrossValidation", "ModelKind", "cross_validate"]


class ModelKind(Enum):
    SCORECARD = "scorecard"
    CHALLENGER = "challenger"


@dataclass(frozen=True)
class CrossValidation:
    """Per-fold AUC and KS of each model.

    Attributes
    ----------
    auc, ks : dict of ModelKind to numpy.ndarray of shape (folds * repeats,)
        Test-fold figures, in fold order.
    folds, repeats, seed : int
    """

    auc: dict[ModelKind, np.ndarray]
    ks: dict[ModelKind, np.ndarray]
    folds: int
    repeats: int
    seed: int

    def summary(self) -> dict[str, dict[str, float]]:
        """Mean and standard deviation (ddof=1, over all test folds) per model."""
        return {
            kind.value: {
                "auc_mean": float(np.mean(self.auc[kind])),
                "auc_std": float(np.std(self.auc[kind], ddof=1)),
                "ks_mean": float(np.mean(self.ks[kind])),
                "ks_std": float(np.std(self.ks[kind], ddof=1)),
            }
            for kind in self.auc
        }


@dataclass(frozen=True)
class _Fold:
    data: CreditData
    train: np.ndarray
    test: np.ndarray
    scorecard: ScorecardConfig
    challenger: ChallengerConfig


def _run_fold(fold: _Fold) -> dict[ModelKind, tuple[float, float]]:
    train, test = fold.data.subset(fold.train), fold.data.subset(fold.test)
    scorecard = Scorecard.fit(train, fold.scorecard)
    challenger = Challenger.fit(train, fold.challenger)
    risks = {
        ModelKind.SCORECARD: -scorecard.score(test.features),
        ModelKind.CHALLENGER: challenger.predicted_bad_rate(test.features),
    }
    return {kind: (auc_roc(test.bad, r), ks_statistic(test.bad, r)) for kind, r in risks.items()}


def cross_validate(
    data: CreditData,
    *,
    folds: int = 5,
    repeats: int = 5,
    seed: int = 0,
    scorecard: ScorecardConfig | None = None,
    challenger: ChallengerConfig | None = None,
    workers: int = 1,
) -> CrossValidation:
    """Repeated stratified k-fold cross-validation.

    Parameters
    ----------
    data : CreditData
    folds, repeats : int
        ``folds``-fold splits, repeated ``repeats`` times with different shuffles.
    seed : int
        Seed of the shuffles (scikit-learn's ``RepeatedStratifiedKFold``).
    scorecard, challenger : optional
        Model settings (defaults otherwise).
    workers : int
        Processes fitting folds at once.

    Returns
    -------
    CrossValidation
    """
    from sklearn.model_selection import RepeatedStratifiedKFold

    if folds < 2 or repeats < 1 or workers < 1:
        raise ParameterError(
            f"folds must be >= 2, repeats and workers >= 1 (got {folds}, {repeats}, {workers})"
        )
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    jobs = [
        _Fold(
            data,
            train,
            test,
            scorecard or ScorecardConfig(),
            challenger or ChallengerConfig(seed=seed),
        )
        for train, test in splitter.split(data.features, data.bad)
    ]
    if workers == 1:
        results = [_run_fold(job) for job in jobs]
    else:
        # Spawned, not forked: a child forked after LightGBM ran in this process inherits its
        # OpenMP state and deadlocks in its first LightGBM call.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
            results = list(pool.map(_run_fold, jobs))
    kinds = list(ModelKind)
    return CrossValidation(
        {k: np.array([r[k][0] for r in results]) for k in kinds},
        {k: np.array([r[k][1] for r in results]) for k in kinds},
        folds,
        repeats,
        seed,
    )
