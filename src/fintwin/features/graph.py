"""Relationship-graph feature definitions: distance to confirmed fraud, component size, short
cycles.

The graphs are built from the events inside a sliding window, event i included, exactly as the
windows of :mod:`fintwin.features.definitions` (event j is an edge at event i when j is i or
earlier in ``(timestamp, id)`` order and ``t_j > t_i - w``):

- the *key–via graph* of card payments: a bipartite graph whose edges join the ``key`` (card)
  and the ``via`` entity (device) of each event with both non-null. Two keys sharing a via are
  one hop apart.
- the *transfer graph*: a directed edge ``src_account_id -> dst_account_id`` per transfer.

Both engines run one incremental algorithm (:mod:`fintwin.features.graph_engine`), so they agree
exactly. Every search is layer by layer (breadth first) and each value is defined by the layers,
never by the order in which neighbours are stored; a size cap per definition bounds its cost.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from fintwin.exceptions import ParameterError
from fintwin.features.definitions import FeatureDefinition, _check_seconds, span_label
from fintwin.features.vocab import DAY, Entity, Family

__all__ = ["GRAPH_DEFINITIONS", "ComponentSize", "FraudDistance", "ShortCycle"]


def _check_count(name: str, value: object, low: int, high: int | None = None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        rule = (
            f"a whole number in {low}..{high}" if high is not None else f"a whole number >= {low}"
        )
        raise ParameterError(f"{name} must be {rule} (got {value!r})")


class _KeyVia(FeatureDefinition):
    """Shared checks and naming of the key–via graph definitions."""

    key: Entity
    via: Entity
    window_seconds: int

    def _check_graph(self) -> None:
        cls = type(self).__name__
        self._enum("key", Entity)
        self._enum("via", Entity)
        _check_seconds(f"{cls}.window_seconds", self.window_seconds)
        if self.key is self.via:
            raise ParameterError(f"{cls}.via must differ from the key (both {self.key.value!r})")

    @property
    def _graph_name(self) -> str:
        return f"via_{self.via}_{span_label(self.window_seconds)}"


@dataclasses.dataclass(frozen=True)
class FraudDistance(_KeyVia):
    """Hops from this event's key to a key with confirmed fraud in the windowed key–via graph.

    A key is *confirmed* at event i when an earlier event j of that key has ``is_fraud`` and
    ``label_available_at_j <= t_i`` (the labels rule of the definitions) and
    ``t_j > t_i - fraud_horizon_seconds``. The value is the smallest ``d <= max_hops`` such that
    a confirmed key lies ``d`` hops away (0: the key itself is confirmed; 1: it shares a device
    with a confirmed card, ...), else ``max_hops + 1``: no confirmed key within the cap, which
    keeps the value numeric and ordered (further is safer). NaN if the key is null.

    Parameters
    ----------
    key, via : Entity
        The two sides of the graph (cards and devices by default).
    window_seconds : int
        Edges are the events of ``(t_i - w, t_i]``.
    max_hops : int
        Largest distance searched, 1..8.
    fraud_horizon_seconds : int
        Only frauds committed within this span count as confirmed.
    max_nodes : int
        Budget: hop layer d is searched only while the layers before it hold at most this many
        keys (a key beside a huge cluster gets ``max_hops + 1`` rather than an unbounded search).
    """

    family: ClassVar[Family] = Family.FRAUD_DISTANCE
    key: Entity = Entity.CARD
    via: Entity = Entity.DEVICE
    window_seconds: int = 30 * DAY
    max_hops: int = 4
    fraud_horizon_seconds: int = 90 * DAY
    max_nodes: int = 1000

    def __post_init__(self) -> None:
        self._check_graph()
        _check_count("FraudDistance.max_hops", self.max_hops, 1, 8)
        _check_seconds("FraudDistance.fraud_horizon_seconds", self.fraud_horizon_seconds)
        _check_count("FraudDistance.max_nodes", self.max_nodes, 1)

    @property
    def name(self) -> str:
        out = f"{self.key}_fraud_hops_{self._graph_name}"
        if self.max_hops != 4:
            out += f"_max{self.max_hops}"
        if self.fraud_horizon_seconds != 90 * DAY:
            out += f"_frauds_{span_label(self.fraud_horizon_seconds)}"
        if self.max_nodes != 1000:
            out += f"_budget{self.max_nodes}"
        return out

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.key.column, self.via.column, "is_fraud", "label_available_at")

    @property
    def lookback_seconds(self) -> int:
        return max(self.window_seconds, self.fraud_horizon_seconds)


@dataclasses.dataclass(frozen=True)
class ComponentSize(_KeyVia):
    """Number of keys in the connected component of this event's key in the windowed key–via
    graph (the key itself included, so at least 1), capped at ``max_size``; NaN if the key is
    null.

    Parameters
    ----------
    key, via : Entity
        The two sides of the graph (cards and devices by default).
    window_seconds : int
        Edges are the events of ``(t_i - w, t_i]``.
    max_size : int
        Values are ``min(size, max_size)``; the search stops there, which bounds its cost.
    """

    family: ClassVar[Family] = Family.COMPONENT_SIZE
    key: Entity = Entity.CARD
    via: Entity = Entity.DEVICE
    window_seconds: int = 30 * DAY
    max_size: int = 100

    def __post_init__(self) -> None:
        self._check_graph()
        _check_count("ComponentSize.max_size", self.max_size, 1)

    @property
    def name(self) -> str:
        out = f"{self.key}_component_size_{self._graph_name}"
        return out if self.max_size == 100 else f"{out}_max{self.max_size}"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.key.column, self.via.column)

    @property
    def lookback_seconds(self) -> int:
        return self.window_seconds


@dataclasses.dataclass(frozen=True)
class ShortCycle(FeatureDefinition):
    """Length of the shortest directed cycle of transfers that this transfer closes.

    The value is ``1 + L`` where L is the length of the shortest directed path from the
    transfer's destination back to its source over the transfers of ``(t_i - w, t_i]``, if
    ``1 + L <= max_length``; else 0 (no such cycle). 2 is money sent straight back, 3 a
    triangle; a transfer to oneself is 1; NaN if either account is null.

    Accounts inside the path must not be *hubs*: an account is a hub at event i when the number
    of distinct accounts it sent to plus the number it received from, over the window, exceeds
    ``max_degree`` (a cash or clearing account that touches everyone would close a cycle with
    every transfer). The two ends may be hubs. The search is bidirectional breadth first, so
    its cost is bounded by about ``max_degree ** (max_length / 2)``.

    Parameters
    ----------
    window_seconds : int
        Edges are the transfers of ``(t_i - w, t_i]``.
    max_length : int
        Longest cycle searched, 2..12 (transfers, this one included).
    max_degree : int
        Accounts with more counterparties are not passed through.
    """

    family: ClassVar[Family] = Family.SHORT_CYCLE
    window_seconds: int = 7 * DAY
    max_length: int = 5
    max_degree: int = 50

    def __post_init__(self) -> None:
        _check_seconds("ShortCycle.window_seconds", self.window_seconds)
        _check_count("ShortCycle.max_length", self.max_length, 2, 12)
        _check_count("ShortCycle.max_degree", self.max_degree, 1)

    @property
    def name(self) -> str:
        out = f"transfer_cycle_length_{span_label(self.window_seconds)}"
        if self.max_length != 5:
            out += f"_max{self.max_length}"
        if self.max_degree != 50:
            out += f"_deg{self.max_degree}"
        return out

    @property
    def columns(self) -> tuple[str, ...]:
        return (Entity.SOURCE_ACCOUNT.column, Entity.DESTINATION_ACCOUNT.column)

    @property
    def lookback_seconds(self) -> int:
        return self.window_seconds


#: The graph families: both engines hand them to ``graph_engine.GraphEngine``.
GRAPH_DEFINITIONS = (FraudDistance, ComponentSize, ShortCycle)
