"""Credit applications as a model sees them: inputs, the bad flag, and audit-only columns.

:class:`CreditData` is what every credit model is fitted on and every audit reads. It keeps
protected attributes (sex, age...) apart from the model inputs, so that no model can use them
while the fairness audit still can. :func:`read_applications` builds one from a user's CSV or
Parquet file (``fintwin credit import``); :func:`twin_applications` from a world's
``loan_applications`` table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fintwin.exceptions import DataError, ParameterError

if TYPE_CHECKING:
    from fintwin.credit.ratios import Ratio

__all__ = [
    "CreditData",
    "FeatureKind",
    "feature_kinds",
    "read_applications",
]


class FeatureKind(Enum):
    """How a model input is binned and encoded."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class CreditData:
    """Applicants with a known outcome, split into model inputs and audit-only columns.

    Attributes
    ----------
    features : pandas.DataFrame of shape (n_applicants, n_features)
        Model inputs only. Numeric columns are float64 (NaN = missing); categorical columns
        are strings (missing: None or NaN).
    bad : numpy.ndarray of shape (n_applicants,), bool
        True for an applicant who defaulted (the event a model predicts).
    protected : pandas.DataFrame of shape (n_applicants, n_protected)
        Protected attributes, for the fairness audit only; never a model input.
    kinds : dict of str to FeatureKind
        The kind of every column of ``features``.
    source : str
        Where the data came from (a file path, or ``world:<dir>``), for messages and cards.
    exposure : numpy.ndarray of shape (n_applicants,), optional
        Amount at risk per applicant (currency units), for expected loss and profit.
    """

    features: pd.DataFrame
    bad: np.ndarray
    protected: pd.DataFrame
    kinds: dict[str, FeatureKind]
    source: str
    exposure: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.features)
        if self.bad.shape != (n,) or len(self.protected) != n:
            raise ParameterError(
                f"features ({n} rows), bad ({self.bad.shape[0]}) and protected "
                f"({len(self.protected)}) must describe the same applicants"
            )
        if self.exposure is not None and self.exposure.shape != (n,):
            raise ParameterError(f"exposure must hold one value per applicant ({n})")
        if set(self.kinds) != set(self.features.columns):
            raise ParameterError("kinds must name exactly the columns of features")

    def __len__(self) -> int:
        return len(self.features)

    @property
    def bad_rate(self) -> float:
        """Share of applicants who defaulted."""
        return float(self.bad.mean())

    def with_ratios(self, ratios: Sequence[Ratio]) -> CreditData:
        """The same applicants with each ratio as one more input (:mod:`.ratios`)."""
        from fintwin.credit.ratios import add_ratios

        features, kinds = add_ratios(self.features, self.kinds, ratios)
        return replace(self, features=features, kinds=kinds)

    def subset(self, rows: np.ndarray) -> CreditData:
        """The applicants at positions ``rows`` (an integer or boolean index)."""
        return CreditData(
            self.features.iloc[rows].reset_index(drop=True),
            self.bad[rows],
            self.protected.iloc[rows].reset_index(drop=True),
            self.kinds,
            self.source,
            None if self.exposure is None else self.exposure[rows],
        )


def feature_kinds(frame: pd.DataFrame) -> dict[str, FeatureKind]:
    """Numeric for numeric and boolean dtypes, categorical for everything else."""
    return {
        str(name): FeatureKind.NUMERIC
        if pd.api.types.is_numeric_dtype(frame[name]) or pd.api.types.is_bool_dtype(frame[name])
        else FeatureKind.CATEGORICAL
        for name in frame.columns
    }


def normalise_features(frame: pd.DataFrame, kinds: dict[str, FeatureKind]) -> pd.DataFrame:
    """Numeric columns as float64 (NaN missing), categorical ones as Python strings or None.

    The one representation every model and the bin assignment work on, whatever the file's
    dtypes were (Arrow strings, pandas categories, nullable integers).
    """
    out = {}
    for name, kind in kinds.items():
        column = frame[name]
        if kind is FeatureKind.NUMERIC:
            out[name] = pd.to_numeric(column, errors="raise").astype("float64")
        else:
            values = column.astype(object)
            out[name] = values.where(values.notna(), None).map(lambda v: v if v is None else str(v))
    return pd.DataFrame(out, index=frame.index)


