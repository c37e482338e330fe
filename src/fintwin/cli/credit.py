"""``fintwin credit``: import applications, validate, train, score, report and approve models.

Data comes from a user's file (``--data FILE --target COL [--bad VALUE]``, CSV or Parquet, or
a directory written by ``fintwin credit import``) or from a world (``--world DIR``: the twin's
loan applications, time-split, with the pre-play over every later applicant). A model is a
directory (``--out`` / ``--model``): ``scorecard.json`` and ``scorecard.csv``, ``challenger/``,
``model.json`` (cut-off, reason settings, the evaluation record) and ``model_card.md``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from fintwin.cli._common import console, parse_pairs, reports_errors
from fintwin.credit.applications import CreditData, normalise_features
from fintwin.credit.challenger import ChallengerConfig, LeafModel, RiskDirection
from fintwin.credit.ratios import Ratio
from fintwin.exceptions import DataError, ParameterError

app = typer.Typer(
    help="Credit: scorecards and challengers, reasons, fairness, cut-offs, validation.",
    no_args_is_help=True,
)

DATASET_FILE = "applications.parquet"
DATASET_META = "dataset.json"

DataOption = Annotated[
    Path | None, typer.Option("--data", help="Applications: CSV/Parquet file or imported dir.")
]
TargetOption = Annotated[
    str | None, typer.Option("--target", help="Outcome column (0/1, or see --bad).")
]
BadOption = Annotated[
    str | None, typer.Option("--bad", help="The target's value meaning bad (default: 1).")
]
ProtectedOption = Annotated[
    list[str] | None,
    typer.Option("--protected", help="Audit-only column, never an input (repeat)."),
]
ExcludeOption = Annotated[
    list[str] | None, typer.Option("--exclude", help="Column to ignore (ids, dates; repeat).")
]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of splits and models.")]
RatioOption = Annotated[
    list[str] | None,
    typer.Option("--ratio", help="Derived input NAME=NUMERATOR/DENOMINATOR (repeat)."),
]
MonotoneOption = Annotated[
    list[str] | None, typer.Option("--monotone", help="VAR=rises|falls (repeat).")
]
LeavesOption = Annotated[
    LeafModel | None,
    typer.Option("--leaves", help="Challenger leaves (default: linear; constant with --monotone)."),
]


def _load_data(
    data: Path | None,
    target: str | None,
    bad: str | None,
    protected: list[str] | None,
    exclude: list[str] | None,
    exposure: str | None = None,
    ratios: list[str] | None = None,
) -> tuple[CreditData, list[Ratio]]:
    """The applications, without ratios, and the ratios to derive: an imported dataset's,
    then ``--ratio``'s (checked against the data where they are applied, before any fit)."""
    from fintwin.credit.applications import read_applications

    wanted = [Ratio.parse(text) for text in ratios or []]
    if data is None:
        raise ParameterError("give --data FILE (with --target COL) or --world DIR")
    if data.is_dir():
        meta_path = data / DATASET_META
        if not meta_path.is_file():
            raise DataError(f"not an imported dataset (no {DATASET_META})", file=data)
        meta = json.loads(meta_path.read_text())
        credit = read_applications(
            data / DATASET_FILE,
            meta["target"],
            protected=meta["protected"],
            exclude=exclude or [],
            exposure=meta.get("exposure"),
        )
        wanted = [Ratio.parse(text) for text in meta.get("ratios", [])] + wanted
    elif target is None:
        raise ParameterError("--target COL is required with a data file")
    else:
        credit = read_applications(
            data,
            target,
            bad=bad,
            protected=protected or [],
            exclude=exclude or [],
            exposure=exposure,
        )
    return credit, wanted


def _challenger(pairs: list[str] | None, leaves: LeafModel | None, seed: int) -> ChallengerConfig:
    """The challenger's settings from ``--monotone`` and ``--leaves``."""
    monotone = {}
    for name, word in parse_pairs(pairs, "--monotone").items():
        try:
            monotone[name] = RiskDirection[word.upper()]
        except KeyError:
            raise ParameterError(
                f"--monotone {name}={word}: the direction must be 'rises' or 'falls'"
            ) from None
    if leaves is None:
        # Constraints hold for constant leaves only (ChallengerConfig refuses the mix).
        leaves = LeafModel.CONSTANT if monotone else LeafModel.LINEAR
    return ChallengerConfig(monotone=monotone, leaves=leaves, seed=seed)


def _reason_texts(path: Path | None) -> dict[str, str]:
    """``variable,text`` rows of a reason table (``{bin}`` in a text is the applicant's bin)."""
    if path is None:
        return {}
    from fintwin.credit.applications import read_table

    table = read_table(path)
    if list(table.columns[:2]) != ["variable", "text"]:
        raise DataError("a reason table has the columns variable,text", file=path)
    for row, text in enumerate(table["text"], start=1):
        if not isinstance(text, str) or not text.strip():
            raise DataError("the reason text is empty", file=path, row=row, column="text")
    return dict(zip(table["variable"].astype(str), table["text"], strict=True))


