"""``serve --workers N``: N processes sharing one listening socket and one database.

The parent reserves the port, then forks the workers; each worker listens
on its own socket bound to that port with ``SO_REUSEPORT``, and the kernel
hashes new connections evenly across the workers' sockets.  (One listening
socket shared by all workers balanced badly: a busy worker woke up, accepted
every connection waiting, and kept them — with 16 wrk connections one of two
workers held 19 sockets and the other 3.)  The parent's socket is bound but never
listens, so it holds the port (and learns it, for ``--port 0``) without
taking connections; before that it binds the port the ordinary way once, so
that a port somebody already listens on is refused rather than shared.
Where ``SO_REUSEPORT`` is missing the workers share the parent's listening
socket instead.  Each worker opens its own
database connection *after* the fork (SQLite connections and PostgreSQL
pools must never cross a fork).  Nothing a request depends on lives only in a worker's memory: table
definitions are read from storage in the request's own transaction and
idempotency tokens are stored in the keyspace, so every worker sees the same
state.  On SQLite the CLI's default adds one more process, the writer
(``protocol/writer.py``), which runs every write the workers hand it, so no
worker's loop waits for the write lock.  Otherwise (``--no-writer``, or
PostgreSQL) writes from all workers are serialised by the storage backend
(for SQLite, a ``flock`` and its write lock taken with BEGIN IMMEDIATE; for
PostgreSQL, an advisory lock, which also covers other front ends on the
same database).

The parent only supervises: it forwards SIGINT/SIGTERM to the workers, waits
for them, and replaces a worker that dies on its own.  Killing the parent
kills the workers too (``_die_with``), so kill -9 of the server frees its
port for a restart at once.  SIGHUP (re-read the
``--credentials`` file) is forwarded too: each worker reloads its own copy.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Collection, Mapping
from types import FrameType
from typing import TYPE_CHECKING

from cellstore.api import Database, Tenants
from cellstore.protocol import descriptors
from cellstore.protocol import writer as single_writer
from cellstore.protocol.directory import Directory, OneBackend
from cellstore.protocol.server import (
    PORT_WAIT,
    Tls,
    banner,
    bind,
    directory_of,
    run_on,
    url_of,
)

#: What a worker serves: one database, one backend's accounts, or a directory of cells.
Backend = Database | Tenants | Directory

if TYPE_CHECKING:
    from cellstore.protocol.access_log import AccessLog
    from cellstore.protocol.credentials import CredentialsFile

log = logging.getLogger("cellstore.workers")

_RESTART_PAUSE = 0.5  # seconds between replacing crashed workers, against crash loops
_ADDED_INTERVAL = 1.0  # seconds between asking for cells added to the cells file (serve --cells)
_ORPHAN_CHECK = 1.0  # seconds between a worker's checks that its supervisor lives (where prctl is missing)
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _reserve(host: str, port: int) -> socket.socket:
    """The port for the workers: bound with ``SO_REUSEPORT`` but not listening (see the module docstring)."""
    probe = bind(host, port, wait=PORT_WAIT)  # an ordinary bind first: a port anyone listens on is refused here
    if not hasattr(socket, "SO_REUSEPORT"):
        return probe
    # Without the probe a second server started by mistake on the same port
    # (itself SO_REUSEPORT, same user) would silently share its connections.
    port = probe.getsockname()[1]
    probe.close()
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _listener(reserved: socket.socket) -> socket.socket:
    """This worker's own listening socket on the reserved port (or the shared one without ``SO_REUSEPORT``)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        return reserved
    sock = socket.socket(reserved.family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(reserved.getsockname())
    sock.listen(2048)
    reserved.close()  # the parent keeps its own copy
    return sock


def _start_worker(
    sock: socket.socket,
    open_db: Callable[[], Backend],
    credentials: CredentialsFile | None = None,
    tls: Tls | None = None,
    ready: int | None = None,
    max_connections: int | None = None,
    access_log: AccessLog | None = None,
    writer: socket.socket | None = None,
    cell_writers: Collection[socket.socket] = (),
) -> int:
    """Fork one worker; it writes a byte to the pipe ``ready`` (if given) once it is listening.

    With ``writer`` (the writer's listening socket) the worker hands its writes to that process.
    ``cell_writers`` are the cells' writers' listening sockets: the worker closes its copies (only
    each writer accepts; the worker's ``open_db`` knows their addresses).
    """
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
            _die_with(os.getppid())
            if credentials is None:
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
            for cell_writer in cell_writers:
                if cell_writer is not writer:
                    cell_writer.close()
            address = None
            if writer is not None:
                address = writer.getsockname()
                writer.close()  # the worker connects to it; only the writer accepts
            listener = _listener(sock)  # connections queue from here on, before the loop runs
            if ready is not None:
                os.write(ready, b"!")
                os.close(ready)
            run_on(
                open_db(), listener, credentials=credentials, tls=tls, max_connections=max_connections,
                access_log=access_log, writer=address,
            )
            code = 0
        except BaseException:
            log.exception("worker %d failed", os.getpid())
        finally:
            os._exit(code)
    return pid


def _start_writer(
    listener: socket.socket, reserved: socket.socket, open_db: Callable[[], Backend],
    others: Collection[socket.socket] = (),
    cell: str = "",
) -> int:
    """Fork the writer process: it owns the database's write path (``protocol/writer.py``).

    ``others`` are other writers' listening sockets (one per SQLite cell), closed in this one.
    """
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    pid = os.fork()
    if pid != 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        log.info("writer process %d owns the write path%s", pid, f" of cell {cell}" if cell else "")
        return pid
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
        _die_with(os.getppid())
        reserved.close()  # the writer takes no HTTP connections
        for other in others:
            if other is not listener:
                other.close()
        backend = directory_of(open_db())
        if not isinstance(backend, OneBackend):
            raise TypeError("the single writer serves one backend")
        try:
            single_writer.run_writer(backend.services, listener, group=backend.tenants.group, forget=backend.forget)
        finally:
            backend.close()
        code = 0
    except BaseException:
        log.exception("writer %d failed", os.getpid())
    finally:
        os._exit(code)


def _die_with(supervisor: int) -> None:
    """End this worker the moment its supervisor ends, as if a kill -9 of the server had reached it too.

    Killing the supervisor (kill -9 of "the server") must not leave workers
    serving, nor holding the port a restarted server needs at once.  On Linux
    the kernel sends this worker SIGKILL when the supervisor exits
    (``PR_SET_PDEATHSIG``); elsewhere a thread polls ``getppid()`` and stops
    the worker gracefully.  Every write a worker acknowledged is already
    committed, so dying mid-request loses only what was never acknowledged.
    """
    if _parent_death_signal(signal.SIGKILL):
        if os.getppid() != supervisor:
            os._exit(1)  # the supervisor died before the signal was armed
        return

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(_ORPHAN_CHECK)
        log.warning("worker %d: supervisor %d is gone; stopping", os.getpid(), supervisor)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="cellstore-orphan-watch", daemon=True).start()


