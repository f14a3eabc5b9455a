"""Several read requests run together in one shared snapshot, their round trips merged into one.

The engine is synchronous: a GetItem reads its table's description, then its
item, each read waiting for its answer.  A storage thread's shared snapshot
(``PostgresStore.snapshot``) used to run the requests waiting for it one
after another, so a batch of k GetItems cost k + 1 round trips, each a wake-up
of PostgreSQL's backend and of this thread.  Here each request of the batch
runs in a greenlet of its own.  A read that needs an answer queues its
statement on the snapshot's connection and *parks* its greenlet rather than
sending it; once every request of the batch is parked or done, one round trip
sends everything queued, and each parked request is resumed with its own
answers.  k GetItems then cost 2 round trips (the description, read once for
all of them, then the k items), k Queries the same.

Why greenlets: they let synchronous code stop in the middle of a call and
resume later, on the same thread, for about a microsecond — the engine stays
as it is, and no second thread (and GIL hand-off) is involved.  A greenlet
switches only where it parks, inside the shared transaction's round trip
(``PostgresTxn._run``), so the statements one request queues between two
parks are contiguous in the connection's queue: its *segment*, whose answers
are its own.  Everything runs on the storage thread that opened the snapshot.

Semantics are the shared snapshot's, unchanged: one REPEATABLE READ
transaction, begun at the first round trip, after every request of the batch
arrived, so each sees every write acknowledged before it arrived.  A round
trip that fails fails every request parked on it (a failed statement aborts
the shared transaction for all of them); later reads then open transactions
of their own, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from greenlet import getcurrent, greenlet

from cellstore.storage.base import Answer, Snapshot
from cellstore.storage.pgpipe import Pipe


class Shared(Protocol):
    """What overlapping needs of the shared transaction (``postgres.PostgresTxn``)."""

    @property
    def pipe(self) -> Pipe: ...

    def round_trip(self) -> list[Any]:
        """Send everything queued, wait, and return each statement's result (None where not wanted)."""


class Overlap(Snapshot):
    """What ``PostgresStore.snapshot`` yields: ``run`` overlaps its works' reads on the shared transaction ``txn``."""

    __slots__ = ("_hub", "_mark", "_parked", "round_trips", "txn")

    def __init__(self, txn: Shared) -> None:
        self.txn = txn
        self._hub: greenlet | None = None  # the greenlet running ``run`` (the thread's own), while it runs
        self._parked: list[tuple[greenlet, int, int]] = []  # each parked greenlet and its segment of the queue
        self._mark = 0  # where the next segment starts in the connection's queue
        #: Round trips ``run`` made, for tests and benchmark notes.
        self.round_trips = 0

    @property
    def overlapping(self) -> bool:
        """True inside one of ``run``'s greenlets: a round trip there parks rather than runs."""
        hub = self._hub
        return hub is not None and getcurrent() is not hub

    def park(self) -> list[Any]:
        """Wait for the next round trip; the wanted answers to what this greenlet queued since it last parked."""
        hub = self._hub
        assert hub is not None
        end = len(self.txn.pipe.queued)
        self._parked.append((getcurrent(), self._mark, end))
        self._mark = end
        answers: list[Any] = hub.switch()
        return answers

    def run(self, works: Sequence[Callable[[], Any]], answer: Answer) -> None:
        """Each work in a greenlet of its own; one round trip for everything they wait on at once."""
        if self._hub is not None:
            raise RuntimeError("Overlap.run does not nest")
        self._hub = getcurrent()
        try:
            for index, work in enumerate(works):
                greenlet(_one).switch(index, work, answer)  # runs until it parks or is done
            while self._parked:
                self._round_trip()
        finally:
            self._hub = None
            stuck, self._parked = self._parked, []
            for waiting, _, _ in stuck:  # only after a bug in the loop above: end them rather than leak them
                waiting.throw(RuntimeError("the shared snapshot ended before this read was answered"))

    def _round_trip(self) -> None:
        parked, self._parked = self._parked, []
        self._mark = 0
        self.round_trips += 1
        try:
            results = self.txn.round_trip()
        except BaseException as err:  # noqa: BLE001 - each parked request gets the error, as it would alone
            for waiting, _, _ in parked:
                waiting.throw(err)
            return
        for waiting, start, end in parked:
            waiting.switch([result for result in results[start:end] if result is not None])


def _one(index: int, work: Callable[[], Any], answer: Answer) -> None:
    try:
        result = work()
    except BaseException as err:  # noqa: BLE001 - the request's own outcome, handed to ``answer``
        answer(index, None, err)
        return
    answer(index, result, None)
