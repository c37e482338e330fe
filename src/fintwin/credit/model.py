"""A credit model as it is trained, documented and used: champion, challenger and cut-off.

:func:`train_credit_model` fits the scorecard (the champion, which decides) and the
LightGBM challenger (which is compared with it) on a training part, chooses the cut-off, and
evaluates both on a held-out part: discrimination, calibration by score band, stability (PSI)
between the two parts, a cut-off table, and a fairness audit of the champion's decisions per
protected attribute. :class:`CreditModel` keeps all of it in a directory (JSON, CSV and
LightGBM text, no pickles) and decides on new applicants with up to four principal reasons per
decline. Protected attributes are never inputs, and inputs whose names mark them as obvious
proxies of one (sex, gender, age, marital status, nationality, foreign, race, religion...) are
never given as reasons.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fintwin._files import write_atomic
from fintwin.credit.applications import CreditData, FeatureKind
from fintwin.credit.challenger import Challenger, ChallengerConfig
from fintwin.credit.cutoff import (
    LoanEconomics,
    best_profit_cutoff,
    cutoff_for_bad_rate,
    cutoff_table,
    cutoffs_between,
)
from fintwin.credit.fairness import age_band, fairness_audit
from fintwin.credit.metrics import calibration_by_band, credit_metrics, population_stability_index
from fintwin.credit.mitigation import mitigation_search, proposed_candidate
from fintwin.credit.ratios import Ratio, add_ratios
from fintwin.credit.scorecard import Reason, Scorecard, ScorecardConfig
from fintwin.exceptions import DataError, ParameterError

__all__ = [
    "ApprovalStatus",
    "CreditDecision",
    "CreditModel",
    "TrainingOptions",
    "obvious_proxies",
    "train_credit_model",
]

FORMAT = "fintwin-credit-model/2"
# Whole words only: "age" inside percentage, mortgage or manager is no proxy.
_PROXY_WORDS = frozenset(
    {
        "sex", "gender", "age", "ages", "birth", "birthday", "dob", "marital", "married",
        "nationality", "citizenship", "foreign", "race", "racial", "ethnic", "ethnicity",
        "religion", "religious", "disability", "disabled", "pregnant", "pregnancy",
    }
)  # fmt: skip
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
#: Share of the approved training applicants, nearest the cut-off, that reasons compare with.
REFERENCE_SHARE = 0.25


class ApprovalStatus(Enum):
    """Where a model stands in model governance."""

    DRAFT = "draft"
    APPROVED = "approved"
    REJECTED = "rejected"


def obvious_proxies(names: Sequence[str]) -> list[str]:
    """Inputs whose names mark them as a protected attribute or an obvious proxy of one.

    A name matches when one of its words (split at anything not a letter or digit, and at
    camelCase) is such a word: ``age_in_years``, ``ForeignWorker``, ``personal_status_and_sex``;
    not ``mortgage_balance`` or ``percentage``.

    >>> obvious_proxies(["age_in_years", "mortgage_balance", "ForeignWorker", "percentage"])
    ['age_in_years', 'ForeignWorker']
    """
    return [
        name
        for name in names
        if _PROXY_WORDS.intersection(
            re.split(r"[^a-z0-9]+", _CAMEL_BOUNDARY.sub("_", name).lower())
        )
    ]


@dataclass(frozen=True)
class TrainingOptions:
    """What :func:`train_credit_model` needs besides the data.

    Attributes
    ----------
    test_share : float
        Share of applicants held out for evaluation (stratified random split by ``seed``),
        unless ``test_rows`` is given.
    test_rows : numpy.ndarray, optional
        Explicit held-out rows (e.g. the latest applications, for a time split).
    seed : int
    exposure : numpy.ndarray of shape (n_applicants,), optional
        Exposure of each applicant (currency units); else the data's, else 1 each.
    economics : LoanEconomics
        LGD and margin for expected loss and profit.
    cutoff : float, optional
        Fixed cut-off in scorecard points.
    max_bad_rate : float, optional
        Otherwise, the lowest cut-off whose expected bad rate among approvals stays below
        this; if neither is given, the cut-off of highest expected profit on training data.
    reason_exclude : sequence of str
        Inputs never given as reasons, besides :func:`obvious_proxies`.
    reason_texts : mapping of str to str
        Human-readable text per input, for decline letters.
    mitigation : bool
        Search reweighed scorecards per protected attribute (:mod:`.mitigation`).
    ratios : sequence of Ratio
        Derived inputs (:mod:`.ratios`), added to the data before fitting and derived again
        for every applicant the model scores.
    scorecard, challenger : configs
    """

    test_share: float = 0.3
    test_rows: np.ndarray | None = None
    seed: int = 0
    exposure: np.ndarray | None = None
    economics: LoanEconomics = field(default_factory=LoanEconomics)
    cutoff: float | None = None
    max_bad_rate: float | None = None
    reason_exclude: Sequence[str] = ()
    reason_texts: Mapping[str, str] = field(default_factory=dict)
    mitigation: bool = True
    ratios: Sequence[Ratio] = ()
    scorecard: ScorecardConfig = field(default_factory=ScorecardConfig)
    challenger: ChallengerConfig = field(default_factory=ChallengerConfig)


@dataclass(frozen=True)
class CreditDecision:
    """The decision on one applicant.

    Attributes
    ----------
    approved : bool
    score : float
        Scorecard points.
    predicted_bad_rate : float
        The champion's probability of default.
    challenger_bad_rate : float
        The challenger's, for comparison.
    reasons : list of dict
        For a decline, up to four principal reasons: ``variable``, ``bin``,
        ``points_below_maximum`` and ``text``; empty when approved.
    """

    approved: bool
    score: float
    predicted_bad_rate: float
    challenger_bad_rate: float
    reasons: list[dict[str, Any]]


class CreditModel:
    """Champion scorecard, challenger, cut-off, reason settings and the evaluation record."""

    def __init__(
        self,
        scorecard: Scorecard,
        challenger: Challenger,
        cutoff: float,
        reason_baseline: np.ndarray,
        reason_exclude: Sequence[str],
        reason_texts: Mapping[str, str],
        record: dict[str, Any],
        ratios: Sequence[Ratio] = (),
    ) -> None:
        self.scorecard = scorecard
        self.challenger = challenger
        self.cutoff = float(cutoff)
        self.reason_baseline = np.asarray(reason_baseline, dtype=np.float64)
        self.reason_exclude = tuple(reason_exclude)
        self.reason_texts = dict(reason_texts)
        self.record = record
        self.ratios = tuple(ratios)

    @property
    def features(self) -> list[str]:
        """Every input of the models, the derived ratios included."""
        return list(self.challenger.feature_names)

    @property
    def input_kinds(self) -> dict[str, FeatureKind]:
        """The inputs an applicant must (or may, as missing) carry, and their kinds.

        The model's inputs without the derived ratios, which it derives itself.
        """
        derived = {r.name for r in self.ratios}
        return {n: k for n, k in self.challenger.kinds.items() if n not in derived}

    def derive(self, features: pd.DataFrame) -> pd.DataFrame:
        """The applicants' inputs with the model's ratios derived (see :mod:`.ratios`)."""
        kinds = self.input_kinds
        return add_ratios(features[list(kinds)], kinds, self.ratios)[0]

    @property
    def status(self) -> ApprovalStatus:
        return ApprovalStatus(self.record.get("approval_status", "draft"))

    def reason_text(self, reason: Reason) -> str:
        template = self.reason_texts.get(reason.variable)
        if template:
            return template.format(bin=reason.bin)
        return f"{reason.variable.replace('_', ' ')}: {reason.bin}"

    def decide(self, features: pd.DataFrame, *, n_reasons: int = 4) -> list[CreditDecision]:
        """Decide on every applicant of ``features`` (one row each, raw inputs)."""
        features = self.derive(features)
        score = self.scorecard.score(features)
        bad_rate = np.asarray(self.scorecard.scaling.bad_rate(score))
        challenger = self.challenger.predicted_bad_rate(features)
        approved = score >= self.cutoff
        reasons = self.scorecard.reasons(features, n=n_reasons, exclude=self.reason_exclude)
        return [
            CreditDecision(
                bool(approved[i]),
                float(score[i]),
                float(bad_rate[i]),
                float(challenger[i]),
                []
                if approved[i]
                else [
                    {
                        "variable": r.variable,
                        "bin": r.bin,
                        "points_below_maximum": r.points_below_maximum,
                        "text": self.reason_text(r),
                    }
                    for r in reasons[i]
                ],
            )
            for i in range(len(features))
        ]

    def challenger_reasons(self, features: pd.DataFrame, *, n: int = 4) -> list[list[Any]]:
        """The challenger's Shapley reasons, against the typical approved applicant near the
        cut-off (``reason_baseline``)."""
        return self.challenger.reasons(
            self.derive(features), self.reason_baseline, n=n, exclude=self.reason_exclude
        )

    # --- storage -----------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write the model into ``directory`` (created); files are written atomically."""
        directory = Path(directory)
        self.scorecard.save(directory / "scorecard.json")
        self.scorecard.save(directory / "scorecard.csv")
        self.challenger.save(directory / "challenger")
        meta = {
            "format": FORMAT,
            "cutoff": self.cutoff,
            "reason_baseline": self.reason_baseline.tolist(),
            "reason_exclude": list(self.reason_exclude),
            "reason_texts": self.reason_texts,
            "ratios": [str(r) for r in self.ratios],
            "record": self.record,
        }
        write_atomic(directory / "model.json", json.dumps(meta, indent=1, default=_json_default))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> CreditModel:
        directory = Path(directory)
        try:
            meta = json.loads((directory / "model.json").read_text())
        except (OSError, ValueError) as error:
            raise DataError(f"not a credit model directory: {error}", file=directory) from None
        if meta.get("format") != FORMAT:
            raise DataError(
                f"model.json is not in {FORMAT} (found {meta.get('format')!r}; a model written "
                "by an earlier fintwin must be trained again)",
                file=directory / "model.json",
            )
        return cls(
            Scorecard.load(directory / "scorecard.json"),
            Challenger.load(directory / "challenger"),
            meta["cutoff"],
            meta["reason_baseline"],
            meta["reason_exclude"],
            meta["reason_texts"],
            meta["record"],
            [Ratio.parse(text) for text in meta["ratios"]],
        )

    def set_status(self, directory: str | Path, status: ApprovalStatus, by: str) -> None:
        """Record a governance decision on the model in its directory."""
        self.record["approval_status"] = status.value
        self.record.setdefault("status_history", []).append(
            {"status": status.value, "by": by, "at": _now()}
        )
        self.save(directory)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _split(data: CreditData, options: TrainingOptions) -> tuple[np.ndarray, np.ndarray]:
    if options.test_rows is not None:
        test = np.zeros(len(data), dtype=bool)
        test[options.test_rows] = True
        return np.flatnonzero(~test), np.flatnonzero(test)
    from sklearn.model_selection import train_test_split

    if not 0 < options.test_share < 1:
        raise ParameterError(f"test_share must be in (0, 1) (got {options.test_share})")
    train, test = train_test_split(
        np.arange(len(data)),
        test_size=options.test_share,
        stratify=data.bad,
        random_state=options.seed,
    )
    return np.sort(train), np.sort(test)


