"""Macro scenarios and the credit losses they bring: YAML paths, a Vasicek factor, projections.

A **scenario** is a quarterly path of the twin's macro variables (the columns of the world's
``macro`` table, :data:`MACRO_VARIABLES`) written as YAML::

    name: adverse
    description: A moderate recession.
    frequency: quarterly        # the only frequency (the twin's macro table is quarterly)
    start: 2027-01-01           # optional: a quarter's first day; when absent the scenario
                                # starts the quarter after the last one of the world's macro table
    paths:                      # one value per quarter; every path has the same length (the
      gdp_growth: [-1.0, -3.0]  #   horizon). gdp_growth and unemployment are required.
      unemployment: [5.4, 6.1]
      policy_rate: [2.0, 1.25]        # optional
      house_price_index: [99.0, 97.0] # optional; 100 = the quarter before the first (jump-off)
    lgd_shift: [0.0, 0.01]      # optional: added to every obligor's LGD in each quarter

Units are those of the ``macro`` table: growth in % a year (annualised), unemployment and the
policy rate in %, the house price index in index points; except that a scenario's index is
rebased to 100 at the jump-off (a scenario is written before the world it is applied to, whose
index level it cannot know). Three scenarios are shipped (:func:`builtin_scenarios`); users
write their own and read them with :func:`load_scenario`. A file that cannot be used raises
:class:`~fintwin.exceptions.DataError` naming the file, the field (``paths.unemployment[3]``),
its line and what was expected.

**From the economy to default rates.** The one-factor Vasicek model (the model behind the Basel
IRB formula) gives the probability that an obligor with through-the-cycle PD ``p`` and asset
correlation ``rho`` defaults within a year in which the systematic factor is ``z``::

    PD(z) = N( (G(p) - sqrt(rho) z) / sqrt(1 - rho) )              (conditional_pd)

with ``N`` the standard normal distribution function and ``G`` its inverse; ``z < 0`` is a bad
year. ``z`` is standard normal over the cycle, and the through-the-cycle PD is the *mean* of
``PD(z)`` over it (``E[N(a + b Z)] = N(a / sqrt(1 + b^2))`` gives back ``p``), **not** its
value at ``z = 0``: ``PD(0) = N(G(p) / sqrt(1 - rho))`` is below ``p`` for ``p < 1/2``, because
the rare bad years pull the mean up. A scenario that keeps the economy at its central values
therefore projects fewer defaults than the through-the-cycle PD.

:func:`systematic_factor` reads ``z`` off a scenario with a linear link (:class:`FactorLink`)
taken from the twin's lending model (:mod:`fintwin.world.lending`), whose log-odds of default
rise by 0.5 per point of unemployment above its natural rate and fall by 0.1 per point of GDP
growth above potential::

    z_t = -( a (u_t - u*) - b (g_t - g*) ) / s

and :func:`project_losses` runs a portfolio through the scenario quarter by quarter.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator
from scipy.special import ndtr, ndtri

from fintwin._yaml import YamlDocument, YamlDocumentError, builtin_yaml_path
from fintwin.exceptions import DataError, ParameterError

__all__ = [
    "BUILTIN_SCENARIOS",
    "DEFAULT_LINK",
    "LOSS_COLUMNS",
    "MACRO_VARIABLES",
    "FactorLink",
    "Scenario",
    "builtin_scenario",
    "builtin_scenario_path",
    "builtin_scenarios",
    "conditional_pd",
    "load_scenario",
    "parse_scenario",
    "project_losses",
    "quarterly_pd",
    "scenario_frame",
    "scenario_quarters",
    "systematic_factor",
]

MACRO_VARIABLES = ("gdp_growth", "unemployment", "policy_rate", "house_price_index")
"""Variables a scenario may give a path for, in the order of the ``macro`` table."""

REQUIRED_VARIABLES = ("gdp_growth", "unemployment")
"""Variables every scenario must give: the factor link reads them."""

BUILTIN_SCENARIOS = ("baseline", "adverse", "severely_adverse")
"""The scenarios shipped with fintwin, from mildest to most severe."""

LOSS_COLUMNS = (
    "quarter",
    "quarter_start",
    "z",
    "performing",
    "exposure",
    "pd_annual",
    "pd_quarterly",
    "expected_defaults",
    "defaulted_exposure",
    "lgd",
    "loss",
    "cumulative_loss",
)
"""Columns of :func:`project_losses`'s table."""

MAX_SCENARIO_BYTES = 1 << 20

_QUARTER_MONTHS = (1, 4, 7, 10)


# --- the scenario ---------------------------------------------------------------------------


def _check_start(value: object) -> dt.date:
    """A quarter's first day, from a date or an ISO string; ValueError otherwise."""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"must be a date such as 2027-01-01 (got {value!r})") from None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValueError(f"must be a date such as 2027-01-01 (got {value!r})")
    if value.day != 1 or value.month not in _QUARTER_MONTHS:
        raise ValueError(
            f"must be the first day of a quarter (1 January, April, July or October; "
            f"got {value.isoformat()})"
        )
    return value


_Loc = tuple[str | int, ...]


