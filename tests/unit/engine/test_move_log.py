"""engine/move_log.py and the copy it serves (engine/tenant_copy.py): a moving account's changes are logged, in
the same transaction, and a catch-up copies exactly them."""

from __future__ import annotations

import itertools

import pytest

from cellstore.api import dispatch
from cellstore.engine import keyspace, move_log, tenant_copy
from cellstore.engine.database import Database
from cellstore.engine.tenants import Tenants
from cellstore.errors import TenantMoved
from cellstore.storage.sqlite import SqliteStore

ALICE = "111111111111"
PREFIX = keyspace.account_prefix(ALICE)


def tenants() -> Tenants:
    return Tenants(SqliteStore(None), fenced=True, background=False)


def put_item(db: Database, table: str, key: str, value: str = "v") -> None:
    dispatch(db, "PutItem", {"TableName": table, "Item": {"pk": {"S": key}, "v": {"S": value}}})


def create_table(db: Database, table: str) -> None:
    dispatch(db, "CreateTable", {
        "TableName": table, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST",
    })


def logged(cell: Tenants) -> list[move_log.Change]:
    with cell.store.transaction(write=False) as txn:
        return move_log.read(txn, PREFIX)


def account_rows(cell: Tenants) -> dict[bytes, bytes]:
    """The account's raw keys and values, the move's own keys aside."""
    with cell.store.transaction(write=False) as txn:
        return {key: value for start, end in tenant_copy.account_ranges(ALICE) for key, value in txn.range(start, end)
                if not move_log.is_own(key[len(PREFIX):])}


def test_only_a_moving_account_logs_and_its_log_is_in_commit_order() -> None:
    cell = tenants()
    db = cell.database(ALICE)
    create_table(db, "tbl")
    put_item(db, "tbl", "before")
    assert logged(cell) == []  # not moving: nothing is written beyond the change itself
    tenant_copy.start_log(cell, ALICE)
    put_item(db, "tbl", "a")
    put_item(db, "tbl", "b")
    dispatch(db, "DeleteItem", {"TableName": "tbl", "Key": {"pk": {"S": "before"}}})
    changes = logged(cell)
    assert [change.seq for change in changes] == list(range(1, len(changes) + 1))
    assert len(changes) == 3  # one key per item (the table has no index, stream or TTL)
    assert all(change.key.startswith(keyspace.ITEMS) and change.end is None for change in changes)
    store = cell.database(ALICE).store
    with pytest.raises(RuntimeError), store.transaction(write=True) as txn:  # rolled back: logs nothing either
        txn.put(keyspace.ITEMS + b"x", b"y")
        raise RuntimeError("rolled back")
    assert len(logged(cell)) == 3


def test_a_fenced_account_is_refused_and_its_moving_flag_does_not_fence_it() -> None:
    cell = tenants()
    db = cell.database(ALICE)
    create_table(db, "tbl")
    tenant_copy.start_log(cell, ALICE)
    put_item(db, "tbl", "k")  # moving, not fenced: served
    tenant_copy.write_fence(cell, ALICE, "b")
    with pytest.raises(TenantMoved):
        put_item(db, "tbl", "refused")
    with pytest.raises(TenantMoved):
        dispatch(db, "ListTables", {})


