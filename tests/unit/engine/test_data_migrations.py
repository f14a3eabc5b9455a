"""engine/migrations.py: the data format's version, beside the storage schema's."""

from __future__ import annotations

import pytest

from cellstore.engine import keyspace, migrations, wiring
from cellstore.storage.sqlite import SqliteStore


def test_a_new_database_is_recorded_at_the_latest_format() -> None:
    store = SqliteStore(None)
    db = wiring.open_database(store, background=False)
    try:
        with store.transaction(write=False) as txn:
            assert txn.get(keyspace.DATA_FORMAT) == str(migrations.LATEST).encode()
        assert migrations.migrate(store) == migrations.LATEST
    finally:
        db.close()


def test_a_newer_data_format_is_refused() -> None:
    store = SqliteStore(None)
    with store.transaction(write=True) as txn:
        txn.put(keyspace.DATA_FORMAT, str(migrations.LATEST + 1).encode())
    with pytest.raises(migrations.DataFormatTooNew, match="newer cellstore"):
        wiring.open_database(store, background=False)
    store.close()


def test_versions_are_numbered_in_order_from_one() -> None:
    assert [m.version for m in migrations.DATA_MIGRATIONS] == list(range(1, len(migrations.DATA_MIGRATIONS) + 1))