def _field(loc: _Loc) -> str:
    """``("paths", "unemployment", 3)`` -> ``"paths.unemployment[3]"``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the scenario"


def _first_problem(
    paths: Mapping[str, np.ndarray], lgd_shift: np.ndarray | None
) -> tuple[_Loc, str] | None:
    """The first rule a scenario's paths break (location, what is wrong), or None.

    The arrays are 1-D float64; their types have been checked already.
    """
    for name in paths:
        if name not in MACRO_VARIABLES:
            return ("paths", name), (
                f"unknown variable {name!r} (the twin's macro variables: "
                f"{', '.join(MACRO_VARIABLES)})"
            )
    for name in REQUIRED_VARIABLES:
        if name not in paths:
            return ("paths",), (
                f"a path for {name!r} is required (the factor link reads "
                f"{' and '.join(REQUIRED_VARIABLES)})"
            )
    series: list[tuple[_Loc, np.ndarray]] = [(("paths", n), paths[n]) for n in paths]
    if lgd_shift is not None:
        series.append((("lgd_shift",), lgd_shift))
    for loc, values in series:
        if values.size == 0:
            return loc, "must hold at least one value, one per quarter (got an empty list)"
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            return (*loc, int(bad[0])), f"must be a finite number (got {values[bad[0]]})"
    (first_loc, first), *others = series
    for loc, values in others:
        if values.size != first.size:
            return loc, (
                f"holds {values.size} values but {_field(first_loc)} holds {first.size}: "
                "every path (and lgd_shift) needs one value per quarter of the horizon"
            )
    if "house_price_index" in paths:
        values = paths["house_price_index"]
        bad = np.flatnonzero(values <= 0.0)
        if bad.size:
            return ("paths", "house_price_index", int(bad[0])), (
                f"must be an index above 0 (got {values[bad[0]]})"
            )
    values = paths["unemployment"]
    bad = np.flatnonzero((values < 0.0) | (values > 100.0))
    if bad.size:
        return ("paths", "unemployment", int(bad[0])), (
            f"must be a rate in % within [0, 100] (got {values[bad[0]]})"
        )
    if lgd_shift is not None:
        bad = np.flatnonzero(np.abs(lgd_shift) > 1.0)
        if bad.size:
            return ("lgd_shift", int(bad[0])), (
                f"must be a change of LGD within [-1, 1] (got {lgd_shift[bad[0]]})"
            )
    return None


def _frozen(values: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=np.float64)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Scenario:
    """A macro scenario: one value per quarter of each variable, and an optional LGD shift.

    Read one with :func:`load_scenario`, :func:`parse_scenario` or :func:`builtin_scenario`,
    or build one directly; every way checks the same rules.

    Attributes
    ----------
    name : str
        Short name (``adverse``).
    paths : mapping of str to ndarray of float, shape (horizon,)
        One path per variable of :data:`MACRO_VARIABLES` given (``gdp_growth`` and
        ``unemployment`` always), in the units of the ``macro`` table; read-only.
    lgd_shift : ndarray of float, shape (horizon,)
        Added to each obligor's loss given default in each quarter (then clipped to [0, 1]);
        zeros when the file gives none.
    description : str
        Free text for people.
    start : datetime.date or None
        First day of the first quarter (an ISO string such as ``"2027-01-01"`` is accepted);
        None: the quarter after the world's last macro quarter (see :func:`scenario_quarters`).
    source : str
        Where the scenario came from (a path, ``"<text>"``), for messages.

    Raises
    ------
    DataError
        A rule is broken; the message names the source and the field.

    Examples
    --------
    >>> s = Scenario("flat", {"gdp_growth": [1.8, 1.8], "unemployment": [5.0, 5.0]})
    >>> s.horizon, s.variables, s.lgd_shift.tolist()
    (2, ('gdp_growth', 'unemployment'), [0.0, 0.0])
    """

    name: str
    paths: Mapping[str, Any]
    lgd_shift: Any = None
    description: str = ""
    start: dt.date | None = None
    source: str = "<scenario>"

    def __post_init__(self) -> None:
        source = str(self.source)
        object.__setattr__(self, "source", source)
        if not isinstance(self.name, str) or not self.name.strip():
            raise DataError(f"name must be a non-empty string (got {self.name!r})", file=source)
        if not isinstance(self.description, str):
            raise DataError(f"description must be a string (got {self.description!r})", file=source)
        if self.start is not None:
            try:
                object.__setattr__(self, "start", _check_start(self.start))
            except ValueError as exc:
                raise DataError(f"start: {exc}", file=source) from None
        if not isinstance(self.paths, Mapping):
            raise DataError(
                f"paths must be a mapping of variable to values (got {self.paths!r})", file=source
            )
        arrays: dict[str, np.ndarray] = {}
        for name, values in self.paths.items():
            arrays[str(name)] = _numbers(("paths", str(name)), values, source)
        shift = None if self.lgd_shift is None else _numbers(("lgd_shift",), self.lgd_shift, source)
        problem = _first_problem(arrays, shift)
        if problem is not None:
            loc, what = problem
            raise DataError(f"{_field(loc)}: {what}", file=source)
        ordered = {n: _frozen(arrays[n]) for n in MACRO_VARIABLES if n in arrays}
        object.__setattr__(self, "paths", MappingProxyType(ordered))
        horizon = ordered["gdp_growth"].size
        object.__setattr__(
            self, "lgd_shift", _frozen(np.zeros(horizon) if shift is None else shift)
        )

    @property
    def horizon(self) -> int:
        """Number of quarters."""
        return int(self.paths["gdp_growth"].size)

    @property
    def variables(self) -> tuple[str, ...]:
        """The variables with a path, in the order of :data:`MACRO_VARIABLES`."""
        return tuple(self.paths)

    def __repr__(self) -> str:
        return f"Scenario({self.name!r}, horizon={self.horizon}, variables={self.variables})"

    def __reduce__(self) -> tuple[Any, ...]:
        # The read-only mapping does not pickle; rebuild (and re-check) from plain values.
        args = (self.name, dict(self.paths), self.lgd_shift, self.description, self.start)
        return (Scenario, (*args, self.source))


def _numbers(loc: _Loc, values: object, source: str) -> np.ndarray:
    """A 1-D float64 array of real numbers (not booleans, not strings)."""
    array = np.asarray(values)
    if array.ndim != 1 or array.dtype.kind not in "iuf":
        raise DataError(
            f"{_field(loc)}: must be a list of numbers, one per quarter (got {values!r})",
            file=source,
        )
    return array.astype(np.float64)


# --- reading YAML ---------------------------------------------------------------------------


class _PathsSpec(BaseModel):
    """The ``paths`` mapping: one list of numbers per macro variable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    gdp_growth: list[float]
    unemployment: list[float]
    policy_rate: list[float] | None = None
    house_price_index: list[float] | None = None


