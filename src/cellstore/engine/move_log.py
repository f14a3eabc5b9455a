"""The change log of an account being moved: which keys each write transaction changed, in commit order.

A live move (``cells/mover.py``) first copies an account's keyspace, then
catches up with what its writers changed meanwhile.  Re-reading and
re-diffing the whole tenant for that costs as much as the copy itself, each
pass; the log makes a catch-up pass cost what changed.

While the account is flagged as moving (``keyspace.TENANT_MOVING`` in its
own keyspace, written by the mover), every write transaction of the account
appends one entry per key it changes to ``keyspace.MOVE_LOG``, under a
sequence number one past the log's last, **in the same transaction**: the
entry commits or rolls back with the change, and since each backend has
one writer at a time (SQLite's write lock, PostgreSQL's advisory lock,
``storage/postgres.py``) sequence order is commit order.  An entry holds
the key, not the value: the catch-up reads values from its own snapshot of
the source, so a key changed twice is copied once, as it is now.  A
``delete_range`` (a deleted table's items, a purged queue) is one entry for
the range.

Reading the flag costs nothing extra: the fence check every transaction of
a fenced backend already makes (``engine/tenants.py``) is one range read
that finds the fence and the flag together (their keys sort next to each
other).  An account that is not moving writes no log.

``MovableStore`` is the account's store on a server of cells: the fence
check, then, when the account is moving, a ``LoggedTxn`` for writes.
Inside a group commit (``Store.group``: the writer process, PostgreSQL's
storage threads) the check is made once per account per group
(``GroupMarks``): the group holds the backend's write lock from its
BEGIN to its COMMIT, and the fence and the flag are only ever written
under that lock (by the mover), so they cannot change inside it.  A
transaction outside a group checks for itself, as before.

The functions below are the mover's side, over the raw store of the cell:
``begin`` (flag the account, empty its log), ``read`` (the entries in a
snapshot) and ``trim`` (drop entries already copied).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from cellstore.engine import keyspace
from cellstore.errors import TenantMoved
from cellstore.storage import PrefixedStore, PrefixedTxn
from cellstore.storage.base import Group, Store, Txn, prefix_end

#: The one range read that finds an account's fence and its moving flag.
_MARKS = (keyspace.TENANT_FENCE, keyspace.TENANT_MOVING + b"\x00")
_LOG_END = prefix_end(keyspace.MOVE_LOG)
_KEY, _RANGE = b"k", b"r"


@dataclass(frozen=True, slots=True)
class Change:
    """One log entry, in the account's own keys: a changed ``key``, or a deleted range ``[key, end)``."""

    seq: int
    key: bytes
    end: bytes | None = None  # set for a deleted range


def entry_key(seq: int) -> bytes:
    return keyspace.MOVE_LOG + seq.to_bytes(8, "big")


def _encode(key: bytes, end: bytes | None) -> bytes:
    if end is None:
        return _KEY + key
    return _RANGE + len(key).to_bytes(2, "big") + key + end


def _decode(seq: int, value: bytes) -> Change:
    if value[:1] == _KEY:
        return Change(seq, value[1:])
    width = int.from_bytes(value[1:3], "big")
    return Change(seq, value[3:3 + width], value[3 + width:])


def is_own(key: bytes) -> bool:
    """The fence, the flag and the log (an account's own keys): the move's, never logged nor copied (``tenant_copy``)."""
    return key.startswith(keyspace.MOVE_LOG) or key in (keyspace.TENANT_FENCE, keyspace.TENANT_MOVING)


