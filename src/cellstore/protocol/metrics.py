"""``GET /metrics``: the server's counters in Prometheus's text format, through the official ``prometheus-client``.

Two kinds of numbers, kept apart because they cost differently:

- **Per request** (``Metrics.count``, called by the access log's hook in the
  HTTP server once an answer is written — the one per-request path, see
  ``protocol/access_log.py``): ``cellstore_requests_total`` by service,
  operation and outcome, and ``cellstore_request_duration_seconds``, a
  histogram by service and operation.  The label children are looked up once
  per (service, operation, status) and cached, so a request costs a dict
  lookup, a counter increment and a histogram observation (measured in
  docs/OBSERVABILITY.md).  Operation names come from the client, so a name
  the service does not have is counted as ``unknown``: the label set stays
  bounded whatever clients send.
- **At scrape time** (``StoreCollector``): items and bytes per table and
  index, and messages visible, in flight, delayed and waiting in the
  dead-letter queue per queue; and each stream or queue handler's counters
  as its lease holder last saved them (``handler_status``, handed in by
  ``cli.py``, which may use any layer).  They are read through the services' own
  dispatchers (ListTables/DescribeTable, ListQueues/GetQueueAttributes) —
  the api layer's door, so the protocol layer never reaches storage — and at
  most ``MAX_RESOURCES`` tables and queues are read per scrape, so a scrape's
  cost is bounded however many there are.
  What no operation answers — a queue's oldest message, a stream's records
  written, the storage backend's figures — is read through the api's
  ``observed`` door.
- **Per request, in the dispatchers** (``protocol/metered.py``, wrapped
  innermost by ``build_app``): consumed capacity per table and index, and
  GetRecords' iterator age per table.
- **Kept in one process's memory** (``protocol/process_figures.py``): a
  PostgreSQL pool's waits, a cell router's per-cell counts (``cell_status``)
  and the item cache's zones (``cache_status``), both handed in by ``cli.py``.

With ``serve --workers N`` each worker is its own process with its own
counters.  prometheus-client's multiprocess mode keeps them in memory-mapped
files in ``PROMETHEUS_MULTIPROC_DIR`` (``cli.py`` makes one for the supervisor and
removes it at exit; ``worker_exited`` is told of each dead worker), and a scrape of any worker merges every worker's files: one scrape
returns the whole server's counters.  The mode is chosen by prometheus-client
when it is first imported, so the directory must be in the environment before
this module is imported (``cli.py`` does so).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from cellstore.api import observed
from cellstore.errors import CellstoreError
from cellstore.protocol.metered import Meters
from cellstore.protocol.process_figures import Figure, Merge, ProcessFigures

if TYPE_CHECKING:
    from cellstore.api import Database
    from cellstore.protocol.wire import Dispatch

log = logging.getLogger("cellstore.metrics")
_T = TypeVar("_T")

#: The environment variable prometheus-client reads for its multiprocess mode.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Tables and queues read per scrape, at most: a scrape's cost is bounded.
MAX_RESOURCES = 500
#: Request latency buckets, in seconds: from a cached GetItem (~100 µs) to a 20-second long poll.
LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST.encode("ascii")
#: The "service" label of a request that is no AWS API call (health check, /metrics, an unknown path).
HTTP = "http"
UNKNOWN = "unknown"
#: Scrapes use an endpoint only to build queue URLs they read back at once.
_ENDPOINT = "http://cellstore.metrics"


class _Pid:
    """This process's id, kept current across ``os.fork`` by an at-fork hook: ``os.getpid()`` without its syscall.

    prometheus-client's multiprocess values ask for the pid on every
    increment, to notice a fork and switch to the child's own files: five
    ``getpid`` system calls per request here (a counter and a histogram's sum
    and bucket, each checked).  Every fork of a cellstore process goes through
    ``os.fork`` (the workers, the writer) or execs at once (subprocesses), so
    the hook sees each one and the answer is always the real pid.
    """

    def __init__(self) -> None:
        self.value = os.getpid()
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self.value = os.getpid()

    def __call__(self) -> int:
        return self.value


if getattr(values.ValueClass, "_multiprocess", False):
    # prometheus-client chose its multiprocess values when first imported (just above, before any metric
    # exists); the same class, asking the at-fork-kept pid instead of os.getpid.
    values.ValueClass = values.MultiProcessValue(process_identifier=_Pid())  # type: ignore[no-untyped-call]


def outcome(status: int) -> str:
    """A status as the ``outcome`` label: ``success``, ``client_error`` (4xx) or ``server_error`` (5xx)."""
    if status < 400:
        return "success"
    return "client_error" if status < 500 else "server_error"


class Metrics:
    """The per-request counters and the ``/metrics`` answer of one server process.

    ``bind(services)`` (done by ``run_on`` once the app exists) gives the
    operation names each service has and the dispatchers the scrape reads
    through.
    """

    def __init__(
        self,
        handler_status: Callable[[Database], list[dict[str, Any]]] | None = None,
        *,
        cell_status: Callable[[object], dict[str, Any] | None] | None = None,
        cache_status: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        #: Every handler mapping with its saved counters (``handlers.state.status``), or None.
        self.handler_status = handler_status
        #: A directory's cell router's status (``cells/status.py``'s ``router_status``; None: not a router), or None.
        self.cell_status = cell_status
        #: Each item cache client's ``metrics()`` in this process (``serve --cache``), or None.
        self.cache_status = cache_status
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = CollectorRegistry()
        #: Figures kept in this process's memory (pool, cells, cache): read on a scrape, or copied for workers.
        self.process = ProcessFigures(self.registry, self.multiprocess)
        if not self.multiprocess:
            self.registry.register(self.process)
        self.requests = Counter(
            "cellstore_requests", "Requests answered, by service, operation and outcome.",
            ["service", "operation", "outcome"], registry=self.registry,
        )
        self.latency = Histogram(
            "cellstore_request_duration_seconds",
            "Seconds from a request's first byte to its answer being written, by service and operation.",
            ["service", "operation"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        #: Consumed capacity and GetRecords' iterator age, counted by wrapping the dispatchers (``meter``).
        self.meters = Meters(self.registry)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._operations: Mapping[str, Container[str]] = {}
        self._store: StoreCollector | None = None

    def meter(self, db: Database, dispatchers: dict[str, Dispatch]) -> dict[str, Dispatch]:
        """``build_app``'s innermost wrapper: the dispatchers, metered (``protocol/metered.py``)."""
        return self.meters.wrap(db, dispatchers)

    def know(self, operations: Mapping[str, Container[str]]) -> None:
        """Learn each service's operation names (an unknown one is counted as ``unknown``), and nothing more."""
        self._operations = operations

    def bind(self, services: Mapping[str, Any], db: Database | None = None) -> None:
        """Learn the services' operation names and read their resources (and ``db``'s handlers) at scrape time.

        The table and queue gauges are one account's: the default account's,
        as ``run_on`` binds them.
        """
        self.know({name: service.operations for name, service in services.items()})
        handlers = None
        if db is not None and self.handler_status is not None:
            handlers = functools.partial(self.handler_status, db)
        self._store = StoreCollector(services, handlers, db)
        if not self.multiprocess:
            self.registry.register(self._store)
        if db is not None:
            self.process.add(functools.partial(_pool_figures, db))
        self._watch_cache()

    def watch(self, directory: object) -> None:
        """A server of cells: its router's per-cell figures (and the item cache's), with the request counts."""
        if self.cell_status is not None:
            self.process.add(functools.partial(_cell_figures, self.cell_status, directory))
        self._watch_cache()

    def _watch_cache(self) -> None:
        if self.cache_status is not None:
            self.process.add(functools.partial(_cache_figures, self.cache_status))

    def count(self, service: str | None, operation: str | None, status: int, seconds: float) -> None:
        """One answered request; ``service``/``operation`` as the access log reads them (None: not an API call)."""
        if service is None:
            service, operation = HTTP, operation if operation in ("GET /", "GET /metrics") else "other"
        elif operation is None or operation not in self._operations.get(service, ()):
            operation = UNKNOWN
        key = (service, operation, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(service, operation, outcome(status)),
                self.latency.labels(service, operation),
            )
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self) -> bytes:
        """The text a scrape gets: this process's counters, or with workers every worker's, and the store's gauges."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        self.process.sync()  # this worker's own figures as they are now; the others' are at most a second old
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        if self._store is not None:
            registry.register(self._store)
        return generate_latest(registry)


class StoreCollector(Collector):
    """Gauges read from the database when scraped, through the services' dispatchers (the api layer's door)."""

    def __init__(
        self,
        services: Mapping[str, Any],
        handlers: Callable[[], list[dict[str, Any]]] | None = None,
        db: Database | None = None,
    ) -> None:
        self._services = services
        self._handlers = handlers
        #: The database the figures no operation answers are read from (``api/observed.py``), or None.
        self._db = db

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        read = GaugeMetricFamily(
            "cellstore_scrape_store_up", "1 if this scrape could read the tables and queues, 0 if storage failed it."
        )
        up = 1
        try:
            # Collected whole before any is yielded: a storage failure half-way gives no partial families.
            families = [*self._tables(), *self._queues(), *self._handler_families(), *self._storage()]
        except CellstoreError as err:  # e.g. PostgreSQL unreachable: the request counters are still worth a scrape
            log.warning("/metrics: could not read tables and queues: %s", err)
            families, up = [], 0
        read.add_metric([], up)
        duration = GaugeMetricFamily(
            "cellstore_scrape_store_seconds", "Seconds the last scrape spent reading tables and queues."
        )
        duration.add_metric([], time.perf_counter() - started)
        yield from (*families, read, duration)

    def _tables(self) -> Iterator[Metric]:
        service = self._services.get("dynamodb")
        if service is None:
            return
        items = GaugeMetricFamily("cellstore_table_items", "Items in a table (DescribeTable's ItemCount).", labels=["table"])
        size = GaugeMetricFamily("cellstore_table_size_bytes", "A table's size (DescribeTable's TableSizeBytes).", labels=["table"])
        index_items = GaugeMetricFamily(
            "cellstore_index_items", "Items in a secondary index.", labels=["table", "index"]
        )
        index_size = GaugeMetricFamily(
            "cellstore_index_size_bytes", "A secondary index's size.", labels=["table", "index"]
        )
        streams: dict[str, str] = {}
        for name in _bounded(_table_names(service.dispatch)):
            try:
                table = service.dispatch("DescribeTable", {"TableName": name})["Table"]
            except CellstoreError:
                continue  # deleted since it was listed
            if table.get("StreamSpecification", {}).get("StreamEnabled") and "LatestStreamLabel" in table:
                streams[name] = table["LatestStreamLabel"]
            items.add_metric([name], table.get("ItemCount", 0))
            size.add_metric([name], table.get("TableSizeBytes", 0))
            for index in (*table.get("GlobalSecondaryIndexes", ()), *table.get("LocalSecondaryIndexes", ())):
                index_items.add_metric([name, index["IndexName"]], index.get("ItemCount", 0))
                index_size.add_metric([name, index["IndexName"]], index.get("IndexSizeBytes", 0))
        yield from (items, size, index_items, index_size)
        if self._db is not None:
            written = CounterMetricFamily(
                "cellstore_stream_records",
                "Records written to a table's stream (its last sequence number; a re-enabled stream starts again).",
                labels=["table"],
            )
            for name, count in observed.stream_records_written(self._db, streams).items():
                written.add_metric([name], count)
            yield written

    def _queues(self) -> Iterator[Metric]:
        service = self._services.get("sqs")
        if service is None:
            return
        labels = ["queue"]
        visible = GaugeMetricFamily("cellstore_queue_messages", "Messages available (ApproximateNumberOfMessages).", labels=labels)
        in_flight = GaugeMetricFamily(
            "cellstore_queue_messages_in_flight", "Messages received and not yet deleted (ApproximateNumberOfMessagesNotVisible).", labels=labels
        )
        delayed = GaugeMetricFamily("cellstore_queue_messages_delayed", "Messages not yet delivered (ApproximateNumberOfMessagesDelayed).", labels=labels)
        dlq = GaugeMetricFamily(
            "cellstore_queue_dlq_messages", "Messages in the queue's dead-letter queue (its RedrivePolicy's target).",
            labels=labels,
        )
        depth: dict[str, int] = {}
        targets: dict[str, str] = {}
        urls = service.dispatch("ListQueues", {"MaxResults": 1000}, _ENDPOINT).get("QueueUrls", [])
        for url in _bounded(urls):
            try:
                attributes = service.dispatch(
                    "GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["All"]}, _ENDPOINT
                )["Attributes"]
            except CellstoreError:
                continue  # deleted since it was listed
            name = url.rpartition("/")[2]
            depth[name] = int(attributes.get("ApproximateNumberOfMessages", 0))
            visible.add_metric([name], depth[name])
            in_flight.add_metric([name], int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)))
            delayed.add_metric([name], int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)))
            policy = attributes.get("RedrivePolicy")
            if policy:
                targets[name] = _dlq_name(policy)
        for name, target in targets.items():
            dlq.add_metric([name], depth.get(target, 0))
        yield from (visible, in_flight, delayed, dlq)
        if self._db is not None:
            oldest = GaugeMetricFamily(
                "cellstore_queue_oldest_message_age_seconds",
                "Age of the oldest message still in the queue, received or not (ApproximateAgeOfOldestMessage); 0 when empty.",
                labels=labels,
            )
            for name, age in observed.oldest_message_ages(self._db, list(depth)).items():
                oldest.add_metric([name], age)
            yield oldest

    def _storage(self) -> Iterator[Metric]:
        if self._db is None:
            return
        for name, value in sorted(observed.storage_figures(self._db).items()):
            if name.startswith(_PER_PROCESS):
                continue  # one process's pool: ``_pool_figures``, merged over the workers
            if name.endswith("_total"):
                family: Metric = CounterMetricFamily(f"cellstore_{name[:-6]}", _STORAGE_HELP.get(name, name))
            else:
                family = GaugeMetricFamily(f"cellstore_{name}", _STORAGE_HELP.get(name, name))
            family.add_metric([], value)  # type: ignore[attr-defined]
            yield family


    def _handler_families(self) -> Iterator[Metric]:
        if self._handlers is None:
            return
        labels = ["handler"]
        counters = {
            name: CounterMetricFamily(f"cellstore_handler_{name}", help, labels=labels)
            for name, help in _HANDLER_COUNTERS.items()
        }
        lag = GaugeMetricFamily(
            "cellstore_handler_lag", "Stream records behind the newest, or messages visible in the queue.", labels=labels
        )
        age = GaugeMetricFamily(
            "cellstore_handler_iterator_age_seconds", "Streams: age of the last record handled.", labels=labels
        )
        running = GaugeMetricFamily(
            "cellstore_handler_running", "1 while a worker holds the mapping's lease and runs it.", labels=labels
        )
        sizes = HistogramMetricFamily(
            "cellstore_handler_batch_size", "Records or messages per invocation of the handler's function.", labels=labels
        )
        for mapping in _bounded(self._handlers()):
            name, saved = mapping["name"], mapping.get("metrics") or {}
            for counter, family in counters.items():
                family.add_metric([name], saved.get(counter, 0))
            lag.add_metric([name], saved.get("lag", 0))
            age.add_metric([name], saved.get("iterator_age_ms", 0) / 1000)
            running.add_metric([name], 1 if mapping.get("owner") and saved.get("state") == "running" else 0)
            counts = saved.get("batch_sizes")
            if counts and len(counts) == len(BATCH_BUCKETS) + 1:
                sizes.add_metric([name], _cumulative(counts), saved.get("batch_records", 0))
        yield from (*counters.values(), lag, age, running, sizes)


#: Handler counters saved by the lease holder (``handlers/runner.py``'s ``Metrics``), as Prometheus counters:
#: they restart from 0 when the lease moves to another worker, which ``rate()`` reads as a counter reset.
_HANDLER_COUNTERS = {
    "invocations": "Calls of the handler's function.",
    "batches": "Invocations that succeeded.",
    "records": "Records or messages handled successfully.",
    "errors": "Invocations that failed, wholly or partly.",
    "retries": "Batches (streams) or messages (SQS) delivered again after a failure.",
    "filtered": "Records skipped by FilterCriteria.",
    "discarded": "Records given up on (sent to the on-failure destination).",
}


#: Upper bounds of the handlers' batch-size buckets, as ``handlers/runner.py`` counts them (saved with the counters).
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 10000)

#: What each storage figure (``Store.figures``) is, for its HELP line.
_STORAGE_HELP = {
    "sqlite_wal_bytes": "Size of the SQLite write-ahead log file.",
    "sqlite_checkpoints_total": "Checkpoint rounds run on the SQLite file, by any process.",
    "sqlite_checkpoint_seconds_total": "Seconds the SQLite checkpoint rounds took, in all.",
    "sqlite_checkpoint_last_seconds": "Seconds the last SQLite checkpoint round took.",
    "postgres_pool_connections_in_use": "PostgreSQL connections handed out by this process's pool.",
    "postgres_pool_connections_max": "The most connections this process's pool opens.",
    "postgres_pool_waits_total": "Waits for a pool connection to be put back (one transaction may wait more than once).",
    "postgres_pool_wait_seconds_total": "Seconds transactions waited for a pool connection, in all.",
}


#: Storage figures that are one process's (its own pool), not the database's: merged over the workers.
_PER_PROCESS = ("postgres_pool_",)


def _pool_figures(db: Database) -> Iterator[Figure]:
    """This process's PostgreSQL pool (``Store.figures``), as figures merged over the workers."""
    for name, value in observed.storage_figures(db).items():
        if name.startswith(_PER_PROCESS):
            counter = name.endswith("_total")
            yield Figure(
                f"cellstore_{name[:-6] if counter else name}", "counter" if counter else "gauge",
                _STORAGE_HELP.get(name, name), (), value,
            )


