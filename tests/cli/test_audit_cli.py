"""`fintwin audit verify | checkpoint | export | verify-export`: exit codes 0 / 1 / 2."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fintwin.cli import app
from fintwin.governance.ledger import Ledger, RecordKind

runner = CliRunner()
T0 = dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.UTC)


def _fill(target: str | Path, n: int = 30) -> None:
    minutes = iter(range(n))
    clock = lambda: T0 + dt.timedelta(minutes=next(minutes))  # noqa: E731
    with Ledger(target, checkpoint_every=8, clock=clock) as ledger:
        for i in range(n):
            ledger.append(RecordKind.DECISION, {"decision": f"d{i}"}, actor="scorer:k1")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"
    _fill(path)
    return path


def test_verify_intact_then_tampered(db: Path) -> None:
    result = runner.invoke(app, ["audit", "verify", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output and "30 entries" in result.output
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER audit_entries_no_update")
    conn.execute('UPDATE audit_entries SET payload = \'{"decision":"dX"}\' WHERE seq = 12')
    conn.commit()
    conn.close()
    result = runner.invoke(app, ["audit", "verify", "--db", str(db)])
    assert result.exit_code == 1
    assert "TAMPERED" in result.output and "entry 12: hash_mismatch" in result.output
    result = runner.invoke(app, ["audit", "verify", "--db", str(db), "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["first_problem"]["seq"] == 12
    assert report["first_problem"]["problem"] == "hash_mismatch" and report["entries"] == 11


def test_verify_bad_input_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["audit", "verify", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 2 and "no audit ledger" in result.output
    assert not (tmp_path / "none.db").exists()
    monkeypatch.setenv("FINTWIN_DB_URL", "mysql://x/y")
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 2 and "unknown ledger URL scheme" in result.output


def test_export_and_verify_export(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "period.jsonl"
    args = ["audit", "export", "--db", str(db), "--from", "2026-11-21T09:40:00Z",
            "--to", "2026-11-21T10:50:00+01:00", "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote 10 entries (11..20)" in result.output and "checkpoint 24" in result.output
    result = runner.invoke(app, ["audit", "verify-export", str(out), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["entries"] == 12
    # anchored checkpoint: the one printed by `audit checkpoint` is a different size
    anchor = tmp_path / "anchor.json"
    result = runner.invoke(app, ["audit", "checkpoint", "--db", str(db), "--out", str(anchor)])
    assert result.exit_code == 0 and json.loads(result.stdout)["size"] == 30
    result = runner.invoke(app, ["audit", "verify-export", str(out), "--anchor", str(anchor)])
    assert result.exit_code == 1 and "anchor_mismatch" in result.output
    # tamper with one exported entry
    lines = out.read_text().splitlines()
    lines[3] = lines[3].replace('"d11"', '"d99"')
    out.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["audit", "verify-export", str(out)])
    assert result.exit_code == 1 and "entry 12: hash_mismatch" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-11-21T09:40:00", "--to", "2026-11-22"], "UTC offset"),
        (["--from", "yesterday", "--to", "2026-11-22"], "ISO 8601"),
        (["--from", "2026-11-22", "--to", "2026-11-21"], "before end"),
    ],
)
def test_export_bad_period_exits_2(db: Path, tmp_path: Path, args: list, message: str) -> None:
    result = runner.invoke(
        app, ["audit", "export", "--db", str(db), "--out", str(tmp_path / "x"), *args]
    )
    assert result.exit_code == 2 and message in result.output


def test_verify_export_of_a_non_export_exits_2(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text('{"format": "something else"}\n')
    result = runner.invoke(app, ["audit", "verify-export", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2 and "not a readable" in result.output


def test_verify_postgres_url(pg_url: str) -> None:
    url = pg_url
    _fill(url, n=10)
    result = runner.invoke(app, ["audit", "verify", "--db", url, "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["checkpoints"] == 1
