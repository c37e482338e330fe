"""Change files for the pre-play: what they change, and errors naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from fintwin.exceptions import DataError
from fintwin.stress.policy_change import load_change
from fintwin.world.lending_policy import PolicyParams


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "change.yaml"
    path.write_text(text)
    return path


def test_credit_and_limit_changes_apply_to_the_current_policy(tmp_path: Path) -> None:
    change = load_change(
        _write(
            tmp_path,
            "credit:\n  min_bureau_score: 640\n  thin_file_max_amount: 2000\n"
            "limits:\n  income_cap:\n    credit_card_line: 0.15\n",
        )
    )
    current = PolicyParams()
    new = change.lending(current)
    assert new.min_bureau_score == 640 and new.thin_file_max_amount == 2000
    assert new.max_delinquencies == current.max_delinquencies
    # LoanProduct order: personal, card line, SME, microloan
    assert new.income_cap == (current.income_cap[0], 0.15, *current.income_cap[2:])
    assert new.version == f"{current.version}+change"
    assert change.fraud is None


def test_a_fraud_change_alone_leaves_lending_as_it_is(tmp_path: Path) -> None:
    change = load_change(_write(tmp_path, "fraud:\n  model: m/1\n  alert_rate: 0.01\n"))
    assert change.lending(PolicyParams()) == PolicyParams()
    assert change.fraud is not None and change.fraud.alert_rate == 0.01


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("credit:\n  min_bureau_score: 900\n", "credit.min_bureau_score", "850"),
        ("credit:\n  min_score: 640\n", "credit.min_score", "not permitted"),
        ("limits:\n  income_cap:\n    yacht: 0.5\n", "limits.income_cap.yacht", "personal_loan"),
        (
            "limits:\n  income_cap:\n    microloan: -1\n",
            "limits.income_cap.microloan",
            "greater than 0",
        ),
        ("fraud:\n  model: m/1\n", "fraud", "exactly one of threshold and alert_rate"),
        ("fraud:\n  model: m/1\n  threshold: 1.5\n", "fraud.threshold", "less than 1"),
        ("{}\n", None, "at least one of credit, limits and fraud"),
    ],
)
def test_bad_change_files_name_the_file_and_field(
    tmp_path: Path, text: str, field: str | None, words: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=r"change\.yaml") as caught:
        load_change(path)
    assert caught.value.column == field
    assert words in str(caught.value)
    if field is not None:  # the line of the field: the last line of these small files
        assert f"line {text.count(chr(10))}:" in str(caught.value)


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="line 2: YAML syntax error"):
        load_change(_write(tmp_path, "credit: [unclosed\n"))
    with pytest.raises(DataError, match="mapping at the top level"):
        load_change(_write(tmp_path, "- credit\n"))
    with pytest.raises(DataError, match="cannot be read"):
        load_change(tmp_path / "absent.yaml")


def test_the_documented_example_loads() -> None:
    example = Path(__file__).parents[2] / "docs" / "examples" / "preplay-change.yaml"
    change = load_change(example)
    assert change.credit is not None and change.credit.min_bureau_score == 640
