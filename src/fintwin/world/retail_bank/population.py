"""Who banks here and with what: households, network prefixes, devices, cards and accounts.

Ids are positions: customer ``c`` owns current account ``c`` and mobile phone (device) ``c``;
cards of one customer are contiguous. Everything is drawn once, in the parent, and shipped to
the workers with the model.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fintwin.data.schemas import category, money_from_minor
from fintwin.data.schemas.vocab import AccountKind, labels
from fintwin.exceptions import ParameterError
from fintwin.world._engine import MS_PER_DAY
from fintwin.world.population import REGIONS, Population
from fintwin.world.retail_bank.catalogue import COUNTRIES, DeviceType
from fintwin.world.retail_bank.params import RetailBankParams

__all__ = [
    "AccountLayout",
    "Devices",
    "Network",
    "People",
    "build_people",
    "prefix_strings",
]

#: carrier-grade NAT prefixes of mobile networks per region
CARRIER_PREFIXES_PER_REGION = 32
#: domestic prefixes are drawn from 64.0.0-127.255.255 (2**22 of them), hosting from 185-192
_DOMESTIC_BITS = 22
_HOSTING_BITS = 19
_SCATTER = 0x9E3779B1  # odd: multiplication modulo a power of two is a bijection
_DEVICE_LABELS = labels(DeviceType)
_KIND = {k: i for i, k in enumerate(AccountKind)}


@dataclass
class Network:
    """/24 network prefixes: where each is (km) and in which country.

    Domestic prefixes (homes, then mobile carriers) come first, then hosting prefixes of
    fraudsters appended by the fraud plan.
    """

    x: np.ndarray  # float64 (P,)
    y: np.ndarray
    country: np.ndarray  # int8 (P,), index into COUNTRIES
    n_domestic: int

    def append(self, x: np.ndarray, y: np.ndarray, country: np.ndarray) -> np.ndarray:
        """Add prefixes; returns their ids."""
        first = self.x.size
        self.x = np.concatenate([self.x, x])
        self.y = np.concatenate([self.y, y])
        self.country = np.concatenate([self.country, country.astype(np.int8)])
        return np.arange(first, self.x.size, dtype=np.int32)


def prefix_strings(n_domestic: int, n_total: int) -> pa.Array:
    """Text of every prefix as ``'a.b.c'``: domestic ones scattered over 64-127.x.x, hosting
    ones over 185-192.x.x (a fixed bijection of the id, so equal ids give equal text).

    Examples
    --------
    >>> prefix_strings(2, 3).to_pylist()
    ['64.0.0', '119.121.177', '185.0.0']
    """
    dom = (np.arange(n_domestic, dtype=np.int64) * _SCATTER) & ((1 << _DOMESTIC_BITS) - 1)
    host = (np.arange(n_total - n_domestic, dtype=np.int64) * _SCATTER) & ((1 << _HOSTING_BITS) - 1)
    v = np.concatenate([dom + (64 << 16), host + (185 << 16)])
    a, b, c = v >> 16, (v >> 8) & 255, v & 255
    a, b, c = (pa.array(x).cast(pa.string()) for x in (a, b, c))
    return pc.binary_join_element_wise(a, b, c, ".")


@dataclass
class Devices:
    """Devices: customers' phones (id = customer), home computers, then rings' and fraudsters'."""

    kind: np.ndarray  # int8 codes into DeviceType
    owner: np.ndarray  # int64, -1 unknown
    prefix: np.ndarray  # int32 usual network prefix
    first_seen: np.ndarray  # int64 ms

    def append(
        self, kind: np.ndarray, owner: np.ndarray, prefix: np.ndarray, first_seen: np.ndarray
    ) -> np.ndarray:
        """Add devices; returns their ids."""
        first = self.kind.size
        self.kind = np.concatenate([self.kind, kind.astype(np.int8)])
        self.owner = np.concatenate([self.owner, owner.astype(np.int64)])
        self.prefix = np.concatenate([self.prefix, prefix.astype(np.int32)])
        self.first_seen = np.concatenate([self.first_seen, first_seen.astype(np.int64)])
        return np.arange(first, self.kind.size, dtype=np.int64)

    def table(self, prefixes: pa.Array) -> pa.Table:
        """The ``devices`` table."""
        return pa.table(
            {
                "device_id": np.arange(self.kind.size, dtype=np.int64),
                "device_type": category(self.kind, _DEVICE_LABELS),
                "owner_customer_id": pa.array(self.owner, mask=self.owner < 0),
                "ip_prefix": prefixes.take(pa.array(self.prefix)),
                "first_seen": pa.array(self.first_seen, pa.timestamp("ms")),
            }
        )


