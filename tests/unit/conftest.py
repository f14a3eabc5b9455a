"""Fixtures shared by the unit tests of every layer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cellstore.engine.database import Database
from cellstore.engine.wiring import open_database
from cellstore.storage.sqlite import SqliteStore


@pytest.fixture
def db() -> Iterator[Database]:
    """A fresh in-memory database with its change hooks and no background threads (units are driven by hand)."""
    database = open_database(SqliteStore(None), background=False)
    yield database
    database.close()
