"""``fintwin risk``: train and register fraud models, evaluate them, decide on a stream of events.

Where things live
-----------------
- **Registry:** ``--registry DIR``, else the environment variable ``FINTWIN_REGISTRY``, else
  ``./models``.
- **Policy of a model:** ``train --policy FILE`` checks the policy against the model's features
  (refusing it, naming the rule, before any training) and stores a verbatim copy as
  ``policy.yaml`` in the model's version folder (``REGISTRY/NAME/0003/policy.yaml``). That copy
  is outside the registry manifest (which covers the model, metadata and calibrator), so its
  integrity is carried by the policy's content hash, which every decision records. A policy
  stored with a new model must say ``model: null``: the model's id does not exist before it is
  registered. ``decide`` (and ``evaluate``'s latency sample) run ``--policy FILE`` if given,
  else the stored copy, else a rules-free score-only policy (review at the score threshold the
  model recorded for a 0.5 % alert rate on its test period, approve below).
- **Report:** ``evaluate`` writes ``WORLD-risk-NAME-VERSION.html`` next to the world directory
  unless ``--report PATH`` (or ``--no-report``) says otherwise.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.table import Table

from fintwin.cli._common import console, err_console, parse_pairs, reports_errors
from fintwin.data import World, open_world
from fintwin.exceptions import DataError, FintwinError, ParameterError
from fintwin.features import FeatureSet
from fintwin.governance import ModelRegistry
from fintwin.risk import (
    DEFAULT_ALERT_RATE,
    DecisionEngine,
    Explain,
    Protocol,
    default_feature_set,
    load_events,
    load_policy,
    train_fraud_model,
)
from fintwin.risk.model_evaluation import model_feature_set
from fintwin.risk.model_policy import POLICY_FILE, model_policy, policy_for_model

app = typer.Typer(
    help="Fraud models: train and register, evaluate with an HTML report, decide on events.",
    no_args_is_help=True,
)

DEFAULT_REGISTRY = Path("models")
_LABEL_FIELDS = frozenset({"is_fraud", "label_available_at"})

RegistryOption = Annotated[
    Path,
    typer.Option(
        "--registry",
        envvar="FINTWIN_REGISTRY",
        help="Model registry folder (env FINTWIN_REGISTRY; default ./models).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


# --- policies travelling with models ---------------------------------------------------------


def _customers(world: World | None, fs: FeatureSet, option: str) -> Any:
    if not fs.needs_customers:
        return None
    if world is None or "customers" not in world.tables:
        raise ParameterError(
            f"the model's features include distance from the customer's home, which needs a "
            f"customers table with home_x and home_y: give {option} DIR, a world holding one"
        )
    return world.arrow("customers", columns=["customer_id", "home_x", "home_y"])


def _store_policy(source: Path, folder: Path) -> Path:
    target = folder / POLICY_FILE
    tmp = folder / f".{POLICY_FILE}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.write_bytes(source.read_bytes())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return target


# --- train -----------------------------------------------------------------------------------


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _status(text: str, quiet: bool) -> contextlib.AbstractContextManager[Any]:
    # A spinner on stderr, so that stdout holds only the result.
    return contextlib.nullcontext() if quiet else err_console.status(text)


def _print_json(obj: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, allow_nan=False) + "\n")
    sys.stdout.flush()


def _metrics_table(title: str, metrics: Mapping[str, Any], k: int = 100) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in (
        "auc_roc",
        "average_precision",
        f"card_precision_at_{k}",
        "alert_rate",
        "threshold",
        "recall",
        "precision",
        "fraud_amount_caught",
        "n_events",
        "n_frauds",
    ):
        value = metrics.get(key)
        if value is None:
            continue
        table.add_row(key, f"{value:,}" if isinstance(value, int) else f"{value:.4f}")
    return table


@app.command()
@reports_errors
def train(
    world: Annotated[Path, typer.Option("--world", "-w", help="World directory (labelled).")],
    policy: Annotated[
        Path | None,
        typer.Option(help="Policy YAML to check against the features and store with the model."),
    ] = None,
    protocol: Annotated[
        Protocol, typer.Option(help="Time split: the book's days on handbook worlds.")
    ] = Protocol.HANDBOOK,
    registry: RegistryOption = DEFAULT_REGISTRY,
    name: Annotated[str | None, typer.Option(help="Model name (default fraud-PRESET).")] = None,
    seed: Annotated[int, typer.Option(help="LightGBM seed.")] = 0,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="LightGBM parameter KEY=VALUE (JSON value; repeat), also num_boost_round "
            "and early_stopping_rounds.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Train a LightGBM fraud model under a time protocol, test it and register it."""
    params = {k: _json_value(v) for k, v in parse_pairs(param, "--param").items()}
    w = open_world(world)
    model_name = name or f"fraud-{w.manifest.preset}"
    events = load_events(w)
    fs = default_feature_set(w, events)
    checked = None
    if policy is not None:
        checked = load_policy(policy, fs.names)
        if checked.model is not None:
            raise ParameterError(
                f"policy {checked.name!r} ({policy}) names model {checked.model!r}; a policy "
                "stored with a model being trained must say 'model: null' (its id is given at "
                "registration)"
            )
        # The engine's own checks (features of the set, model reference), before training.
        DecisionEngine(fs, None, checked, customers=_customers(w, fs, "--world"))
    reg = ModelRegistry(registry)
    with _status(f"training {model_name} on {w.path.name}", as_json):
        result = train_fraud_model(
            w,
            feature_set=fs,
            protocol=protocol,
            registry=reg,
            name=model_name,
            params=params or None,
            seed=seed,
        )
    stored = None if policy is None else _store_policy(policy, result.version.path)
    out = result.to_dict()
    out.update(
        {
            "registry": str(reg.root),
            "model_path": str(result.version.path),
            "model_digest": result.version.digest,
            "n_features": len(fs),
            "policy": None
            if checked is None
            else {
                "source": str(policy),
                "stored": str(stored),
                "name": checked.name,
                "version": checked.version,
                "hash": checked.content_hash,
            },
        }
    )
    if as_json:
        _print_json(out)
        return
    s = result.split
    console.print(
        f"registered [bold]{result.model_id}[/] in {reg.root} "
        f"({len(fs)} features, {result.num_boost_round} rounds, "
        f"{result.timings['total']:.1f} s)",
        highlight=False,
    )
    console.print(
        f"training days {s.train_start_day}-{s.train_end_day - 1}, "
        f"test days {s.test_start_day}-{s.test_end_day - 1} (protocol {protocol.value})",
        highlight=False,
    )
    console.print(_metrics_table("test metrics", result.metrics, result.evaluation.k))
    if stored is not None:
        console.print(f"policy {checked.name!r} v{checked.version} stored as {stored}")