def test_catch_up_copies_what_changed_after_the_copy_and_nothing_else() -> None:
    source, target = tenants(), tenants()
    db = source.database(ALICE)
    create_table(db, "tbl")
    create_table(db, "gone")
    for n in range(300):
        put_item(db, "tbl", f"k{n}")
        put_item(db, "gone", f"g{n}")
    tenant_copy.start_log(source, ALICE)
    copied = tenant_copy.copy(source, target, ALICE, workers=3, page=50)
    assert copied.segments > len(keyspace.ACCOUNT_KINDS)  # items cut by table and hash slice
    assert account_rows(target) == account_rows(source)
    for n in range(10):  # while it catches up: puts, an overwrite, deletes, a whole table dropped
        put_item(db, "tbl", f"new{n}")
    put_item(db, "tbl", "k1", "changed")
    dispatch(db, "DeleteItem", {"TableName": "tbl", "Key": {"pk": {"S": "k2"}}})
    dispatch(db, "DeleteTable", {"TableName": "gone"})  # its items: one delete_range, one log entry
    first = tenant_copy.catch_up(source, target, ALICE)
    assert 0 < first.logged < 100  # the changes, not the 600 items
    assert first.scanned <= first.logged  # keys whose values it read: each changed key once
    assert account_rows(target) == account_rows(source)
    assert logged(source) == []  # trimmed
    assert tenant_copy.catch_up(source, target, ALICE).changes == 0
    tenant_copy.write_fence(source, ALICE, "b")
    assert tenant_copy.catch_up(source, target, ALICE).changes == 0
    with target.store.transaction(write=False) as txn:  # the move's own keys stay behind
        assert txn.get(PREFIX + keyspace.TENANT_MOVING) is None
        assert txn.get(PREFIX + keyspace.TENANT_FENCE) is None


def test_a_log_entry_written_after_the_catch_up_read_survives_the_trim() -> None:
    source, target = tenants(), tenants()
    db = source.database(ALICE)
    create_table(db, "tbl")
    tenant_copy.start_log(source, ALICE)
    put_item(db, "tbl", "a")
    with source.store.transaction(write=False) as txn:
        seen = move_log.read(txn, PREFIX)
    put_item(db, "tbl", "b")  # after the pass's snapshot
    move_log.trim(source.store, PREFIX, seen[-1].seq)
    left = logged(source)
    assert len(left) == 1 and left[0].seq == seen[-1].seq + 1
    tenant_copy.copy(source, target, ALICE)
    assert tenant_copy.catch_up(source, target, ALICE).logged == 1


def test_the_copy_deletes_what_the_target_has_beyond_the_sources_tables() -> None:
    source, target = tenants(), tenants()
    db = source.database(ALICE)
    for name in ("one", "two", "three"):
        create_table(db, name)
        put_item(db, name, "k")
    tenant_copy.copy(source, target, ALICE)
    dispatch(db, "DeleteTable", {"TableName": "two"})  # say, while a killed mover was down (the log restarts)
    segments = tenant_copy.segments(source, ALICE)
    assert all(low < high for low, high in segments)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(segments))  # in order, no overlap
    tenant_copy.copy(source, target, ALICE)
    assert account_rows(target) == account_rows(source)



def test_a_handlers_checkpoint_moves_and_its_lease_does_not() -> None:
    from cellstore.engine import mappings

    source, target = tenants(), tenants()
    db = source.database(ALICE)
    create_table(db, "tbl")
    assert mappings.acquire(db, "orders", "source-runner", 10.0)
    mappings.save(db, "orders", "source-runner", checkpoint={"lanes": [3]})
    tenant_copy.start_log(source, ALICE)
    tenant_copy.copy(source, target, ALICE)
    assert mappings.acquire(db, "orders", "source-runner", 10.0)  # renewed while it moves: logged, not copied
    mappings.save(db, "orders", "source-runner", checkpoint={"lanes": [5]})
    tenant_copy.catch_up(source, target, ALICE)
    tenant_copy.write_fence(source, ALICE, "b")
    tenant_copy.catch_up(source, target, ALICE)
    moved = target.database(ALICE)
    assert mappings.load_checkpoint(moved, "orders") == {"lanes": [5]}
    # No lease came along: the target's runner takes the mapping at once, not after the source's lease expires.
    assert mappings.acquire(moved, "orders", "target-runner", 10.0)
    with pytest.raises(TenantMoved):  # while the source's runner can no longer renew, read or checkpoint
        mappings.acquire(db, "orders", "source-runner", 10.0)

    def without_leases(cell: Tenants) -> dict[bytes, bytes]:
        return {k: v for k, v in account_rows(cell).items() if not k.startswith(PREFIX + keyspace.HANDLER_LEASES)}

    assert without_leases(target) == without_leases(source)  # everything else is identical