@app.command("import")
@reports_errors
def import_(
    data: Annotated[Path, typer.Option("--data", help="CSV or Parquet file.")],
    target: Annotated[str, typer.Option("--target", help="Outcome column.")],
    out: Annotated[Path, typer.Option("--out", help="Directory to write.")],
    bad: BadOption = None,
    protected: ProtectedOption = None,
    exclude: ExcludeOption = None,
    exposure: Annotated[
        str | None, typer.Option("--exposure", help="Exposure column (not an input).")
    ] = None,
    ratio: RatioOption = None,
) -> None:
    """Check an applications file and store it as a dataset (Parquet + dataset.json)."""
    from fintwin._files import write_atomic

    credit, ratios = _load_data(data, target, bad, protected, exclude, exposure, ratio)
    credit.with_ratios(ratios)  # a ratio naming a wrong input is refused before anything is kept
    frame = credit.features.copy()
    frame["bad"] = credit.bad.astype(np.int8)
    if credit.exposure is not None:
        frame["exposure"] = credit.exposure
    for name in credit.protected.columns:
        frame[name] = credit.protected[name].to_numpy()
    out.mkdir(parents=True, exist_ok=True)
    temporary = out / f".{DATASET_FILE}.tmp"
    frame.to_parquet(temporary, index=False)
    temporary.replace(out / DATASET_FILE)
    meta = {
        "source": str(data),
        "target": "bad",
        "protected": list(credit.protected.columns),
        "exposure": None if credit.exposure is None else "exposure",
        "kinds": {k: v.value for k, v in credit.kinds.items()},
        "ratios": [str(r) for r in ratios],
        "applicants": len(credit),
        "bad_rate": credit.bad_rate,
    }
    write_atomic(out / DATASET_META, json.dumps(meta, indent=1))
    missing = credit.features.isna().mean()
    console.print(
        f"imported {len(credit):,} applicants ({credit.bad_rate:.1%} bad) into {out}: "
        f"{len(credit.kinds)} inputs, protected {list(credit.protected.columns) or 'none'}"
    )
    for name, kind in credit.kinds.items():
        console.print(f"  {name}: {kind.value}, {missing[name]:.1%} missing")


@app.command()
@reports_errors
def validate(
    data: DataOption = None,
    target: TargetOption = None,
    bad: BadOption = None,
    folds: Annotated[int, typer.Option("--folds")] = 5,
    repeats: Annotated[int, typer.Option("--repeats")] = 5,
    seed: SeedOption = 0,
    protected: ProtectedOption = None,
    exclude: ExcludeOption = None,
    monotone: MonotoneOption = None,
    leaves: LeavesOption = None,
    ratio: RatioOption = None,
    workers: Annotated[int, typer.Option("--workers", help="Folds fitted at once.")] = 1,
    exposure: Annotated[
        str | None, typer.Option("--exposure", help="Exposure column (not an input).")
    ] = None,
) -> None:
    """Repeated k-fold cross-validation of scorecard and challenger; prints JSON."""
    from fintwin.credit.validation import cross_validate

    credit, ratios = _load_data(data, target, bad, protected, exclude, exposure, ratio)
    result = cross_validate(
        credit.with_ratios(ratios),
        folds=folds,
        repeats=repeats,
        seed=seed,
        challenger=_challenger(monotone, leaves, seed),
        workers=workers,
    )
    typer.echo(json.dumps(result.summary(), indent=1))


