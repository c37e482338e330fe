"""Group commit: one writer thread turns many callers' writes into few durable transactions.

A durable commit costs one fsync (about a millisecond on a disk, more on a busy one) whatever
it holds. Request handlers hand their writes to a single writer thread and block; the writer
takes everything queued (up to ``max_batch``), runs it in ONE transaction, commits (one fsync),
then wakes each caller with its own result. While it commits, new writes queue up, so the batch
grows with the load: one caller pays one fsync, eight concurrent callers share one. A caller
that finds no transaction running and none queued runs its own in its thread (no hand-off);
transactions still run one at a time.

If a batch fails for a reason other than the database being unavailable (a constraint a record
breaks), it is rolled back and each caller's writes are retried in a transaction of their own,
so one bad record fails only its own caller (whose writes commit or fail together).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from fintwin._batching import take_batch
from fintwin.exceptions import StoreUnavailableError

__all__ = ["GroupCommitter", "Op"]

Op = tuple[str, Any]  # (kind, record): what the backend's transaction function understands

_STOP = object()


class GroupCommitter:
    """Run writes in batched transactions on one thread.

    Parameters
    ----------
    transaction : callable
        ``transaction(ops) -> results``: runs the ops in one transaction and commits, returning
        one result per op; raises if anything fails (after rolling back).
    max_batch : int
        Most writes per transaction.
    name : str
        The writer thread's name.
    """

    def __init__(
        self,
        transaction: Callable[[Sequence[Op]], list[Any]],
        *,
        max_batch: int = 256,
        name: str = "fintwin-group-commit",
    ) -> None:
        self._transaction = transaction
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._committing = threading.Lock()  # held by whichever thread runs a transaction
        self.commits = 0
        self.writes = 0
        self.largest_batch = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, ops: Sequence[Op], timeout: float) -> list[Any]:
        """Queue ``ops``, wait until they are committed, return their results in order.

        Raises the op's own error when it failed, :class:`StoreUnavailableError` when the
        commit did not happen within ``timeout`` seconds (it may still happen later: callers
        that spool must make the replay idempotent). A transaction the caller runs itself is
        bounded by the backend's own timeouts instead (SQLite's busy timeout, the pool's).
        """
        if self._closed:
            raise StoreUnavailableError("the store is closed")
        # the caller runs its own transaction when no other is running or queued: a lone
        # writer (the service's decision lane) is not handed to the writer thread and back
        if self._committing.acquire(blocking=False):
            try:
                if self._queue.empty():
                    results = self._transaction(list(ops))
                    self._count(len(ops))
                    return results
            finally:
                self._committing.release()
        # one future for the caller's ops, which stay together in one transaction
        future: Future[list[Any]] = Future()
        self._queue.put((list(ops), future))
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            raise StoreUnavailableError(
                f"no commit within {timeout} s (the database is slow or unreachable)"
            ) from None

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        stopped = False
        while not stopped:
            # what queued while the previous batch was committing: that is the grouping
            batch, stopped = take_batch(
                self._queue, _STOP, self._max_batch, weight=lambda item: len(item[0])
            )
            if batch:
                with self._committing:
                    self._commit(batch)

    def _count(self, writes: int) -> None:
        self.commits += 1
        self.writes += writes
        self.largest_batch = max(self.largest_batch, writes)

    def _commit(self, batch: list[tuple[list[Op], Future[list[Any]]]]) -> None:
        ops = [op for submitted, _ in batch for op in submitted]
        try:
            results = self._transaction(ops)
        except StoreUnavailableError as exc:
            for _, future in batch:
                future.set_exception(exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            # isolate the faulty caller: each caller's writes in their own transaction
            for item in batch:
                self._commit([item])
            return
        self._count(len(ops))
        start = 0
        for submitted, future in batch:
            future.set_result(results[start : start + len(submitted)])
            start += len(submitted)
