"""Merchants and their terminals: physical points of sale around the region centres and abroad,
web shops, billers; and each customer's favourite terminals near home."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fintwin.data.schemas import category
from fintwin.world._geometry import within_radius
from fintwin.world.population import MAP_SIZE_KM, REGIONS
from fintwin.world.retail_bank.catalogue import (
    BILLER_CATEGORIES,
    CATEGORIES,
    COUNTRIES,
    QUANTILES,
    MerchantCategory,
    quantile_table,
)
from fintwin.world.retail_bank.params import RetailBankParams

__all__ = ["Merchants", "build_merchants", "favourite_terminals"]

_CAT = {c.category: i for i, c in enumerate(CATEGORIES)}
#: chains own this share of domestic POS terminals of these categories
_CHAIN_SHARE = 0.35
_CHAINS_PER_CATEGORY = 6
_CHAIN_CATEGORIES = (
    MerchantCategory.GROCERY,
    MerchantCategory.RESTAURANT,
    MerchantCategory.FUEL,
    MerchantCategory.RETAIL,
    MerchantCategory.HEALTH,
)
#: billers per biller category (utilities, telecom, insurance), plus one per 20,000 customers
_BILLERS_PER_CATEGORY = 4
#: web shops are drawn by direct indexing into a popularity table this many times finer
_SHOP_TABLE = 4 * QUANTILES
#: search radii (km) for terminals near a point, tried until MIN_CANDIDATES are found (the
#: last covers the map): the work stays linear in the number of points however dense
_RADII = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 800.0)
MIN_CANDIDATES = 16
#: places around each POS terminal visited on a trip or an away day
NEARBY_SLOTS = 8


@dataclass(frozen=True)
class Merchants:
    """Terminals (rows) and the merchants owning them.

    Arrays of shape (n_terminals,) unless stated. Terminal kinds are contiguous: domestic POS,
    foreign POS, web shops, billers.
    """

    x: np.ndarray
    y: np.ndarray
    category: np.ndarray  # int8 into CATEGORIES
    country: np.ndarray  # int8 into COUNTRIES
    region: np.ndarray  # int8 into REGIONS, -1 abroad or online
    is_ecommerce: np.ndarray  # bool
    merchant: np.ndarray  # int32 merchant id
    merchant_account: np.ndarray  # int64 (n_merchants,), -1 for merchants abroad
    n_domestic_pos: int
    n_foreign_pos: int
    n_web: int
    group_offsets: np.ndarray  # int64 (n_groups + 1,): POS terminals per destination group
    group_terminals: np.ndarray  # int32: regions first, then foreign countries
    shop_table: np.ndarray  # int32 (_SHOP_TABLE,): web shop by popularity
    billers: np.ndarray  # int32 terminal ids of billers
    biller_category: np.ndarray  # int8 (n_billers,) index into BILLER_CATEGORIES
    nearby: np.ndarray  # int32 (n_pos, NEARBY_SLOTS): POS terminals around each POS terminal

    @property
    def size(self) -> int:
        return self.x.size

    @property
    def n_pos(self) -> int:
        return self.n_domestic_pos + self.n_foreign_pos

    def group_of_country(self, country: np.ndarray) -> np.ndarray:
        """Destination group of a foreign country code (1..)."""
        return len(REGIONS) + np.asarray(country) - 1

    def pick_in_group(self, group: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A POS terminal of destination ``group`` for each uniform ``u``, shapes (k,)."""
        lo = self.group_offsets[group]
        size = self.group_offsets[group + 1] - lo
        return self.group_terminals[lo + np.minimum((u * size).astype(np.int64), size - 1)]

    def table(self) -> pa.Table:
        """The ``terminals`` table."""
        return pa.table(
            {
                "terminal_id": np.arange(self.size, dtype=np.int64),
                "x": self.x,
                "y": self.y,
                "merchant_id": self.merchant.astype(np.int64),
                "merchant_category": category(self.category, [c.value for c in _CAT]),
                "country": category(self.country, [c.code for c in COUNTRIES]),
                "is_ecommerce": self.is_ecommerce,
            }
        )


def _draw(rng: np.random.Generator, weights: list[float], size: int) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    return rng.choice(p.size, size, p=p / p.sum())


