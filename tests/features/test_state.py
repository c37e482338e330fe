"""The in-memory state backend: storage, expiry by event time, entry counts."""

from __future__ import annotations

from fintwin.features import InMemoryState, StateBackend


class Box(list):
    """A value holding entries (its length)."""


def test_in_memory_state_satisfies_the_protocol() -> None:
    assert isinstance(InMemoryState(), StateBackend)


def test_values_expire_when_the_clock_reaches_their_expiry() -> None:
    s = InMemoryState()
    s.put("a", 1, Box([1, 2]), 100)
    s.put("a", 2, Box([3]), 200)
    s.put("b", 1, Box([4]), None)  # never expires
    assert s.size() == 4 and s.keys() == 3
    assert s.expire(99) == 0
    assert s.expire(100) == 1
    assert s.get("a", 1) is None and s.get("a", 2) == [3]
    assert s.expire(10**12) == 1
    assert s.get("b", 1) == [4] and s.size() == 1


def test_extended_expiry_keeps_the_value() -> None:
    s = InMemoryState()
    s.put("a", "k", Box([1]), 100)
    s.put("a", "k", Box([1, 2]), 300)  # the key was touched again: lives longer
    assert s.expire(250) == 0
    assert s.get("a", "k") == [1, 2]
    assert s.expire(300) == 1


def test_delete_and_recreate() -> None:
    s = InMemoryState()
    s.put("a", 1, Box([1]), 100)
    s.delete("a", 1)
    s.delete("a", 1)  # absent: no error
    assert s.get("a", 1) is None
    s.put("a", 1, Box([1]), 500)
    assert s.expire(100) == 0 and s.get("a", 1) == [1]


def test_a_value_that_gains_an_expiry_is_dropped() -> None:
    s = InMemoryState()
    s.put("a", 1, Box([1]), None)
    s.put("a", 1, Box([1]), 50)
    assert s.expire(50) == 1