@app.command()
@reports_errors
def train(
    out: Annotated[Path, typer.Option("--out", help="Model directory to write.")],
    data: DataOption = None,
    target: TargetOption = None,
    bad: BadOption = None,
    world: Annotated[
        Path | None, typer.Option("--world", help="Train on a world's applications.")
    ] = None,
    protected: ProtectedOption = None,
    exclude: ExcludeOption = None,
    exposure: Annotated[
        str | None, typer.Option("--exposure", help="Exposure column (default 1 each).")
    ] = None,
    cutoff: Annotated[float | None, typer.Option("--cutoff", help="Cut-off, points.")] = None,
    max_bad_rate: Annotated[
        float | None, typer.Option("--max-bad-rate", help="Lowest cut-off within this rate.")
    ] = None,
    monotone: MonotoneOption = None,
    leaves: LeavesOption = None,
    ratio: RatioOption = None,
    lgd: Annotated[float, typer.Option("--lgd", help="Loss given default.")] = 0.45,
    margin: Annotated[float, typer.Option("--margin", help="Margin on a good loan.")] = 0.08,
    base_score: Annotated[float, typer.Option("--base-score", help="Points at base odds.")] = 600,
    base_odds: Annotated[float, typer.Option("--base-odds", help="Good:bad odds there.")] = 50,
    pdo: Annotated[float, typer.Option("--pdo", help="Points to double the odds.")] = 20,
    reasons: Annotated[
        Path | None,
        typer.Option("--reasons", help="CSV of variable,text for decline letters ({bin})."),
    ] = None,
    seed: SeedOption = 0,
) -> None:
    """Fit the scorecard and the challenger, choose the cut-off, evaluate, write the model."""
    from fintwin._files import write_atomic
    from fintwin.credit.cutoff import LoanEconomics
    from fintwin.credit.model import TrainingOptions, train_credit_model
    from fintwin.credit.model_card import render_model_card
    from fintwin.credit.scorecard import PointsScaling, ScorecardConfig

    options = TrainingOptions(
        seed=seed,
        economics=LoanEconomics(lgd=lgd, margin=margin),
        cutoff=cutoff,
        max_bad_rate=max_bad_rate,
        reason_texts=_reason_texts(reasons),
        scorecard=ScorecardConfig(scaling=PointsScaling(base_score, base_odds, pdo)),
        challenger=_challenger(monotone, leaves, seed),
    )
    if world is not None:
        from fintwin.credit.twin_model import train_on_twin
        from fintwin.data import open_world

        if ratio:
            raise ParameterError("--ratio is for --data; the twin's inputs are fixed")
        model = train_on_twin(open_world(world), options)
    else:
        credit, ratios = _load_data(data, target, bad, protected, exclude, exposure, ratio)
        model = train_credit_model(credit, replace(options, ratios=ratios))
    model.save(out)
    write_atomic(out / "model_card.md", render_model_card(model, name=out.name))
    metrics = model.record["metrics"]
    console.print(
        f"wrote {out}: scorecard test AUC {metrics['scorecard']['test']['auc']:.3f}, "
        f"challenger {metrics['challenger']['test']['auc']:.3f}; cut-off "
        f"{model.cutoff:.1f} points ({model.record['cutoff_rule']}), approval rate on test "
        f"{model.record['approval_rate_test']:.1%}"
    )


@app.command()
@reports_errors
def score(
    model_dir: Annotated[Path, typer.Option("--model", help="Model directory.")],
    data: Annotated[Path, typer.Option("--data", help="Applicants, CSV or Parquet.")],
    out: Annotated[Path, typer.Option("--out", help="Decisions (.csv or .jsonl).")],
    reasons: Annotated[int, typer.Option("--reasons", help="Reasons per decline.")] = 4,
) -> None:
    """Decide on applicants: points, probability of default, decision and reasons."""
    from fintwin._files import write_atomic
    from fintwin.credit.applications import read_table
    from fintwin.credit.model import CreditModel

    model = CreditModel.load(model_dir)
    # read as training reads (any delimiter; a missing or unreadable file is a DataError)
    frame = read_table(data)
    kinds = model.input_kinds
    absent = [f for f in kinds if f not in frame.columns]
    if absent:
        raise DataError(f"lacks the model's inputs {absent}", file=data)
    try:
        features = normalise_features(frame[list(kinds)], kinds)
    except ValueError as error:
        raise DataError(f"a numeric input holds text: {error}", file=data) from None
    decisions = model.decide(features, n_reasons=reasons)
    rows = [
        {
            "row": i + 1,
            "approved": d.approved,
            "score": round(d.score, 2),
            "predicted_bad_rate": d.predicted_bad_rate,
            "challenger_bad_rate": d.challenger_bad_rate,
            "reasons": [r["text"] for r in d.reasons],
        }
        for i, d in enumerate(decisions)
    ]
    if out.suffix.lower() == ".jsonl":
        write_atomic(out, "".join(json.dumps(r) + "\n" for r in rows))
    else:
        table = pd.DataFrame(rows)
        table["reasons"] = table["reasons"].map("; ".join)
        write_atomic(out, table.to_csv(index=False))
    approved = sum(d.approved for d in decisions)
    console.print(f"wrote {out}: {len(decisions):,} decisions, {approved:,} approved")


@app.command()
@reports_errors
def report(
    model_dir: Annotated[Path, typer.Option("--model", help="Model directory.")],
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")],
) -> None:
    """Write the model's HTML report: side by side, calibration, cut-offs, fairness, card."""
    from fintwin.credit.model import CreditModel
    from fintwin.report.credit_report import credit_report

    credit_report(CreditModel.load(model_dir), out, name=model_dir.name)
    console.print(f"wrote {out}")


@app.command()
@reports_errors
def status(
    model_dir: Annotated[Path, typer.Option("--model", help="Model directory.")],
    to: Annotated[str, typer.Option("--to", help="approved, rejected or draft.")],
    by: Annotated[str, typer.Option("--by", help="Who decides (recorded).")],
) -> None:
    """Record a model-governance decision on a model (shown in its card)."""
    from fintwin._files import write_atomic
    from fintwin.credit.model import ApprovalStatus, CreditModel
    from fintwin.credit.model_card import render_model_card

    try:
        new = ApprovalStatus(to)
    except ValueError:
        raise ParameterError(f"--to must be approved, rejected or draft (got {to!r})") from None
    model = CreditModel.load(model_dir)
    model.set_status(model_dir, new, by)
    write_atomic(model_dir / "model_card.md", render_model_card(model, name=model_dir.name))
    console.print(f"{model_dir}: {new.value} by {by}")
