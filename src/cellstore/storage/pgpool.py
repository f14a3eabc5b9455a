"""PostgresStore's connections: a small pool that reconnects every 100 ms, to whichever node is primary.

Why not psycopg_pool: after a failed connection attempt it backs off
exponentially (1 s, 2 s, 4 s, ...), so after a failover of a quorum cell the
first connection to the new primary could come seconds after Patroni
promoted it.  Here a request that finds no idle connection connects itself,
retrying every ``RETRY_INTERVAL`` until its own timeout, so the first request
after the promotion finds the new primary (libpq's multi-host URL with
``target_session_attrs=read-write`` picks it).  A broken connection is closed
when it comes back, never reused.
"""

from __future__ import annotations

import threading
import time

import psycopg
from psycopg.pq import TransactionStatus

from cellstore.storage.pgpipe import Pipe

#: Pause between connection attempts while no server (or no primary) answers.
RETRY_INTERVAL = 0.1


class PoolTimeout(Exception):
    """No connection within the timeout: every connection is in use, or no server could be reached."""


class ConnectionPool:
    """Autocommit connections to ``dsn`` in pipeline mode (``pgpipe.Pipe``), at most ``max_size`` at once, one per transaction."""

    def __init__(self, dsn: str, *, max_size: int, timeout: float) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self.timeout = timeout
        self._idle: list[Pipe] = []
        self._count = 0  # idle plus handed out
        self._closed = False
        self._changed = threading.Condition()
        #: Seconds ``getconn`` callers spent waiting for a connection to be put back, and how many waited (``figures``).
        self.waited_seconds = 0.0
        self.waits = 0

    def open(self, min_size: int) -> None:
        """Connect ``min_size`` connections now (raising ``PoolTimeout`` if the server cannot be reached)."""
        conns = [self.getconn() for _ in range(min_size)]
        for conn in conns:
            self.putconn(conn)

    def getconn(self, timeout: float | None = None) -> Pipe:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._changed:
            while True:
                if self._closed:
                    raise PoolTimeout("the pool is closed")
                if self._idle:
                    return self._idle.pop()
                if self._count < self.max_size:
                    self._count += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PoolTimeout(f"all {self.max_size} connections in use")
                waited = time.monotonic()
                self._changed.wait(remaining)
                self.waited_seconds += time.monotonic() - waited
                self.waits += 1
        try:
            return self._connect(deadline)
        except BaseException:
            with self._changed:
                self._count -= 1
                self._changed.notify()
            raise

    def _connect(self, deadline: float) -> Pipe:
        while True:
            # libpq counts connect_timeout in whole seconds per host, at least 2.
            connect_timeout = max(2, round(deadline - time.monotonic()))
            try:
                return Pipe(psycopg.connect(self.dsn, autocommit=True, connect_timeout=connect_timeout))
            except psycopg.OperationalError as exc:
                if time.monotonic() + RETRY_INTERVAL >= deadline:
                    raise PoolTimeout(str(exc)) from exc
            time.sleep(RETRY_INTERVAL)

    def putconn(self, pipe: Pipe) -> None:
        """Take back a connection: kept if it is healthy and outside any transaction, else closed.

        Outside means idle, or with only a transaction's end sent and its
        answer not read yet (``Pipe.owes``), which its next user reads first.
        """
        conn = pipe.conn
        usable = (
            not conn.closed
            and not conn.broken
            and not pipe.pending
            and (pipe.owes or conn.pgconn.transaction_status == TransactionStatus.IDLE)
        )
        if not usable:
            discard(pipe)
        with self._changed:
            if usable and not self._closed:
                self._idle.append(pipe)
            else:
                self._count -= 1
                if usable:
                    conn.close()
            self._changed.notify()

    def in_use(self) -> int:
        """Connections handed out now (or being opened)."""
        return self._count - len(self._idle)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._changed.notify_all()
        for conn in idle:
            discard(conn)


def discard(pipe: Pipe) -> None:
    try:
        pipe.conn.close()
    except psycopg.Error:
        pass