#: A cell router's per-cell counts (``router_status``'s keys) as metrics: (key, name, kind, help).
_CELL_FIGURES = (
    ("requests", "cellstore_cell_requests", "counter", "Requests the router sent to the cell."),
    ("refused", "cellstore_cell_refused", "counter", "Requests the router refused with a retryable 503: the cell was unhealthy or its queue full."),
    ("rejected", "cellstore_cell_rejected", "counter", "Requests refused at once: the cell's bulkhead queue was full."),
    ("timed_out", "cellstore_cell_timeouts", "counter", "Requests given up on after the bulkhead's timeout."),
    ("queued", "cellstore_cell_queue_depth", "gauge", "Requests waiting in the cell's bulkhead queue."),
    ("busy", "cellstore_cell_busy", "gauge", "Requests running on the cell's bulkhead threads."),
    ("tenants", "cellstore_cell_tenants", "gauge", "Accounts the cell map places in the cell."),
)


def _cell_figures(status: Callable[[object], dict[str, Any] | None], directory: object) -> Iterator[Figure]:
    """Each cell's router counts and health, as this process's router sees them."""
    found = status(directory)
    if found is None:
        return
    for cell in found.get("cells", ()):
        labels = (("cell", str(cell["name"])),)
        for key, name, kind, help in _CELL_FIGURES:
            if key in cell and cell[key] is not None:
                merge: Merge = "livemax" if key == "tenants" else "livesum"
                yield Figure(name, kind, help, labels, float(cell[key]), merge)
        yield Figure(
            "cellstore_cell_up", "gauge", "1 if the cell answered the router's last health probe (every worker's), else 0.",
            labels, 1.0 if cell.get("health") == "ok" else 0.0, "livemin",
        )