def build_merchants(
    n_customers: int, params: RetailBankParams, rng: np.random.Generator, first_account: int
) -> Merchants:
    """Draw the terminals of a world of ``n_customers``.

    Domestic POS terminals are placed like customers (region by weight, normal around the
    centre), so their density follows the population; foreign POS terminals lie within about
    40 km of their country's centre; web shops and billers sit at their head office (the
    capital, or abroad). Merchants at home get accounts ``first_account, first_account + 1,
    ...``; merchants abroad bank elsewhere.
    """
    n_pos = max(60, round(params.pos_terminals_per_1000 * n_customers / 1000))
    n_foreign = round(params.foreign_terminal_share * n_pos)
    if params.foreign_terminal_share > 0:
        n_foreign = max(n_foreign, 2 * (len(COUNTRIES) - 1))
    n_dom = max(n_pos - n_foreign, len(REGIONS) * 4)
    n_web = max(30, round(params.web_shops_per_1000 * n_customers / 1000))
    n_bill = _BILLERS_PER_CATEGORY + n_customers // 20_000
    n_billers = n_bill * len(BILLER_CATEGORIES)

    pos_w = [c.pos_share for c in CATEGORIES]
    web_w = [c.web_share for c in CATEGORIES]
    # domestic POS: every region gets a few, the rest by weight
    reg_w = np.array([r.weight for r in REGIONS])
    region = np.concatenate(
        [np.repeat(np.arange(len(REGIONS)), 4), _draw(rng, list(reg_w), n_dom - 4 * len(REGIONS))]
    )
    centres = np.array([r.centre_km for r in REGIONS])
    spread = np.array([r.spread_km for r in REGIONS])[region]
    dom_xy = np.clip(
        centres[region] + rng.normal(0, 1, (n_dom, 2)) * spread[:, None], 0, MAP_SIZE_KM
    )
    dom_cat = _draw(rng, pos_w, n_dom)
    # foreign POS: every destination gets two, the rest by trip weight
    foreign = np.arange(1, len(COUNTRIES))
    trip_w = [c.trip_weight for c in COUNTRIES[1:]]
    f_country = np.concatenate(
        [np.repeat(foreign, 2), 1 + _draw(rng, trip_w, max(n_foreign - 2 * foreign.size, 0))]
    )[:n_foreign]
    c_xy = np.array([c.centre_km for c in COUNTRIES])
    f_xy = c_xy[f_country] + rng.normal(0, 40.0, (n_foreign, 2))
    f_cat = _draw(rng, pos_w, n_foreign)
    # web shops
    web_abroad = rng.random(n_web) < params.foreign_web_shop_share
    w_country = np.where(web_abroad, 1 + _draw(rng, trip_w, n_web), 0)
    w_xy = c_xy[w_country] + rng.normal(0, 10.0, (n_web, 2))
    w_xy[~web_abroad] = np.array(REGIONS[0].centre_km) + rng.normal(
        0, 10.0, (int((~web_abroad).sum()), 2)
    )
    w_cat = _draw(rng, web_w, n_web)
    # billers
    b_cat = np.repeat(np.arange(len(BILLER_CATEGORIES)), n_bill)
    b_xy = np.array(REGIONS[0].centre_km) + rng.normal(0, 10.0, (n_billers, 2))
    biller_cat_code = np.array([_CAT[c] for c in BILLER_CATEGORIES])[b_cat]

    xy = np.concatenate([dom_xy, f_xy, w_xy, b_xy])
    cat = np.concatenate([dom_cat, f_cat, w_cat, biller_cat_code]).astype(np.int8)
    country = np.concatenate(
        [np.zeros(n_dom, int), f_country, w_country, np.zeros(n_billers, int)]
    ).astype(np.int8)
    t_region = np.concatenate([region, np.full(n_foreign + n_web + n_billers, -1)]).astype(np.int8)
    is_ecom = np.concatenate([np.zeros(n_dom + n_foreign, bool), np.ones(n_web + n_billers, bool)])
    n_t = xy.shape[0]

    # Merchants: most terminals are independent merchants; chains own a share of the domestic
    # POS terminals of everyday categories.
    key = np.arange(n_t, dtype=np.int64)
    chain_cat = np.isin(dom_cat, [_CAT[c] for c in _CHAIN_CATEGORIES])
    in_chain = chain_cat & (rng.random(n_dom) < _CHAIN_SHARE)
    chain = dom_cat.astype(np.int64) * _CHAINS_PER_CATEGORY + rng.integers(
        0, _CHAINS_PER_CATEGORY, n_dom
    )
    key[:n_dom] = np.where(in_chain, n_t + chain, key[:n_dom])
    # merchant ids in order of first terminal, so that they do not reveal chains
    uniq, first, merchant = np.unique(key, return_index=True, return_inverse=True)
    rank = np.empty(uniq.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(uniq.size)
    merchant = rank[merchant].astype(np.int32)
    m_country = np.zeros(uniq.size, dtype=np.int8)
    m_country[merchant] = country
    at_home = m_country == 0
    merchant_account = np.full(uniq.size, -1, dtype=np.int64)
    merchant_account[at_home] = first_account + np.arange(int(at_home.sum()))

    # destination groups: domestic POS by region, then foreign POS by country
    group = np.concatenate([region, len(REGIONS) + f_country - 1])
    order = np.argsort(group, kind="stable").astype(np.int32)
    n_groups = len(REGIONS) + len(COUNTRIES) - 1
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(np.bincount(group, minlength=n_groups), out=offsets[1:])

    # Places around each POS terminal: a trip or an away day stays around one of them.
    pos_xy = xy[: n_dom + n_foreign]
    nearby = favourite_terminals(pos_xy, pos_xy, cat[: n_dom + n_foreign], NEARBY_SLOTS, rng)
    # web-shop popularity: Zipf over a random ranking
    pop_w = 1.0 / (1.0 + rng.permutation(n_web))
    shop_table = (n_dom + n_foreign + quantile_table(pop_w, _SHOP_TABLE)).astype(np.int32)
    return Merchants(
        x=xy[:, 0].copy(),
        y=xy[:, 1].copy(),
        category=cat,
        country=country,
        region=t_region,
        is_ecommerce=is_ecom,
        merchant=merchant,
        merchant_account=merchant_account,
        n_domestic_pos=n_dom,
        n_foreign_pos=n_foreign,
        n_web=n_web,
        group_offsets=offsets,
        group_terminals=order,
        shop_table=shop_table,
        billers=np.arange(n_t - n_billers, n_t, dtype=np.int32),
        biller_category=b_cat.astype(np.int8),
        nearby=nearby,
    )


def favourite_terminals(
    home_xy: np.ndarray,
    terminal_xy: np.ndarray,
    terminal_category: np.ndarray,
    slots: int,
    rng: np.random.Generator,
    *,
    batch: int = 20_000,
) -> np.ndarray:
    """Terminal slots near each point: a customer's favourites around home, or the places
    around a travel destination.

    Candidates are the terminals within the smallest radius of 1, 2, 4, ... 128 km that holds
    at least ``MIN_CANDIDATES`` of them (800 km, the whole map, otherwise); each slot is drawn
    from them with weight (category visit frequency) x exp(-distance / 5 km), so busy everyday
    shops nearby fill most slots.

    Parameters
    ----------
    home_xy : ndarray of shape (n, 2)
        The points (km).
    terminal_xy : ndarray of shape (k, 2)
        Candidate terminals (km); ids are positions.
    terminal_category : ndarray of shape (k,)
        Their categories (codes into CATEGORIES).
    slots : int
        Slots per point.
    rng : numpy.random.Generator
    batch : int
        Points processed at once (bounds memory).

    Returns
    -------
    ndarray of int32, shape (n, slots)
        Terminal ids; a terminal may fill several slots.
    """
    n = home_xy.shape[0]
    t_xy = terminal_xy
    visits = np.array([c.visits for c in CATEGORIES])[terminal_category]
    # a category nobody visits (none among POS today) still needs positive weight to be drawn
    visits = np.maximum(visits, 1e-3)
    out = np.empty((n, slots), dtype=np.int32)
    for b0 in range(0, n, batch):
        home = home_xy[b0 : b0 + batch]
        nb = home.shape[0]
        cust_parts, term_parts = [], []
        todo = np.arange(nb)
        for radius in _RADII:
            off, idx = within_radius(home[todo], t_xy, radius)
            count = np.diff(off)
            enough = (count >= MIN_CANDIDATES) | (radius == _RADII[-1])
            keep = np.repeat(enough, count)
            cust_parts.append(np.repeat(todo, count)[keep])
            term_parts.append(idx[keep])
            todo = todo[~enough]
            if todo.size == 0:
                break
        cust = np.concatenate(cust_parts)
        term = np.concatenate(term_parts)
        order = np.argsort(cust, kind="stable")
        cust, term = cust[order], term[order]
        d = np.hypot(home[cust, 0] - t_xy[term, 0], home[cust, 1] - t_xy[term, 1])
        count = np.bincount(cust, minlength=nb)  # > 0: the last radius covers every site
        first = np.cumsum(count) - count
        # relative to the nearest candidate, so that far-off points keep usable weights
        nearest = np.minimum.reduceat(d, first)
        w = visits[term] * np.exp(-(d - nearest[cust]) / 5.0)
        # Weighted draw per point with one global search: point i's weights map onto
        # [i, i + 1) of a single increasing array.
        total = np.bincount(cust, weights=w, minlength=nb)
        cum = np.cumsum(w)
        within = cum - np.repeat(cum[first] - w[first], count)
        key = cust + within / total[cust]
        row = np.repeat(np.arange(nb), slots)
        pick = np.searchsorted(key, row + rng.random(nb * slots), side="right")
        # rounding at a point's upper end must not step into the next point
        pick = np.clip(pick, first[row], first[row] + count[row] - 1)
        out[b0 : b0 + nb] = term[pick].reshape(nb, slots)
    return out
