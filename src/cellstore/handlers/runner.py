"""The generic runner: one mapping (a source and a function) on background threads.

A ``Mapping`` is started on its ``Database`` with ``db.every`` (the engine's
background-task facility), so its threads stop when the database closes.
Each thread loops: hold the lease, run one ``round`` of the source (read a
batch, invoke, acknowledge), pause ``SETTINGS.poll_seconds`` if there was
nothing to do.  The sources (``streams.py``, ``sqs.py``) supply ``round``;
everything they share is here: the lease, invoking the function, retry
back-off, metrics, and stopping promptly on ``close``.

Leases: a mapping runs in one process at a time.  The holder renews its
lease record (``state.py``) every third of ``lease_seconds``; another
process takes over once it has expired.  A holder that lost its lease gets
``LeaseLost`` at its next checkpoint and goes back to standby, so work done
meanwhile is simply done again by the new holder (at-least-once).
"""

from __future__ import annotations

import bisect
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from cellstore.engine.database import Database
from cellstore.errors import TenantMoved
from cellstore.handlers import invoke, state
from cellstore.handlers.settings import Settings

log = logging.getLogger("cellstore.handlers")


def _env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw is None else float(raw)


@dataclass(slots=True)
class RunnerSettings:
    """Timings shared by every mapping; tests shorten them, ``CELLSTORE_HANDLER_*`` set them for a server."""

    poll_seconds: float = field(default_factory=lambda: _env("CELLSTORE_HANDLER_POLL_SECONDS", 0.1))
    lease_seconds: float = field(default_factory=lambda: _env("CELLSTORE_HANDLER_LEASE_SECONDS", 10.0))
    backoff_seconds: float = field(default_factory=lambda: _env("CELLSTORE_HANDLER_BACKOFF_SECONDS", 0.5))
    backoff_max_seconds: float = field(default_factory=lambda: _env("CELLSTORE_HANDLER_BACKOFF_MAX_SECONDS", 30.0))
    metrics_seconds: float = 0.5  # at most this often a round persists metrics without a checkpoint


SETTINGS = RunnerSettings()

#: Upper bounds of the batch-size buckets ``Metrics.batch_sizes`` counts (Lambda's largest batch is 10,000).
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 10000)


@dataclass(slots=True)
class Metrics:
    """Per-mapping counters, visible from Python (``mapping.metrics``) and saved for ``handlers status``."""

    state: str = "starting"
    invocations: int = 0  # calls of the function
    batches: int = 0  # invocations that succeeded
    records: int = 0  # records or messages handled successfully
    errors: int = 0  # invocations that failed, wholly or partly
    retries: int = 0  # batches (streams) or messages (SQS) delivered again after a failure
    filtered: int = 0  # skipped by FilterCriteria
    discarded: int = 0  # given up on (streams: sent to the on-failure destination)
    lag: int = 0  # streams: records behind the newest; SQS: messages visible in the queue
    iterator_age_ms: int = 0  # streams: age of the last record handled
    last_error: str | None = None
    last_invoked: float | None = None  # epoch seconds
    # invocations by batch size: one count per ``BATCH_BUCKETS`` bound (size <= bound), the last for larger ones;
    # saved with the rest so ``/metrics`` shows a histogram whichever worker runs the mapping
    batch_sizes: list[int] = field(default_factory=lambda: [0] * (len(BATCH_BUCKETS) + 1))
    batch_records: int = 0  # records in every batch handed to the function (the histogram's sum)


