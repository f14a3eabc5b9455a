"""The api's door to the figures ``/metrics`` reads at scrape time that no AWS operation answers.

The protocol layer reaches the engine only through the api; these are the
engine's readings (``engine/observed.py``) passed through unchanged, so
that a scrape reads storage in one read transaction per kind of figure
instead of an operation per resource.
"""

from __future__ import annotations

from cellstore.engine import observed
from cellstore.engine.database import Database


def oldest_message_ages(db: Database, names: list[str]) -> dict[str, float]:
    """Seconds since each queue's oldest message was sent (0: empty); a deleted queue is left out."""
    return observed.oldest_message_ages(db, names)


def stream_records_written(db: Database, streams: dict[str, str]) -> dict[str, int]:
    """Records written to each table's current stream, given {table: LatestStreamLabel}."""
    return observed.stream_records_written(db, streams)


def storage_figures(db: Database) -> dict[str, float]:
    """The storage backend's own figures by name (WAL size, checkpoints, pool waits)."""
    return observed.storage_figures(db)
