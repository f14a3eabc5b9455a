"""Stream mappings: a table's DynamoDB stream feeding a function, as Lambda does it.

The source is read only through the engine's Streams operations
(``describe_stream``, ``get_shard_iterator``, ``get_records``): shards are
walked parent before child, each from the mapping's checkpoint.  A round
reads the next records after the checkpoint, splits them into
``ParallelizationFactor`` lanes by a hash of the item key (so each key's
records stay in order in one lane), skips records the filter rejects, and
delivers one batch per lane — lanes concurrently.

Delivering a batch (``_deliver``): success moves the lane's checkpoint past
the batch; a partial batch response moves it to just before the first
failed record and retries from there; a failure retries the batch with
back-off, first split in two if BisectBatchOnFunctionError is on.  When
MaximumRetryAttempts or MaximumRecordAgeInSeconds is exceeded the records
go to the on-failure destination (if any) and the checkpoint moves past
them.  Every checkpoint move is one storage write, so after a restart
delivery resumes right after the last acknowledged batch.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC
from typing import Any

import orjson

from cellstore.engine import streams
from cellstore.errors import ResourceNotFoundException, TrimmedDataAccessException
from cellstore.handlers import destinations, state
from cellstore.handlers.filters import matches_any
from cellstore.handlers.runner import Mapping
from cellstore.handlers.settings import STREAM

Record = dict[str, Any]
_MAX_READ = 1000  # GetRecords' own limit


def seq(record: Record) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


class StreamMapping(Mapping):
    kind = STREAM

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.checkpoint: dict[str, Any] | None = None
        self._pending_since: float | None = None

    def acquired(self) -> None:
        self.checkpoint = state.load_checkpoint(self.db, self.name)

    # --- the source --------------------------------------------------------------

    def stream_arn(self) -> str | None:
        """The stream to read: the ARN itself, or the table's latest stream for a table ARN."""
        if "/stream/" in self.source_arn:
            return self.source_arn
        table = self.source_arn.rsplit("/", 1)[-1]
        try:
            found, _ = streams.list_streams(self.db, table, None, 100)
        except ResourceNotFoundException:
            return None
        return found[-1].arn if found else None

    def shards(self, arn: str) -> list[streams.Shard]:
        """Every shard of the stream, each after its parent."""
        listed: list[streams.Shard] = []
        start = None
        while True:
            info = streams.describe_stream(self.db, arn, 100, start)
            listed.extend(info.shards)
            start = info.last_shard_id
            if start is None:
                break
        by_id = {shard.id: shard for shard in listed}
        ordered: list[streams.Shard] = []
        placed: set[str] = set()
        for first in listed:
            chain = []
            shard: streams.Shard | None = first
            while shard is not None and shard.id not in placed:
                chain.append(shard)
                shard = by_id.get(shard.parent or "")
            for link in reversed(chain):
                placed.add(link.id)
                ordered.append(link)
        return ordered

    def _start_position(self, arn: str, shards: list[streams.Shard]) -> int:
        if self.settings.starting_position == "TRIM_HORIZON" or not shards:
            return 0
        newest = shards[-1]
        iterator = streams.get_shard_iterator(self.db, arn, newest.id, "LATEST", None)
        return streams.decode_iterator(iterator).after

    def _lanes(self, arn: str, shards: list[streams.Shard]) -> list[int]:
        factor = self.settings.parallelization_factor
        with self.lock:
            checkpoint = self.checkpoint
            if checkpoint is None or checkpoint["stream"] != arn:
                checkpoint = {"stream": arn, "lanes": [self._start_position(arn, shards)] * factor}
                self.checkpoint = checkpoint
                self._save()
            elif len(checkpoint["lanes"]) != factor:  # the factor changed: restart every lane at the slowest
                checkpoint["lanes"] = [min(checkpoint["lanes"])] * factor
                self._save()
            return list(checkpoint["lanes"])

    def _read(self, arn: str, shards: list[streams.Shard], lanes: list[int]) -> tuple[str, list[Record]]:
        """The next records after the slowest lane, from the first shard that has any."""
        limit = min(_MAX_READ, max(100, self.settings.batch_size * len(lanes)))
        for shard in shards:
            first, end = shard.start, shard.end
            low = min(lanes)
            if end is not None and low >= end:
                continue
            try:
                if low >= first:
                    iterator = streams.get_shard_iterator(self.db, arn, shard.id, "AFTER_SEQUENCE_NUMBER", low)
                else:
                    iterator = streams.get_shard_iterator(self.db, arn, shard.id, "TRIM_HORIZON", None)
            except TrimmedDataAccessException:
                iterator = streams.get_shard_iterator(self.db, arn, shard.id, "TRIM_HORIZON", None)
            page = streams.get_records(self.db, iterator, limit)
            if page.records:
                return shard.id, page.records
            if end is None:
                return shard.id, []
            lanes[:] = [max(lane, end) for lane in lanes]  # a drained closed shard: on to its child
            self._advance_all(end)
        return "", []

    # --- a round ------------------------------------------------------------------

    def round(self) -> bool:
        arn = self.stream_arn()
        if arn is None:
            self.metrics.state = "waiting for stream"
            return False
        try:
            shards = self.shards(arn)
        except ResourceNotFoundException:
            self.metrics.state = "waiting for stream"
            return False
        self.metrics.state = "running"
        lanes = self._lanes(arn, shards)
        shard_id, records = self._read(arn, shards, lanes)
        self._measure_lag(arn, shards, lanes)
        if not records:
            self._pending_since = None
            self.save_metrics()
            return False
        work = self._batches(records, lanes)
        if not self._due(work):
            return False
        self._pending_since = None
        busy = [(lane, examined, batch) for lane, (examined, batch) in enumerate(work) if examined]
        if len(busy) == 1:
            self._lane(arn, shard_id, *busy[0])
        else:
            self._lanes_in_parallel(arn, shard_id, busy)
        self.save_metrics()
        return True

    def _batches(self, records: list[Record], lanes: list[int]) -> list[tuple[list[Record], list[Record]]]:
        """Per lane: the records examined (in order) and the matching ones among them, at most BatchSize."""
        factor = len(lanes)
        work: list[tuple[list[Record], list[Record]]] = [([], []) for _ in range(factor)]
        full = [False] * factor
        for record in records:
            lane = _lane_of(record, factor)
            if seq(record) <= lanes[lane] or full[lane]:
                continue
            examined, batch = work[lane]
            if matches_any(self.settings.filters, record):
                if len(batch) == self.settings.batch_size:
                    full[lane] = True
                    continue
                batch.append(record)
            examined.append(record)
        return work

    def _due(self, work: list[tuple[list[Record], list[Record]]]) -> bool:
        """MaximumBatchingWindowInSeconds: wait for a full batch until the window has passed."""
        window = self.settings.batching_window_s
        if window <= 0 or any(len(batch) >= self.settings.batch_size for _, batch in work):
            return True
        if all(not batch for _, batch in work):
            return True  # only filtered records: just move the checkpoint
        now = streams.SETTINGS.clock()
        if self._pending_since is None:
            self._pending_since = now
        return now - self._pending_since >= window

    def _lanes_in_parallel(self, arn: str, shard_id: str, busy: list[tuple[int, list[Record], list[Record]]]) -> None:
        errors: list[BaseException] = []

        def run(lane: int, examined: list[Record], batch: list[Record]) -> None:
            try:
                self._lane(arn, shard_id, lane, examined, batch)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the round's thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=job, name=f"handler:{self.name}:lane{job[0]}") for job in busy]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _lane(self, arn: str, shard_id: str, lane: int, examined: list[Record], batch: list[Record]) -> None:
        skipped = len(examined) - len(batch)
        if skipped:
            self.count(filtered=skipped)
        cover = seq(examined[-1])
        if not batch:
            self._advance(lane, cover)
            return
        self._deliver(arn, shard_id, lane, batch, cover)

    # --- delivering one batch ------------------------------------------------------

    def _deliver(self, arn: str, shard_id: str, lane: int, batch: list[Record], cover: int) -> bool:
        """Deliver ``batch`` until it succeeds or is given up; False if interrupted (close, lost lease)."""
        retries = 0
        attempts = 0
        error: str | None = None
        while batch:
            if self.halted() or not self.hold_lease():
                return False
            batch = self._drop_expired(arn, shard_id, lane, batch, attempts, error)
            if not batch:
                break
            event = {"Records": [{**record, "eventSourceARN": arn} for record in batch]}
            outcome = self.invoke(event, [record["dynamodb"]["SequenceNumber"] for record in batch])
            attempts += 1
            if outcome.ok:
                self.count(records=len(batch))
                self.metrics.iterator_age_ms = _age_ms(batch[-1])
                break
            error = outcome.error
            if outcome.failed is not None:  # partial batch response: retry from the first failed record
                failed = set(outcome.failed)
                first = next(i for i, record in enumerate(batch) if record["dynamodb"]["SequenceNumber"] in failed)
                if first:
                    self.count(records=first)
                    self._advance(lane, seq(batch[first - 1]))
                    batch = batch[first:]
            retries += 1
            if self.settings.bisect_on_error and len(batch) > 1:
                self.count(retries=1)
                half = len(batch) // 2
                if not self._deliver(arn, shard_id, lane, batch[:half], seq(batch[half - 1])):
                    return False
                return self._deliver(arn, shard_id, lane, batch[half:], cover)
            limit = self.settings.maximum_retry_attempts
            if 0 <= limit < retries:
                self._discard(arn, shard_id, batch, "RetryAttemptsExhausted", attempts, error)
                break
            self.count(retries=1)
            self.backoff(retries)
        self._advance(lane, cover)
        return True

    def _drop_expired(
        self, arn: str, shard_id: str, lane: int, batch: list[Record], attempts: int, error: str | None
    ) -> list[Record]:
        """Records older than MaximumRecordAgeInSeconds (or the stream's retention) are given up."""
        limit = self.settings.maximum_record_age_s
        if limit < 0:
            limit = int(streams.SETTINGS.retention_seconds)
        now = streams.SETTINGS.clock()
        old = 0
        while old < len(batch) and now - batch[old]["dynamodb"]["ApproximateCreationDateTime"] > limit:
            old += 1
        if old:
            self._discard(arn, shard_id, batch[:old], "RecordAgeExceeded", attempts, error)
            self._advance(lane, seq(batch[old - 1]))
        return batch[old:]

    def _discard(self, arn: str, shard_id: str, batch: list[Record], condition: str, attempts: int, error: str | None) -> None:
        self.count(discarded=len(batch))
        destination = self.settings.on_failure
        if destination is None:
            return
        info = {
            "shardId": shard_id,
            "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(batch[0]["dynamodb"]["ApproximateCreationDateTime"]),
            "approximateArrivalOfLastRecord": _iso(batch[-1]["dynamodb"]["ApproximateCreationDateTime"]),
            "batchSize": len(batch),
            "streamArn": arn,
        }
        payload = {"Records": [{**record, "eventSourceARN": arn} for record in batch]}
        record = destinations.invocation_record(self.function_arn, condition, attempts, error, info, payload)
        destinations.send(self.db, destination, record)

    # --- checkpoints ----------------------------------------------------------------

    def _advance(self, lane: int, upto: int) -> None:
        with self.lock:
            if self.checkpoint is None:
                return
            lanes = self.checkpoint["lanes"]
            if upto > lanes[lane]:
                lanes[lane] = upto
                self._save()

    def _advance_all(self, upto: int) -> None:
        with self.lock:
            if self.checkpoint is not None:
                self.checkpoint["lanes"] = [max(lane, upto) for lane in self.checkpoint["lanes"]]
                self._save()

    def _save(self) -> None:
        self._metrics_saved = 0.0
        state.save(self.db, self.name, self.owner, checkpoint=self.checkpoint, metrics=self.metrics_record())

    def _measure_lag(self, arn: str, shards: list[streams.Shard], lanes: list[int]) -> None:
        if not shards:
            return
        newest = streams.get_shard_iterator(self.db, arn, shards[-1].id, "LATEST", None)
        self.metrics.lag = max(0, streams.decode_iterator(newest).after - min(lanes))


def _lane_of(record: Record, factor: int) -> int:
    if factor == 1:
        return 0
    keys = orjson.dumps(record["dynamodb"]["Keys"], option=orjson.OPT_SORT_KEYS)
    return int.from_bytes(hashlib.blake2b(keys, digest_size=8).digest(), "big") % factor


def _age_ms(record: Record) -> int:
    return max(0, int((streams.SETTINGS.clock() - record["dynamodb"]["ApproximateCreationDateTime"]) * 1000))


def _iso(epoch: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