#: A cache zone's counters (``CacheClient.metrics()``'s keys per zone) as metrics: (key, name, kind, help).
_ZONE_FIGURES = (
    ("hits", "cellstore_cache_hits", "counter", "Item cache reads that found a value in the zone's nodes (a write's tombstone included: the item cache reads it as a miss and goes to the table)."),
    ("misses", "cellstore_cache_misses", "counter", "Item cache reads the zone's nodes did not have."),
    ("errors", "cellstore_cache_errors", "counter", "Calls to the zone's nodes that failed."),
    ("fallbacks", "cellstore_cache_fallbacks", "counter", "Reads this zone was asked first and another zone answered (a miss or an error here)."),
    ("repairs", "cellstore_cache_repairs", "counter", "Copies written back into the zone after another zone answered for it."),
    ("queued", "cellstore_cache_writes_queued", "counter", "Writes to the zone that failed and went to the retry queue."),
    ("replayed", "cellstore_cache_writes_replayed", "counter", "Queued writes replayed to the zone."),
)


def _cache_figures(status: Callable[[], list[dict[str, Any]]]) -> Iterator[Figure]:
    """Each cache zone's counters, summed over this process's cache clients (one per account)."""
    sums: dict[tuple[str, str], float] = {}
    for client in status():
        for zone, figures in client.get("zones", {}).items():
            for key, *_ in _ZONE_FIGURES:
                sums[(zone, key)] = sums.get((zone, key), 0.0) + float(figures.get(key, 0))
    for (zone, key), total in sorted(sums.items()):
        _, name, kind, help = next(entry for entry in _ZONE_FIGURES if entry[0] == key)
        yield Figure(name, kind, help, (("zone", zone),), total)


