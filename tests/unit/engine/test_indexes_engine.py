"""engine.indexes and engine.ttl without a server: entries, backfill, restart, sweeping, background tasks."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson
import pytest

from cellstore.engine import background, catalog, indexes, items, keycodec, ttl, wiring
from cellstore.engine.catalog import TableSpec, TableUpdate
from cellstore.engine.database import Database
from cellstore.engine.indexes import IndexSpec, IndexUpdate
from cellstore.engine.tables import find_table, load_table
from cellstore.engine.wiring import open_database
from cellstore.errors import ValidationException
from cellstore.storage.base import prefix_end
from cellstore.storage.sqlite import SqliteStore

BY_G = IndexSpec("by-g", ("g",), (), "INCLUDE", ("v",))


def spec(name: str = "things", **fields: object) -> TableSpec:
    base: dict[str, object] = {
        "name": name,
        "attribute_definitions": (("pk", "S"), ("sk", "N")),
        "hash_key": "pk",
        "range_key": "sk",
        "billing_mode": catalog.PAY_PER_REQUEST,
    }
    base.update(fields)
    return TableSpec(**base)  # type: ignore[arg-type]


def put(db: Database, n: int, **extra: object) -> None:
    item = {"pk": {"S": f"p{n % 7}"}, "sk": {"N": str(n)}, **extra}
    items.put_item(db, "things", item)  # type: ignore[arg-type]


def entries(db: Database, name: str = "things", index: str = "by-g") -> list[tuple[bytes, bytes]]:
    with db.store.transaction(write=False) as txn:
        table = load_table(txn, name)
        prefix = indexes.find_index(table, index).prefix(table)
        return list(txn.range(prefix, prefix_end(prefix)))


def without_prefix(rows: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Entries with the table id and index number cut off, to compare two tables' indexes."""
    return [(key[11:], value) for key, value in rows]


def test_entry_layout_and_sparseness(db: Database) -> None:
    catalog.create_table(db, spec(attribute_definitions=(("pk", "S"), ("sk", "N"), ("g", "S")), global_indexes=(BY_G,)))
    put(db, 1, g={"S": "G"}, v={"N": "1"}, w={"S": "not projected"})
    put(db, 2)  # no g: not in the index
    ((key, value),) = entries(db)
    with db.store.transaction(write=False) as txn:
        table = load_table(txn, "things")
    encoded_g = keycodec.encode_value({"S": "G"})
    assert key == (
        keycodec.index_prefix(table.id, 1) + keycodec.partition_hash(encoded_g) + encoded_g
        + keycodec.encode_value({"S": "p1"}) + keycodec.encode_value({"N": "1"})
    )
    assert orjson.loads(value) == {"pk": {"S": "p1"}, "sk": {"N": "1"}, "g": {"S": "G"}, "v": {"N": "1"}}


def test_wrong_type_rolls_back_the_write(db: Database) -> None:
    catalog.create_table(db, spec(attribute_definitions=(("pk", "S"), ("sk", "N"), ("g", "S")), global_indexes=(BY_G,)))
    with pytest.raises(ValidationException, match="Type mismatch for Index Key g Expected: S Actual: N IndexName: by-g"):
        put(db, 1, g={"N": "5"})
    assert items.get_item(db, "things", {"pk": {"S": "p1"}, "sk": {"N": "1"}})[1] is None
    with pytest.raises(ValidationException, match=r"cannot contain an empty string value. IndexName: by-g, IndexKey: g"):
        put(db, 1, g={"S": ""})


def _create_online(db: Database) -> None:
    catalog.update_table(db, "things", TableUpdate(
        index_updates=(IndexUpdate("Create", "by-g", create=BY_G),), attribute_definitions=(("g", "S"),)))


def test_backfill_resumes_after_restart_and_equals_a_fresh_build(tmp_path: Path) -> None:
    path = tmp_path / "cellstore.db"
    db = open_database(SqliteStore(path), background=False)
    catalog.create_table(db, spec())
    for n in range(100):
        put(db, n, **({"g": {"S": f"G{n % 5}"}, "v": {"N": str(n)}} if n % 3 else {}))
    _create_online(db)
    put(db, 1000, g={"S": "new"})  # maintained by the hook while the backfill has not started
    with db.store.transaction(write=True) as txn:
        table = find_table(txn, "things")
        assert indexes.backfill_index_step(txn, table, "by-g", batch=30) is True
    db.close()

    db = open_database(SqliteStore(path), background=False)  # a restart: the cursor was saved
    with db.store.transaction(write=False) as txn:
        table = load_table(txn, "things")
        assert table.state["indexes"]["by-g"]["cursor"]
    assert catalog.describe_table(db, "things")["GlobalSecondaryIndexes"][0]["IndexStatus"] == "CREATING"
    put(db, 5, g={"S": "moved"}, v={"N": "5"})  # an item the backfill already passed changes
    items.delete_item(db, "things", {"pk": {"S": "p1"}, "sk": {"N": "99"}})  # one it has not reached goes
    background.run_backfills(db)
    described = catalog.describe_table(db, "things")["GlobalSecondaryIndexes"][0]
    assert described["IndexStatus"] == "ACTIVE" and "Backfilling" not in described
    online = entries(db)

    # The same data in a table created with the index from the start.
    with db.store.transaction(write=False) as txn:
        rows = [orjson.loads(raw) for _, raw in txn.range(keycodec.table_prefix(table.id), prefix_end(keycodec.table_prefix(table.id)))]
    catalog.create_table(db, spec("fresh", attribute_definitions=(("pk", "S"), ("sk", "N"), ("g", "S")), global_indexes=(BY_G,)))
    for row in rows:
        items.put_item(db, "fresh", row)
    assert without_prefix(online) == without_prefix(entries(db, "fresh"))
    assert len(online) == 67  # 66 items with g, plus the one written during the backfill
    db.close()