class LoggedTxn(Txn):
    """A write transaction of a moving account: every change it makes also appends a log entry."""

    __slots__ = ("_inner", "_logged", "_next")

    def __init__(self, inner: Txn) -> None:
        self._inner = inner
        self._next = 0  # 0: the log's end not read yet
        self._logged: set[bytes] = set()

    def _log(self, key: bytes, end: bytes | None = None) -> None:
        if end is None:
            if key in self._logged or is_own(key):
                return
            self._logged.add(key)
        if not self._next:
            last = next(iter(self._inner.range(keyspace.MOVE_LOG, _LOG_END, reverse=True, limit=1)), None)
            self._next = 1 if last is None else int.from_bytes(last[0][len(keyspace.MOVE_LOG):], "big") + 1
        self._inner.put(entry_key(self._next), _encode(key, end))
        self._next += 1

    def get(self, key: bytes) -> bytes | None:
        return self._inner.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self._inner.put(key, value)
        self._log(key)

    def delete(self, key: bytes) -> None:
        self._inner.delete(key)
        self._log(key)

    def range(
        self, start: bytes, end: bytes, *, reverse: bool = False, limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        return self._inner.range(start, end, reverse=reverse, limit=limit)

    def delete_range(self, start: bytes, end: bytes) -> int:
        deleted = self._inner.delete_range(start, end)
        if deleted:
            self._log(start, end)
        return deleted

    def range_stats(self, start: bytes, end: bytes) -> tuple[int, int]:
        return self._inner.range_stats(start, end)


class GroupMarks(threading.local):
    """What the fence check found, per account, in the group commit open on this thread (nothing outside one).

    Per thread because a group is (``Store.group``): a thread outside the
    group (a reader, the mover) checks for itself.  Shared by every account
    of one backend (``Tenants``), since one group spans them all.  Only
    "not fenced" is kept, with whether the account moves: a fenced
    account's transactions read the fence again and fail, as they must.
    """

    def __init__(self) -> None:
        self.open = False
        self.moving: dict[bytes, bool] = {}  # by account prefix

    @contextmanager
    def around(self, store: Store) -> Iterator[Group]:
        """``store.group()``, remembering the checks made inside it until it ends (commits or rolls back).

        Only a real group: a backend that cannot group (``Store.group``'s
        default) commits each transaction alone, and each must then check.
        """
        with store.group() as group:
            if self.open or group is Store.group(store):
                yield group  # nested (the store refuses it) or no group at all: nothing remembered
                return
            self.open = True
            try:
                yield group
            finally:
                self.open = False
                self.moving.clear()


class MovableStore(PrefixedStore):
    """An account's keyspace on a server of cells: refused once fenced, logged while it moves.

    Every transaction reads the fence and the moving flag first, in its own
    snapshot (one range read): a fenced account's transaction fails with
    ``TenantMoved`` (a front end with a stale map can neither write to nor
    read from the copy left behind), and a moving account's write
    transaction logs its changes.  Inside a group commit the first
    transaction of the account reads them and the others reuse what it
    found (``GroupMarks``).
    """

    def __init__(self, inner: Store, prefix: bytes, marks: GroupMarks | None = None) -> None:
        super().__init__(inner, prefix)
        self.marks = marks if marks is not None else GroupMarks()

    def transaction(self, *, write: bool) -> AbstractContextManager[Txn]:
        return self._checked(self.inner.transaction(write=write), write)

    def stale_read(self) -> AbstractContextManager[Txn]:
        return self._checked(self.inner.stale_read(), False)

    def group(self) -> AbstractContextManager[Group]:
        return self.marks.around(self.inner)

    @contextmanager
    def _checked(self, opened: AbstractContextManager[Txn], write: bool) -> Iterator[Txn]:
        with opened as txn:
            view: Txn = PrefixedTxn(txn, self.prefix) if self.prefix else txn
            marks = self.marks
            moving = marks.moving.get(self.prefix) if marks.open else None
            if moving is None:
                moving = False
                for key, value in view.range(*_MARKS, limit=2):
                    if key == keyspace.TENANT_FENCE:
                        raise TenantMoved(json.loads(value)["cell"])
                    moving = key == keyspace.TENANT_MOVING
                if marks.open:
                    marks.moving[self.prefix] = moving
            yield LoggedTxn(view) if moving and write else view


# --- the mover's side, over a cell's raw store and the account's key prefix there


def begin(store: Store, prefix: bytes) -> None:
    """Flag the account as moving and empty its log, in one transaction: from its commit on, every change is logged.

    A change committed before it is in any snapshot the copy takes after
    it; one committed after it is in the log.  Emptying the log (a resumed
    move's old entries) is safe for the same reason: what they name is in
    the new copy.
    """
    with store.transaction(write=True) as txn:
        txn.delete_range(prefix + keyspace.MOVE_LOG, prefix + _LOG_END)
        txn.put(prefix + keyspace.TENANT_MOVING, b"")


def end(txn: Txn, prefix: bytes) -> None:
    """Drop the flag and the log (in ``txn``): the account is no longer moving, or never was (a target)."""
    txn.delete_range(prefix + keyspace.MOVE_LOG, prefix + _LOG_END)
    txn.delete(prefix + keyspace.TENANT_MOVING)


def read(txn: Txn, prefix: bytes) -> list[Change]:
    """Every entry of the account's log in ``txn``'s snapshot, in sequence order."""
    cut = len(prefix) + len(keyspace.MOVE_LOG)
    return [_decode(int.from_bytes(key[cut:], "big"), value)
            for key, value in txn.range(prefix + keyspace.MOVE_LOG, prefix + _LOG_END)]


def trim(store: Store, prefix: bytes, upto: int) -> None:
    """Drop the entries up to sequence ``upto`` (copied); later ones, written meanwhile, stay."""
    with store.transaction(write=True) as txn:
        txn.delete_range(prefix + keyspace.MOVE_LOG, prefix + entry_key(upto + 1))
