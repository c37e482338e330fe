"""Random streams of a world.

Every random draw comes from a :class:`numpy.random.Generator` built from the world's root seed
and a *spawn key* naming the stream and the block of work, e.g. ``(Stream.EVENTS, block, chunk)``.
``SeedSequence(seed, spawn_key=k)`` is exactly the child that ``SeedSequence(seed).spawn``
would hand out at that position, so streams are independent, and a block's draws do not depend on
which worker (process, Ray task) computes it or in which order: the tables are byte-identical
whatever the number of workers.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = ["Stream", "stream_rng"]


class Stream(IntEnum):
    """Independent random streams of a world; values are part of the spawn key, never reuse."""

    POPULATION = 1
    BEHAVIOUR = 2
    CAMPAIGNS = 3
    EVENTS = 4
    LENDING = 5
    MARKETS = 6
    MACRO = 7
    LABELS = 8
    DEMOGRAPHICS = 9
    TRANSFERS = 10
    LAUNDERING = 11


def stream_rng(seed: int, stream: Stream, *key: int) -> np.random.Generator:
    """Generator for one stream and block.

    Parameters
    ----------
    seed : int
        Root seed of the world (non-negative).
    stream : Stream
        Which stream.
    *key : int
        Further spawn-key entries (block index, chunk index ...).

    Examples
    --------
    >>> a = stream_rng(7, Stream.EVENTS, 0, 3).random()
    >>> b = stream_rng(7, Stream.EVENTS, 0, 3).random()
    >>> a == b
    True
    """
    seq = np.random.SeedSequence(seed, spawn_key=(int(stream), *map(int, key)))
    return np.random.Generator(np.random.PCG64(seq))
