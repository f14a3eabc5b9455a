"""An index backfill's log lines (``cellstore.backfill``, printed by ``serve``): started, progress, ACTIVE."""

from __future__ import annotations

import functools
import logging
import re

import pytest

from cellstore.engine import background, catalog, indexes, items
from cellstore.engine.catalog import TableSpec, TableUpdate
from cellstore.engine.database import Database
from cellstore.engine.indexes import IndexSpec, IndexUpdate

BY_G = IndexSpec("by-g", ("g",), (), "ALL", ())


def _table_with_items(db: Database, count: int) -> None:
    catalog.create_table(db, TableSpec(
        name="things", attribute_definitions=(("pk", "S"),), hash_key="pk", range_key=None,
    ))
    for n in range(count):
        items.put_item(db, "things", {"pk": {"S": f"p{n:04d}"}, "g": {"S": f"G{n % 3}"}})
    catalog.update_table(db, "things", TableUpdate(
        index_updates=(IndexUpdate("Create", "by-g", create=BY_G),), attribute_definitions=(("g", "S"),)))


def test_a_backfill_says_where_it_is_and_when_the_index_is_active(
    db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexes, "backfill_index_step", functools.partial(indexes.backfill_index_step, batch=100))
    monkeypatch.setattr(background, "PROGRESS_SECONDS", 0.0)  # a line after every step
    _table_with_items(db, 350)
    with caplog.at_level(logging.INFO, logger="cellstore.backfill"):
        background.run_backfills(db)
    lines = [r.getMessage() for r in caplog.records if r.name == "cellstore.backfill"]
    assert lines[0] == "backfilling index by-g of table things: 100 of 350 items read (28%)"
    assert lines[1:3] == [
        "backfill of index by-g of table things: 200 of 350 items read (57%)",
        "backfill of index by-g of table things: 300 of 350 items read (85%)",
    ]
    assert re.fullmatch(r"index by-g of table things is ACTIVE: backfill done \(\d+\.\ds in this process\)", lines[3])
    assert len(lines) == 4
    assert catalog.describe_table(db, "things")["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"


def test_progress_lines_are_at_most_one_per_interval(
    db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexes, "backfill_index_step", functools.partial(indexes.backfill_index_step, batch=50))
    _table_with_items(db, 400)  # eight steps, well within the default interval
    with caplog.at_level(logging.INFO, logger="cellstore.backfill"):
        background.run_backfills(db)
    lines = [r.getMessage() for r in caplog.records if r.name == "cellstore.backfill"]
    assert len(lines) == 2
    assert lines[0].startswith("backfilling index by-g of table things: 50 of 400 items read")
    assert "is ACTIVE" in lines[1]