def _cumulative(counts: list[int]) -> list[tuple[str, float]]:
    """Per-bucket counts as a histogram's cumulative buckets (``le`` labels, ``+Inf`` last)."""
    buckets: list[tuple[str, float]] = []
    total = 0
    for bound, count in zip((*map(str, BATCH_BUCKETS), "+Inf"), counts, strict=True):
        total += count
        buckets.append((bound, total))
    return buckets


def _table_names(dispatch: Callable[..., Any]) -> Iterator[str]:
    """Every table's name, a page of ListTables at a time."""
    payload: dict[str, Any] = {"Limit": 100}
    while True:
        page = dispatch("ListTables", payload)
        yield from page.get("TableNames", ())
        last = page.get("LastEvaluatedTableName")
        if last is None:
            return
        payload = {"Limit": 100, "ExclusiveStartTableName": last}


def _bounded(names: Iterable[_T]) -> Iterator[_T]:
    """The first ``MAX_RESOURCES`` of ``names``: what one scrape reads, at most."""
    for number, name in enumerate(names):
        if number == MAX_RESOURCES:
            log.warning("/metrics: only the first %d tables or queues are reported", MAX_RESOURCES)
            return
        yield name


def _dlq_name(policy: str) -> str:
    """The queue a RedrivePolicy (JSON with ``deadLetterTargetArn``) names."""
    try:
        arn = orjson.loads(policy).get("deadLetterTargetArn", "")
    except (orjson.JSONDecodeError, AttributeError):
        return ""
    return str(arn).rpartition(":")[2]


def worker_exited(pid: int) -> None:
    """A worker is gone: drop its live-gauge files (its counters stay, as Prometheus expects of a counter)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