class _ScenarioSpec(BaseModel):
    """A scenario file, keys and types checked (values and lengths are checked next)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: StrictStr
    description: StrictStr = ""
    frequency: Literal["quarterly"] = "quarterly"
    start: dt.date | None = Field(default=None, strict=False)
    paths: _PathsSpec
    lgd_shift: list[float] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, v: object) -> dt.date | None:
        return None if v is None else _check_start(v)


_ALLOWED = {
    (): tuple(_ScenarioSpec.model_fields),
    ("paths",): tuple(_PathsSpec.model_fields),
}


class _YamlSource(YamlDocument):
    """The YAML node tree of one scenario file, to find the line of any field."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        try:
            super().__init__(text, max_bytes=MAX_SCENARIO_BYTES, kind="a scenario file")
        except YamlDocumentError as problem:
            where = "" if problem.line is None else f"line {problem.line}: "
            raise DataError(f"{where}{problem.message}", file=file) from None

    def fail(self, loc: _Loc, what: str, *, key: bool = False) -> DataError:
        """The error for a problem at ``loc``: file, field, line, what is wrong."""
        line = self.line(loc, key=key)
        where = _field(loc) + ("" if line is None else f" (line {line})")
        return DataError(f"{where}: {what}", file=self.file)


def _describe(err: dict[str, Any]) -> tuple[_Loc, str, bool]:
    """Location, what is wrong in words, and whether the key (not the value) is at fault."""
    loc: _Loc = tuple(err["loc"])
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        parent = loc[:-1]
        if parent == ("paths",):
            what = f"unknown variable {loc[-1]!r} (the twin's macro variables: "
            return loc, what + f"{', '.join(MACRO_VARIABLES)})", True
        return loc, f"unknown key {loc[-1]!r} (allowed: {', '.join(_ALLOWED[parent])})", True
    if kind == "missing":
        if loc[:1] == ("paths",):
            return (
                loc[:-1],
                (
                    f"a path for {loc[-1]!r} is required (the factor link reads "
                    f"{' and '.join(REQUIRED_VARIABLES)})"
                ),
                True,
            )
        return loc[:-1], f"missing key {loc[-1]!r}", True
    if kind == "value_error":
        return loc, str(err["ctx"]["error"]), False
    if kind in {"float_type", "int_type"}:
        return loc, f"must be a number (got {got!r})", False
    if kind == "list_type":
        return loc, f"must be a list of numbers, one per quarter (got {got!r})", False
    if kind in {"model_type", "dict_type"}:
        return loc, f"must be a mapping (got {got!r})", False
    if kind == "string_type":
        return loc, f"must be a string (got {got!r})", False
    if kind == "literal_error":
        return loc, f"must be 'quarterly', the twin's only frequency (got {got!r})", False
    return loc, f"{err['msg']} (got {got!r})", False


