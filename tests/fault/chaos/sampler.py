"""Resident memory and open descriptors of a server's whole process tree, sampled in the background.

``serve --workers N`` is a supervisor and N forked workers; a leak in any of
them counts, so the sampler sums every process under the watched root
(found through /proc, ``tests/procfs.py``).  Peaks are kept per named phase.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from procfs import children_of

PAGE = os.sysconf("SC_PAGE_SIZE")


def tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children_of(pid))
    return found


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (0 once it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


@dataclass
class Peak:
    rss_mib: float = 0.0
    fds: int = 0
    samples: list[float] = field(default_factory=list)  # total RSS in MiB, in order

    def first_and_last_quarter(self) -> tuple[float, float]:
        """Mean RSS of the phase's first and last quarter: flat memory means these are close."""
        if len(self.samples) < 4:
            return (self.samples[0], self.samples[-1]) if self.samples else (0.0, 0.0)
        quarter = len(self.samples) // 4
        return (sum(self.samples[:quarter]) / quarter, sum(self.samples[-quarter:]) / quarter)


class Sampler:
    """Samples the tree under ``watch(pid)`` every ``interval`` seconds into the current phase's ``Peak``."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.phases: dict[str, Peak] = {}
        self._root: int | None = None
        self._phase = "between phases"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chaos-sampler", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def watch(self, pid: int) -> None:
        """Sample the tree under ``pid`` from now on (a restarted server is a new root)."""
        with self._lock:
            self._root = pid
        self.sample()

    @contextmanager
    def phase(self, name: str) -> Iterator[Peak]:
        with self._lock:
            previous, self._phase = self._phase, name
            peak = self.phases.setdefault(name, Peak())
        try:
            yield peak
        finally:
            self.sample()
            with self._lock:
                self._phase = previous

    def sample(self) -> None:
        with self._lock:
            root, phase = self._root, self._phase
        if root is None:
            return
        pids = tree(root)
        rss = sum(rss_bytes(pid) for pid in pids) / 2**20
        fds = sum(open_fds(pid) for pid in pids)
        if rss == 0:
            return  # killed a moment ago: a dead server's zero is no figure
        with self._lock:
            peak = self.phases.setdefault(phase, Peak())
            peak.rss_mib = max(peak.rss_mib, rss)
            peak.fds = max(peak.fds, fds)
            peak.samples.append(round(rss, 1))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()
