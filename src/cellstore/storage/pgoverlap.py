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
all of them, then the k items), k Queries the same; one with a guess (below).

Why greenlets: they let synchronous code stop in the middle of a call and
resume later, on the same thread, for about a microsecond — the engine stays
as it is, and no second thread (and GIL hand-off) is involved.  A greenlet
switches only where it parks, inside the shared transaction's round trip
(``PostgresTxn._run``), so the statements one request queues between two
parks are contiguous in the connection's queue: its *segment*, whose answers
are its own.  Everything runs on the storage thread that opened the snapshot.

A key that rarely changes — a table's description, which every request
reads before anything else (``Txn.get_stable``) — would still cost a round
trip of its own before the item's.  So its value as last read (by any
transaction of this process: ``PostgresStore``'s cache) is *guessed*: the
request goes on at once with the guess, and the key is read again in the
request's next round trip, which therefore brings the item *and* the check
of the description it was found with, in the same snapshot.  A guess the
check contradicts (the table was updated, deleted, re-created — by this front
end or any other) makes the request run again from the start with what the
snapshot holds, this time without guessing (``Misguessed``); nothing it did
on the guess is answered.  A request that ends (or fails) before its next
round trip waits for one to check its guesses before it is answered.  So a
guess never decides an answer, and the cache needs no invalidation: the
shared snapshot itself is the check.  k GetItems then cost one round trip.

Semantics are the shared snapshot's, unchanged: one REPEATABLE READ
transaction, begun at the first round trip, after every request of the batch
arrived, so each sees every write acknowledged before it arrived.  On a
quorum cell the batch's eventually consistent reads share a second one, on a
replica (``PostgresStore.stale_read``): a round trip then serves both
connections, one after the other; a guess is checked on the connection
whose reads it served.  A round trip that fails fails every request parked
on it (a failed statement aborts the shared transaction for all of them;
a lost connection is a retryable 500 for each); a guess it was to check counts as
wrong, so the request that made it runs again; later reads then open
transactions of their own, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from greenlet import getcurrent, greenlet

from cellstore.storage.base import Answer, Snapshot
from cellstore.storage.pgpipe import Pipe


class Shared(Protocol):
    """What overlapping needs of the shared transaction (``postgres.PostgresTxn``)."""

    #: A round trip failed: PostgreSQL aborted the transaction.
    failed: bool
    #: Keys whose guess's check is queued for the next round trip, and where in the queue.
    checking: dict[bytes, int]

    @property
    def pipe(self) -> Pipe: ...

    def round_trip(self) -> list[Any]:
        """Send everything queued, wait, and return each statement's result (None where not wanted)."""

    def learned(self, key: bytes, result: Any) -> bytes | None:
        """A guess's check came back: note ``key``'s value in this snapshot (``result`` of its read) and return it."""


class Misguessed(BaseException):
    """A request went on with a guess its check contradicted: it runs again (a BaseException: never swallowed on the way)."""


