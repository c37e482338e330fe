"""Deciding payments: :func:`decide_payments` (the one path every decision takes), and the
lanes that run it for single-payment requests in rounds.

The engine decides one event at a time per process (:class:`~fintwin.service.decider.Decider`
holds a lock), and a decision is answered only once it is durable. So rather than park one
threadpool thread per request on the engine lock and then on its own commit, a lane takes
every request queued while it was busy, decides them in arrival order and stores them in one
commit: under load a round holds many requests and the fixed costs (the commit's fsync or round
trip, thread hand-offs) are paid once per round, not once per request.

- :class:`EventLoopLane` decides on the event loop, in rounds gathered over a few
  milliseconds: for decisions made wholly in the process (SQLite, in-process state).
- :class:`ThreadLane` decides on a thread of its own: for decisions that wait on the network
  (Redis, PostgreSQL), during which the loop goes on serving HTTP.

``FINTWIN_DECISION_LANE`` (:class:`~fintwin.service.settings.DecisionLaneMode`) chooses;
``auto`` picks by the backends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import queue
import threading
import weakref
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

__all__ = [
    "Decided",
    "DecisionLane",
    "DecisionRequest",
    "EventLoopLane",
    "Outcome",
    "Refused",
    "ThreadLane",
    "decide_payments",
]

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
_Pending = tuple[DecisionRequest, "asyncio.Future[Outcome]"]


class DecisionLane:
    """Where ``POST /v1/decisions`` requests are decided: :class:`ThreadLane` or
    :class:`EventLoopLane`."""

    def start(self) -> None:
        """Get ready to decide."""

    async def decide(self, request: DecisionRequest) -> Outcome:
        """The outcome of one request, once its decision is durable.

        Raises
        ------
        StoreUnavailableError
            The store can neither commit nor spool (or the lane is closed).
        """
        raise NotImplementedError

    def close(self) -> None:
        """Finish what was queued, then stop."""


class ThreadLane(DecisionLane):
    """A thread deciding queued requests in rounds of :func:`decide_payments`.

    For decisions that wait on the network (Redis, PostgreSQL): the event loop goes on
    serving HTTP while a round waits.

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
        if self._thread is None:
            raise StoreUnavailableError("the decision lane is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put((request, loop, future))
        # a client that goes away cancels only its wait: the lane still stores the decision
        return await future

    def close(self) -> None:
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


class EventLoopLane(DecisionLane):
    """Decides on the event loop itself, in rounds gathered over ``round_delay_s``.

    For decisions made wholly in the process (the embedded SQLite store, the in-process
    feature state), where a decision never waits on the network. Handing each request to a
    thread and back cost more than deciding it (each hand-off is a GIL transfer, and the
    decision's code ran with cold caches every time); here the first request to wait starts a
    ``round_delay_s`` timer, and everything that arrived by then is decided in one go (warm
    caches, one key lookup) and stored in one commit, whose fsync (a fraction of a
    millisecond) the loop waits for. The delay is the price of that batching, like
    PostgreSQL's ``commit_delay``: 2 ms by default, against a p99 target of 20 ms.

    Parameters
    ----------
    runtime : ServiceRuntime
    round_delay_s : float
        How long the first request of a round waits for others, seconds.
    max_round : int
        Most requests per round.
    """

    def __init__(
        self, runtime: ServiceRuntime, *, round_delay_s: float = 0.002, max_round: int = 256
    ) -> None:
        self._runtime = runtime
        self.round_delay_s = round_delay_s
        self.max_round = max_round
        # one queue per loop (a test client may run several, one after another)
        self._waiting: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[_Pending]] = (
            weakref.WeakKeyDictionary()
        )
        self._closed = False
        self.rounds = 0

    async def decide(self, request: DecisionRequest) -> Outcome:
        if self._closed:
            raise StoreUnavailableError("the decision lane is closed")
        loop = asyncio.get_running_loop()
        waiting = self._waiting.setdefault(loop, [])
        future: asyncio.Future[Outcome] = loop.create_future()
        waiting.append((request, future))
        if len(waiting) == 1:
            loop.call_later(self.round_delay_s, self._round, loop)
        # a client that goes away cancels only its wait: the decision is still stored
        return await future

    def _round(self, loop: asyncio.AbstractEventLoop) -> None:
        waiting = self._waiting[loop]
        batch = waiting[: self.max_round]
        del waiting[: self.max_round]
        if waiting:
            loop.call_soon(self._round, loop)
        self.rounds += 1
        try:
            outcomes: list[Outcome] | Exception = decide_payments(
                self._runtime, [request for request, _ in batch]
            )
        except Exception as exc:  # given to every request of the round: the lane goes on
            outcomes = exc
        _resolve(
            [
                (future, outcomes if isinstance(outcomes, Exception) else outcomes[i])
                for i, (_, future) in enumerate(batch)
            ]
        )

    def close(self) -> None:
        self._closed = True


def _resolve(results: Sequence[tuple[asyncio.Future[Outcome], object]]) -> None:
    for future, result in results:
        if future.cancelled():
            continue
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)  # type: ignore[arg-type]
