"""Customers of the twin: who they are and where they live.

Every preset with customers draws them here, so lending, fraud and advice all see one population.
The map is a square of ``MAP_SIZE_KM`` kilometres with regions around city centres.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fintwin.data.schemas import category, money_from_minor
from fintwin.data.schemas.vocab import Segment, Sex, labels

__all__ = ["MAP_SIZE_KM", "REGIONS", "Population", "draw_population"]

MAP_SIZE_KM = 500.0


@dataclass(frozen=True)
class Region:
    name: str
    centre_km: tuple[float, float]
    spread_km: float
    weight: float
    income_factor: float


REGIONS: tuple[Region, ...] = (
    Region("capital", (250.0, 260.0), 25.0, 0.30, 1.30),
    Region("north", (180.0, 420.0), 30.0, 0.12, 0.95),
    Region("south", (300.0, 80.0), 30.0, 0.12, 0.90),
    Region("east", (430.0, 250.0), 35.0, 0.10, 0.95),
    Region("west", (70.0, 230.0), 35.0, 0.10, 0.85),
    Region("coast", (400.0, 430.0), 30.0, 0.10, 1.05),
    Region("lakes", (110.0, 90.0), 40.0, 0.08, 0.90),
    Region("rural", (250.0, 250.0), 160.0, 0.08, 0.75),
)

# segment: probability, age range (years), median annual income, income log-sd, thin-file rate
_SEGMENTS = {
    Segment.SALARIED: (0.55, (22, 64), 42_000.0, 0.45, 0.12),
    Segment.SELF_EMPLOYED: (0.12, (24, 70), 38_000.0, 0.75, 0.25),
    Segment.SME_OWNER: (0.08, (28, 70), 60_000.0, 0.70, 0.15),
    Segment.STUDENT: (0.12, (18, 27), 8_000.0, 0.60, 0.65),
    Segment.RETIRED: (0.13, (62, 90), 24_000.0, 0.40, 0.06),
}
_SEGMENT_LIST = list(_SEGMENTS)


@dataclass(frozen=True)
class Population:
    """Columns of the customers table, shape (n,) each. ``income`` in currency units per year."""

    customer_id: np.ndarray
    home_x: np.ndarray
    home_y: np.ndarray
    region: np.ndarray  # int codes into REGIONS
    age: np.ndarray
    sex: np.ndarray  # int codes into Sex
    income: np.ndarray  # float, currency units per year
    segment: np.ndarray  # int codes into Segment
    thin_file: np.ndarray
    risk_appetite: np.ndarray
    customer_since: np.ndarray  # days since 1970-01-01

    @property
    def size(self) -> int:
        return self.customer_id.size

    def table(self) -> pa.Table:
        """The ``customers`` table."""
        return pa.table(
            {
                "customer_id": self.customer_id,
                "home_x": self.home_x,
                "home_y": self.home_y,
                "age": self.age.astype(np.int16),
                "sex": category(self.sex, labels(Sex)),
                "region": category(self.region, [r.name for r in REGIONS]),
                "income": money_from_minor(np.round(self.income * 100).astype(np.int64)),
                "segment": category(self.segment, labels(Segment)),
                "thin_file": self.thin_file,
                "risk_appetite": self.risk_appetite.astype(np.int8),
                "customer_since": pa.array(self.customer_since.astype(np.int32), pa.date32()),
            }
        )


def draw_population(
    n: int, rng: np.random.Generator, start: dt.date, home_xy: np.ndarray | None = None
) -> Population:
    """Draw ``n`` customers.

    Parameters
    ----------
    n : int
        Number of customers.
    rng : numpy.random.Generator
        Source of randomness (a stream of the world's seed).
    start : datetime.date
        The world's first day: ages and tenures are as of that day.
    home_xy : ndarray of shape (n, 2), optional
        Homes already fixed by the preset (the handbook's grid); regions are then the nearest
        centre.

    Returns
    -------
    Population

    Examples
    --------
    >>> pop = draw_population(1000, np.random.default_rng(0), dt.date(2024, 1, 1))
    >>> pop.size, bool((pop.age >= 18).all())
    (1000, True)
    """
    weights = np.array([r.weight for r in REGIONS])
    centres = np.array([r.centre_km for r in REGIONS])
    if home_xy is None:
        region = rng.choice(len(REGIONS), n, p=weights / weights.sum())
        spread = np.array([r.spread_km for r in REGIONS])[region]
        home = centres[region] + rng.normal(0, 1, (n, 2)) * spread[:, None]
        # Reflect at the map's edges (clipping would pile spread-out regions onto the border).
        home = MAP_SIZE_KM - np.abs(MAP_SIZE_KM - np.abs(home))
    else:
        home = np.asarray(home_xy, dtype=float)
        scale = MAP_SIZE_KM / max(float(home.max(initial=1.0)), 1e-9)
        d = ((home[:, None, :] * scale - centres[None, :, :]) ** 2).sum(axis=2)
        region = d[:, :-1].argmin(axis=1)  # "rural" is a spread-out region, never the nearest
    seg_p = np.array([v[0] for v in _SEGMENTS.values()])
    segment = rng.choice(len(_SEGMENT_LIST), n, p=seg_p / seg_p.sum())
    lo = np.array([v[1][0] for v in _SEGMENTS.values()])[segment]
    hi = np.array([v[1][1] for v in _SEGMENTS.values()])[segment]
    age = rng.integers(lo, hi + 1)
    median = np.array([v[2] for v in _SEGMENTS.values()])[segment]
    log_sd = np.array([v[3] for v in _SEGMENTS.values()])[segment]
    region_factor = np.array([r.income_factor for r in REGIONS])[region]
    # Income rises with age to the mid-fifties (a concave career profile).
    career = 1.0 + 0.02 * np.clip(age - 22, 0, 33) - 0.0004 * np.clip(age - 22, 0, 33) ** 2
    income = median * region_factor * career * rng.lognormal(0.0, log_sd)
    thin_rate = np.array([v[4] for v in _SEGMENTS.values()])[segment]
    thin_rate = np.where(age < 25, np.maximum(thin_rate, 0.45), thin_rate)
    thin_file = rng.random(n) < thin_rate
    # Risk appetite 1..5: younger and richer customers lean higher.
    tilt = -0.04 * (age - 45) + 0.5 * np.log(income / 40_000)
    risk_appetite = np.clip(np.round(3 + tilt + rng.normal(0, 1, n)), 1, 5).astype(np.int8)
    max_tenure_years = np.maximum(age - 18, 0)
    tenure_days = np.minimum(rng.exponential(6.0, n), max_tenure_years) * 365.25
    tenure_days = np.where(thin_file, tenure_days * 0.3, tenure_days)  # thin files are newer
    start_day = (start - dt.date(1970, 1, 1)).days
    return Population(
        customer_id=np.arange(n, dtype=np.int64),
        home_x=home[:, 0].copy(),
        home_y=home[:, 1].copy(),
        region=region.astype(np.int32),
        age=age.astype(np.int16),
        sex=rng.integers(0, 2, n).astype(np.int32),
        income=income,
        segment=segment.astype(np.int32),
        thin_file=thin_file,
        risk_appetite=risk_appetite,
        customer_since=(start_day - tenure_days.astype(np.int64)),
    )