class Overlap(Snapshot):
    """What ``PostgresStore.snapshot`` yields: ``run`` overlaps its works' reads on the shared transactions ``txns``."""

    __slots__ = ("_guesses", "_hub", "_marks", "_parked", "_sure", "_wrong", "misguessed", "round_trips", "txns")

    def __init__(self) -> None:
        #: The shared transactions, each added when a read opened it: the primary's, a replica's.
        self.txns: list[Shared] = []
        self._hub: greenlet | None = None  # the greenlet running ``run`` (the thread's own), while it runs
        # Each parked greenlet, the transaction it waits on (None: only its guesses' checks) and its segment of that queue.
        self._parked: list[tuple[greenlet, Shared | None, int, int]] = []
        self._marks: dict[Shared, int] = {}  # where the next segment starts in each connection's queue
        # Each request's guesses not yet checked: the transaction that checks it, the key, the value guessed.
        self._guesses: dict[greenlet, list[tuple[Shared, bytes, bytes | None]]] = {}
        self._wrong: set[greenlet] = set()  # requests a check contradicted (or could not make), to run again
        self._sure: set[greenlet] = set()  # requests running again: they guess no more
        #: Round trips ``run`` made, and requests run again after a wrong guess, for tests and benchmark notes.
        self.round_trips = 0
        self.misguessed = 0

    def add(self, txn: Shared) -> None:
        """A shared transaction whose round trips park inside ``run``."""
        self.txns.append(txn)

    @property
    def overlapping(self) -> bool:
        """True inside one of ``run``'s greenlets: a round trip there parks rather than runs."""
        hub = self._hub
        return hub is not None and getcurrent() is not hub

    def may_guess(self) -> bool:
        """Inside one of ``run``'s greenlets that has not been contradicted yet."""
        hub = self._hub
        if hub is None:
            return False
        current = getcurrent()
        return current is not hub and current not in self._sure

    def guessed(self, txn: Shared, key: bytes, guess: bytes | None) -> None:
        """This request goes on with ``guess`` for ``key``; its check must be queued on ``txn`` (``checking``) by the caller."""
        self._guesses.setdefault(getcurrent(), []).append((txn, key, guess))

    def park(self, txn: Shared | None) -> list[Any]:
        """Wait for the next round trip; the wanted answers to what this greenlet queued on ``txn`` since it last parked.

        ``txn`` None: nothing of its own to send, only its guesses to check.
        Raises ``Misguessed`` if the round trip contradicted one of its guesses.
        """
        hub = self._hub
        assert hub is not None
        current = getcurrent()
        if txn is None:
            self._parked.append((current, None, 0, 0))
        else:
            start, end = self._marks.get(txn, 0), len(txn.pipe.queued)
            self._parked.append((current, txn, start, end))
            self._marks[txn] = end
        answers: list[Any] = hub.switch()
        if current in self._wrong:
            raise Misguessed()
        return answers

    def run(self, works: Sequence[Callable[[], Any]], answer: Answer) -> None:
        """Each work in a greenlet of its own; one round trip for everything they wait on at once."""
        if self._hub is not None:
            raise RuntimeError("Overlap.run does not nest")
        self._hub = getcurrent()
        try:
            for index, work in enumerate(works):
                greenlet(self._one).switch(index, work, answer)  # runs until it parks or is done
            while self._parked:
                self._round_trip()
        finally:
            self._hub = None
            stuck, self._parked = self._parked, []
            for waiting, _, _, _ in stuck:  # only after a bug in the loop above: end them rather than leak them
                waiting.throw(RuntimeError("the shared snapshot ended before this read was answered"))

    def _round_trip(self) -> None:
        """One round trip on each shared transaction someone waits on; then every parked request resumed, in order."""
        parked, self._parked = self._parked, []
        results: dict[Shared, list[Any]] = {}
        failures: dict[Shared, BaseException] = {}
        for txn in self.txns:
            if not txn.checking and not any(on is txn for _, on, _, _ in parked):
                continue
            checking, txn.checking = txn.checking, {}
            self._marks[txn] = 0
            self.round_trips += 1
            try:
                results[txn] = found = txn.round_trip()
            except BaseException as err:  # noqa: BLE001 - each request parked on it gets the error, as it would alone
                failures[txn] = err
                self._unchecked(txn)
                continue
            if checking:
                self._check(txn, checking, found)
        for waiting, on, start, end in parked:
            if on is None:
                waiting.switch([])
            elif on in failures:
                waiting.throw(failures[on])
            else:
                waiting.switch([result for result in results[on][start:end] if result is not None])

    def _check(self, txn: Shared, checking: dict[bytes, int], results: list[Any]) -> None:
        """The checks of guesses on ``txn`` came back (taken out of ``results``): mark every request one contradicts."""
        found = {}
        for key, index in checking.items():
            found[key] = txn.learned(key, results[index])
            results[index] = None  # nobody's answer
        for waiting, guesses in self._guesses.items():
            left = []
            for on, key, guess in guesses:
                if on is not txn or key not in found:
                    left.append((on, key, guess))
                elif found[key] != guess:
                    self._wrong.add(waiting)
            guesses[:] = left

    def _unchecked(self, txn: Shared) -> None:
        """``txn``'s round trip failed: a guess it was to check is as good as wrong (the request runs again, without)."""
        for waiting, guesses in self._guesses.items():
            if any(on is txn for on, _, _ in guesses):
                self._wrong.add(waiting)
                guesses[:] = [entry for entry in guesses if entry[0] is not txn]

    def _one(self, index: int, work: Callable[[], Any], answer: Answer) -> None:
        """One request: run, its guesses checked before it is answered; run again if one was wrong."""
        me = getcurrent()
        try:
            while True:
                try:
                    result, error = work(), None
                except Misguessed:
                    self._rerun(me)
                    continue
                except BaseException as err:  # noqa: BLE001 - the request's own outcome, handed to ``answer``
                    result, error = None, err
                try:
                    if self._guesses.get(me):
                        self.park(None)  # an answer (or an error) found on a guess counts only once it is checked
                    elif me in self._wrong:
                        raise Misguessed()
                except Misguessed:
                    self._rerun(me)
                    continue
                answer(index, result, error)
                return
        finally:
            self._guesses.pop(me, None)
            self._sure.discard(me)
            self._wrong.discard(me)

    def _rerun(self, me: greenlet) -> None:
        self.misguessed += 1
        self._guesses.pop(me, None)
        self._wrong.discard(me)
        self._sure.add(me)
