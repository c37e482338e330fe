"""Fixed tables of the retail-bank world: merchant categories, time-of-day shapes, countries.

These are the calibration constants behind the parameters of :class:`RetailBankParams`: what a
grocery payment costs, when restaurants are busy, where the travel destinations are. They are
data, not parameters, because changing them changes the character of the world rather than one
of its rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

import numpy as np

__all__ = [
    "CATEGORIES",
    "COUNTRIES",
    "HOME_COUNTRY",
    "QUANTILES",
    "WEEKDAY_FACTOR",
    "DeviceType",
    "MerchantCategory",
    "Shape",
    "hour_tables",
    "quantile_table",
]


class MerchantCategory(StrEnum):
    """What a merchant sells (the ``merchant_category`` of terminals)."""

    GROCERY = "grocery"
    RESTAURANT = "restaurant"
    FUEL = "fuel"
    RETAIL = "retail"
    ELECTRONICS = "electronics"
    HEALTH = "health"
    TRANSPORT = "transport"
    ENTERTAINMENT = "entertainment"
    TRAVEL = "travel"
    JEWELLERY = "jewellery"
    MARKETPLACE = "marketplace"
    DIGITAL = "digital"
    UTILITIES = "utilities"
    TELECOM = "telecom"
    INSURANCE = "insurance"


class DeviceType(StrEnum):
    """Kind of device (the ``device_type`` of devices)."""

    MOBILE = "mobile"
    DESKTOP = "desktop"
    TABLET = "tablet"


class Shape(IntEnum):
    """Time-of-day shape of a kind of payment."""

    SHOP = 0
    FOOD = 1
    COMMUTE = 2
    ONLINE = 3


@dataclass(frozen=True)
class Category:
    """Calibration of one merchant category.

    pos_share, web_share: share of physical terminals and of web shops in the category;
    visits: relative frequency with which a customer pays at one of its terminals nearby;
    median, log_sd: lognormal payment amount (currency units) before the customer's own scale;
    shape: time-of-day shape of its card-present payments.
    """

    category: MerchantCategory
    pos_share: float
    web_share: float
    visits: float
    median: float
    log_sd: float
    shape: Shape


C = MerchantCategory
CATEGORIES: tuple[Category, ...] = (
    Category(C.GROCERY, 0.24, 0.03, 3.0, 32.0, 0.65, Shape.SHOP),
    Category(C.RESTAURANT, 0.22, 0.03, 2.0, 24.0, 0.60, Shape.FOOD),
    Category(C.FUEL, 0.07, 0.00, 0.8, 55.0, 0.35, Shape.COMMUTE),
    Category(C.RETAIL, 0.17, 0.18, 1.0, 48.0, 0.80, Shape.SHOP),
    Category(C.ELECTRONICS, 0.04, 0.10, 0.12, 160.0, 0.90, Shape.SHOP),
    Category(C.HEALTH, 0.07, 0.02, 0.4, 22.0, 0.70, Shape.SHOP),
    Category(C.TRANSPORT, 0.06, 0.05, 1.3, 9.0, 0.60, Shape.COMMUTE),
    Category(C.ENTERTAINMENT, 0.06, 0.08, 0.5, 28.0, 0.70, Shape.FOOD),
    Category(C.TRAVEL, 0.04, 0.09, 0.08, 220.0, 0.90, Shape.SHOP),
    Category(C.JEWELLERY, 0.03, 0.02, 0.05, 190.0, 0.90, Shape.SHOP),
    Category(C.MARKETPLACE, 0.00, 0.25, 0.0, 42.0, 0.90, Shape.ONLINE),
    Category(C.DIGITAL, 0.00, 0.15, 0.0, 11.0, 0.60, Shape.ONLINE),
    # Billers: paid by standing orders (transfers), not by card.
    Category(C.UTILITIES, 0.00, 0.00, 0.0, 60.0, 0.50, Shape.ONLINE),
    Category(C.TELECOM, 0.00, 0.00, 0.0, 35.0, 0.40, Shape.ONLINE),
    Category(C.INSURANCE, 0.00, 0.00, 0.0, 70.0, 0.50, Shape.ONLINE),
)
assert [c.category for c in CATEGORIES] == list(MerchantCategory)

#: categories of the billers customers pay by standing order
BILLER_CATEGORIES = (C.UTILITIES, C.TELECOM, C.INSURANCE)

# Hourly weights (0h..23h) of each shape on weekdays and at weekends: lunch and evening peaks,
# quiet nights, weekend activity later and flatter over the middle of the day.
_HOURLY = {
    (Shape.SHOP, False): [0.2, 0.1, 0.05, 0.05, 0.05, 0.1, 0.4, 1.0, 1.6, 2.0, 2.4, 3.0,
                          4.2, 3.8, 2.8, 2.8, 3.4, 4.6, 5.0, 4.2, 3.0, 2.0, 1.2, 0.6],
    (Shape.SHOP, True): [0.4, 0.3, 0.15, 0.1, 0.05, 0.05, 0.1, 0.3, 0.9, 2.0, 3.2, 4.0,
                         4.4, 4.4, 4.2, 4.0, 3.8, 3.6, 3.4, 3.0, 2.4, 1.6, 1.0, 0.6],
    (Shape.FOOD, False): [0.3, 0.2, 0.1, 0.05, 0.05, 0.05, 0.2, 0.8, 1.2, 0.8, 0.8, 2.5,
                          5.5, 4.5, 1.5, 1.0, 1.2, 2.0, 3.5, 4.5, 4.0, 2.5, 1.2, 0.6],
    (Shape.FOOD, True): [0.6, 0.5, 0.3, 0.1, 0.05, 0.05, 0.1, 0.3, 0.8, 1.5, 2.0, 3.0,
                         4.5, 4.5, 2.5, 1.5, 1.5, 2.2, 3.5, 4.5, 4.5, 3.5, 2.0, 1.0],
    (Shape.COMMUTE, False): [0.1, 0.05, 0.05, 0.05, 0.1, 0.6, 2.0, 4.0, 3.5, 1.5, 1.2, 1.2,
                             1.4, 1.3, 1.3, 1.6, 2.8, 4.0, 3.5, 2.0, 1.2, 0.8, 0.5, 0.3],
    (Shape.COMMUTE, True): [0.3, 0.2, 0.1, 0.05, 0.05, 0.1, 0.3, 0.8, 1.5, 2.2, 2.8, 3.0,
                            3.0, 2.8, 2.8, 2.8, 2.8, 2.6, 2.2, 1.8, 1.2, 0.9, 0.6, 0.4],
    (Shape.ONLINE, False): [1.0, 0.6, 0.3, 0.2, 0.15, 0.2, 0.4, 0.8, 1.2, 1.5, 1.7, 1.9,
                            2.2, 2.0, 1.9, 1.9, 2.0, 2.3, 2.6, 3.0, 3.6, 3.8, 3.0, 1.8],
    (Shape.ONLINE, True): [1.2, 0.8, 0.4, 0.25, 0.15, 0.15, 0.3, 0.6, 1.0, 1.5, 2.0, 2.3,
                           2.5, 2.5, 2.4, 2.4, 2.4, 2.5, 2.6, 2.9, 3.3, 3.5, 2.9, 1.9],
}  # fmt: skip

#: relative volume of card payments by day of week, Monday first (mean 1): Friday and Saturday
#: busiest, Sunday quietest
WEEKDAY_FACTOR = np.array([0.96, 0.96, 0.99, 1.01, 1.14, 1.13, 0.81])
WEEKDAY_FACTOR = WEEKDAY_FACTOR / WEEKDAY_FACTOR.mean()

#: resolution of the inverse-CDF tables used to draw hours and web shops by direct indexing
QUANTILES = 1024


def quantile_table(weights: np.ndarray, size: int = QUANTILES) -> np.ndarray:
    """Inverse-CDF table: ``table[int(u * size)]`` for ``u ~ U(0, 1)`` draws index ``i`` with
    probability ``weights[i] / weights.sum()`` (to within ``1 / size``).

    Parameters
    ----------
    weights : ndarray of shape (k,)
        Non-negative weights, not all zero.
    size : int
        Number of table entries.

    Returns
    -------
    ndarray of int32, shape (size,)

    Examples
    --------
    >>> np.bincount(quantile_table(np.array([1.0, 3.0]), 8)).tolist()
    [2, 6]
    """
    cum = np.cumsum(np.asarray(weights, dtype=float))
    cum /= cum[-1]
    table = np.searchsorted(cum, (np.arange(size) + 0.5) / size, side="right")
    return np.minimum(table, len(cum) - 1).astype(np.int32)


def hour_tables() -> np.ndarray:
    """Hour-of-day tables, shape (len(Shape) * 2, QUANTILES): row ``2 * shape + weekend``."""
    return np.stack(
        [quantile_table(np.array(_HOURLY[s, w])) for s in Shape for w in (False, True)]
    ).astype(np.int8)


@dataclass(frozen=True)
class Country:
    """A country on the twin's map: centre in km (the home country is the 500 km square)."""

    code: str
    centre_km: tuple[float, float]
    trip_weight: float


HOME_COUNTRY = "NL"
#: the home country first, then travel destinations at roughly realistic distances
COUNTRIES: tuple[Country, ...] = (
    Country(HOME_COUNTRY, (250.0, 250.0), 0.0),
    Country("DE", (900.0, 300.0), 0.20),
    Country("FR", (-300.0, -400.0), 0.20),
    Country("ES", (-900.0, -1300.0), 0.25),
    Country("IT", (900.0, -1000.0), 0.15),
    Country("GB", (-450.0, 450.0), 0.10),
    Country("US", (-6200.0, 900.0), 0.05),
    Country("TH", (8800.0, -2800.0), 0.05),
)