class Mapping:
    """A source ARN feeding ``function``: the shared half of a stream or SQS mapping."""

    kind = ""

    def __init__(self, db: Database, name: str, source_arn: str, function: invoke.Function, settings: Settings, function_path: str) -> None:
        self.db = db
        self.name = name
        self.source_arn = source_arn
        self.function = function
        self.function_path = function_path
        self.settings = settings
        self.metrics = Metrics()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"cellstore-handler:{name}"))
        self.function_arn = f"arn:aws:lambda:{db.region}:{db.account}:function:{_function_name(function_path)}"
        self.lock = threading.RLock()
        self._stopped = threading.Event()
        self._with_context = invoke.takes_context(function)
        self._renew_at = 0.0
        self._held = False
        self._running = 0
        self._metrics_saved = 0.0

    # --- life cycle ---------------------------------------------------------

    def start(self) -> None:
        state.save_definition(self.db, self.name, self.definition())
        if not self.settings.enabled:
            self.metrics.state = "disabled"
            return
        for number in range(self.threads()):
            self.db.every(f"handler:{self.name}:{number}", lambda: SETTINGS.poll_seconds, self._run)

    def stop(self) -> None:
        """Stop delivering (the threads idle until the database closes) and give up the lease."""
        self._stopped.set()

    def threads(self) -> int:
        return 1

    def definition(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "kind": self.kind,
            "source": self.source_arn,
            "function": self.function_path,
            "settings": self.settings.describe(),
        }

    def halted(self) -> bool:
        return self.db.closing or self._stopped.is_set()

    def pause(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking early when the database closes or the mapping stops."""
        deadline = time.monotonic() + seconds
        while not self.halted():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.02))

    def backoff(self, retries: int) -> None:
        self.pause(min(SETTINGS.backoff_seconds * 2 ** max(retries - 1, 0), SETTINGS.backoff_max_seconds))

    def _run(self, db: Database) -> None:
        """One background thread's life: rounds until the database closes or the mapping stops."""
        with self.lock:
            self._running += 1
        try:
            while not self.halted():
                worked = False
                try:
                    if self.hold_lease():
                        worked = self.round()
                except state.LeaseLost:
                    self._lost()
                except TenantMoved:
                    # The account was fenced here for a move to another cell: the mapping runs there
                    # now (its checkpoint and lease moved with the keyspace); this copy stops quietly.
                    self._moved()
                    return
                except Exception as exc:  # a broken round must not end the mapping
                    if self.halted():
                        break
                    log.exception("handler %s: round failed", self.name)
                    self.metrics.last_error = f"{type(exc).__name__}: {exc}"
                    self.pause(SETTINGS.backoff_seconds)
                if not worked:
                    self.pause(SETTINGS.poll_seconds)
        finally:
            with self.lock:
                self._running -= 1
                last = self._running == 0
            if last and self._held:
                self._release()

    def round(self) -> bool:
        """Deliver at most one batch per lane; True if there was work (so no pause is needed)."""
        raise NotImplementedError

    # --- lease ----------------------------------------------------------------

    def hold_lease(self) -> bool:
        with self.lock:
            if self._held and time.monotonic() < self._renew_at:
                return True
            if not state.acquire(self.db, self.name, self.owner, SETTINGS.lease_seconds):
                self._held = False
                self.metrics.state = "standby"
                return False
            if not self._held:
                self.acquired()
            self._held = True
            self._renew_at = time.monotonic() + SETTINGS.lease_seconds / 3
            if self.metrics.state in ("starting", "standby", "stopped"):
                self.metrics.state = "running"
            return True

    def acquired(self) -> None:
        """Called on (re)taking the lease: reload anything another holder may have moved."""

    def _lost(self) -> None:
        with self.lock:
            self._held = False
            self.metrics.state = "standby"

    def _moved(self) -> None:
        with self.lock:
            self._held = False  # the lease record went with the account; nothing here to release
            self.metrics.state = "moved"
        self._stopped.set()

    def _release(self) -> None:
        self.metrics.state = "stopped"
        try:
            self.save_metrics(force=True)
            state.release(self.db, self.name, self.owner)
        except Exception:  # a store already closing: the lease simply expires
            log.debug("handler %s: lease not released", self.name, exc_info=True)
        self._held = False

    # --- invoking ---------------------------------------------------------------

    def invoke(self, event: dict[str, Any], identifiers: list[str]) -> invoke.Outcome:
        context = invoke.Context(_function_name(self.function_path), self.function_arn)
        outcome = invoke.call(
            self.function, self._with_context, event, context, self.settings.report_batch_item_failures, identifiers
        )
        with self.lock:
            self.metrics.invocations += 1
            self.metrics.batch_sizes[bisect.bisect_left(BATCH_BUCKETS, len(identifiers))] += 1
            self.metrics.batch_records += len(identifiers)
            self.metrics.last_invoked = time.time()
            if outcome.ok:
                self.metrics.batches += 1
            else:
                self.metrics.errors += 1
                self.metrics.last_error = outcome.error
        if not outcome.ok:
            log.info("handler %s: invocation failed: %s", self.name, outcome.error)
        return outcome

    # --- metrics ------------------------------------------------------------------

    def count(self, **increments: int) -> None:
        with self.lock:
            for name, amount in increments.items():
                setattr(self.metrics, name, getattr(self.metrics, name) + amount)

    def metrics_record(self) -> dict[str, Any]:
        with self.lock:
            return {**asdict(self.metrics), "saved": time.time(), "owner": self.owner}

    def save_metrics(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._metrics_saved < SETTINGS.metrics_seconds:
            return
        self._metrics_saved = now
        state.save(self.db, self.name, self.owner, metrics=self.metrics_record())

    def status(self) -> dict[str, Any]:
        """This process's view of the mapping: definition, lease, metrics."""
        return {"name": self.name, **self.definition(), "leased": self._held, "metrics": self.metrics_record()}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.metrics.state}>"


def _function_name(path: str) -> str:
    """A Lambda-style function name from ``module:function`` (letters, digits, - and _)."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in path)[:64] or "handler"

