"""Figures each server process keeps in its own memory — a PostgreSQL pool, a cell router, a cache client — as metrics.

Such a figure is read from live objects (``Figure``s from the readers
``Metrics`` is given), not counted per request.  With one process a scrape
reads them as it answers (``collect``).  With ``serve --workers N`` a scrape
is answered by one worker, which cannot read the others' memory, so each
worker copies its figures into prometheus-client's multiprocess files
instead: once a second on a daemon thread, and once more just before it
answers a scrape (``sync``).  A gauge is summed over the live workers
(connections in use, requests queued), or their least (a cell's health: 0
if any worker sees it down); a counter is added to by what it grew since
the last copy, so the merged counter is every worker's total.  A scrape
thus sees another worker's figures as they were up to a second before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

log = logging.getLogger("cellstore.metrics")

#: Seconds between a worker's copies of its figures into the multiprocess files.
SYNC_INTERVAL = 1.0


Merge = Literal["livesum", "livemin", "livemax"]


class Figure(NamedTuple):
    """One sample: metric ``name`` (no ``_total``), ``counter`` or ``gauge``, its labels, its value now."""

    name: str
    kind: str
    help: str
    labels: tuple[tuple[str, str], ...]
    value: float
    #: How workers' gauges merge: ``livesum`` (a quantity) or ``livemin`` (a health flag).
    merge: Merge = "livesum"


Reader = Callable[[], Iterable[Figure]]


class ProcessFigures:
    """The readers of one process, collected on a scrape or copied into multiprocess files."""

    def __init__(self, registry: CollectorRegistry, multiprocess: bool) -> None:
        self._registry = registry
        self._multiprocess = multiprocess
        self._readers: list[Reader] = []
        self._metrics: dict[str, Any] = {}
        self._last: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, reader: Reader) -> None:
        """Read ``reader`` from now on; in multiprocess mode the copying thread starts with the first."""
        self._readers.append(reader)
        if self._multiprocess and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cellstore-metrics-sync", daemon=True)
            self._thread.start()

    def figures(self) -> list[Figure]:
        """Every reader's figures now; a reader that fails is logged and skipped."""
        found: list[Figure] = []
        for reader in self._readers:
            try:
                found.extend(reader())
            except Exception:  # a figure source closing (a pool, a cell) must not fail the scrape
                log.debug("/metrics: a figure reader failed", exc_info=True)
        return found

    def collect(self) -> Iterator[Metric]:
        """One process's figures as metric families (single-process mode)."""
        families: dict[str, Any] = {}
        for figure in self.figures():
            family = families.get(figure.name)
            if family is None:
                kind = CounterMetricFamily if figure.kind == "counter" else GaugeMetricFamily
                family = families[figure.name] = kind(
                    figure.name, figure.help, labels=[name for name, _ in figure.labels]
                )
            family.add_metric([value for _, value in figure.labels], figure.value)
        yield from families.values()

    def sync(self) -> None:
        """Copy this process's figures into the multiprocess files (gauges set, counters grown by their growth)."""
        if not self._multiprocess or not self._readers:
            return
        with self._lock:
            for figure in self.figures():
                metric = self._metric(figure)
                child = metric.labels(*(value for _, value in figure.labels)) if figure.labels else metric
                if figure.kind == "counter":
                    key = (figure.name, figure.labels)
                    grown = figure.value - self._last.get(key, 0.0)
                    self._last[key] = figure.value
                    if grown < 0:  # the source restarted from 0 (a cell re-opened): all of it is new
                        grown = figure.value
                    if grown:
                        child.inc(grown)
                else:
                    child.set(figure.value)

    def _metric(self, figure: Figure) -> Any:
        metric = self._metrics.get(figure.name)
        if metric is None:
            labels = [name for name, _ in figure.labels]
            if figure.kind == "counter":
                metric = Counter(figure.name, figure.help, labels, registry=self._registry)
            else:
                metric = Gauge(
                    figure.name, figure.help, labels, registry=self._registry, multiprocess_mode=figure.merge
                )
            self._metrics[figure.name] = metric
        return metric

    def _run(self) -> None:
        while True:
            time.sleep(SYNC_INTERVAL)
            try:
                self.sync()
            except Exception:  # the next round tries again; a scrape syncs too
                log.debug("/metrics: copying this worker's figures failed", exc_info=True)