# --- the fence checked once per account per group commit (move_log.GroupMarks)


@pytest.fixture
def fence_reads(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The storage range reads that look for an account's fence and moving flag, by the raw key they start at."""
    from cellstore.storage import sqlite

    seen: list[bytes] = []
    original = sqlite.SqliteTxn.range

    def range_(self: sqlite.SqliteTxn, start: bytes, end: bytes, **kwargs: object) -> object:
        if start.endswith(keyspace.TENANT_FENCE):
            seen.append(start)
        return original(self, start, end, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite.SqliteTxn, "range", range_)
    return seen


def test_a_group_commit_checks_each_accounts_fence_once_and_a_lone_write_every_time(fence_reads: list[bytes]) -> None:
    cell = tenants()
    alice, bob = cell.database(ALICE), cell.database("222222222222")
    create_table(alice, "tbl")
    create_table(bob, "tbl")
    fence_reads.clear()
    with cell.group() as group:  # the writer process's group (Tenants.group)
        for n in range(5):
            put_item(alice, "tbl", f"a{n}")
            put_item(bob, "tbl", f"b{n}")
        dispatch(alice, "GetItem", {"TableName": "tbl", "Key": {"pk": {"S": "a0"}}})
    assert not group.spoiled
    assert sorted(fence_reads) == sorted([PREFIX + keyspace.TENANT_FENCE,
                                          keyspace.account_prefix("222222222222") + keyspace.TENANT_FENCE])
    fence_reads.clear()
    with alice.group():  # the storage threads' group (Database.group, through the account's store)
        put_item(alice, "tbl", "c1")
        put_item(alice, "tbl", "c2")
    assert fence_reads == [PREFIX + keyspace.TENANT_FENCE]
    fence_reads.clear()
    put_item(alice, "tbl", "lone1")  # outside a group: each transaction checks
    put_item(alice, "tbl", "lone2")
    assert fence_reads == [PREFIX + keyspace.TENANT_FENCE] * 2
    assert dispatch(alice, "Scan", {"TableName": "tbl", "Select": "COUNT"})["Count"] == 9


def test_a_fence_or_a_move_begun_between_two_groups_is_seen_by_the_second(fence_reads: list[bytes]) -> None:
    cell = tenants()
    db = cell.database(ALICE)
    create_table(db, "tbl")
    with cell.group():
        put_item(db, "tbl", "a")
        put_item(db, "tbl", "b")
    assert logged(cell) == []  # not moving
    tenant_copy.start_log(cell, ALICE)  # between two groups: the mover takes the write lock
    with cell.group():
        put_item(db, "tbl", "c")
        put_item(db, "tbl", "d")
    assert len(logged(cell)) == 2  # the second group logged its changes, in its own transaction
    tenant_copy.write_fence(cell, ALICE, "b")
    fence_reads.clear()
    with cell.group():
        for key in ("e", "f"):
            with pytest.raises(TenantMoved):  # every write after the fence fails, each reading it again
                put_item(db, "tbl", key)
    assert len(fence_reads) == 2
    with pytest.raises(TenantMoved):  # and a lone one too
        put_item(db, "tbl", "g")
    with cell.store.transaction(write=False) as txn:
        assert txn.get(PREFIX + keyspace.TENANT_FENCE) is not None


def test_a_group_rolled_back_forgets_its_checks() -> None:
    cell = tenants()
    db = cell.database(ALICE)
    create_table(db, "tbl")
    with pytest.raises(RuntimeError), cell.group():
        put_item(db, "tbl", "a")
        raise RuntimeError("rolled back")
    tenant_copy.start_log(cell, ALICE)
    with cell.group():
        put_item(db, "tbl", "b")
    assert len(logged(cell)) == 1
