"""The process's file-descriptor budget: how many connections a server may hold, and whether it is out.

Every client connection is a descriptor, and so is every database file,
WAL, log, pipe and PostgreSQL connection.  The HTTP server (``http.py``)
caps its connections below the open-file limit and probes for exhaustion;
``serve`` (``server.py``, ``workers.py``) raises the soft limit first.  One
module, so the reserve the cap leaves and the limit it is derived from are
read in one place.
"""

from __future__ import annotations

import errno
import logging
import os
import resource

log = logging.getLogger("cellstore.server")

#: Descriptors the default connection cap leaves for everything else: the
#: database and its WAL, log files, pipes, a PostgreSQL pool, accept itself.
RESERVED_DESCRIPTORS = 64

def descriptors_left() -> bool:
    """Whether this process can still open a descriptor, as ``accept`` must for every new connection.

    When it cannot, libuv accepts and at once closes each new connection (a
    reset for the client) and says nothing: this probe, one ``open`` and
    ``close`` a tick, is how the server finds out.
    """
    try:
        fd = os.open(os.devnull, os.O_RDONLY)
    except OSError as err:
        return err.errno not in (errno.EMFILE, errno.ENFILE)
    os.close(fd)
    return True


def default_max_connections() -> int:
    """The connection cap that fits this process's open-file limit, less ``RESERVED_DESCRIPTORS``.

    Every connection is a descriptor; past the limit ``accept`` fails and,
    worse, so does anything else that opens a file.  Capping connections
    below it keeps a reserve for the rest of the process.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft > 1 << 20:
        soft = 1 << 20
    return max(1, soft - RESERVED_DESCRIPTORS)


def raise_open_file_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit, and return the limit now in force.

    The soft limit is often 1,024 while the hard one is far higher: every
    client connection is a descriptor, and at 1,024 a few idle keep-alive
    pools were enough to lock every new client out.  Called once at
    ``serve`` start (workers inherit it across the fork).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20  # "unlimited" is not a soft limit anyone accepts
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as err:  # e.g. macOS caps the soft limit at OPEN_MAX
        log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, err)
        return soft
    log.info("open-file limit raised from %d to %d", soft, target)
    return target


def connection_limit(requested: int | None) -> int:
    """``--max-connections``: as asked, or derived from the open-file limit; never above what the limit allows.

    Connections past ``limit - RESERVED_DESCRIPTORS`` would take the
    descriptors the database, logs and ``accept`` itself need, so a larger
    request is lowered, with a warning.
    """
    fits = default_max_connections()
    if requested is None:
        return fits
    if requested > fits:
        log.warning(
            "--max-connections %d does not fit the open-file limit (RLIMIT_NOFILE); using %d", requested, fits
        )
        return fits
    return requested