def parse_scenario(text: str, *, file: str = "<text>") -> Scenario:
    """Read a scenario from YAML text; raise :class:`DataError` on the first problem found.

    Parameters
    ----------
    text : str
        The YAML document (format in the module's documentation).
    file : str
        Where the text came from, for messages.

    Returns
    -------
    Scenario

    Raises
    ------
    DataError
        The text is not valid YAML, or breaks a rule; the message names ``file``, the field
        (``paths.unemployment[3]``), its line, and what was expected.

    Examples
    --------
    >>> s = parse_scenario('''
    ... name: mild
    ... paths:
    ...   gdp_growth: [1.0, 0.5]
    ...   unemployment: [5.2, 5.6]
    ... ''')
    >>> s.horizon, s.paths["unemployment"].tolist()
    (2, [5.2, 5.6])
    >>> parse_scenario('''
    ... name: mild
    ... paths:
    ...   gdp_growth: [1.0, 0.5]
    ...   unemployment: [5.2, .nan]
    ... ''', file="mild.yaml")
    Traceback (most recent call last):
    ...
    fintwin.exceptions.DataError: file mild.yaml: paths.unemployment[1] (line 5): must be a finite number (got nan)
    """  # noqa: E501
    source = _YamlSource(text, file)
    data = source.data
    if not isinstance(data, dict):
        raise DataError(
            "a scenario must be a YAML mapping with keys name, description, frequency, start, "
            f"paths and lgd_shift (got {type(data).__name__})",
            file=file,
        )
    try:
        spec = _ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        # A misspelt key also makes its field missing: report the misspelling first.
        errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
        loc, what, key = _describe(errors[0])
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise source.fail(loc, what + more, key=key) from None
    paths = {
        name: np.asarray(values, dtype=np.float64)
        for name, values in spec.paths.model_dump(exclude_none=True).items()
    }
    shift = None if spec.lgd_shift is None else np.asarray(spec.lgd_shift, dtype=np.float64)
    problem = _first_problem(paths, shift)
    if problem is not None:
        raise source.fail(*problem)
    return Scenario(
        name=spec.name,
        paths=paths,
        lgd_shift=shift,
        description=spec.description,
        start=spec.start,
        source=file,
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file.

    Parameters
    ----------
    path : str or Path
        A YAML file (format in the module's documentation).

    Returns
    -------
    Scenario

    Raises
    ------
    DataError
        The file cannot be read, is not UTF-8 YAML, or breaks a rule; the message names the
        file, the field and its line.

    Examples
    --------
    >>> load_scenario(builtin_scenario_path("adverse")).name
    'adverse'
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc.reason})", file=path) from None
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", file=path) from None
    return parse_scenario(text, file=str(path))


def builtin_scenario_path(name: str) -> Path:
    """Path of a scenario shipped with fintwin (``src/fintwin/stress/scenarios/NAME.yaml``).

    Examples
    --------
    >>> builtin_scenario_path("baseline").name
    'baseline.yaml'
    """
    return builtin_yaml_path("fintwin.stress", "scenarios", name, "scenario")


def builtin_scenario(name: str) -> Scenario:
    """A scenario shipped with fintwin: ``baseline``, ``adverse`` or ``severely_adverse``.

    All three are quarterly, 12 quarters long (the three-year horizon of the EBA's EU-wide
    stress tests), start the quarter after the world's macro table, and move from the twin's
    central values (growth 1.8 %, unemployment 5 %). Their files say what inspired them.

    Examples
    --------
    >>> s = builtin_scenario("severely_adverse")
    >>> s.horizon, float(s.paths["unemployment"].max())
    (12, 10.0)
    """
    return load_scenario(builtin_scenario_path(name))


def builtin_scenarios() -> dict[str, Scenario]:
    """The shipped scenarios by name, from mildest to most severe (:data:`BUILTIN_SCENARIOS`).

    Examples
    --------
    >>> list(builtin_scenarios())
    ['baseline', 'adverse', 'severely_adverse']
    """
    return {name: builtin_scenario(name) for name in BUILTIN_SCENARIOS}


# --- dates ----------------------------------------------------------------------------------


def _macro_quarters(macro: pa.Table | pd.DataFrame) -> np.ndarray:
    if isinstance(macro, pa.Table):
        if "quarter_start" not in macro.column_names:
            raise DataError("the macro table has no quarter_start column", column="quarter_start")
        column = macro.column("quarter_start").to_numpy()
    elif isinstance(macro, pd.DataFrame):
        if "quarter_start" not in macro.columns:
            raise DataError("the macro table has no quarter_start column", column="quarter_start")
        column = macro["quarter_start"].to_numpy()
    else:
        raise ParameterError(f"macro must be a pyarrow Table or a pandas DataFrame (got {macro!r})")
    try:
        days = np.asarray(column, dtype="datetime64[D]")
    except (TypeError, ValueError):
        raise DataError(
            f"quarter_start must hold dates (got dtype {column.dtype})", column="quarter_start"
        ) from None
    if days.size == 0 or np.isnat(days).any():
        raise DataError(
            "quarter_start must hold at least one date, none missing", column="quarter_start"
        )
    return days