# --- evaluate --------------------------------------------------------------------------------


@app.command()
@reports_errors
def evaluate(
    world: Annotated[Path, typer.Option("--world", "-w", help="World directory (labelled).")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model id, e.g. fraud-handbook/3.")],
    protocol: Annotated[
        Protocol | None,
        typer.Option(help="Test period (default: the protocol the model was trained under)."),
    ] = None,
    alert_rate: Annotated[
        float, typer.Option(help="Share of test events alerted, in (0, 1].")
    ] = DEFAULT_ALERT_RATE,
    report: Annotated[
        Path | None,
        typer.Option(help="HTML report to write (default: WORLD-risk-NAME-VERSION.html)."),
    ] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Write no report.")] = False,
    registry: RegistryOption = DEFAULT_REGISTRY,
    latency_sample: Annotated[
        int, typer.Option(help="Test events whose engine decision is timed (0: none).")
    ] = 2000,
    as_json: JsonOption = False,
) -> None:
    """Evaluate a registered model on a world's test period; JSON and an HTML report."""
    from fintwin.report.risk_report import default_report_path, risk_evaluation, risk_report

    loaded = ModelRegistry(registry).load(model)
    w = open_world(world)
    with _status(f"evaluating {model} on {w.path.name}", as_json):
        ev = risk_evaluation(
            w,
            loaded,
            protocol=protocol,
            rate=alert_rate,
            policy=model_policy(loaded, None),
            latency_sample=latency_sample,
        )
    path = None
    if not no_report:
        path = risk_report(ev, report or default_report_path(w.path, loaded.model_id))
    out = ev.to_dict()
    out["report"] = None if path is None else str(path)
    if as_json:
        _print_json(out)
        return
    e = ev.evaluation
    console.print(
        f"{ev.model_id} on {w.path.name}: protocol {ev.plan.protocol.value}, "
        f"test days {ev.split.test_start_day}-{ev.split.test_end_day - 1}",
        highlight=False,
    )
    console.print(_metrics_table("test metrics", out, e.k))
    if e.recall_by_scenario:
        t = Table(title=f"recall per fraud scenario at {100 * alert_rate:g}% alerts")
        t.add_column("scenario")
        t.add_column("frauds", justify="right")
        t.add_column("recall", justify="right")
        for name, r in e.recall_by_scenario.items():
            t.add_row(name, f"{e.frauds_by_scenario[name]:,}", f"{r:.3f}")
        console.print(t)
    if e.latency is not None:
        lat = e.latency
        console.print(
            f"decision latency p50 {1e3 * lat.p50:.3f} ms, p99 {1e3 * lat.p99:.3f} ms "
            f"({lat.count} engine decisions)",
            highlight=False,
        )
    if ev.prequential is not None:
        mean = ev.prequential.mean
        console.print(
            "prequential means: " + ", ".join(f"{k} {v:.4f}" for k, v in mean.items()),
            highlight=False,
        )
    if path is not None:
        console.print(f"wrote {path}", highlight=False)


# --- decide ----------------------------------------------------------------------------------


def _time_field(event: dict[str, Any], name: str) -> None:
    value = event.get(name)
    if isinstance(value, str):
        try:
            event[name] = dt.datetime.fromisoformat(value)
        except ValueError:
            raise DataError(
                f"must be int milliseconds since 1970-01-01 or an ISO 8601 time (got {value!r})",
                column=name,
            ) from None
    elif value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise DataError(
            f"must be int milliseconds since 1970-01-01 or an ISO 8601 time (got {value!r})",
            column=name,
        )


class _EventReader:
    """Checks one JSON event for the engine: the fields the features read, times, the id."""

    def __init__(self, id_name: str, fs: FeatureSet) -> None:
        self.id_name = id_name
        self.fields = [c for c in fs.columns if c not in _LABEL_FIELDS]

    def __call__(self, obj: Any) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise DataError(f"an event must be a JSON object (got {type(obj).__name__})")
        event_id = obj.get(self.id_name)
        if isinstance(event_id, bool) or not isinstance(event_id, int):
            raise DataError(f"must be an integer id (got {event_id!r})", column=self.id_name)
        for name in ("timestamp", "amount", *self.fields):
            if name not in obj:
                raise DataError("the event lacks this field", column=name)
        for name, value in obj.items():
            if isinstance(value, list | dict):
                raise DataError(f"must be a number, a string or null (got {value!r})", column=name)
        event = dict(obj)
        _time_field(event, "timestamp")
        if event["timestamp"] is None:
            raise DataError("must not be null", column="timestamp")
        _time_field(event, "label_available_at")
        return event


def _lines(stream: IO[bytes]) -> Iterable[bytes]:
    # readline, not iteration: each line is answered as soon as it arrives through a pipe
    return iter(stream.readline, b"")


def decide_stream(
    engine: DecisionEngine, reader: _EventReader, src: IO[bytes], out: IO[str]
) -> int:
    """Decide on every JSON line of ``src``; one JSON line per input line on ``out``.

    Blank lines are skipped (and counted). Returns the number of error records written.
    """
    errors = 0
    for number, raw in enumerate(_lines(src), start=1):
        if not raw.strip():
            continue
        try:
            try:
                obj = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise DataError(f"the line is not UTF-8 ({exc.reason})") from None
            except ValueError as exc:
                raise DataError(f"invalid JSON: {exc}") from None
            record = engine.decide(reader(obj)).to_dict()
        except FintwinError as exc:
            errors += 1
            record = {"error": str(exc), "line": number}
        out.write(json.dumps(record) + "\n")
        out.flush()
    return errors


@app.command()
@reports_errors
def decide(
    model: Annotated[str, typer.Option("--model", "-m", help="Model id, e.g. fraud-handbook/3.")],
    policy: Annotated[
        Path | None,
        typer.Option(help="Policy YAML (default: the one stored with the model, else score-only)."),
    ] = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
    world: Annotated[
        Path | None,
        typer.Option(help="World whose customers table gives homes, for features that need them."),
    ] = None,
    explain: Annotated[
        Explain, typer.Option(help="Which decisions carry the model's top features.")
    ] = Explain.ALERTS,
) -> None:
    """Decide on JSON-lines events from stdin; one JSON decision (or error record) per line.

    Events come in (timestamp, id) order with the fields the model's features read; times are
    int milliseconds or ISO 8601. A bad line gives {"error": ..., "line": N} and the stream goes
    on; the exit status is 0 unless stdin cannot be read.
    """

    loaded = ModelRegistry(registry).load(model)
    fs = model_feature_set(loaded)
    chosen = policy_for_model(loaded, policy)
    customers = _customers(None if world is None else open_world(world), fs, "--world")
    engine = DecisionEngine(fs, loaded, chosen, customers=customers, explain=explain)
    table = loaded.metadata.parameters.get("table", "transactions")
    reader = _EventReader("transfer_id" if table == "transfers" else "transaction_id", fs)
    try:
        errors = decide_stream(engine, reader, sys.stdin.buffer, sys.stdout)
    except OSError as exc:
        err_console.print(f"[bold red]error:[/] cannot read stdin: {exc}", highlight=False)
        raise typer.Exit(2) from None
    if errors:
        err_console.print(f"{errors} line(s) refused (error records on stdout)", highlight=False)
