"""Deciding payments: :func:`decide_payments` (the one path every decision takes) and
:class:`DecisionLane`, the thread that runs it for single-payment requests in rounds.

The engine decides one event at a time per process (:class:`~fintwin.service.decider.Decider`
holds a lock), and a decision is answered only once it is durable. So rather than park one
threadpool thread per request on the engine lock and then on its own commit, the lane takes
every request queued while it was busy, decides them in arrival order and stores them in one
commit: under load a round holds many requests and the fixed costs (thread hops, the commit's
fsync or round trip, waking the event loop) are paid once per round, not once per request.
A request waits at most for the round in progress and its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fintwin._batching import take_batch
from fintwin.exceptions import DataError, PolicyError, StoreUnavailableError
from fintwin.service.schemas import PaymentEvent
from fintwin.service.tokens import service_event
from fintwin.store.decisions import DecisionRecord

if TYPE_CHECKING:
    from fintwin.service.runtime import ServiceRuntime

__all__ = ["Decided", "DecisionLane", "DecisionRequest", "Outcome", "Refused", "decide_payments"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """A validated payment to decide, under its idempotency key, for a caller (ledger actor)."""

    payment: PaymentEvent
    key: str
    actor: str


@dataclass(frozen=True, slots=True)
class Decided:
    """The stored decision of a request; ``replayed`` when an earlier request stored it."""

    record: DecisionRecord
    replayed: bool


@dataclass(frozen=True, slots=True)
class Refused:
    """The engine refused the event (out of order, malformed for the policy): a 409."""

    detail: str


Outcome = Decided | Refused


def decide_payments(rt: ServiceRuntime, requests: Sequence[DecisionRequest]) -> list[Outcome]:
    """Decide payments in order and store the new decisions in one commit.

    A key decided before (stored, or earlier in ``requests``) gets the stored decision with
    ``replayed=True`` and the engine never sees its event again. An event the engine refuses
    gets :class:`Refused`; the others are still decided and stored.

    Parameters
    ----------
    rt : ServiceRuntime
        Store, decider in force (read per event), tokeniser, metrics.
    requests : sequence of DecisionRequest

    Returns
    -------
    list of Outcome
        One per request, in order.

    Raises
    ------
    StoreUnavailableError
        The store can neither commit nor spool: nothing of this call was stored.
    """
    # per request: its record (new or stored before) or why it was refused, and whether it
    # was stored before this call
    found: list[tuple[DecisionRecord | Refused, bool]] = []
    new: dict[str, DecisionRecord] = {}
    stored_before = rt.store.find_decisions([request.key for request in requests])
    for request in requests:
        known = new.get(request.key) or stored_before.get(request.key)
        if known is not None:
            found.append((known, True))
            continue
        try:
            record = _new_record(rt, request)
        except (DataError, PolicyError) as exc:
            found.append((Refused(f"event refused: {exc}"), False))
            continue
        new[request.key] = record
        found.append((record, False))
    stored = {r.record.idempotency_key: r for r in rt.store.record_decisions(list(new.values()))}
    outcomes: list[Outcome] = []
    for result, seen_before in found:
        if isinstance(result, Refused):
            outcomes.append(result)
            continue
        got = stored.get(result.idempotency_key)
        record = result if got is None else got.record
        first = got is not None and got.created and not seen_before
        if first:
            rt.metrics.count_decision(
                record.action.value, degraded_reason=record.body.get("degraded_reason")
            )
        outcomes.append(Decided(record, replayed=not first))
    return outcomes


def _new_record(rt: ServiceRuntime, request: DecisionRequest) -> DecisionRecord:
    """Decide on a payment not decided before (raises DataError, PolicyError)."""
    received = dt.datetime.now(dt.UTC)
    event = service_event(request.payment, rt.tokeniser, rt.settings.tokenise_fields)
    decision, reason = rt.decider.decide(event)
    return DecisionRecord.from_decision(
        decision,
        idempotency_key=request.key,
        event_id=str(request.payment.transaction_id),
        received_at=received,
        degraded=reason is not None,
        degraded_reason=reason,
        actor=request.actor,
    )


_STOP = object()
_Waiting = tuple[DecisionRequest, asyncio.AbstractEventLoop, "asyncio.Future[Outcome]"]


class DecisionLane:
    """A thread deciding queued requests in rounds of :func:`decide_payments`.

    Parameters
    ----------
    runtime : ServiceRuntime
        What the decisions use (its decider is read per event: a model swap applies to the
        next event).
    max_round : int
        Most requests per round (one commit).
    """

    def __init__(self, runtime: ServiceRuntime, *, max_round: int = 256) -> None:
        self._runtime = runtime
        self._max_round = max_round
        self._queue: queue.SimpleQueue[_Waiting | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.rounds = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="fintwin-decision-lane", daemon=True
            )
            self._thread.start()

    async def decide(self, request: DecisionRequest) -> Outcome:
        """The outcome of one request, once its decision is durable.

        Raises
        ------
        StoreUnavailableError
            The store can neither commit nor spool (or the lane is closed).
        """
        if self._thread is None:
            raise StoreUnavailableError("the decision lane is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put((request, loop, future))
        # a client that goes away cancels only its wait: the lane still stores the decision
        return await future

    def close(self) -> None:
        """Finish the queued requests, then stop the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        stopped = False
        while not stopped:
            batch, stopped = take_batch(self._queue, _STOP, self._max_round)
            if batch:
                self._round(batch)

    def _round(self, batch: list[_Waiting]) -> None:
        self.rounds += 1
        try:
            outcomes: list[Outcome] | Exception = decide_payments(
                self._runtime, [request for request, _, _ in batch]
            )
        except Exception as exc:  # given to every waiting request: the thread goes on
            outcomes = exc
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Outcome], object]]]
        by_loop = {}
        for i, (_, loop, future) in enumerate(batch):
            result = outcomes if isinstance(outcomes, Exception) else outcomes[i]
            by_loop.setdefault(loop, []).append((future, result))
        for loop, results in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, results)
            except RuntimeError:  # the loop closed: its requests are gone
                _log.warning("decision lane: %d answers for a closed event loop", len(results))


def _resolve(results: list[tuple[asyncio.Future[Outcome], object]]) -> None:
    for future, result in results:
        if future.cancelled():
            continue
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)  # type: ignore[arg-type]