def test_two_workers_backfill_together(tmp_path: Path) -> None:
    """Two processes' databases (here: two connections) running the backfill at once finish it exactly."""
    path = tmp_path / "cellstore.db"
    first = open_database(SqliteStore(path), background=False)
    second = open_database(SqliteStore(path), background=False)
    catalog.create_table(first, spec())
    for n in range(1500):
        put(first, n, g={"S": f"G{n % 11}"}, v={"N": str(n)})
    _create_online(first)
    threads = [threading.Thread(target=background.run_backfills, args=(d,)) for d in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert catalog.describe_table(second, "things")["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"
    assert len(entries(first)) == 1500
    with first.store.transaction(write=False) as txn:
        assert list(txn.range(indexes.BACKFILL_MARKERS, prefix_end(indexes.BACKFILL_MARKERS))) == []
    first.close()
    second.close()


def test_deleting_an_index_drops_its_entries(db: Database) -> None:
    catalog.create_table(db, spec(attribute_definitions=(("pk", "S"), ("sk", "N"), ("g", "S")), global_indexes=(BY_G,)))
    put(db, 1, g={"S": "G"})
    catalog.update_table(db, "things", TableUpdate(index_updates=(IndexUpdate("Delete", "by-g"),)))
    with db.store.transaction(write=False) as txn:
        table = load_table(txn, "things")
        start = keycodec.index_table_prefix(table.id)
        assert list(txn.range(start, prefix_end(start))) == []


# ---- TTL ------------------------------------------------------------------------------


def ttl_table(db: Database) -> None:
    catalog.create_table(db, spec())
    ttl.update(db, "things", True, "exp")
    background.run_backfills(db)


def count(db: Database) -> int:
    with db.store.transaction(write=False) as txn:
        table = load_table(txn, "things")
        return txn.range_stats(keycodec.table_prefix(table.id), prefix_end(keycodec.table_prefix(table.id)))[0]


def test_sweep_deletes_only_expired_numbers(db: Database) -> None:
    ttl_table(db)
    now = 1_700_000_000.0
    put(db, 1, exp={"N": str(now - 1)})
    put(db, 2, exp={"N": str(now + 1)})
    put(db, 3, exp={"S": str(now - 1)})
    put(db, 4)
    put(db, 5, exp={"N": str(now - ttl.MAX_AGE_SECONDS - 10)})
    put(db, 6, exp={"N": f"{now - 0.5}"})
    put(db, 7, exp={"N": f"{now + 0.5}"})  # the same second as "now", later within it
    assert ttl.sweep(db, now=now) == 2
    remaining = {n for n in range(1, 8) if items.get_item(db, "things", {"pk": {"S": f"p{n % 7}"}, "sk": {"N": str(n)}})[1]}
    assert remaining == {2, 3, 4, 5, 7}
    assert ttl.sweep(db, now=now + 2) == 2


def test_sweep_in_batches_and_by_two_workers(tmp_path: Path) -> None:
    path = tmp_path / "cellstore.db"
    first = open_database(SqliteStore(path), background=False)
    second = open_database(SqliteStore(path), background=False)
    ttl_table(first)
    for n in range(450):
        put(first, n, exp={"N": "1000000"})
    now = 1_000_100.0
    results: list[int] = []
    threads = [threading.Thread(target=lambda d=d: results.append(ttl.sweep(d, now=now))) for d in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 450 and count(first) == 0
    first.close()
    second.close()


def test_disable_drops_entries_and_enable_backfills(db: Database) -> None:
    catalog.create_table(db, spec())
    put(db, 1, exp={"N": "5"})
    ttl.update(db, "things", True, "exp")
    assert ttl.sweep(db, now=10.0) == 0  # not indexed until the backfill ran
    background.run_backfills(db)
    ttl.update(db, "things", False, "exp")
    with db.store.transaction(write=False) as txn:
        table = load_table(txn, "things")
        start = keycodec.expiry_prefix(table.id)
        assert list(txn.range(start, prefix_end(start))) == []
    assert ttl.sweep(db, now=10.0) == 0
    ttl.update(db, "things", True, "exp")
    background.run_backfills(db)
    assert ttl.sweep(db, now=10.0) == 1


def test_ttl_deletion_is_a_real_delete_with_origin_ttl() -> None:
    seen: list[str] = []

    def hook(txn: object, result: items.WriteResult) -> None:
        seen.append(result.origin)

    db = Database(SqliteStore(None), hooks=wiring.CHANGE_HOOKS + (hook,))
    try:
        ttl_table(db)
        put(db, 1, exp={"N": "5"})
        ttl.sweep(db, now=10.0)
    finally:
        db.close()
    assert seen == ["user", "ttl"]


def test_background_tasks_run_and_stop_on_close() -> None:
    db = open_database(SqliteStore(None), ttl_interval=0.05)
    catalog.create_table(db, spec())
    ttl.update(db, "things", True, "exp")
    put(db, 1, exp={"N": str(time.time() - 1)})
    deadline = time.monotonic() + 5
    while count(db) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert count(db) == 0
    threads = [task.thread for task in db._tasks.values()]
    db.close()
    assert not any(thread.is_alive() for thread in threads)


def test_ttl_interval_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELLSTORE_TTL_INTERVAL", "2.5")
    db = open_database(SqliteStore(None), background=False)
    assert db.ttl_interval == 2.5
    db.close()
    with pytest.raises(ValueError):
        open_database(SqliteStore(None), ttl_interval=0, background=False)
