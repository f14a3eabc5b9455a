"""Moving a tenant between cells while it is being written: copy, catch up, fence, switch, clean.

``cellstore cells move ACCOUNT --to CELL`` runs this in its own process,
opening the two cells' stores and the cell map itself; the servers keep
serving throughout.  The phases, each recorded in the map's ``move#``
record before it starts so that a killed mover resumes where it was:

``copying``   clear any stale fence, flag or log in the target (an account moving
              back), flag the account as moving in the source (from then on
              each of its write transactions logs the keys it changes,
              ``engine/move_log.py``), then the bulk copy: a parallel scan of
              the account's segments (``tenant_copy.copy``).  Then catch-up
              passes, each copying just the keys the log names, from one
              snapshot, and trimming them from the log, until a pass copies at
              most ``CATCH_UP_CHANGES`` keys (or ``MAX_PASSES`` were run).
              Writers are not held up.
``fenced``    one write transaction puts the fence in the source: every later
              transaction of the account there (every front end, every
              worker, background work included) fails with ``TenantMoved``,
              and the router holds such requests while it waits for the map.
              A last catch-up pass then leaves the target identical to the
              frozen source.  (A mover resumed in this phase copies in full
              instead — the log may not cover a move begun by an older mover.)
``switched``  one map transaction points the account at the target (version+1);
              routers re-route the held requests on their next map read.
then          the source's copy is deleted, its fence kept as a tombstone, and
              the move record removed.

Before the fence a move can be called off (``cells move ACCOUNT --abort``,
``Mover.abort``): the record goes to ``aborting`` (conditioned on
``copying``, so a mover still running cannot fence it: its own conditional
advance to ``fenced`` fails and it deletes what it copied), the source's
flag and log are dropped, the target's partial copy deleted, the record
removed.  After the fence the source refuses the account's requests, so the
only way out is forward: the move must be run again to finish.

Nothing acknowledged is lost: a write acknowledged before the flag is in
every snapshot the copy reads; one acknowledged after it is in the log,
which the last pass (after the fence) reads in full; a write after the fence
was refused there and is retried by the router on the target.  A killed
mover, run again, starts its recorded phase again: a new copy (the log
emptied and restarted in the same transaction as the flag) or the fenced
pass.  No stale read after the
switch: the fenced source refuses reads as well as writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cellstore.api import Tenants
from cellstore.cells.cellmap import MapTable
from cellstore.engine import tenant_copy
from cellstore.engine.tenant_copy import SyncStats
from cellstore.errors import ConditionalCheckFailedException

#: The phases of a move's record in the map, in order (``aborting``: being called off, before the fence).
COPYING, FENCED, SWITCHED, ABORTING = "copying", "fenced", "switched", "aborting"
#: A catch-up pass that changes this few keys is small enough to fence after.
CATCH_UP_CHANGES = 200
#: Catch-up passes at most, before fencing anyway (a tenant writing faster than a pass copies).
MAX_PASSES = 8


class MoveError(RuntimeError):
    """A move cannot start or go on (unknown cell, another move of the account in progress, ...)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What a move would do: from where, to where, and how much it copies (the estimate shown first)."""

    account: str
    source: str
    target: str
    keys: int
    bytes: int
    resuming: str | None = None  # the phase a killed mover left, if any


Report = Callable[[str], None]
Progress = Callable[[str, SyncStats], None]


class Mover:
    """Moves tenants between the cells in ``cells`` (name → ``Tenants`` over that cell's store)."""

    def __init__(
        self, cells: Mapping[str, Tenants], table: MapTable, *,
        report: Report = lambda line: None, progress: Progress | None = None, workers: int = tenant_copy.WORKERS,
    ) -> None:
        self.cells = cells
        self.table = table
        self.report = report
        self.progress = progress
        self.workers = workers
        self.passes: list[int] = []  # log entries each catch-up pass read, in order (the last move's, and before)

    def plan(self, account: str, target: str) -> Plan:
        if target not in self.cells:
            raise MoveError(f"no cell named {target!r} (cells: {', '.join(self.cells)})")
        snapshot = self.table.read()
        move = snapshot.moves.get(account)
        source = snapshot.tenants.get(account)
        if move is not None:
            if move.phase == ABORTING:
                raise MoveError(f"the move of account {account} to {move.target} is being called off; finish that "
                                f"first (cellstore cells move {account} --abort)")
            if move.target != target:
                undo = f", or call it off: cellstore cells move {account} --abort" if move.phase == COPYING else ""
                raise MoveError(f"account {account} is being moved to {move.target}; finish that first "
                                f"(cellstore cells move {account} --to {move.target}{undo})")
            return Plan(account, move.source, target, *self._size(move.source, account), resuming=move.phase)
        if source is None:
            raise MoveError(f"account {account} is not placed in any cell")
        if source not in self.cells:
            raise MoveError(f"account {account} is in cell {source}, which the cells file does not name")
        return Plan(account, source, target, *self._size(source, account))

    def _size(self, cell: str, account: str) -> tuple[int, int]:
        return tenant_copy.account_size(self.cells[cell], account)

    def move(self, plan: Plan) -> None:
        """Carry ``plan`` out (or resume it from the phase its record names)."""
        account, source, target = plan.account, plan.source, plan.target
        if source == target:
            self.report(f"account {account} is already in cell {target}")
            return
        src, dst = self.cells[source], self.cells[target]
        phase = plan.resuming or COPYING
        if phase == COPYING:
            try:
                self.table.record_move(account, source, target, COPYING, after=(None, COPYING))
            except ConditionalCheckFailedException:
                raise MoveError(f"the move of account {account} changed meanwhile (called off?): "
                                f"see cellstore cells status") from None
            tenant_copy.clear_fence(dst, account)
            tenant_copy.start_log(src, account)
            self._copy(src, dst, account, "copy")
            for number in range(1, MAX_PASSES + 1):
                stats = self._catch_up(src, dst, account, f"catch-up pass {number}")
                if stats.changes <= CATCH_UP_CHANGES:
                    break
            phase = FENCED
            try:
                self.table.record_move(account, source, target, FENCED, after=(COPYING,))
            except ConditionalCheckFailedException:  # called off while this mover copied: undo what it did too
                tenant_copy.stop_log(src, account)  # (its flag, if it set it after the abort dropped it)
                deleted = tenant_copy.discard(dst, account)
                raise MoveError(f"the move of account {account} was called off while it copied; "
                                f"{deleted} keys copied to cell {target} deleted") from None
        if phase == FENCED:
            fenced_at = time.monotonic()
            tenant_copy.write_fence(src, account, target)
            if plan.resuming == FENCED:
                stats = self._copy(src, dst, account, "final copy (fenced, resumed)")
            else:
                stats = self._catch_up(src, dst, account, "final pass (fenced)")
            self.table.switch(account, source, target)
            self.report(f"switched account {account} to cell {target} "
                        f"({(time.monotonic() - fenced_at) * 1000:.0f} ms fenced, {stats.changes} keys in the final pass)")
            phase = SWITCHED
        if phase == SWITCHED:
            deleted = tenant_copy.clean(src, account)
            self.table.end_move(account)
            self.report(f"cleaned cell {source}: {deleted} keys deleted, the fence kept as a tombstone")

    def abort(self, account: str) -> int:
        """Call off ``account``'s move before its fence; returns the keys of the partial copy deleted.

        Meant for a mover killed and not run again (the account otherwise
        logs every write until the move finishes).  Each step can be run
        again: a command killed part-way leaves the record ``aborting``,
        and the same command finishes it.
        """
        snapshot = self.table.read()
        move = snapshot.moves.get(account)
        if move is None:
            raise MoveError(f"no move of account {account} is in progress")
        if move.phase not in (COPYING, ABORTING):
            raise MoveError(f"the move of account {account} to cell {move.target} is past its fence (phase "
                            f"{move.phase}) and cannot be called off: run cellstore cells move {account} "
                            f"--to {move.target} again to finish it")
        for cell in (move.source, move.target):
            if cell not in self.cells:
                raise MoveError(f"the move of account {account} involves cell {cell}, which the cells file does not name")
        if snapshot.tenants.get(account) != move.source:  # cannot be while the record says copying; never guess
            raise MoveError(f"account {account} is in cell {snapshot.tenants.get(account)}, not in the move's "
                            f"source {move.source}: see cellstore cells status")
        try:  # from here on no mover can fence it (its advance to fenced is conditioned on copying)
            self.table.record_move(account, move.source, move.target, ABORTING, after=(COPYING, ABORTING))
        except ConditionalCheckFailedException:
            raise MoveError(f"the move of account {account} changed meanwhile (a mover fenced it?): "
                            f"see cellstore cells status") from None
        tenant_copy.stop_log(self.cells[move.source], account)
        deleted = tenant_copy.discard(self.cells[move.target], account)
        self.table.end_move(account, phase=ABORTING)
        self.report(f"called off the move of account {account} to cell {move.target}: it stays in cell "
                    f"{move.source}, its writes no longer logged; {deleted} keys copied to {move.target} deleted")
        return deleted

    def _copy(self, src: Tenants, dst: Tenants, account: str, label: str) -> SyncStats:
        progress = self.progress
        started = time.monotonic()
        stats = tenant_copy.copy(src, dst, account, workers=self.workers,
                                 progress=None if progress is None else (lambda s: progress(label, s)))
        self.report(f"{label}: {stats.scanned} keys read in {stats.segments} segments, {stats.written} written, "
                    f"{stats.deleted} deleted in {time.monotonic() - started:.2f}s")
        return stats

    def _catch_up(self, src: Tenants, dst: Tenants, account: str, label: str) -> SyncStats:
        progress = self.progress
        started = time.monotonic()
        stats = tenant_copy.catch_up(src, dst, account,
                                     progress=None if progress is None else (lambda s: progress(label, s)))
        self.passes.append(stats.logged)
        self.report(f"{label}: {stats.logged} log entries read, {stats.written} keys written, {stats.deleted} deleted "
                    f"in {time.monotonic() - started:.2f}s")
        return stats

    def drain(self, cell: str, targets: Callable[[str], str]) -> list[str]:
        """Move every tenant out of ``cell``, each to ``targets(account)``; returns the accounts moved."""
        moved = []
        for account, where in sorted(self.table.read().tenants.items()):
            if where != cell:
                continue
            target = targets(account)
            plan = self.plan(account, target)
            self.report(f"moving account {account} from {cell} to {target} ({plan.keys} keys, {plan.bytes} bytes)")
            self.move(plan)
            moved.append(account)
        return moved
