"""Taking work off a queue in batches: what a single worker thread does to share its fixed
costs (a commit, a round trip, a thread hand-off) among everything that queued meanwhile."""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["take_batch"]

T = TypeVar("T")


def take_batch(
    source: queue.SimpleQueue[Any],
    stop: object,
    limit: int,
    weight: Callable[[T], int] = lambda _: 1,
) -> tuple[list[T], bool]:
    """Wait for one item, then take what else is queued, up to ``limit`` in total weight.

    Parameters
    ----------
    source : queue.SimpleQueue
        The work.
    stop : object
        The sentinel put by whoever closes the worker.
    limit : int
        Most total weight per batch (the first item is taken whatever its weight).
    weight : callable
        An item's weight (default 1: ``limit`` counts items).

    Returns
    -------
    (list, bool)
        The batch, in queue order, and whether ``stop`` was taken (the items before it are
        in the batch, which may then be empty).

    Examples
    --------
    >>> q = queue.SimpleQueue()
    >>> for item in ("a", "b", "c", None, "d"):
    ...     q.put(item)
    >>> take_batch(q, None, limit=2), take_batch(q, None, limit=2)
    ((['a', 'b'], False), (['c'], True))
    """
    first = source.get()
    if first is stop:
        return [], True
    batch = [first]
    total = weight(first)
    while total < limit:
        try:
            item = source.get_nowait()
        except queue.Empty:
            break
        if item is stop:
            return batch, True
        batch.append(item)
        total += weight(item)
    return batch, False