@dataclass(frozen=True)
class AccountLayout:
    """Account ids by kind: current ``[0, n)``, savings, merchants, then external accounts.

    External accounts stand for money outside the bank: the card scheme (clearing of card
    payments), the state pension fund, employers, accounts at other domestic banks, and
    accounts abroad.
    """

    customers: int
    savings: int
    merchants: int
    employers: int
    other_banks: int
    abroad: int

    @property
    def first_savings(self) -> int:
        return self.customers

    @property
    def first_merchant(self) -> int:
        return self.customers + self.savings

    @property
    def scheme(self) -> int:
        return self.first_merchant + self.merchants

    @property
    def pension_fund(self) -> int:
        return self.scheme + 1

    @property
    def first_employer(self) -> int:
        return self.scheme + 2

    @property
    def first_other_bank(self) -> int:
        return self.first_employer + self.employers

    @property
    def first_abroad(self) -> int:
        return self.first_other_bank + self.other_banks

    @property
    def total(self) -> int:
        return self.first_abroad + self.abroad


@dataclass
class People:
    """Customers with their households, devices, cards and accounts.

    Arrays have shape (n_customers,) unless stated.
    """

    population: Population
    partner: np.ndarray  # int32, household partner or -1
    home_prefix: np.ndarray  # int32
    device_list: np.ndarray  # int32 (n, 4): phone, home computer, ring device; packed, -1 after
    device_count: np.ndarray  # int8
    card_first: np.ndarray  # int32
    card_count: np.ndarray  # int8
    card_issued: np.ndarray  # int32 days since epoch, per card
    savings_account: np.ndarray  # int64, -1 without
    layout: AccountLayout
    opening: np.ndarray  # int64 (n_accounts,) minor units
    account_opened: np.ndarray  # int32 days since epoch (n_accounts,)
    network: Network
    devices: Devices

    @property
    def n_cards(self) -> int:
        return int(self.card_count.sum())

    def card_owner(self) -> np.ndarray:
        """Customer of every card, shape (n_cards,)."""
        return np.repeat(np.arange(self.card_count.size), self.card_count)

    def cards_table(self) -> pa.Table:
        owner = self.card_owner()
        return pa.table(
            {
                "card_id": np.arange(owner.size, dtype=np.int64),
                "customer_id": owner.astype(np.int64),
                "account_id": owner.astype(np.int64),
                "issued_at": pa.array(self.card_issued, pa.date32()),
            }
        )

    def accounts_table(self) -> pa.Table:
        lay = self.layout
        kind = np.empty(lay.total, dtype=np.int32)
        kind[: lay.customers] = _KIND[AccountKind.CURRENT]
        kind[lay.first_savings : lay.first_merchant] = _KIND[AccountKind.SAVINGS]
        kind[lay.first_merchant : lay.scheme] = _KIND[AccountKind.MERCHANT]
        kind[lay.scheme :] = _KIND[AccountKind.EXTERNAL]
        owner = np.full(lay.total, -1, dtype=np.int64)
        owner[: lay.customers] = np.arange(lay.customers)
        has = self.savings_account >= 0
        owner[self.savings_account[has]] = np.flatnonzero(has)
        return pa.table(
            {
                "account_id": np.arange(lay.total, dtype=np.int64),
                "customer_id": pa.array(owner, mask=owner < 0),
                "kind": category(kind, labels(AccountKind)),
                "opened_at": pa.array(self.account_opened, pa.date32()),
                "opening_balance": money_from_minor(self.opening),
            }
        )


