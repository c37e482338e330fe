"""The world engine: runs a preset's :class:`WorldModel` block by block and time chunk by time
chunk, on one process, a process pool or a Ray cluster, writing as it goes.

Memory stays bounded by one time chunk: each chunk's events are merged, written as day
partitions and dropped before the next chunk is merged (the next one is already being computed).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pyarrow as pa

from fintwin._ray import ray_session
from fintwin._validation import check_non_negative, check_positive

__all__ = ["Parts", "Preset", "WorldConfig", "WorldModel", "run_model"]

#: Columns of one block's events for one time chunk, per table: name -> 1-D arrays of equal length.
Parts = dict[str, dict[str, np.ndarray]]

MS_PER_DAY = 86_400_000


class Preset(StrEnum):
    """Named worlds."""

    RETAIL_BANK = "retail-bank"
    HANDBOOK = "handbook"
    MOBILE_MONEY = "mobile-money"
    AML = "aml"


@dataclass(frozen=True)
class WorldConfig:
    """What every world has, whatever its preset.

    Parameters
    ----------
    customers : int
        Number of customers (wallet holders, account holders).
    days : int
        Length of the simulated period in days.
    start : datetime.date
        First day.
    seed : int
        Root seed of every random stream.
    """

    customers: int
    days: int
    start: dt.date
    seed: int

    def __post_init__(self) -> None:
        check_positive("customers", self.customers)
        check_positive("days", self.days)
        check_non_negative("seed", self.seed)

    @property
    def start_ms(self) -> int:
        """Start of the first day, in ms since the Unix epoch (the twin's clock is naive)."""
        return (self.start - dt.date(1970, 1, 1)).days * MS_PER_DAY


def params_to_json(params: Any) -> dict[str, Any]:
    """A preset parameter dataclass as JSON-ready values (enums by value, tuples as lists)."""

    def convert(v: Any) -> Any:
        if isinstance(v, StrEnum):
            return v.value
        if isinstance(v, dict):
            return {str(k): convert(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [convert(x) for x in v]
        if isinstance(v, dt.date):
            return v.isoformat()
        return v

    return convert(asdict(params))


class WorldModel(ABC):
    """A preset's simulator, split so that blocks of customers can run anywhere.

    The parent builds the model (population, campaign plans: everything blocks share), then for
    each time chunk asks every block for its events (:meth:`block_events`, which must be a pure
    function of the model and its arguments: it runs in worker processes), merges them
    (:meth:`merge`, parent only, may keep state between chunks such as balances), and finally
    asks for the tables that span the whole period (:meth:`final_tables`).
    """

    #: the preset this model simulates (set by each subclass)
    preset: Preset

    #: customers per block: fixes the random streams, so it must not depend on the worker count
    block_customers: int = 2_000
    #: days per time chunk: bounds memory
    chunk_days: int = 30

    def __init__(self, config: WorldConfig) -> None:
        self.config = config

    @property
    def n_blocks(self) -> int:
        return -(-self.config.customers // self.block_customers)

    def block_slice(self, block: int) -> slice:
        a = block * self.block_customers
        return slice(a, min(a + self.block_customers, self.config.customers))

    @abstractmethod
    def parameters(self) -> dict[str, Any]:
        """Preset parameters as JSON-ready values (recorded in the manifest)."""

    @abstractmethod
    def static_tables(self) -> dict[str, pa.Table]:
        """Tables that do not change over the period (customers, terminals, ...)."""

    @abstractmethod
    def block_events(self, block: int, day0: int, day1: int) -> Parts:
        """Events of customers in ``block`` on days ``[day0, day1)``."""

    @abstractmethod
    def merge(self, parts: list[Parts], day0: int, day1: int) -> dict[str, pa.Table]:
        """Merge the blocks' parts (given in block order) into tables sorted by timestamp."""

    @abstractmethod
    def final_tables(self) -> dict[str, pa.Table]:
        """Tables that need the whole period (lending, markets, ground truth)."""

    def chunks(self) -> Iterator[tuple[int, int]]:
        for d0 in range(0, self.config.days, self.chunk_days):
            yield d0, min(d0 + self.chunk_days, self.config.days)


# ---- executors -----------------------------------------------------------------------------
_WORKER_MODEL: WorldModel | None = None


def _init_worker(model: WorldModel) -> None:
    global _WORKER_MODEL
    _WORKER_MODEL = model


def _run_block(block: int, day0: int, day1: int) -> Parts:
    assert _WORKER_MODEL is not None
    return _WORKER_MODEL.block_events(block, day0, day1)


def _block_events(model: WorldModel, block: int, day0: int, day1: int) -> Parts:
    return model.block_events(block, day0, day1)


Submit = Callable[[int, int], Callable[[], list[Parts]]]


@contextmanager
def _in_process(model: WorldModel) -> Iterator[Submit]:
    def submit(d0: int, d1: int) -> Callable[[], list[Parts]]:
        return lambda: [model.block_events(b, d0, d1) for b in range(model.n_blocks)]

    yield submit


@contextmanager
def _process_pool(model: WorldModel, workers: int) -> Iterator[Submit]:
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(model,)
    ) as pool:

        def submit(d0: int, d1: int) -> Callable[[], list[Parts]]:
            futures = [pool.submit(_run_block, b, d0, d1) for b in range(model.n_blocks)]
            return lambda: [f.result() for f in futures]

        yield submit


@contextmanager
def _ray_cluster(model: WorldModel, address: str) -> Iterator[Submit]:
    with ray_session(address) as ray:
        model_ref = ray.put(model)
        remote_block = ray.remote(_block_events)

        def submit(d0: int, d1: int) -> Callable[[], list[Parts]]:
            refs = [remote_block.remote(model_ref, b, d0, d1) for b in range(model.n_blocks)]
            return lambda: ray.get(refs)

        yield submit


def run_model(
    model: WorldModel,
    write: Callable[[str, pa.Table], None],
    *,
    workers: int = 1,
    ray_address: str | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> None:
    """Run ``model`` and hand every table to ``write(name, table)``: static tables first, then
    each chunk's event tables in time order, then the final tables."""
    check_positive("workers", workers)
    for name, table in model.static_tables().items():
        write(name, table)
    if ray_address is not None:
        executor = _ray_cluster(model, ray_address)
    elif workers > 1:
        executor = _process_pool(model, workers)
    else:
        executor = _in_process(model)
    with executor as submit:
        chunks = list(model.chunks())
        # Keep one chunk in flight while the previous one is merged and written.
        pending = submit(*chunks[0])
        for i, (d0, d1) in enumerate(chunks):
            parts = pending()
            if i + 1 < len(chunks):
                pending = submit(*chunks[i + 1])
            for name, table in model.merge(parts, d0, d1).items():
                write(name, table)
            del parts
            if on_chunk is not None:
                on_chunk(d0, d1)
    for name, table in model.final_tables().items():
        write(name, table)