def _parent_death_signal(sig: signal.Signals) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent exits; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def serve_workers(
    open_db: Callable[[], Backend],
    host: str,
    port: int,
    workers: int,
    *,
    credentials: CredentialsFile | None = None,
    tls: Tls | None = None,
    max_connections: int | None = None,
    about: str = "",
    access_log: AccessLog | None = None,
    writer: bool = False,
    cell_writers: Mapping[str, tuple[socket.socket, Callable[[], Backend]]] | None = None,
    added_cell_writers: Callable[[], Mapping[str, tuple[socket.socket, Callable[[], Backend]]]] | None = None,
    worker_exited: Callable[[int], None] | None = None,
) -> int:
    """Run ``workers`` server processes until SIGINT/SIGTERM; returns an exit code.

    ``max_connections`` caps each worker's connections (None: from the
    open-file limit, raised here once and inherited by every worker).
    ``about`` ends the start-up line; ``access_log`` is each worker's (lines
    are written whole, so workers appending to one file do not interleave);
    ``worker_exited(pid)`` is told of each worker that ends (``/metrics``
    drops its live files).  With ``writer`` (an SQLite database) one more
    process owns the write path and the workers hand it their writes
    (``protocol/writer.py``); it is stopped after the last worker, and
    replaced like a worker if it dies.  ``cell_writers`` (``serve --cells``)
    is the same per SQLite cell: cell name -> (the listening socket the
    caller made with ``writer.listen``, whose address the workers' ``open_db``
    hands that cell's writes to; what opens the cell's storage in its writer).
    Each is its own process, supervised alone: one cell's writer dying
    leaves the others' cells writing.  ``added_cell_writers``, asked every
    ``_ADDED_INTERVAL`` seconds while serving, gives the SQLite cells added
    to the cells file since (the same pairs): each gets its writer at once.
    """
    descriptors.raise_open_file_limit()
    sock = _reserve(host, port)
    # Create or upgrade the database once, before any worker races to do it.
    open_db().close()
    stopping = False
    writers: dict[str, tuple[socket.socket, Callable[[], Backend]]] = dict(cell_writers or {})
    if writer:
        writers[""] = (single_writer.listen(), open_db)
    listeners = [listener for listener, _ in writers.values()]
    single = writers[""][0] if "" in writers else None
    writer_pids: dict[int, str] = {}  # live writer processes -> their cell ("": the one backend's)
    writer_started: dict[str, float] = {}

    def asked_to_stop() -> bool:
        """Read afresh each time: the handler below sets it between any two lines (even in a sleep)."""
        return stopping

    def stop_writers() -> None:
        for pid in list(writer_pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def start_writer(name: str) -> None:
        listener, open_backend = writers[name]
        writer_pids[_start_writer(listener, sock, open_backend, listeners, name)] = name
        writer_started[name] = time.monotonic()

    def add_writers(signum: int, frame: FrameType | None) -> None:
        """SIGALRM, every ``_ADDED_INTERVAL`` s: a writer for each SQLite cell added to the cells file."""
        if added_cell_writers is None or asked_to_stop():
            return
        try:
            added = added_cell_writers()
        except Exception:  # a bad file or an unopenable cell is logged; the next tick tries again
            log.exception("adding cells' writers failed")
            return
        for name, pair in added.items():
            if name not in writers:
                writers[name] = pair
                listeners.append(pair[0])  # workers and writers forked from now on close their copies
                start_writer(name)

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if not children:
            stop_writers()
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
    failed = False
    try:
        # The banner promises a listening port: print it once every worker listens.
        for name in writers:  # before the pipe: a writer must not hold its write end
            start_writer(name)
        readable, ready = os.pipe()
        for _ in range(workers):
            children.add(_start_worker(sock, open_db, credentials, tls, ready, max_connections, access_log, single,
                                       listeners))
        os.close(ready)
        listening = 0
        # Empty once every worker has written its byte or died (all write ends closed).
        while listening < workers and (ready_bytes := os.read(readable, 64)):
            listening += len(ready_bytes)
        os.close(readable)
        log.info("%s", banner(url_of(sock, tls), workers, about))
        if added_cell_writers is not None:  # a timer rather than a thread: the handler runs between two lines here
            previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, add_writers)
            signal.setitimer(signal.ITIMER_REAL, _ADDED_INTERVAL, _ADDED_INTERVAL)
        while children or writer_pids:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if pid in writer_pids:
                name = writer_pids.pop(pid)
                if asked_to_stop():
                    failed = failed or os.waitstatus_to_exitcode(status) not in (0, -signal.SIGTERM)
                    continue
                log.error("writer %d%s exited (%d); starting a replacement", pid, f" of cell {name}" if name else "",
                          os.waitstatus_to_exitcode(status))
                if time.monotonic() - writer_started[name] < _RESTART_PAUSE:
                    time.sleep(_RESTART_PAUSE)  # against a crash loop; a writer killed once comes back at once
                if asked_to_stop() and not children:
                    continue  # asked to stop meanwhile, and no worker is left to write for
                start_writer(name)
                continue
            children.discard(pid)
            if worker_exited is not None:
                worker_exited(pid)
            if asked_to_stop():
                if not children:
                    stop_writers()  # the last worker is gone: nothing more to write
                # A worker signalled before it installed its handlers dies
                # of the SIGTERM we sent: that is the stop we asked for, and
                # every write it acknowledged was already committed.
                failed = failed or os.waitstatus_to_exitcode(status) not in (0, -signal.SIGTERM)
                continue
            log.error("worker %d exited (%d); starting a replacement", pid, os.waitstatus_to_exitcode(status))
            time.sleep(_RESTART_PAUSE)
            if asked_to_stop():  # asked to stop during the pause: a replacement now would never be told to stop
                if not children:
                    stop_writers()
                continue
            children.add(
                _start_worker(sock, open_db, credentials, tls, max_connections=max_connections, access_log=access_log,
                              writer=single, cell_writers=listeners)
            )
    finally:
        if added_cell_writers is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        for listener in listeners:
            listener.close()
    log.info("cellstore stopped")
    return 1 if failed else 0