def scenario_quarters(
    scenario: Scenario, macro: pa.Table | pd.DataFrame | None = None
) -> np.ndarray:
    """First day of each of the scenario's quarters.

    Parameters
    ----------
    scenario : Scenario
    macro : pyarrow.Table or pandas.DataFrame, optional
        A ``macro`` table (``World.table("macro")``); its ``quarter_start`` column is used when
        the scenario has no ``start``: the scenario begins the quarter after its last one.

    Returns
    -------
    ndarray of datetime64[D], shape (horizon,)

    Raises
    ------
    ParameterError
        The scenario has no start and no macro table is given.

    Examples
    --------
    >>> s = Scenario("x", {"gdp_growth": [1, 2], "unemployment": [5, 5]})
    >>> macro = pd.DataFrame({"quarter_start": pd.to_datetime(["2026-07-01", "2026-10-01"])})
    >>> scenario_quarters(s, macro).astype(str).tolist()
    ['2027-01-01', '2027-04-01']
    """
    if scenario.start is not None:
        first = np.datetime64(scenario.start, "M")
    elif macro is not None:
        first = _macro_quarters(macro).max().astype("datetime64[M]") + 3
    else:
        raise ParameterError(
            f"scenario {scenario.name!r} has no start: give the world's macro table, whose "
            "last quarter it follows"
        )
    months = first + 3 * np.arange(scenario.horizon)
    return months.astype("datetime64[D]")


def scenario_frame(
    scenario: Scenario, macro: pa.Table | pd.DataFrame | None = None
) -> pd.DataFrame:
    """The scenario as a table shaped like the ``macro`` table, one row per quarter.

    Columns: ``quarter`` (1 to horizon), ``quarter_start`` (NaT when the scenario has no start
    and no ``macro`` is given; see :func:`scenario_quarters`), one column per variable of the
    scenario, and ``lgd_shift``. The house price index stays rebased (100 at the jump-off).

    Examples
    --------
    >>> s = Scenario("x", {"gdp_growth": [1, 2], "unemployment": [5, 6]}, start="2027-01-01")
    >>> scenario_frame(s).columns.tolist()
    ['quarter', 'quarter_start', 'gdp_growth', 'unemployment', 'lgd_shift']
    """
    if scenario.start is None and macro is None:
        quarters = np.full(scenario.horizon, np.datetime64("NaT"), dtype="datetime64[D]")
    else:
        quarters = scenario_quarters(scenario, macro)
    columns: dict[str, Any] = {
        "quarter": np.arange(1, scenario.horizon + 1),
        "quarter_start": quarters.astype("datetime64[ns]"),
    }
    columns.update({name: np.array(values) for name, values in scenario.paths.items()})
    columns["lgd_shift"] = np.array(scenario.lgd_shift)
    return pd.DataFrame(columns)


