"""A table's stored definition and the key rules every item operation shares.

The catalog record of a table (under ``keycodec.table_name_key(name)``) is
JSON: ``{"id": <int>, "description": <DynamoDB TableDescription>, "tags": [...],
"state": {...}}``; ``state`` holds what the engine keeps about a table that is
no part of any AWS response (index numbers, backfill cursors, TTL settings).
The description is kept in DynamoDB's own shape so DescribeTable is a copy
plus the live counters; ``id`` is an internal number, never reused, that
prefixes every item key of the table, so a table deleted and re-created under
the same name can never see the old incarnation's items.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from cellstore.engine import keycodec, keyspace
from cellstore.engine.values import Item, value_size
from cellstore.errors import INVALID_PARAMETERS, ResourceNotFoundException, ValidationException
from cellstore.storage.base import Txn, prefix_end

#: The ``Table.state`` member of a table a restore is still filling (``engine/backups.py``): it is CREATING.
RESTORING = "restore"

MAX_HASH_KEY_BYTES = 2048
MAX_RANGE_KEY_BYTES = 1024

#: The attribute types a key attribute may have (AttributeDefinitions' AttributeType).
KeyType = Literal["S", "N", "B"]


@dataclass(frozen=True, slots=True)
class KeyAttribute:
    name: str
    type: KeyType


def split_key_schema(
    key_schema: list[dict[str, str]], types: dict[str, KeyType]
) -> tuple[list[KeyAttribute], list[KeyAttribute]]:
    """A stored KeySchema's HASH and RANGE attributes, each in key-schema order, with their types.

    The one reading of a stored key schema, shared by tables (one attribute
    of each kind at most) and indexes (several, for multi-attribute keys);
    ``types`` maps each AttributeDefinitions name to its type.
    """
    hash_keys: list[KeyAttribute] = []
    range_keys: list[KeyAttribute] = []
    for element in key_schema:
        name = element["AttributeName"]
        (hash_keys if element["KeyType"] == "HASH" else range_keys).append(KeyAttribute(name, types[name]))
    return hash_keys, range_keys


@dataclass(slots=True)
class Table:
    id: int
    name: str
    hash_key: KeyAttribute
    range_key: KeyAttribute | None
    description: dict[str, Any]
    tags: list[dict[str, str]]
    state: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Table:
        description = record["description"]
        types = {d["AttributeName"]: d["AttributeType"] for d in description["AttributeDefinitions"]}
        hash_keys, range_keys = split_key_schema(description["KeySchema"], types)
        if not hash_keys:
            raise ValueError(f"stored table {description['TableName']} has no HASH key")
        return cls(
            record["id"],
            description["TableName"],
            hash_keys[-1],
            range_keys[-1] if range_keys else None,
            description,
            record.get("tags", []),
            record.get("state", {}),
        )

    def copy(self) -> Table:
        """A private copy whose description, tags and state may be changed and saved."""
        return Table(
            self.id,
            self.name,
            self.hash_key,
            self.range_key,
            copy.deepcopy(self.description),
            copy.deepcopy(self.tags),
            copy.deepcopy(self.state),
        )

    def to_record(self) -> bytes:
        record: dict[str, Any] = {"id": self.id, "description": self.description, "tags": self.tags}
        if self.state:
            record["state"] = self.state
        return orjson.dumps(record)

    @property
    def key_names(self) -> tuple[str, ...]:
        if self.range_key is None:
            return (self.hash_key.name,)
        return (self.hash_key.name, self.range_key.name)

    @property
    def hash_names(self) -> tuple[str, ...]:
        """The partition key attribute(s), as an index with a multi-attribute key has them."""
        return (self.hash_key.name,)

    @property
    def range_names(self) -> tuple[str, ...]:
        """The sort key attribute(s): none, or the one sort key."""
        return () if self.range_key is None else (self.range_key.name,)

    def key_of(self, item: Item) -> Item:
        return {name: item[name] for name in self.key_names if name in item}

    def item_key(self, item: Item) -> bytes:
        """Storage key of an item (or key) already checked by ``check_key``/``check_item_keys``."""
        return keycodec.item_key(
            self.id,
            item[self.hash_key.name],
            None if self.range_key is None else item[self.range_key.name],
        )

    def check_key(self, key: Item) -> None:
        """A Key parameter must name exactly the key schema's attributes, with their types."""
        if len(key) != len(self.key_names) or any(name not in key for name in self.key_names):
            raise ValidationException("The provided key element does not match the schema")
        self._check_key_values(key, for_key=True)

    def check_item_keys(self, item: Item) -> None:
        """An item written must carry every key attribute with the declared type."""
        for attribute in self._key_attributes():
            if attribute.name not in item:
                raise ValidationException(
                    f"{INVALID_PARAMETERS}Missing the key "
                    f"{attribute.name} in the item"
                )
        self._check_key_values(item, for_key=False)

    def _key_attributes(self) -> list[KeyAttribute]:
        return [self.hash_key] if self.range_key is None else [self.hash_key, self.range_key]

    def _check_key_values(self, item: Item, *, for_key: bool) -> None:
        for attribute in self._key_attributes():
            value = item[attribute.name]
            kind = next(iter(value))
            if kind != attribute.type:
                if for_key:
                    raise ValidationException("The provided key element does not match the schema")
                raise ValidationException(
                    f"{INVALID_PARAMETERS}Type mismatch for key "
                    f"{attribute.name} expected: {attribute.type} actual: {kind}"
                )
            if value[kind] == "" and kind in ("S", "B"):
                raise ValidationException(
                    "One or more parameter values are not valid. The AttributeValue for a key "
                    "attribute cannot contain an empty "
                    f"{'string' if kind == 'S' else 'binary'} value. Key: {attribute.name}"
                )
            size = value_size(value)
            if attribute is self.hash_key and size > MAX_HASH_KEY_BYTES:
                raise ValidationException(
                    f"{INVALID_PARAMETERS}Size of hashkey has exceeded "
                    "the maximum size limit of2048 bytes"
                )
            if attribute is self.range_key and size > MAX_RANGE_KEY_BYTES:
                raise ValidationException(
                    f"{INVALID_PARAMETERS}Aggregated size of all range "
                    "keys has exceeded the size limit of 1024 bytes"
                )


