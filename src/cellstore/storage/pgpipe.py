"""One PostgreSQL connection driven in libpq's pipeline mode: statements queue up, one round trip runs them all.

Why not psycopg's cursors: a ``conn.execute`` costs about 28 µs of Python per
statement here against 12 µs for the same statement through libpq directly
(``pgconn``), and psycopg's own pipeline mode costs more still; on a 2-core
machine the front end's CPU, not the server, is what limits a PostgreSQL
cell.  And why pipeline mode: it lets one round trip carry several
statements, so a transaction's BEGIN (and write lock) travel with its first
read, a write that needs no answer travels with whatever comes next (the
COMMIT, at the latest), and a read transaction's COMMIT is sent without
waiting for its answer, which the connection's next user reads first.

Statements are prepared once per connection (named ``c1``, ``c2``... by
text) and their parameters and results are binary.  Waiting for the server
happens in ``select.poll``, which releases the GIL, so other threads run
meanwhile.  A lost connection raises ``psycopg.OperationalError`` and a
failed statement the ``psycopg.Error`` PostgreSQL's SQLSTATE names, as
psycopg's own API would.  After a failure the pipeline is read up to its
sync point, so the connection stays usable (a failed statement inside a
transaction leaves it aborted, for the caller to roll back).
"""

from __future__ import annotations

import select
from collections import deque
from typing import Any

import psycopg
from psycopg import errors, pq

#: Parameter types: bytea, int8.
BYTEA, INT8 = 17, 20

_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_SYNC = pq.ExecStatus.PIPELINE_SYNC
_ABORTED = pq.ExecStatus.PIPELINE_ABORTED
_FATAL = pq.ExecStatus.FATAL_ERROR
_BAD = pq.ConnStatus.BAD
_PREPARED, _UNWANTED, _WANTED, _SYNCED = range(4)


class Statement:
    """A statement's text and parameter types, prepared on a connection at its first use."""

    __slots__ = ("sql", "types")

    def __init__(self, sql: str, types: tuple[int, ...] = ()) -> None:
        self.sql = sql.encode()
        self.types = list(types)


