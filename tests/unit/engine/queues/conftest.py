"""A queue engine on an in-memory database with a clock that moves only when told."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cellstore.engine.queues import Queues
from cellstore.engine.queues.clock import ManualClock
from cellstore.engine.wiring import open_database
from cellstore.storage.sqlite import SqliteStore


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def queues(clock: ManualClock) -> Iterator[Queues]:
    db = open_database(SqliteStore(None))
    try:
        yield Queues(db, clock)
    finally:
        db.close()
