"""engine/wiring.py: the change hooks and background units are declared, in order, in one place."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cellstore.engine import catalog, indexes, items, streams, ttl, wiring
from cellstore.engine.catalog import TableSpec
from cellstore.engine.changes import WriteResult
from cellstore.engine.database import Database
from cellstore.storage.base import Txn
from cellstore.storage.sqlite import SqliteStore

SRC = Path(__file__).resolve().parents[3] / "src"


def test_the_declared_hook_order_is_indexes_streams_ttl() -> None:
    # The order ``import cellstore.api`` gave when hooks registered themselves at import.
    assert (indexes.maintain, streams.record_change, ttl.maintain) == wiring.CHANGE_HOOKS


def test_an_opened_database_carries_the_declared_hooks_and_units() -> None:
    db = wiring.open_database(SqliteStore(None), background=False)
    try:
        assert db.hooks == wiring.CHANGE_HOOKS
        assert db._tasks == {}  # background=False: no units started
    finally:
        db.close()
    assert [unit.name for unit in wiring.BACKGROUND] == ["backfill", "ttl"]


@pytest.mark.parametrize("first", ["cellstore.engine.ttl", "cellstore.engine.items", "cellstore.api"])
def test_hook_order_does_not_depend_on_what_was_imported_first(first: str) -> None:
    """Before the wiring, importing engine.ttl first gave ttl alone, engine.items first streams, indexes, ttl."""
    script = (
        f"import importlib; importlib.import_module({first!r})\n"
        "from cellstore.engine.wiring import open_database\n"
        "from cellstore.storage.sqlite import SqliteStore\n"
        "db = open_database(SqliteStore(None), background=False)\n"
        "print(' '.join(hook.__module__ for hook in db.hooks))\n"
        "db.close()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["cellstore.engine.indexes", "cellstore.engine.streams.hook", "cellstore.engine.ttl"]


def test_items_apply_runs_the_databases_hooks_in_their_order() -> None:
    calls: list[str] = []

    def first(txn: Txn, result: WriteResult) -> None:
        calls.append("first")

    def second(txn: Txn, result: WriteResult) -> None:
        calls.append("second")

    db = Database(SqliteStore(None), hooks=(second, first))
    try:
        catalog.create_table(db, TableSpec("things", (("pk", "S"),), "pk", None, billing_mode=catalog.PAY_PER_REQUEST))
        items.put_item(db, "things", {"pk": {"S": "a"}})
        items.put_item(db, "things", {"pk": {"S": "a"}})  # unchanged: no hooks
        items.delete_item(db, "things", {"pk": {"S": "a"}})
    finally:
        db.close()
    assert calls == ["second", "first", "second", "first"]


def test_a_database_without_declared_hooks_cannot_be_built_by_accident() -> None:
    with pytest.raises(TypeError):
        Database(SqliteStore(None))  # type: ignore[call-arg]