def _choose_cutoff(
    score: np.ndarray, bad_rate: np.ndarray, exposure: np.ndarray, options: TrainingOptions
) -> tuple[float, str]:
    if options.cutoff is not None:
        return float(options.cutoff), "given"
    if options.max_bad_rate is not None:
        choice = cutoff_for_bad_rate(score, bad_rate, options.max_bad_rate)
        return choice.cutoff, f"lowest with expected bad rate <= {options.max_bad_rate}"
    table = cutoff_table(
        score, bad_rate, exposure, cutoffs_between(score, 200), economics=options.economics
    )
    return float(best_profit_cutoff(table)["cutoff"]), "highest expected profit on training"


def _protected_groups(values: pd.Series) -> np.ndarray:
    """Group labels of a protected column: numeric ones (ages) in bands."""
    if pd.api.types.is_numeric_dtype(values):
        return age_band(values.astype("float64").to_numpy())
    return values.astype(object).where(values.notna(), None).to_numpy()


def _mitigation(
    train: CreditData,
    test: CreditData,
    approval_rate: float,
    exposure_test: np.ndarray,
    options: TrainingOptions,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in train.protected.columns:
        try:
            table = mitigation_search(
                train,
                test,
                _protected_groups(train.protected[name]),
                _protected_groups(test.protected[name]),
                approval_rate=approval_rate,
                exposure_test=exposure_test,
                economics=options.economics,
                config=options.scorecard,
            )
        except DataError as error:
            out[name] = {"error": str(error)}
            continue
        out[name] = {
            "candidates": table.to_dict("records"),
            "proposed": proposed_candidate(table),
        }
    return out


def _fairness(data: CreditData, approved: np.ndarray, bad_rate: np.ndarray) -> dict[str, Any]:
    out = {}
    for name in data.protected.columns:
        groups = _protected_groups(data.protected[name])
        try:
            audit = fairness_audit(
                approved,
                groups,
                good=~data.bad,
                predicted_bad_rate=bad_rate,
                attribute=name,
            )
        except DataError as error:  # every group too small, say: record why, don't fail
            out[name] = {"error": str(error)}
            continue
        out[name] = audit.to_dict()
    return out


def train_credit_model(data: CreditData, options: TrainingOptions | None = None) -> CreditModel:
    """Fit champion and challenger, choose the cut-off, evaluate on held-out applicants.

    Parameters
    ----------
    data : CreditData
        Applicants with outcomes (and protected columns for the audit).
    options : TrainingOptions, optional

    Returns
    -------
    CreditModel
        Its ``record`` holds the evaluation (rendered by
        :func:`fintwin.credit.model_card.render_model_card`).
    """
    options = options or TrainingOptions()
    data = data.with_ratios(options.ratios)
    if options.exposure is not None:
        exposure = np.asarray(options.exposure, float)
    elif data.exposure is not None:
        exposure = data.exposure
    else:
        exposure = np.ones(len(data))
    if exposure.shape != (len(data),):
        raise ParameterError(f"exposure must hold one value per applicant ({len(data)})")
    train_rows, test_rows = _split(data, options)
    train, test = data.subset(train_rows), data.subset(test_rows)
    scorecard = Scorecard.fit(train, options.scorecard)
    challenger = Challenger.fit(train, options.challenger)

    train_score = scorecard.score(train.features)
    train_bad_rate = np.asarray(scorecard.scaling.bad_rate(train_score))
    cutoff, cutoff_rule = _choose_cutoff(train_score, train_bad_rate, exposure[train_rows], options)
    approved_train = train_score >= cutoff
    if approved_train.any():
        near = train_score[approved_train] <= np.quantile(
            train_score[approved_train], REFERENCE_SHARE
        )
        reference = train.features[approved_train].reset_index(drop=True)[near]
    else:
        reference = train.features
    baseline = challenger.baseline(reference)

    test_score = scorecard.score(test.features)
    test_bad_rate = np.asarray(scorecard.scaling.bad_rate(test_score))
    challenger_test = challenger.predicted_bad_rate(test.features)
    challenger_train = challenger.predicted_bad_rate(train.features)
    approved_test = test_score >= cutoff
    table = cutoff_table(
        test_score,
        test_bad_rate,
        exposure[test_rows],
        cutoffs_between(test_score, 25),
        economics=options.economics,
        bad=test.bad,
    )
    record: dict[str, Any] = {
        "trained_at": _now(),
        "source": data.source,
        "approval_status": ApprovalStatus.DRAFT.value,
        "n_train": len(train),
        "n_test": len(test),
        "bad_rate_train": train.bad_rate,
        "bad_rate_test": test.bad_rate,
        "features": list(data.features.columns),
        "ratios": [str(r) for r in options.ratios],
        "scorecard_variables": scorecard.variable_names,
        "protected": list(data.protected.columns),
        "cutoff": cutoff,
        "cutoff_rule": cutoff_rule,
        "economics": {"lgd": options.economics.lgd, "margin": options.economics.margin},
        "metrics": {
            "scorecard": {
                "train": credit_metrics(train.bad, train_bad_rate).to_dict(),
                "test": credit_metrics(test.bad, test_bad_rate).to_dict(),
                "psi_train_test": population_stability_index(train_score, test_score),
            },
            "challenger": {
                "train": credit_metrics(train.bad, challenger_train).to_dict(),
                "test": credit_metrics(test.bad, challenger_test).to_dict(),
                "psi_train_test": population_stability_index(challenger_train, challenger_test),
            },
        },
        "calibration_test": {
            "scorecard": calibration_by_band(test.bad, test_bad_rate).to_dict("records"),
            "challenger": calibration_by_band(test.bad, challenger_test).to_dict("records"),
        },
        "approval_rate_test": float(approved_test.mean()),
        "cutoff_table_test": table.to_dict("records"),
        "fairness_test": _fairness(test, approved_test, test_bad_rate),
    }
    if options.mitigation and len(data.protected.columns):
        record["mitigation"] = _mitigation(
            train, test, float(approved_train.mean()), exposure[test_rows], options
        )
    excluded = {*options.reason_exclude, *obvious_proxies(list(data.features.columns))}
    for ratio in options.ratios:  # in order: a ratio may divide an earlier one
        if {ratio.numerator, ratio.denominator} & excluded:
            excluded.add(ratio.name)  # a ratio of a proxy is a proxy
    exclude = sorted(excluded)
    return CreditModel(
        scorecard,
        challenger,
        cutoff,
        baseline,
        exclude,
        options.reason_texts,
        record,
        options.ratios,
    )
