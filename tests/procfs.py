"""What the tests read from Linux's /proc about server processes (no procps needed)."""

from __future__ import annotations

import os
import re
from pathlib import Path


def children_of(parent: int) -> list[int]:
    """Process ids whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name may contain spaces; the parent pid follows its closing ")".
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def workers_of(supervisor: int, log: str) -> list[int]:
    """The supervisor's children that serve HTTP: all but the writer process, which its ``log`` names.

    ``serve --workers N`` on SQLite forks one more child than N, the writer
    (``protocol/writer.py``); it takes no connections, so a test about the
    workers must leave it out.
    """
    writers = {int(pid) for pid in re.findall(r"writer process (\d+) owns the write path", log)}
    return [pid for pid in children_of(supervisor) if pid not in writers]


def established_per_process(port: int, pids: list[int]) -> dict[int, int]:
    """How many established TCP connections on local ``port`` each of ``pids`` holds."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                inodes.add(fields[9])
    counts = {}
    for pid in pids:
        fds = Path(f"/proc/{pid}/fd")
        counts[pid] = sum(
            1 for fd in fds.iterdir() if os.readlink(fd).removeprefix("socket:[").rstrip("]") in inodes
        )
    return counts
