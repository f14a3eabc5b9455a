"""``serve --workers N``: N processes sharing one listening socket and one database.

The parent binds the socket, then forks the workers; the kernel spreads
connections among the processes accepting on it.  Each worker opens its own
database connection *after* the fork (SQLite connections and PostgreSQL
pools must never cross a fork).  Nothing a request depends on lives only in a worker's memory: table
definitions are read from storage in the request's own transaction and
idempotency tokens are stored in the keyspace, so every worker sees the same
state.  Writes from all workers are serialised by the storage backend (for
SQLite, its database write lock taken with BEGIN IMMEDIATE; for PostgreSQL,
an advisory lock, which also covers other front ends on the same database).

The parent only supervises: it forwards SIGINT/SIGTERM to the workers, waits
for them, and replaces a worker that dies on its own.  SIGHUP (re-read the
``--credentials`` file) is forwarded too: each worker reloads its own copy.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from cellstore import __version__
from cellstore.engine.database import Database
from cellstore.protocol.server import Tls, bind, run_on, url_of

if TYPE_CHECKING:
    from cellstore.protocol.credentials import CredentialsFile

log = logging.getLogger("cellstore.workers")

_RESTART_PAUSE = 0.5  # seconds between replacing crashed workers, against crash loops
_ORPHAN_CHECK = 1.0  # seconds between a worker's checks that its supervisor lives


def _start_worker(
    sock: socket.socket,
    open_db: Callable[[], Database],
    credentials: CredentialsFile | None = None,
    tls: Tls | None = None,
) -> int:
    # SIGHUP stays blocked in the worker until run_on has installed its reload
    # handler, so a reload asked for while the worker starts is not lost.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    pid = os.fork()
    if pid != 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    if pid == 0:  # the worker
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _stop_when_orphaned(os.getppid())
            if credentials is None:
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
            run_on(open_db(), sock, credentials=credentials, tls=tls)
            code = 0
        except BaseException:
            log.exception("worker %d failed", os.getpid())
        finally:
            os._exit(code)
    return pid


def _stop_when_orphaned(supervisor: int) -> None:
    """Shut this worker down gracefully if its supervisor dies (e.g. kill -9).

    Without a supervisor nobody forwards signals or replaces workers, and the
    orphans would keep serving (and holding the port) indefinitely.
    """

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(_ORPHAN_CHECK)
        log.warning("worker %d: supervisor %d is gone; stopping", os.getpid(), supervisor)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="cellstore-orphan-watch", daemon=True).start()


def serve_workers(
    open_db: Callable[[], Database],
    host: str,
    port: int,
    workers: int,
    *,
    credentials: CredentialsFile | None = None,
    tls: Tls | None = None,
) -> int:
    """Run ``workers`` server processes until SIGINT/SIGTERM; returns an exit code."""
    sock = bind(host, port)
    # Create or upgrade the database once, before any worker races to do it.
    open_db().close()
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def reload(signum: int, frame: FrameType | None) -> None:
        if credentials is not None:  # replacement workers start from the parent's copy
            credentials.reload()
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGHUP)
            except ProcessLookupError:
                pass

    children: set[int] = set()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, reload)
    log.info("cellstore %s listening on %s (%d workers)", __version__, url_of(sock, tls), workers)
    failed = False
    try:
        for _ in range(workers):
            children.add(_start_worker(sock, open_db, credentials, tls))
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            children.discard(pid)
            if stopping:
                # A worker signalled before it installed its handlers dies
                # of the SIGTERM we sent: that is the stop we asked for, and
                # every write it acknowledged was already committed.
                failed = failed or os.waitstatus_to_exitcode(status) not in (0, -signal.SIGTERM)
                continue
            log.error("worker %d exited (%d); starting a replacement", pid, os.waitstatus_to_exitcode(status))
            time.sleep(_RESTART_PAUSE)
            children.add(_start_worker(sock, open_db, credentials, tls))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    log.info("cellstore stopped")
    return 1 if failed else 0
