"""Where the online engine keeps its per-key window state: a small Protocol and the in-memory
backend.

The engine stores one value per ``(slot, key)``: ``slot`` names a kind of state
(``"velocity/card"``, ``"labels/terminal"``), ``key`` is the entity value (a card id). Every
value carries an expiry time in event time (ms): once the engine's clock reaches it, nothing in
the value can enter a window again, so :meth:`StateBackend.expire` drops it. That bounds memory
by the windows, also for keys that are never seen again. A shared backend (Redis) implements the
same five methods, expiry becoming a per-key TTL.

Values are plain Python objects the engine mutates and writes back with :meth:`put` after each
change, so a backend that serialises values sees every change.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from typing import Any, Protocol, runtime_checkable

__all__ = ["InMemoryState", "StateBackend"]


@runtime_checkable
class StateBackend(Protocol):
    """Per-key state of the online feature engine."""

    def get(self, slot: str, key: Hashable) -> Any | None:
        """The value stored under ``(slot, key)``, or None."""

    def put(self, slot: str, key: Hashable, value: Any, expires_at: int | None) -> None:
        """Store ``value``; it may be dropped once the clock reaches ``expires_at`` (ms, None:
        never)."""

    def delete(self, slot: str, key: Hashable) -> None:
        """Drop ``(slot, key)`` if present."""

    def expire(self, now: int) -> int:
        """Drop every value whose expiry is ``<= now``; return how many were dropped."""

    def size(self) -> int:
        """Number of entries held: the sum of ``len(value)`` over stored values."""


class InMemoryState:
    """Dictionaries in this process; expiry through a heap checked lazily.

    The heap holds one entry per key (pushed when the key is created); an entry that comes due
    whose key has since been extended is pushed again with the new expiry, so the heap stays
    the size of the key set and ``put`` costs a dictionary write.
    """

    def __init__(self) -> None:
        self._values: dict[tuple[str, Hashable], Any] = {}
        self._expiry: dict[tuple[str, Hashable], int | None] = {}
        self._heap: list[tuple[int, int, tuple[str, Hashable]]] = []
        self._seq = 0

    def get(self, slot: str, key: Hashable) -> Any | None:
        return self._values.get((slot, key))

    def put(self, slot: str, key: Hashable, value: Any, expires_at: int | None) -> None:
        k = (slot, key)
        if k not in self._values and expires_at is not None:
            self._seq += 1
            heapq.heappush(self._heap, (expires_at, self._seq, k))
        elif expires_at is not None and self._expiry.get(k, 0) is None:
            # a key that never expired now does: it needs a heap entry
            self._seq += 1
            heapq.heappush(self._heap, (expires_at, self._seq, k))
        self._values[k] = value
        self._expiry[k] = expires_at

    def delete(self, slot: str, key: Hashable) -> None:
        k = (slot, key)
        self._values.pop(k, None)
        self._expiry.pop(k, None)

    def expire(self, now: int) -> int:
        heap, dropped = self._heap, 0
        while heap and heap[0][0] <= now:
            _, _, k = heapq.heappop(heap)
            if k not in self._values:
                continue
            exp = self._expiry[k]
            if exp is None:
                continue
            if exp <= now:
                del self._values[k]
                del self._expiry[k]
                dropped += 1
            else:
                self._seq += 1
                heapq.heappush(heap, (exp, self._seq, k))
        return dropped

    def size(self) -> int:
        return sum(len(v) for v in self._values.values())

    def keys(self) -> int:
        """Number of ``(slot, key)`` values held."""
        return len(self._values)