class Pipe:
    """``conn`` in pipeline mode; ``queue`` statements, ``run`` sends them with a sync and returns their results.

    A result is a ``pgresult`` for a statement queued with ``want=True``
    (rows or a row count), else None.  ``send_unread`` sends what is queued
    without waiting: its answers are read (and any error in them dropped) at
    the start of the next ``run``.
    """

    __slots__ = ("_names", "_poll", "_prepared", "_preparing", "_queued", "_unread", "conn", "pg")

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.pg = conn.pgconn
        self.pg.nonblocking = 1
        self.pg.enter_pipeline_mode()
        self._names: dict[bytes, bytes] = {}
        self._preparing: deque[bytes] = deque()  # statements whose prepare was sent and not answered, in order
        self._prepared = 0
        self._queued: list[tuple[Statement, list[Any] | None, bool, bool]] = []  # statement, params, binary, want
        self._unread: list[int] = []  # what ``send_unread`` sent: its answers' kinds (see ``_send``)
        self._poll = select.poll()
        self._poll.register(self.pg.socket, select.POLLIN)

    @property
    def pending(self) -> bool:
        """Statements queued and not yet sent."""
        return bool(self._queued)

    @property
    def queued(self) -> list[tuple[Statement, list[Any] | None, bool, bool]]:
        """What is queued and not sent: (statement, params, binary, want) each."""
        return self._queued

    @property
    def owes(self) -> bool:
        """Answers sent for and not read yet (a read transaction's COMMIT, a ROLLBACK)."""
        return bool(self._unread)

    @property
    def idle(self) -> bool:
        """Nothing queued and every answer read: the connection may be handed to anyone."""
        return not self._queued and not self._unread

    def queue(self, statement: Statement, params: list[Any] | None = None, *, binary: bool = True, want: bool = False) -> None:
        self._queued.append((statement, params, binary, want))

    def run(self) -> list[Any]:
        """Send what is queued with a sync, wait, and return each statement's result (None where not wanted)."""
        kinds = self._send()
        self.settle()
        return self._read(kinds, raise_errors=True)

    def send_unread(self) -> None:
        """Send what is queued with a sync, and leave its answers for the next ``run`` (or ``settle``) to read."""
        self._unread += self._send()

    def settle(self) -> None:
        """Read the answers ``send_unread`` left, dropping any error in them."""
        if self._unread:
            kinds, self._unread = self._unread, []
            self._read(kinds, raise_errors=False)

    def _send(self) -> list[int]:
        """Send the queue and a sync; the kinds of answer to expect, in order: a prepare's, an unwanted or a wanted result, the sync."""
        pg = self.pg
        queued, self._queued = self._queued, []
        kinds: list[int] = []
        try:
            for statement, params, binary, want in queued:
                name = self._names.get(statement.sql)
                if name is None:
                    self._prepared += 1
                    name = self._names[statement.sql] = b"c%d" % self._prepared
                    pg.send_prepare(name, statement.sql, statement.types)
                    kinds.append(_PREPARED)
                    self._preparing.append(statement.sql)
                pg.send_query_prepared(
                    name, params, param_formats=[1] * len(params) if params else None, result_format=1 if binary else 0
                )
                kinds.append(_WANTED if want else _UNWANTED)
            pg.pipeline_sync()
            kinds.append(_SYNCED)
            while pg.flush():
                self._wait(select.POLLOUT)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:  # libpq refused to send: the connection is gone
            raise psycopg.OperationalError(str(exc)) from exc
        except BaseException:
            # A parameter libpq cannot send (a bug), with part of the queue sent and no sync:
            # the connection cannot be brought back in step, so it goes (the server rolls back).
            self.conn.close()
            raise
        return kinds

    def _read(self, kinds: list[int], *, raise_errors: bool) -> list[Any]:
        results: list[Any] = []
        failure: psycopg.Error | None = None
        for kind in kinds:
            result = self._result()
            if kind == _SYNCED:
                if result is None or result.status != _SYNC:
                    raise psycopg.OperationalError("the connection lost its place in the pipeline")
                continue
            if result is None:
                raise psycopg.OperationalError("a statement in the pipeline had no answer")
            if result.status == _FATAL and failure is None:
                failure = errors.error_from_result(result, encoding="utf-8")
            if kind == _PREPARED:
                sql = self._preparing.popleft()
                if result.status != _COMMAND_OK:  # failed, or skipped after an earlier failure: not prepared
                    del self._names[sql]
            elif kind == _WANTED:
                results.append(result)
            elif kind == _UNWANTED:
                results.append(None)
            self._end_of_statement()
        if failure is not None and raise_errors:
            raise failure
        return results

    def _end_of_statement(self) -> None:
        if self._result() is not None:
            raise psycopg.OperationalError("a statement answered more than one result")

    def _result(self) -> Any:
        pg = self.pg
        while pg.is_busy():
            self._wait(select.POLLIN)
            pg.consume_input()
        result = pg.get_result()
        if pg.status == _BAD:
            raise psycopg.OperationalError(pg.error_message.decode("utf-8", "replace") or "connection lost")
        return result

    def _wait(self, events: int) -> None:
        self._poll.modify(self.pg.socket, events | select.POLLERR | select.POLLHUP)
        self._poll.poll()


def rows(result: Any) -> list[tuple[bytes | None, ...]]:
    """A binary result's rows as tuples of raw column bytes (None for NULL)."""
    width = result.nfields
    get = result.get_value
    if width == 1:
        return [(get(i, 0),) for i in range(result.ntuples)]
    return [tuple(get(i, j) for j in range(width)) for i in range(result.ntuples)]


def count(result: Any) -> int:
    """The number of rows a command changed."""
    status = result.command_tuples
    return 0 if status is None else int(status)


def int8(value: bytes) -> int:
    return int.from_bytes(value, "big", signed=True)


def param_int8(value: int) -> bytes:
    return value.to_bytes(8, "big", signed=True)