def _bad_flags(target: pd.Series, file: str, column: str, bad_value: str | None) -> np.ndarray:
    """The target column as booleans; refuses missing values and labels that are not 0/1."""
    missing = target.isna().to_numpy()
    if missing.any():
        raise DataError(
            "the target has no value", file=file, row=int(np.argmax(missing)) + 1, column=column
        )
    if bad_value is not None:
        flags = target.astype(str).to_numpy() == str(bad_value)
        if not flags.any():
            seen = ", ".join(sorted(map(str, target.unique()))[:5])
            raise DataError(
                f"no row has the bad value {bad_value!r} (values seen: {seen})",
                file=file,
                column=column,
            )
        return flags
    if pd.api.types.is_bool_dtype(target):
        return target.to_numpy(dtype=bool)
    numeric = pd.to_numeric(target, errors="coerce")
    wrong = ~numeric.isin((0, 1)).to_numpy()
    if wrong.any():
        row = int(np.argmax(wrong))
        raise DataError(
            f"the target must be 0/1 or boolean, or give --bad VALUE (got {target.iloc[row]!r})",
            file=file,
            row=row + 1,
            column=column,
        )
    return numeric.to_numpy() == 1


def read_table(path: Path) -> pd.DataFrame:
    """A CSV (delimiter sniffed) or Parquet file as a frame; a DataError names the file."""
    if not path.is_file():
        raise DataError("no such file", file=path)
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep=None, engine="python")
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise DataError(f"cannot be read as CSV or Parquet: {error}", file=path) from None


def read_applications(
    path: str | Path,
    target: str,
    *,
    bad: str | None = None,
    protected: Sequence[str] = (),
    exclude: Sequence[str] = (),
    exposure: str | None = None,
) -> CreditData:
    """Read a user's applications file (CSV with any common delimiter, or Parquet).

    Parameters
    ----------
    path : str or Path
        The file; one row per applicant with a known outcome.
    target : str
        Column holding the outcome.
    bad : str, optional
        The target's value that means bad (default: the target is 0/1 or boolean, 1 = bad).
    protected : sequence of str
        Columns kept for the fairness audit only (never model inputs).
    exclude : sequence of str
        Columns that are neither inputs nor protected (ids, dates, leakage).
    exposure : str, optional
        Column of amounts at risk (not an input): non-negative numbers.

    Returns
    -------
    CreditData

    Raises
    ------
    DataError
        The file cannot be read, a named column is absent, the target has a missing or
        non-binary value (file, row and column in the message), a column holds no value, or
        fewer than two applicants of each outcome remain.
    """
    path = Path(path)
    frame = read_table(path)
    file = str(path)
    roles = (
        ("target", [target]),
        ("protected", protected),
        ("exclude", exclude),
        ("exposure", [exposure] if exposure else []),
    )
    for role, names in roles:
        for name in names:
            if name not in frame.columns:
                raise DataError(
                    f"the {role} column {name!r} is not in the file "
                    f"(columns: {', '.join(map(str, frame.columns))})",
                    file=file,
                )
    flags = _bad_flags(frame[target], file, target, bad)
    if min(flags.sum(), (~flags).sum()) < 2:
        raise DataError(
            f"needs at least two bad and two good applicants (got {int(flags.sum())} bad, "
            f"{int((~flags).sum())} good)",
            file=file,
            column=target,
        )
    amounts = None if exposure is None else _exposures(frame[exposure], file, exposure)
    inputs = frame.drop(columns=[target, *protected, *exclude, *([exposure] if exposure else [])])
    if inputs.shape[1] == 0:
        raise DataError("no column is left as a model input", file=file)
    for name in inputs.columns:
        if inputs[name].isna().all():
            raise DataError("the column holds no value", file=file, column=str(name))
    inputs.columns = [str(c) for c in inputs.columns]
    kinds = feature_kinds(inputs)
    return CreditData(
        normalise_features(inputs, kinds),
        flags,
        frame[list(protected)].reset_index(drop=True),
        kinds,
        file,
        amounts,
    )


def _exposures(values: pd.Series, file: str, column: str) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    wrong = ~np.isfinite(numbers) | (numbers < 0)
    if wrong.any():
        row = int(np.argmax(wrong))
        raise DataError(
            f"exposure must be a non-negative number (got {values.iloc[row]!r})",
            file=file,
            row=row + 1,
            column=column,
        )
    return numbers