# Parsed table records, keyed by the record's exact stored bytes.  A request
# still reads the record inside its own transaction (so it sees exactly what
# that transaction sees, whichever process last changed it); only the
# ``orjson.loads`` + ``Table.from_record`` of bytes already seen is skipped.
# A changed record is different bytes and so a different entry: nothing can be
# served stale.  The objects are shared between requests and threads, so they
# must never be mutated: ``load_table`` is for readers and item writes;
# anything that changes and saves a table takes ``find_table`` (a fresh
# object) or ``Table.copy()``.
_PARSED: dict[bytes, Table] = {}
_PARSED_LIMIT = 512


def _parsed(raw: bytes) -> Table:
    table = _PARSED.get(raw)
    if table is None:
        table = Table.from_record(orjson.loads(raw))
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()  # rare (table churn); simpler and safe without a lock
        _PARSED[bytes(raw)] = table
    return table


def load_table(txn: Txn, name: str, *, creating: bool = False) -> Table:
    """The table named ``name`` as this transaction sees it, for an item operation; or ResourceNotFoundException.

    A table a restore is still filling (CREATING) is not there for item
    operations either, as in DynamoDB ("its status might not be ACTIVE"),
    unless ``creating`` (a check that only needs its schema).  The object is
    shared (see ``_PARSED``): read it, never change it; to change and save a
    table use ``find_table`` or ``Table.copy()``.  Read with
    ``Txn.get_stable``: every request reads it first, and it rarely changes.
    """
    raw = txn.get_stable(keycodec.table_name_key(name))
    if raw is None:
        raise ResourceNotFoundException()
    table = _parsed(raw)
    if RESTORING in table.state and not creating:
        raise ResourceNotFoundException()
    return table


def find_table(txn: Txn, name: str) -> Table | None:
    """The table as this transaction sees it, as a fresh object the caller may change and save."""
    raw = txn.get(keycodec.table_name_key(name))
    return None if raw is None else Table.from_record(orjson.loads(raw))


def save_table(txn: Txn, table: Table) -> None:
    txn.put(keycodec.table_name_key(table.name), table.to_record())


def backfill_step(
    txn: Txn,
    table: Table,
    progress: dict[str, Any],
    visit: Callable[[bytes, bytes], None],
    batch: int,
    finish: Callable[[], None] | None = None,
) -> bool:
    """Pass the next ``batch`` items of ``table`` to ``visit``; True while more remain.

    The one cursor loop behind every backfill (a global index being created,
    TTL being enabled on a populated table), so that resuming, finishing and
    saving work the same for each.  ``progress`` is the backfill's own dict in
    ``table.state``: its ``cursor`` (the hex storage key last visited) is saved
    after each step, and it loses ``cursor`` and ``backfill`` once the table
    is exhausted, after ``finish`` has had its say.  Runs inside the caller's
    write transaction, which must have loaded ``table`` itself; ``visit`` gets
    each item's storage key and stored bytes and must be idempotent, because a
    step that fails is repeated.
    """
    prefix = keycodec.table_prefix(table.id)
    cursor = progress.get("cursor")
    start = prefix if cursor is None else bytes.fromhex(cursor) + b"\x00"
    rows = list(txn.range(start, prefix_end(prefix), limit=batch))
    for storage_key, raw in rows:
        visit(storage_key, raw)
    if len(rows) < batch:
        progress.pop("cursor", None)
        progress.pop("backfill", None)
        if finish is not None:
            finish()
        save_table(txn, table)
        return False
    progress["cursor"] = rows[-1][0].hex()
    save_table(txn, table)
    return True


def next_table_id(txn: Txn) -> int:
    raw = txn.get(keyspace.TABLE_SEQ)
    value = 1 if raw is None else int(raw) + 1
    txn.put(keyspace.TABLE_SEQ, str(value).encode())
    return value
