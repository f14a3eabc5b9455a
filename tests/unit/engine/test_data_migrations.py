"""engine/migrations.py: the data format's version, beside the storage schema's."""

from __future__ import annotations

import io
import re

import pytest

from cellstore.engine import keyspace, migrations, wiring
from cellstore.progress import StatusLine
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


def _at_format_zero() -> SqliteStore:
    store = SqliteStore(None)
    with store.transaction(write=True) as txn:
        txn.put(keyspace.DATA_FORMAT, b"0")
    return store


def test_each_migration_run_is_a_plain_line_when_it_starts_and_when_it_is_done() -> None:
    store = _at_format_zero()
    out = io.StringIO()
    assert migrations.migrate(store, StatusLine(out, tty=False)) == 0
    lines = out.getvalue().splitlines()
    total = len(migrations.DATA_MIGRATIONS)
    assert len(lines) == 2 * total
    for number, migration in enumerate(migrations.DATA_MIGRATIONS, 1):
        start, done = lines[2 * number - 2], lines[2 * number - 1]
        assert start == f"data migration {number} of {total} (format {migration.version}): {migration.description}"
        assert re.fullmatch(rf"data migration {number} of {total} \(format {migration.version}\) done in \d+\.\d\ds: "
                            + re.escape(migration.description), done)
    # Nothing left to do: nothing said.
    again = io.StringIO()
    assert migrations.migrate(store, StatusLine(again, tty=False)) == migrations.LATEST
    assert again.getvalue() == ""
    store.close()


def test_on_a_terminal_the_running_migration_is_redrawn_and_the_done_lines_stay() -> None:
    store = _at_format_zero()
    out = io.StringIO()
    migrations.migrate(store, StatusLine(out, tty=True))
    text = out.getvalue()
    assert text.startswith("\r\x1b[Kdata migration 1 of ")
    assert text.count("\r\x1b[K") == 2 * len(migrations.DATA_MIGRATIONS)  # each redraw, then its erasure by say
    assert text.endswith(" done in " + text.rsplit(" done in ", 1)[1]) and text.endswith("\n")
    store.close()