# --- the factor -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FactorLink:
    """How a quarter's unemployment and growth set the Vasicek systematic factor.

    ``z_t = -(a (u_t - u*) - b (g_t - g*)) / s``: the bracket is the twin's macro term of the
    log-odds of default (:mod:`fintwin.world.lending`, for an obligor of average macro
    sensitivity 1), and ``s`` its standard deviation over the twin's cycle, so that ``z`` is
    (about) standard normal over the cycle as the Vasicek model assumes. ``z < 0`` is a bad
    quarter: unemployment above ``u*``, growth below ``g*``.

    Parameters
    ----------
    unemployment_coef : float, default 0.5
        ``a``: log-odds of default per point of unemployment above ``u*`` (the lending model's
        ``pd_unemployment``); at least 0.
    growth_coef : float, default 0.1
        ``b``: log-odds per point of annualised GDP growth below ``g*`` (``pd_growth``); at
        least 0.
    natural_unemployment : float, default 5.0
        ``u*`` in % (``MacroParams.natural_unemployment``).
    potential_growth : float, default 1.8
        ``g*`` in % a year (``MacroParams.potential_growth``).
    scale : float, default 0.68
        ``s``: standard deviation of ``a (u - u*) - b (g - g*)`` over the twin's cycle (0.66 to
        0.70 over four runs of 8,000 quarters of :func:`fintwin.world.macro.simulate_macro` with
        default parameters; its mean there is 0.00 to 0.13, under 0.2 ``s``: ``u*`` and ``g*``
        are the cycle's centre to within a tenth of a standard deviation); positive.

    Notes
    -----
    With these defaults a Vasicek correlation of about 0.09 makes :func:`conditional_pd` move
    as the twin's own PD does near its typical 4 % PD: one point of unemployment (``z`` down by
    0.5 / 0.68) raises the log-odds by about 0.5 in both. Other correlations scale the response.
    A calibration on another history: :meth:`calibrated`.

    Examples
    --------
    >>> link = FactorLink()
    >>> float(link.factor(unemployment=5.0, gdp_growth=1.8))
    0.0
    >>> round(float(link.factor(unemployment=8.4, gdp_growth=-1.6)), 6)  # -(1.7 + 0.34) / 0.68
    -3.0
    """

    unemployment_coef: float = 0.5
    growth_coef: float = 0.1
    natural_unemployment: float = 5.0
    potential_growth: float = 1.8
    scale: float = 0.68

    def __post_init__(self) -> None:
        for name in (
            "unemployment_coef",
            "growth_coef",
            "natural_unemployment",
            "potential_growth",
            "scale",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
                raise ParameterError(f"{name} must be a number (got {value!r})")
            if not math.isfinite(value):
                raise ParameterError(f"{name} must be finite (got {value!r})")
            object.__setattr__(self, name, float(value))
        for name in ("unemployment_coef", "growth_coef"):
            if getattr(self, name) < 0:
                raise ParameterError(f"{name} must be at least 0 (got {getattr(self, name)!r})")
        if self.scale <= 0:
            raise ParameterError(f"scale must be positive (got {self.scale!r})")

    def factor(self, unemployment: ArrayLike, gdp_growth: ArrayLike) -> np.ndarray:
        """``z`` for unemployment (%) and annualised GDP growth (% a year), elementwise."""
        u = np.asarray(unemployment, dtype=np.float64)
        g = np.asarray(gdp_growth, dtype=np.float64)
        index = self.unemployment_coef * (u - self.natural_unemployment) - self.growth_coef * (
            g - self.potential_growth
        )
        return -index / self.scale + 0.0  # + 0.0: no negative zero

    @classmethod
    def calibrated(
        cls,
        unemployment: ArrayLike,
        gdp_growth: ArrayLike,
        *,
        unemployment_coef: float = 0.5,
        growth_coef: float = 0.1,
    ) -> FactorLink:
        """A link standardised on a history: ``z`` has mean 0 and standard deviation 1 on it.

        ``u*`` and ``g*`` become the history's means and ``s`` the (population) standard
        deviation of ``a u - b g`` on it. Use it for a real economy's quarterly history, over
        which the through-the-cycle PDs were estimated.

        Examples
        --------
        >>> link = FactorLink.calibrated([4.0, 6.0], [2.0, 2.0])
        >>> link.natural_unemployment, link.scale, link.factor([4.0, 6.0], [2.0, 2.0]).tolist()
        (5.0, 0.5, [1.0, -1.0])
        """
        u = _finite_1d("unemployment", unemployment)
        g = _finite_1d("gdp_growth", gdp_growth)
        if u.size != g.size or u.size < 2:
            raise ParameterError(
                "unemployment and gdp_growth must hold the same number of quarters, at least 2 "
                f"(got {u.size} and {g.size})"
            )
        probe = cls(unemployment_coef=unemployment_coef, growth_coef=growth_coef)
        scale = float(np.std(probe.unemployment_coef * u - probe.growth_coef * g))
        if not scale > 0:
            raise DataError("the history does not move the factor (its index is constant)")
        return cls(
            unemployment_coef=unemployment_coef,
            growth_coef=growth_coef,
            natural_unemployment=float(u.mean()),
            potential_growth=float(g.mean()),
            scale=scale,
        )


DEFAULT_LINK = FactorLink()
"""The link consistent with the twin's lending model (:class:`FactorLink`'s defaults)."""


def systematic_factor(scenario: Scenario, *, link: FactorLink = DEFAULT_LINK) -> np.ndarray:
    """The Vasicek systematic factor ``z_t`` of each quarter of a scenario (``z < 0`` is bad).

    Parameters
    ----------
    scenario : Scenario
    link : FactorLink
        The coefficients of ``z_t = -(a (u_t - u*) - b (g_t - g*)) / s``.

    Returns
    -------
    ndarray of float, shape (horizon,)

    Examples
    --------
    >>> s = Scenario("x", {"gdp_growth": [1.8, -1.6], "unemployment": [5.0, 8.4]})
    >>> systematic_factor(s).round(6).tolist()
    [0.0, -3.0]
    """
    if not isinstance(scenario, Scenario):
        raise ParameterError(f"scenario must be a Scenario (got {scenario!r})")
    if not isinstance(link, FactorLink):
        raise ParameterError(f"link must be a FactorLink (got {link!r})")
    return link.factor(scenario.paths["unemployment"], scenario.paths["gdp_growth"])


# --- input checks (shared with fintwin.stress.ecl) ------------------------------------------


def _finite_1d(name: str, values: ArrayLike) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim > 1:
        raise ParameterError(
            f"{name} must be a number or one-dimensional (got shape {array.shape})"
        )
    if array.dtype.kind not in "iuf":
        raise DataError(f"{name} must hold numbers (got dtype {array.dtype})")
    array = np.atleast_1d(array.astype(np.float64))
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise DataError(f"{name} must be finite (got {array[bad[0]]} at position {bad[0]})")
    return array


def _per_obligor(
    name: str, values: ArrayLike, n: int, *, low: float, high: float, rule: str
) -> np.ndarray:
    """A number or one value per obligor, each within ``[low, high]``, as shape (n,)."""
    array = _finite_1d(name, values)
    if array.size not in (1, n):
        raise ParameterError(
            f"{name} must be one number or one value per obligor (got {array.size} values for "
            f"{n} obligors)"
        )
    bad = np.flatnonzero((array < low) | (array > high))
    if bad.size:
        raise DataError(f"{name} must be {rule} (got {array[bad[0]]} at position {bad[0]})")
    return np.broadcast_to(array, (n,)) if array.size == 1 else array


def _correlation(rho: ArrayLike, n: int) -> np.ndarray:
    array = _finite_1d("rho", rho)
    if array.size not in (1, n):
        raise ParameterError(
            f"rho must be one number or one value per obligor (got {array.size} values for "
            f"{n} obligors)"
        )
    bad = np.flatnonzero((array < 0.0) | (array >= 1.0))
    if bad.size:
        raise ParameterError(
            f"rho must be an asset correlation in [0, 1) (got {array[bad[0]]} at position {bad[0]})"
        )
    return np.broadcast_to(array, (n,)) if array.size == 1 else array


# --- conditional default rates --------------------------------------------------------------


def conditional_pd(pd_ttc: ArrayLike, rho: ArrayLike, z: ArrayLike) -> np.ndarray:
    """Annual PD given the systematic factor: ``N((G(pd_ttc) - sqrt(rho) z) / sqrt(1 - rho))``.

    Parameters
    ----------
    pd_ttc : float or array_like of float, shape (n,)
        Through-the-cycle one-year PD of each obligor, in [0, 1].
    rho : float or array_like of float, shape (n,)
        Asset correlation with the systematic factor, in [0, 1) (Basel: 0.15 for residential
        mortgages, 0.04 for qualifying revolving retail, 0.03 to 0.16 for other retail).
    z : float or array_like of float, shape (q,)
        Systematic factor of each period (standard normal over the cycle; negative is bad).

    Returns
    -------
    ndarray of float, shape ``shape(pd_ttc) + shape(z)``
        ``[i, t]``: the PD of obligor ``i`` in period ``t``; a NumPy float when both
        ``pd_ttc`` and ``z`` are numbers.

    Notes
    -----
    The through-the-cycle PD is the **mean** of the conditional PD over ``z ~ N(0, 1)``, not
    its value at ``z = 0``: ``PD(0) = N(G(p) / sqrt(1 - rho))`` is below ``p`` whenever
    ``p < 1/2``. A PD of 0 or 1 stays so; ``rho = 0`` returns ``pd_ttc`` whatever ``z``.

    Examples
    --------
    At ``z = 0`` (the median year) ``N(G(0.02) / sqrt(0.85)) = N(-2.0537 / 0.9220) =
    N(-2.2276)``, below the through-the-cycle 0.02:

    >>> round(float(conditional_pd(0.02, 0.15, 0.0)), 5)
    0.01295
    >>> conditional_pd([0.01, 0.02], 0.15, [0.0, -2.0]).round(4).tolist()
    [[0.0058, 0.0462], [0.013, 0.0827]]
    """
    p = np.asarray(pd_ttc)
    zz = np.asarray(z)
    if p.ndim > 1 or zz.ndim > 1:
        raise ParameterError(
            f"pd_ttc and z must be numbers or one-dimensional (got shapes {p.shape}, {zz.shape})"
        )
    pv = _per_obligor("pd_ttc", p, p.size, low=0.0, high=1.0, rule="a probability in [0, 1]")
    r = _correlation(rho, pv.size)
    zv = _finite_1d("z", zz)
    x = (ndtri(pv)[:, None] - np.sqrt(r)[:, None] * zv[None, :]) / np.sqrt(1.0 - r)[:, None]
    out = ndtr(x)
    return out.reshape(p.shape + zz.shape)[()]


def quarterly_pd(pd_annual: ArrayLike) -> np.ndarray:
    """The PD over a quarter of an annual PD at a constant hazard: ``1 - (1 - PD)^(1/4)``.

    Examples
    --------
    >>> round(float(quarterly_pd(1 - 0.99**4)), 12)
    0.01
    """
    p = np.asarray(pd_annual, dtype=np.float64)
    with np.errstate(divide="ignore"):  # PD 1: log1p(-1) = -inf, and the quarter's PD is 1
        return -np.expm1(0.25 * np.log1p(-p))


# --- loss projection ------------------------------------------------------------------------


def project_losses(
    pd_ttc: ArrayLike,
    lgd: ArrayLike,
    ead: ArrayLike,
    rho: ArrayLike,
    scenario: Scenario,
    *,
    link: FactorLink = DEFAULT_LINK,
    quarters: int | None = None,
) -> pd.DataFrame:
    """Expected defaults and credit losses of a portfolio, quarter by quarter, under a scenario.

    For obligor ``i`` and quarter ``t`` (``z_t`` from :func:`systematic_factor`)::

        PD_a[i, t] = conditional_pd(pd_ttc[i], rho[i], z_t)        annual rate in quarter t
        PD_q[i, t] = 1 - (1 - PD_a[i, t])^(1/4)                    constant hazard in the year
        S[i, t]    = prod_{k <= t} (1 - PD_q[i, k]),  S[i, 0] = 1  still performing
        LGD[i, t]  = clip(lgd[i] + lgd_shift[t], 0, 1)
        defaults   = sum_i S[i, t-1] PD_q[i, t]
        defaulted  = sum_i S[i, t-1] PD_q[i, t] ead[i]
        loss       = sum_i S[i, t-1] PD_q[i, t] ead[i] LGD[i, t]

    **Run-off assumption**: a closed portfolio. An obligor's exposure stays at ``ead`` until it
    defaults and leaves the book; there is no scheduled amortisation, prepayment or new lending,
    and defaulted exposure is not replaced (unlike the EBA's static balance sheet). The
    performing exposure of a quarter is therefore ``sum_i ead[i] S[i, t-1]``.

    Parameters
    ----------
    pd_ttc : array_like of float, shape (n,)
        Through-the-cycle one-year PD of each obligor, in [0, 1].
    lgd : float or array_like of float, shape (n,)
        Loss given default (share of exposure), in [0, 1], before the scenario's shift.
    ead : float or array_like of float, shape (n,)
        Exposure at default at the start, in currency units; at least 0.
    rho : float or array_like of float, shape (n,)
        Asset correlation, in [0, 1).
    scenario : Scenario
    link : FactorLink
        The factor link (default: the twin's, :data:`DEFAULT_LINK`).
    quarters : int, optional
        Project only the first ``quarters`` quarters (default: the whole horizon).

    Returns
    -------
    pandas.DataFrame
        One row per quarter, columns :data:`LOSS_COLUMNS`: ``quarter`` (1, 2, ...),
        ``quarter_start`` (NaT when the scenario has no start), ``z``, ``performing`` (expected
        obligors not yet defaulted at the quarter's start, ``sum_i S[i, t-1]``), ``exposure``
        (their exposure), ``pd_annual`` and ``pd_quarterly`` (exposure-weighted means over the
        performing book, so ``defaulted_exposure = pd_quarterly * exposure``),
        ``expected_defaults`` (obligors), ``defaulted_exposure``, ``lgd`` (``loss /
        defaulted_exposure``), ``loss`` and ``cumulative_loss`` (currency units). Rates are NaN
        when nothing is left performing.

    Examples
    --------
    A correlation of 0 leaves the PD at its through-the-cycle value, whatever the economy: an
    annual PD of ``1 - 0.99^4`` is 1 % a quarter, so 1000 at an LGD of 0.5 loses 5, then
    0.5 x 1 % of the 990 still performing (4.95), then of 980.1 (4.9005):

    >>> s = Scenario("slump", {"gdp_growth": [-5.0] * 4, "unemployment": [9.0] * 4})
    >>> table = project_losses([1 - 0.99**4], 0.5, 1000.0, 0.0, s, quarters=3)
    >>> table["loss"].round(6).tolist(), round(float(table["cumulative_loss"].iloc[-1]), 6)
    ([5.0, 4.95, 4.9005], 14.8505)
    """
    if not isinstance(scenario, Scenario):
        raise ParameterError(f"scenario must be a Scenario (got {scenario!r})")
    horizon = scenario.horizon
    if quarters is None:
        quarters = horizon
    if isinstance(quarters, bool) or not isinstance(quarters, int | np.integer):
        raise ParameterError(f"quarters must be an integer (got {quarters!r})")
    if not 1 <= quarters <= horizon:
        raise ParameterError(
            f"quarters must be in [1, {horizon}], the scenario's horizon (got {quarters})"
        )
    p = _finite_1d("pd_ttc", pd_ttc)
    n = p.size
    p = _per_obligor("pd_ttc", p, n, low=0.0, high=1.0, rule="a probability in [0, 1]")
    loss_given = _per_obligor("lgd", lgd, n, low=0.0, high=1.0, rule="a share in [0, 1]")
    exposure0 = _per_obligor("ead", ead, n, low=0.0, high=math.inf, rule="at least 0")
    r = _correlation(rho, n)

    z = systematic_factor(scenario, link=link)[:quarters]
    pd_a = conditional_pd(p, r, z).reshape(n, quarters)
    pd_q = quarterly_pd(pd_a)
    survival = np.cumprod(1.0 - pd_q, axis=1)
    before = np.hstack([np.ones((n, 1)), survival[:, :-1]])  # S[i, t-1]
    lgd_t = np.clip(loss_given[:, None] + scenario.lgd_shift[None, :quarters], 0.0, 1.0)

    performing_ead = exposure0[:, None] * before
    exposure = performing_ead.sum(axis=0)
    defaulted = (performing_ead * pd_q).sum(axis=0)
    loss = (performing_ead * pd_q * lgd_t).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        pd_annual = np.where(exposure > 0, (performing_ead * pd_a).sum(axis=0) / exposure, np.nan)
        pd_quarterly = np.where(exposure > 0, defaulted / exposure, np.nan)
        mean_lgd = np.where(defaulted > 0, loss / defaulted, np.nan)
    if scenario.start is None:
        starts = np.full(quarters, np.datetime64("NaT"), dtype="datetime64[ns]")
    else:
        starts = scenario_quarters(scenario)[:quarters].astype("datetime64[ns]")
    return pd.DataFrame(
        {
            "quarter": np.arange(1, quarters + 1),
            "quarter_start": starts,
            "z": z,
            "performing": before.sum(axis=0),
            "exposure": exposure,
            "pd_annual": pd_annual,
            "pd_quarterly": pd_quarterly,
            "expected_defaults": (before * pd_q).sum(axis=0),
            "defaulted_exposure": defaulted,
            "lgd": mean_lgd,
            "loss": loss,
            "cumulative_loss": np.cumsum(loss),
        },
        columns=list(LOSS_COLUMNS),
    )
