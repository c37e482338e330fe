"""The challenger: gradient-boosted trees (LightGBM) with monotone constraints, calibrated.

Trees see the raw inputs: numbers as they are, categories as LightGBM categorical features
(an unseen category or a missing value goes down the missing branch). Where the business
expects risk to move one way along a variable (more delinquencies, more risk), a monotone
constraint forces it. The defaults are tuned for small, noisy credit data: shallow trees
(four leaves), a slow learning rate, a third of the variables per tree and randomised split
thresholds (``extra_trees``); on the German credit data they gained about 0.005 AUC over
LightGBM's defaults in repeated cross-validation (``bench/RESULTS.md``).

Probabilities are calibrated with a Platt curve on the trees' margin, fitted on
out-of-fold margins (``calibration_folds``-fold cross-fitting), then the trees are refitted on
all the data. Reasons come from exact tree SHAP contributions (LightGBM's ``pred_contrib``)
taken against a reference population: ``phi_j(x) - mean_r phi_j(r)``, which sum to the
applicant's margin minus the reference's mean margin.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fintwin._files import write_atomic
from fintwin.credit.applications import CreditData, FeatureKind
from fintwin.exceptions import DataError, ParameterError
from fintwin.governance.calibration import PlattCalibrator, ScoreScale

__all__ = [
    "Challenger",
    "ChallengerConfig",
    "Contribution",
    "RiskDirection",
]

FORMAT = "fintwin-challenger/1"
_MODEL_FILE = "challenger.txt"
_META_FILE = "challenger.json"


class RiskDirection(IntEnum):
    """How risk moves when a numeric variable grows (LightGBM's monotone constraint)."""

    FALLS = -1
    FREE = 0
    RISES = 1


@dataclass(frozen=True)
class ChallengerConfig:
    """Hyperparameters of the challenger.

    Attributes
    ----------
    monotone : mapping of str to RiskDirection
        Constraints on numeric variables; others are free.
    n_estimators, learning_rate, num_leaves, min_child_samples : int, float, int, int
        Boosting rounds, shrinkage, leaves per tree and applicants per leaf.
    subsample, feature_fraction : float
        Share of applicants (each round) and of variables (each tree) used.
    l2 : float
        L2 penalty on leaf values.
    extra_trees : bool
        Random split thresholds (less variance on small data).
    calibration_folds : int
        Folds of the cross-fitting that gives the calibration curve its out-of-fold margins.
    seed : int
        Seed of every random choice.
    """

    monotone: Mapping[str, RiskDirection] = field(default_factory=dict)
    n_estimators: int = 1500
    learning_rate: float = 0.01
    num_leaves: int = 4
    min_child_samples: int = 20
    subsample: float = 0.7
    feature_fraction: float = 0.3
    l2: float = 5.0
    extra_trees: bool = True
    calibration_folds: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_estimators", "num_leaves", "min_child_samples"):
            if getattr(self, name) < 1:
                raise ParameterError(f"{name} must be >= 1 (got {getattr(self, name)})")
        for name in ("subsample", "feature_fraction"):
            if not 0 < getattr(self, name) <= 1:
                raise ParameterError(f"{name} must be in (0, 1] (got {getattr(self, name)})")
        if self.calibration_folds < 2:
            raise ParameterError(f"calibration_folds must be >= 2 (got {self.calibration_folds})")

    def lightgbm_params(self, names: Sequence[str]) -> dict[str, Any]:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1,
            "feature_fraction": self.feature_fraction,
            "lambda_l2": self.l2,
            "extra_trees": self.extra_trees,
            "monotone_constraints": [int(self.monotone.get(n, RiskDirection.FREE)) for n in names],
            # categories: smoothed, one-hot up to 8 levels (German credit's 4-5 level codes)
            "cat_smooth": 10.0,
            "cat_l2": 10.0,
            "min_data_per_group": 10,
            "max_cat_to_onehot": 8,
            "seed": self.seed,
            "deterministic": True,
            "num_threads": 1,
            "verbosity": -1,
        }


