"""Accounts as keyspaces of their own inside one backend (engine/tenants.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from cellstore.engine import catalog, keyspace
from cellstore.engine.catalog import TableSpec, Throughput
from cellstore.engine.tenants import DEFAULT_ACCOUNT, Tenants, account_store, is_account_id, stored_accounts
from cellstore.engine.wiring import open_database
from cellstore.errors import TenantMoved
from cellstore.storage.sqlite import SqliteStore

ALICE = "111111111111"
BOB = "222222222222"


def spec(name: str) -> TableSpec:
    return TableSpec(
        name=name,
        attribute_definitions=(("pk", "S"),),
        hash_key="pk",
        range_key=None,
        throughput=Throughput(5, 5),
    )


@pytest.fixture
def tenants() -> Iterator[Tenants]:
    t = Tenants(SqliteStore(None), background=False)
    yield t
    t.close()


def test_two_accounts_each_have_their_own_table_of_one_name(tenants: Tenants) -> None:
    alice, bob = tenants.database(ALICE), tenants.database(BOB)
    a = catalog.create_table(alice, spec("orders"))
    b = catalog.create_table(bob, spec("orders"))
    assert a["TableArn"] == f"arn:aws:dynamodb:us-east-1:{ALICE}:table/orders"
    assert b["TableArn"] == f"arn:aws:dynamodb:us-east-1:{BOB}:table/orders"
    catalog.delete_table(alice, "orders")
    assert catalog.list_table_names(alice, None, 100) == ([], False)
    assert catalog.list_table_names(bob, None, 100) == (["orders"], False)
    assert catalog.list_table_names(tenants.database(DEFAULT_ACCOUNT), None, 100) == ([], False)


def test_the_default_account_is_the_root_keyspace() -> None:
    """A data directory from before accounts existed is the default account's, as it was."""
    store = SqliteStore(None)
    db = open_database(store, background=False)
    catalog.create_table(db, spec("legacy"))
    db.stop()
    tenants = Tenants(store, background=False)
    assert catalog.list_table_names(tenants.database(DEFAULT_ACCOUNT), None, 100) == (["legacy"], False)
    assert account_store(store, DEFAULT_ACCOUNT) is store
    tenants.close()


def test_stored_accounts_lists_each_account_with_data_once(tenants: Tenants) -> None:
    for account in (BOB, ALICE):
        catalog.create_table(tenants.database(account), spec("t1"))
        catalog.create_table(tenants.database(account), spec("t2"))
    assert stored_accounts(tenants.store) == [ALICE, BOB]
    assert tenants.open_stored() == [DEFAULT_ACCOUNT, ALICE, BOB]


def test_a_fence_refuses_reads_and_writes_of_that_account_only() -> None:
    store = SqliteStore(None)
    tenants = Tenants(store, background=False, fenced=True)
    alice = tenants.database(ALICE)
    catalog.create_table(alice, spec("orders"))
    catalog.create_table(tenants.database(BOB), spec("orders"))
    with store.transaction(write=True) as txn:
        txn.put(keyspace.account_prefix(ALICE) + keyspace.TENANT_FENCE, json.dumps({"cell": "b"}).encode())
    with pytest.raises(TenantMoved) as moved:
        catalog.describe_table(alice, "orders")
    assert moved.value.cell == "b"
    with pytest.raises(TenantMoved):
        catalog.create_table(alice, spec("more"))
    assert catalog.describe_table(tenants.database(BOB), "orders")["TableName"] == "orders"
    tenants.close()


@pytest.mark.parametrize("value", ["12345678901", "1234567890123", "12345678901a", "١٢٣٤٥٦٧٨٩٠١٢", ""])
def test_account_ids_are_twelve_ascii_digits(value: str) -> None:
    assert not is_account_id(value)
    with pytest.raises(ValueError):
        account_store(SqliteStore(None), value)
