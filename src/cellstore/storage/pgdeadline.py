"""A client-side deadline for PostgreSQL write transactions, and the notices that say a commit is not durable.

PostgreSQL's ``statement_timeout`` does not fire while a COMMIT waits for
synchronous replication, so with too few replicas a commit would wait
forever — and every other writer behind it, queued on the write lock.  One
watchdog thread per store cancels the running statement of a write
transaction that outlives its deadline (``PGcancel``, as Ctrl-C in psql).

Cancelling a COMMIT that waits for replicas does not undo it: PostgreSQL
answers success with a WARNING ("canceling wait for synchronous
replication … already committed locally, but might not have been replicated
to the standby").  ``WriteGuard`` listens for exactly that warning so the
store can answer an unknown outcome instead of success.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time

import psycopg
from psycopg.errors import Diagnostic

log = logging.getLogger("cellstore.storage")


class Watchdog:
    """Cancels connections whose deadline passed; one daemon thread, started on first use."""

    def __init__(self) -> None:
        self._armed: dict[int, tuple[float, psycopg.Connection]] = {}
        self._fired: set[int] = set()
        self._tokens = itertools.count(1)
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def arm(self, conn: psycopg.Connection, deadline: float) -> int:
        with self._changed:
            token = next(self._tokens)
            self._armed[token] = (deadline, conn)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cellstore-pg-deadline", daemon=True)
                self._thread.start()
            self._changed.notify()
            return token

    def disarm(self, token: int) -> bool:
        """Stop watching; True if the deadline fired (a cancel was sent, so the connection must not be reused)."""
        with self._changed:  # the watchdog holds this lock while cancelling: no cancel lands after this returns
            self._armed.pop(token, None)
            if token in self._fired:
                self._fired.discard(token)
                return True
            return False

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify()

    def _run(self) -> None:
        with self._changed:
            while not self._stopped:
                now = time.monotonic()
                due = [token for token, (deadline, _) in self._armed.items() if deadline <= now]
                for token in due:
                    _, conn = self._armed.pop(token)
                    self._fired.add(token)
                    log.warning("PostgreSQL write transaction passed its deadline: cancelling its statement")
                    try:
                        conn.cancel_safe(timeout=1.0)
                    except (psycopg.Error, OSError) as exc:
                        log.warning("cancelling a late statement failed: %s", exc)
                next_deadline = min((deadline for deadline, _ in self._armed.values()), default=None)
                self._changed.wait(None if next_deadline is None else max(0.0, next_deadline - time.monotonic()))


def _is_sync_wait_cancel(diagnostic: Diagnostic) -> bool:
    message = diagnostic.message_primary or ""
    return "synchronous replication" in message and message.startswith("canceling")


class WriteGuard:
    """One write transaction's deadline and its ear for "committed locally, maybe not replicated"."""

    __slots__ = ("_conn", "_token", "deadline", "sync_wait_cancelled", "watchdog")

    def __init__(self, watchdog: Watchdog | None, timeout: float | None) -> None:
        self.watchdog = watchdog
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.sync_wait_cancelled = False
        self._conn: psycopg.Connection | None = None
        self._token: int | None = None

    def _notice(self, diagnostic: Diagnostic) -> None:
        if _is_sync_wait_cancel(diagnostic):
            self.sync_wait_cancelled = True
            log.error("a COMMIT's wait for synchronous replicas was cancelled: %s", diagnostic.message_primary)

    def attach(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        conn.add_notice_handler(self._notice)
        if self.watchdog is not None and self.deadline is not None:
            self._token = self.watchdog.arm(conn, self.deadline)

    def detach(self) -> bool:
        """Stop listening and watching; True if the deadline fired (the connection must be discarded)."""
        fired = False
        if self._token is not None and self.watchdog is not None:
            fired = self.watchdog.disarm(self._token)
            self._token = None
        if self._conn is not None:
            try:
                self._conn.remove_notice_handler(self._notice)
            except ValueError:
                pass
            self._conn = None
        return fired