@dataclass(frozen=True)
class Contribution:
    """A variable's push on an applicant's risk, against the reference population.

    Attributes
    ----------
    variable : str
    value : object
        The applicant's value.
    log_odds : float
        Change of the log-odds of bad it accounts for (positive raises risk).
    """

    variable: str
    value: object
    log_odds: float


class Challenger:
    """A fitted challenger; build one with :meth:`fit`.

    Parameters
    ----------
    booster : lightgbm.Booster
    categories : mapping of str to list of str
        Training categories of each categorical input, in LightGBM's code order.
    feature_names : sequence of str
        Inputs, in the booster's order.
    calibrator : PlattCalibrator
        Margin to probability of bad.
    config : ChallengerConfig
    """

    def __init__(
        self,
        booster: Any,
        categories: Mapping[str, list[str]],
        feature_names: Sequence[str],
        calibrator: PlattCalibrator,
        config: ChallengerConfig,
    ) -> None:
        self.booster = booster
        self.categories = dict(categories)
        self.feature_names = list(feature_names)
        self.calibrator = calibrator
        self.config = config

    @staticmethod
    def _check_monotone(data: CreditData, config: ChallengerConfig) -> None:
        for name in config.monotone:
            if data.kinds.get(name) is not FeatureKind.NUMERIC:
                raise ParameterError(
                    f"monotone constraint on {name!r}: only numeric inputs can be constrained "
                    f"(inputs: {', '.join(data.kinds)})"
                )

    @classmethod
    def fit(cls, data: CreditData, config: ChallengerConfig | None = None) -> Challenger:
        """Cross-fit the calibration, then train the trees on all of ``data``."""
        import lightgbm as lgb
        from sklearn.model_selection import StratifiedKFold

        config = config or ChallengerConfig()
        cls._check_monotone(data, config)
        names = list(data.features.columns)
        categories = {
            n: sorted(data.features[n].dropna().unique().tolist())
            for n in names
            if data.kinds[n] is FeatureKind.CATEGORICAL
        }
        frame = _lightgbm_frame(data.features, names, categories)
        params = config.lightgbm_params(names)
        y = data.bad.astype(np.int64)

        def train(rows: np.ndarray) -> Any:
            dataset = lgb.Dataset(frame.iloc[rows], y[rows], free_raw_data=False)
            return lgb.train(params, dataset, num_boost_round=config.n_estimators)

        margin = np.empty(len(data))
        folds = StratifiedKFold(config.calibration_folds, shuffle=True, random_state=config.seed)
        for fit_rows, held_out in folds.split(frame, y):
            margin[held_out] = train(fit_rows).predict(frame.iloc[held_out], raw_score=True)
        calibrator = PlattCalibrator.fit(margin, y, scale=ScoreScale.MARGIN)
        booster = train(np.arange(len(data)))
        return cls(booster, categories, names, calibrator, config)

    def _frame(self, features: pd.DataFrame) -> pd.DataFrame:
        missing = [n for n in self.feature_names if n not in features.columns]
        if missing:
            raise DataError(f"the applicants lack the challenger's variables {missing}")
        return _lightgbm_frame(features, self.feature_names, self.categories)

    def margin(self, features: pd.DataFrame) -> np.ndarray:
        """Log-odds of bad before calibration, shape (n_applicants,)."""
        return self.booster.predict(self._frame(features), raw_score=True)

    def predicted_bad_rate(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of bad, shape (n_applicants,)."""
        return self.calibrator.transform(self.margin(features))

    def contributions(self, features: pd.DataFrame) -> np.ndarray:
        """Exact tree SHAP values, shape (n_applicants, n_features + 1); the last is the bias.

        Each row sums to the applicant's margin.
        """
        return self.booster.predict(self._frame(features), pred_contrib=True)

    def baseline(self, reference: pd.DataFrame) -> np.ndarray:
        """Mean SHAP contribution of each input over a reference population, shape (n_features,).

        The reference is the population a decline is explained against: approved applicants
        near the cut-off.
        """
        if len(reference) == 0:
            raise ParameterError("the reference population must hold at least one applicant")
        return self.contributions(reference)[:, :-1].mean(axis=0)

    def reasons(
        self,
        features: pd.DataFrame,
        baseline: np.ndarray,
        *,
        n: int = 4,
        exclude: Sequence[str] = (),
    ) -> list[list[Contribution]]:
        """Up to ``n`` inputs that raise each applicant's risk most above the ``baseline``.

        Parameters
        ----------
        features : pandas.DataFrame of shape (n_applicants, ...)
        baseline : numpy.ndarray of shape (n_features,)
            From :meth:`baseline`.
        n : int
            Most reasons per applicant.
        exclude : sequence of str
            Inputs never given as reasons.
        """
        if n < 1:
            raise ParameterError(f"n must be >= 1 (got {n})")
        baseline = np.asarray(baseline, dtype=np.float64)
        if baseline.shape != (len(self.feature_names),):
            raise ParameterError(
                f"baseline must hold one value per input ({len(self.feature_names)}), "
                f"got shape {baseline.shape}"
            )
        relative = self.contributions(features)[:, :-1] - baseline
        banned = set(exclude)
        allowed = np.array([name not in banned for name in self.feature_names])
        relative[:, ~allowed] = -np.inf
        out = []
        for i in range(len(features)):
            order = np.argsort(-relative[i], kind="stable")[:n]
            out.append(
                [
                    Contribution(
                        self.feature_names[j],
                        features[self.feature_names[j]].iloc[i],
                        float(relative[i, j]),
                    )
                    for j in order
                    if relative[i, j] > 0
                ]
            )
        return out

    def save(self, directory: str | Path) -> None:
        """Write the trees (LightGBM text) and everything else (JSON) into ``directory``."""
        directory = Path(directory)
        write_atomic(directory / _MODEL_FILE, self.booster.model_to_string())
        meta = {
            "format": FORMAT,
            "feature_names": self.feature_names,
            "categories": self.categories,
            "calibrator": self.calibrator.to_json(),
            "config": {**asdict(self.config), "monotone": dict(self.config.monotone)},
        }
        write_atomic(directory / _META_FILE, json.dumps(meta, indent=1))

    @classmethod
    def load(cls, directory: str | Path) -> Challenger:
        import lightgbm as lgb

        directory = Path(directory)
        try:
            meta = json.loads((directory / _META_FILE).read_text())
            booster = lgb.Booster(model_str=(directory / _MODEL_FILE).read_text())
        except (OSError, ValueError, lgb.basic.LightGBMError) as error:
            raise DataError(f"cannot read a challenger: {error}", file=directory) from None
        if meta.get("format") != FORMAT:
            raise DataError(f"not a challenger in {FORMAT}", file=directory / _META_FILE)
        settings = dict(meta["config"])
        settings["monotone"] = {k: RiskDirection(v) for k, v in settings["monotone"].items()}
        return cls(
            booster,
            meta["categories"],
            meta["feature_names"],
            PlattCalibrator.from_json(meta["calibrator"]),
            ChallengerConfig(**settings),
        )


def _lightgbm_frame(
    features: pd.DataFrame, names: Sequence[str], categories: Mapping[str, list[str]]
) -> pd.DataFrame:
    """Inputs as LightGBM reads them: floats, and categoricals with the training categories.

    Fixing the categories to the training ones keeps every category's code stable between
    training and scoring; an unseen category becomes missing. Columns are named by position
    (``x0``, ``x1``...): LightGBM refuses names with JSON punctuation, which real files have.
    """
    columns = {}
    for i, name in enumerate(names):
        if name in categories:
            # Unseen categories are made missing before the Categorical is built: pandas 3
            # deprecates values outside the given categories (Pandas4Warning, later an error).
            raw = pd.Series(features[name].to_numpy(dtype=object))
            known = raw.where(raw.isin(categories[name]))
            values = pd.Categorical(known, categories=categories[name])
        else:
            values = features[name].to_numpy(dtype=np.float64)
        columns[f"x{i}"] = values
    return pd.DataFrame(columns)
