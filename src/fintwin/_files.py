"""Files written whole or not at all."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from fintwin.exceptions import ParameterError

__all__ = ["write_atomic"]


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary sibling file and a rename.

    A reader never sees a half-written file, and a failure leaves the target as it was.

    Parameters
    ----------
    path : str or Path
        Target file; its parent directory is created if needed.
    text : str
        Content, written as UTF-8.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ParameterError
        ``path`` is an existing directory.
    """
    path = Path(path)
    if path.is_dir():
        raise ParameterError(f"output must be a file path (got directory {path})")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
