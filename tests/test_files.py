from pathlib import Path

import pytest

from fintwin._files import write_atomic
from fintwin.exceptions import ParameterError


def test_writes_the_text_and_replaces_an_older_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    write_atomic(target, "old")
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_error_while_writing_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("fintwin._files.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(tmp_path / "r.html", "text")
    assert list(tmp_path.iterdir()) == []


def test_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="must be a file path"):
        write_atomic(tmp_path, "text")