def _households(pop: Population, share: float, rng: np.random.Generator):
    """Pair customers into two-person households; partners move to the head's home."""
    n = pop.size
    n_pairs = int(share * n / 2)
    perm = rng.permutation(n)
    heads, partners = perm[:n_pairs], perm[n_pairs : 2 * n_pairs]
    partner = np.full(n, -1, dtype=np.int32)
    partner[heads], partner[partners] = partners, heads
    home_x, home_y, region = pop.home_x.copy(), pop.home_y.copy(), pop.region.copy()
    home_x[partners], home_y[partners] = home_x[heads], home_y[heads]
    region[partners] = region[heads]
    pop = dataclasses.replace(pop, home_x=home_x, home_y=home_y, region=region)
    # one home (network prefix) per household: partners share the head's
    is_partner = np.zeros(n, dtype=bool)
    is_partner[partners] = True
    home = np.full(n, -1, dtype=np.int32)
    home[~is_partner] = np.arange(n - n_pairs, dtype=np.int32)
    home[partners] = home[heads]
    return pop, partner, home, heads, is_partner


def build_people(
    pop: Population, params: RetailBankParams, start: dt.date, rng: np.random.Generator
) -> People:
    """Households, network, devices, cards and accounts of ``pop``.

    ``layout.merchants``, the merchant part of ``opening`` and ``account_opened`` are filled in
    by the model once merchants exist (see :func:`with_merchants`).
    """
    n = pop.size
    start_day = (start - dt.date(1970, 1, 1)).days
    start_ms = start_day * MS_PER_DAY
    pop, partner, home, heads, is_partner = _households(pop, params.household_share, rng)
    n_homes = int(home.max(initial=-1)) + 1
    n_carrier = CARRIER_PREFIXES_PER_REGION * len(REGIONS)
    if n_homes + n_carrier > 1 << _DOMESTIC_BITS:
        raise ParameterError(
            f"customers must be at most about {(1 << _DOMESTIC_BITS) - n_carrier:,} for the "
            f"retail-bank network plan (got {n:,})"
        )
    # Network prefixes: homes (located at the home), then carriers (at the region centres).
    hx = np.zeros(n_homes)
    hy = np.zeros(n_homes)
    hx[home], hy[home] = pop.home_x, pop.home_y
    centres = np.array([r.centre_km for r in REGIONS])
    cx = np.repeat(centres[:, 0], CARRIER_PREFIXES_PER_REGION)
    cy = np.repeat(centres[:, 1], CARRIER_PREFIXES_PER_REGION)
    network = Network(
        x=np.concatenate([hx, cx]),
        y=np.concatenate([hy, cy]),
        country=np.zeros(n_homes + n_carrier, dtype=np.int8),
        n_domestic=n_homes + n_carrier,
    )
    # Devices: a phone each (on a carrier prefix of the home region), one home computer or
    # tablet per household (shared by both partners) and for half of the single customers.
    carrier = n_homes + pop.region * CARRIER_PREFIXES_PER_REGION
    carrier = carrier + rng.integers(0, CARRIER_PREFIXES_PER_REGION, n)
    since_ms = pop.customer_since.astype(np.int64) * MS_PER_DAY
    four_years = 4 * 365 * MS_PER_DAY
    lo = np.maximum(since_ms, start_ms - four_years)
    phone_seen = lo + (rng.random(n) * (start_ms - lo)).astype(np.int64)
    devices = Devices(
        kind=np.zeros(n, dtype=np.int8),
        owner=np.arange(n, dtype=np.int64),
        prefix=carrier.astype(np.int32),
        first_seen=phone_seen,
    )
    has_home_device = (rng.random(n) < 0.5) & (partner < 0)
    has_home_device[heads] = True
    owners = np.flatnonzero(has_home_device)
    kinds = np.where(rng.random(owners.size) < 0.7, 1, 2)  # desktop, tablet
    home_seen = lo[owners] + (rng.random(owners.size) * (start_ms - lo[owners])).astype(np.int64)
    home_dev = devices.append(kinds, owners, home[owners], home_seen)
    device_list = np.full((n, 4), -1, dtype=np.int32)
    device_list[:, 0] = np.arange(n)
    device_list[owners, 1] = home_dev
    partners = np.flatnonzero(is_partner)
    device_list[partners, 1] = device_list[partner[partners], 1]
    device_count = (device_list >= 0).sum(axis=1).astype(np.int8)
    # Cards: one debit card each, a second card for some; issued within the last four years.
    card_count = (1 + (rng.random(n) < params.second_card_share)).astype(np.int8)
    card_first = (np.cumsum(card_count) - card_count).astype(np.int32)
    owner = np.repeat(np.arange(n), card_count)
    lo_day = np.maximum(pop.customer_since[owner], start_day - 4 * 365)
    card_issued = (lo_day + rng.random(owner.size) * (start_day - lo_day)).astype(np.int32)
    # Accounts.
    has_savings = rng.random(n) < params.savings_share
    n_sav = int(has_savings.sum())
    savings_account = np.full(n, -1, dtype=np.int64)
    savings_account[has_savings] = n + np.arange(n_sav)
    layout = AccountLayout(
        customers=n,
        savings=n_sav,
        merchants=0,
        employers=max(20, n // 200),
        other_banks=max(50, n // 50),
        abroad=max(20, n // 500),
    )
    net_month = params.net_income_share * pop.income / 12
    opening_current = net_month * rng.lognormal(np.log(0.6), 0.8, n)
    opening_savings = pop.income[has_savings] * rng.lognormal(np.log(0.25), 1.0, n_sav)
    opening = np.concatenate([opening_current, opening_savings])
    opened = np.concatenate(
        [
            pop.customer_since,
            pop.customer_since[has_savings]
            + (rng.random(n_sav) * (start_day - pop.customer_since[has_savings])).astype(int),
        ]
    ).astype(np.int32)
    return People(
        population=pop,
        partner=partner,
        home_prefix=home,
        device_list=device_list,
        device_count=device_count,
        card_first=card_first,
        card_count=card_count,
        card_issued=card_issued,
        savings_account=savings_account,
        layout=layout,
        opening=np.round(opening * 100).astype(np.int64),
        account_opened=opened,
        network=network,
        devices=devices,
    )


def with_merchants(
    people: People, n_merchant_accounts: int, start: dt.date, rng: np.random.Generator
) -> None:
    """Complete the account plan once the number of domestic merchants is known: merchant
    accounts (opening balances lognormal around 5,000) and the external accounts (zero)."""
    start_day = (start - dt.date(1970, 1, 1)).days
    lay = dataclasses.replace(people.layout, merchants=n_merchant_accounts)
    n_ext = lay.total - lay.scheme
    merchant_open = np.round(rng.lognormal(np.log(5_000), 1.0, n_merchant_accounts) * 100)
    people.opening = np.concatenate(
        [people.opening, merchant_open.astype(np.int64), np.zeros(n_ext, dtype=np.int64)]
    )
    merchant_opened = start_day - rng.integers(30, 15 * 365, n_merchant_accounts)
    people.account_opened = np.concatenate(
        [
            people.account_opened,
            merchant_opened.astype(np.int32),
            np.full(n_ext, start_day, dtype=np.int32),
        ]
    )
    people.layout = lay


def country_labels() -> list[str]:
    """Labels of the ``country`` category columns."""
    return [c.code for c in COUNTRIES]
