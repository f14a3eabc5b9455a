"""Secondary indexes: their definitions, entries kept atomic with each item change, and backfill.

An index entry lives at

    0x04 <table id:8> <index number:2> <hash of index pk:8> <index pk> [<index sk>] <pk> [<sk>]

and holds the item as the index projects it (JSON).  A GSI with a
multi-attribute key (up to four partition and four sort attributes) stores
each part as the tuple of its values, one encoding after another
(``keycodec.encode_values``); a 1-tuple is the single value's bytes, so
single-attribute indexes keep exactly their layout.  The layout mirrors the
table's own (``keycodec``): the hash spreads index partitions and orders a
Scan, a Query is one range read under ``<hash> <index pk>``, and appending the
table key makes entries with equal index keys distinct and ordered.  A local
index has the same layout; its partition key is the table's.

Entries are written by a change hook (``maintain``, declared in
``engine/wiring.py``) inside the
transaction of the base write, so an index is never behind its table — stronger
than DynamoDB, whose global indexes are eventually consistent.  An item lacking
an index key attribute has no entry (the index is sparse); one whose index key
has the wrong type is refused with DynamoDB's ValidationException.

Index numbers are never reused within a table, so a deleted index's entries
(removed by one range delete) can never be mistaken for a new index's.

Online creation (UpdateTable ``Create``): the index is written into the
description as CREATING and is maintained by the hook from that same
transaction on; ``backfill_index_step`` (through ``tables.backfill_step``, the
cursor loop TTL's backfill shares) then walks the table in key order in small,
separate write transactions, re-reading each item and writing the entry the
hook would have written.  The cursor (last table key done) is saved in the
table's ``state`` in the same transaction, so a restart resumes where it
stopped and two workers never redo or skip a batch.  Every step is idempotent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from cellstore.engine import keycodec, keyspace, tables
from cellstore.engine.changes import WriteResult
from cellstore.engine.tables import MAX_HASH_KEY_BYTES, MAX_RANGE_KEY_BYTES, KeyAttribute, Table, split_key_schema
from cellstore.engine.values import AttributeValue, Item, value_size
from cellstore.errors import (
    INVALID_PARAMETERS,
    ItemCollectionSizeLimitExceededException,
    LimitExceededException,
    ResourceNotFoundException,
    ValidationException,
)
from cellstore.storage.base import Txn, prefix_end

MAX_GLOBAL = 20
MAX_LOCAL = 5
MAX_PROJECTED_ATTRIBUTES = 100
# A GSI key may hold up to this many partition and this many sort attributes.
MAX_KEY_ATTRIBUTES = 4
# DynamoDB's item-collection limit for tables with local indexes.  A module
# constant so tests can lower it.
COLLECTION_LIMIT = 10 * 1024**3
BACKFILL_BATCH = 256

GLOBAL = "GlobalSecondaryIndexes"
LOCAL = "LocalSecondaryIndexes"

# Work markers: ``<META> "backfill/" <table name>`` exists while a table has
# a backfill to run (an index being created, or TTL being enabled); run by
# ``background.run_backfills``.
BACKFILL_MARKERS = keyspace.BACKFILLS

#: What an index copies from its table (Projection.ProjectionType).
ProjectionType = Literal["ALL", "KEYS_ONLY", "INCLUDE"]
#: An index's IndexStatus as cellstore keeps it: CREATING while its backfill runs.
IndexStatus = Literal["ACTIVE", "CREATING"]
#: The member of one GlobalSecondaryIndexUpdate.
IndexAction = Literal["Create", "Update", "Delete"]



@dataclass(frozen=True, slots=True)
class IndexSpec:
    """One index of a CreateTable or UpdateTable request, already checked.

    ``hash_keys``/``range_keys`` hold one attribute each for a classic key, up
    to four each for a GSI with a multi-attribute key (key-schema order).
    """

    name: str
    hash_keys: tuple[str, ...]
    range_keys: tuple[str, ...]
    projection_type: ProjectionType
    non_key_attributes: tuple[str, ...] = ()
    throughput: tuple[int, int] | None = None  # (read, write)


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    number: int
    is_global: bool
    hash_keys: tuple[KeyAttribute, ...]  # partition attributes, key-schema order (1 to 4)
    range_keys: tuple[KeyAttribute, ...]  # sort attributes, key-schema order (0 to 4)
    projection_type: ProjectionType
    non_key_attributes: frozenset[str]
    status: IndexStatus
    # The names of hash_keys, of range_keys and of both, in key-schema order
    # (built once by ``indexes_of``: every Query and write asks for them).
    hash_names: tuple[str, ...]
    range_names: tuple[str, ...]
    key_names: tuple[str, ...]

    @property
    def hash_key(self) -> KeyAttribute:
        """The first partition attribute (the only one unless the key has several)."""
        return self.hash_keys[0]

    def projects(self, table: Table, name: str) -> bool:
        if self.projection_type == "ALL" or name in table.key_names or name in self.key_names:
            return True
        return self.projection_type == "INCLUDE" and name in self.non_key_attributes

    def prefix(self, table: Table) -> bytes:
        return keycodec.index_prefix(table.id, self.number)


# ---- definitions -------------------------------------------------------------


def has_indexes(table: Table) -> bool:
    description = table.description
    return GLOBAL in description or LOCAL in description


def indexes_of(table: Table) -> list[Index]:
    description = table.description
    if GLOBAL not in description and LOCAL not in description:
        return []
    types = {d["AttributeName"]: d["AttributeType"] for d in description["AttributeDefinitions"]}
    numbers = table.state.get("indexes", {})
    found = []
    for kind in (LOCAL, GLOBAL):
        for entry in description.get(kind, ()):
            hash_keys, range_keys = split_key_schema(entry["KeySchema"], types)
            hash_names = [attribute.name for attribute in hash_keys]
            range_names = [attribute.name for attribute in range_keys]
            if not hash_keys:
                raise ValueError(f"stored index {entry['IndexName']} has no HASH key")
            projection = entry["Projection"]
            found.append(
                Index(
                    entry["IndexName"],
                    numbers[entry["IndexName"]]["number"],
                    kind == GLOBAL,
                    tuple(hash_keys),
                    tuple(range_keys),
                    projection.get("ProjectionType", "ALL"),
                    frozenset(projection.get("NonKeyAttributes", ())),
                    entry.get("IndexStatus", "ACTIVE"),
                    tuple(hash_names),
                    tuple(range_names),
                    tuple(hash_names + range_names),
                )
            )
    return found


def find_index(table: Table, name: str) -> Index:
    """The index ``name`` of ``table``, or DynamoDB's ValidationException."""
    for index in indexes_of(table):
        if index.name == name:
            return index
    raise ValidationException(f"The table does not have the specified index: {name}")


def _projection(spec: IndexSpec) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": spec.projection_type}
    if spec.non_key_attributes:
        projection["NonKeyAttributes"] = list(spec.non_key_attributes)
    return projection


def _key_schema(spec: IndexSpec) -> list[dict[str, str]]:
    return [{"AttributeName": name, "KeyType": "HASH"} for name in spec.hash_keys] + [
        {"AttributeName": name, "KeyType": "RANGE"} for name in spec.range_keys
    ]


def _new_number(table: Table, name: str) -> int:
    state = table.state
    number = int(state.get("next_index", 1))
    state["next_index"] = number + 1
    state.setdefault("indexes", {})[name] = {"number": number}
    return number


def add_created_indexes(table: Table, local: tuple[IndexSpec, ...], global_: tuple[IndexSpec, ...]) -> None:
    """Indexes given to CreateTable: the table is empty, so they are ACTIVE at once."""
    arn = table.description["TableArn"]
    if local:
        table.description[LOCAL] = []
    for spec in local:
        _new_number(table, spec.name)
        table.description[LOCAL].append(
            {"IndexName": spec.name, "KeySchema": _key_schema(spec), "Projection": _projection(spec),
             "IndexArn": f"{arn}/index/{spec.name}"}
        )
    if global_:
        table.description[GLOBAL] = []
    for spec in global_:
        _new_number(table, spec.name)
        table.description[GLOBAL].append(_global_entry(table, spec, "ACTIVE"))


def _global_entry(table: Table, spec: IndexSpec, status: str) -> dict[str, Any]:
    read, write = spec.throughput or (0, 0)
    entry: dict[str, Any] = {
        "IndexName": spec.name,
        "KeySchema": _key_schema(spec),
        "Projection": _projection(spec),
        "IndexStatus": status,
        "ProvisionedThroughput": {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": read, "WriteCapacityUnits": write},
        "IndexArn": f"{table.description['TableArn']}/index/{spec.name}",
    }
    if status == "CREATING":
        entry["Backfilling"] = True
    return entry


def describe_into(txn: Txn, table: Table, description: dict[str, Any]) -> None:
    """Add each index's live ItemCount and IndexSizeBytes to a copy of the description."""
    if not has_indexes(table):
        return
    numbers = table.state.get("indexes", {})
    for kind in (LOCAL, GLOBAL):
        if kind not in description:
            continue
        entries = []
        for entry in description[kind]:
            entry = dict(entry)
            prefix = keycodec.index_prefix(table.id, numbers[entry["IndexName"]]["number"])
            entry["ItemCount"], entry["IndexSizeBytes"] = txn.range_stats(prefix, prefix_end(prefix))
            entries.append(entry)
        description[kind] = entries


def delete_all(txn: Txn, table_id: int) -> None:
    """Remove every index entry of a table (DeleteTable)."""
    start = keycodec.index_table_prefix(table_id)
    txn.delete_range(start, prefix_end(start))


# ---- UpdateTable: GlobalSecondaryIndexUpdates ---------------------------------------


@dataclass(frozen=True, slots=True)
class IndexUpdate:
    action: IndexAction
    name: str
    create: IndexSpec | None = None
    throughput: tuple[int, int] | None = None


def apply_updates(
    txn: Txn, table: Table, updates: tuple[IndexUpdate, ...], definitions: tuple[tuple[str, str], ...]
) -> bool:
    """Apply GSI Create/Update/Delete to ``table`` (saved by the caller); True if a backfill was started."""
    description = table.description
    existing = {entry["IndexName"]: entry for entry in description.get(GLOBAL, [])}
    local_names = {entry["IndexName"] for entry in description.get(LOCAL, [])}
    online = [u for u in updates if u.action in ("Create", "Delete")]
    creating = [name for name, entry in existing.items() if entry.get("IndexStatus") == "CREATING"]
    if len(online) > 1 or (online and creating):
        raise LimitExceededException(
            "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table"
        )
    started = False
    for update in updates:
        if update.action == "Create":
            spec = update.create
            if spec is None:
                raise ValueError("Create without a spec")
            if spec.name in existing or spec.name in local_names:
                raise ValidationException(f"{INVALID_PARAMETERS}Attempting to create an index which already exists")
            if len(existing) >= MAX_GLOBAL:
                raise ValidationException(
                    f"{INVALID_PARAMETERS}Number of GlobalSecondaryIndexes exceeds per-table limit of {MAX_GLOBAL}"
                )
            _merge_definitions(description, definitions, spec)
            check_projected_total(
                [e["Projection"] for e in description.get(GLOBAL, []) + description.get(LOCAL, [])]
                + [_projection(spec)]
            )
            _new_number(table, spec.name)
            table.state["indexes"][spec.name]["backfill"] = True
            description.setdefault(GLOBAL, []).append(_global_entry(table, spec, "CREATING"))
            txn.put(BACKFILL_MARKERS + table.name.encode("utf-8"), b"")
            existing[spec.name] = description[GLOBAL][-1]
            started = True
        elif update.action == "Delete":
            if update.name not in existing:
                raise _unknown_index(update.name, table.name)
            number = table.state["indexes"].pop(update.name)["number"]
            description[GLOBAL] = [e for e in description[GLOBAL] if e["IndexName"] != update.name]
            if not description[GLOBAL]:
                del description[GLOBAL]
            prefix = keycodec.index_prefix(table.id, number)
            txn.delete_range(prefix, prefix_end(prefix))
            del existing[update.name]
        else:
            if update.name not in existing:
                raise _unknown_index(update.name, table.name)
            if update.throughput is not None:
                throughput = existing[update.name]["ProvisionedThroughput"]
                throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"] = update.throughput
    return started


def _unknown_index(name: str, table: str) -> Exception:
    return ResourceNotFoundException(f"Requested resource not found: Index: {name} not found for table: {table}")


def _merge_definitions(description: dict[str, Any], definitions: tuple[tuple[str, str], ...], spec: IndexSpec) -> None:
    current = {d["AttributeName"]: d["AttributeType"] for d in description["AttributeDefinitions"]}
    given = dict(definitions)
    keys = spec.hash_keys + spec.range_keys
    for name in keys:
        if name not in given and name not in current:
            raise ValidationException(
                f"{INVALID_PARAMETERS}Some index key attributes are not defined in AttributeDefinitions. "
                f"Keys: [{', '.join(keys)}], AttributeDefinitions: [{', '.join(given)}]"
            )
        kind = given.get(name, current.get(name))
        if name in current and current[name] != kind:
            raise ValidationException(
                f"{INVALID_PARAMETERS}Attribute {name} is already defined with type {current[name]}"
            )
        if name not in current:
            description["AttributeDefinitions"].append({"AttributeName": name, "AttributeType": kind})
            current[name] = str(kind)


def check_projected_total(projections: list[dict[str, Any]]) -> None:
    """At most 100 NonKeyAttributes summed over a table's indexes (a name in two indexes counts twice)."""
    total = sum(len(p.get("NonKeyAttributes", ())) for p in projections)
    if total > MAX_PROJECTED_ATTRIBUTES:
        raise ValidationException(
            f"{INVALID_PARAMETERS}The number of projected attributes across all secondary indexes exceeds the limit of "
            f"{MAX_PROJECTED_ATTRIBUTES}: {total}"
        )


# ---- entries ---------------------------------------------------------------------


def _key_value_ok(index: Index, attribute: KeyAttribute, value: AttributeValue, limit: int, *, strict: bool) -> bool:
    """Whether ``value`` can be ``attribute`` of an entry of ``index``.

    ``limit`` is the key-size limit of the attribute's role (2,048 bytes for a
    partition attribute, 1,024 for a sort attribute, as for a table key).  A
    new version breaking a rule is refused with DynamoDB's message; an
    existing item breaking one (a backfill, an old version) has no entry.
    """
    kind = next(iter(value))
    if kind != attribute.type:
        if strict:
            raise ValidationException(
                f"{INVALID_PARAMETERS}Type mismatch for Index Key {attribute.name} Expected: {attribute.type} "
                f"Actual: {kind} IndexName: {index.name}"
            )
        return False
    if kind in ("S", "B") and value[kind] == "":
        if strict:
            raise ValidationException(
                "One or more parameter values are not valid. A value specified for a secondary index key is "
                "not supported. The AttributeValue for a key attribute cannot contain an empty "
                f"{'string' if kind == 'S' else 'binary'} value. IndexName: {index.name}, IndexKey: {attribute.name}"
            )
        return False
    size = value_size(value)
    if size > limit:
        if strict:
            raise ValidationException(
                f"{INVALID_PARAMETERS}Size limit exceeded for Index Key {attribute.name} Actual Size: {size} bytes "
                f"Max Size: {limit} bytes IndexName: {index.name}"
            )
        return False
    return True


def entry_key(table: Table, index: Index, item: Item, *, strict: bool = False) -> bytes | None:
    """Storage key of ``item``'s entry in ``index``; None if the item is not in it.

    ``strict`` (new versions being written) raises DynamoDB's ValidationException
    for an index key of the wrong type; otherwise such an item is just absent.
    """
    hash_values = []
    for attribute in index.hash_keys:
        value = item.get(attribute.name)
        if value is None or not _key_value_ok(index, attribute, value, MAX_HASH_KEY_BYTES, strict=strict):
            return None
        hash_values.append(value)
    # One partition attribute (every index but a multi-attribute GSI) takes the
    # write path's cheaper call; the bytes are the same either way.
    if len(hash_values) == 1:
        key = keycodec.index_partition_prefix(table.id, index.number, hash_values[0])
    else:
        key = keycodec.index_tuple_partition_prefix(table.id, index.number, hash_values)
    for attribute in index.range_keys:
        value = item.get(attribute.name)
        if value is None or not _key_value_ok(index, attribute, value, MAX_RANGE_KEY_BYTES, strict=strict):
            return None
        key += keycodec.encode_value(value)
    return key + table_key_suffix(table, item)


def table_key_suffix(table: Table, item: Item) -> bytes:
    """The encoded table key (pk [sk]) of an item, as appended to its index entries."""
    suffix = keycodec.encode_value(item[table.hash_key.name])
    if table.range_key is not None:
        suffix += keycodec.encode_value(item[table.range_key.name])
    return suffix


def project(table: Table, index: Index, item: Item) -> Item:
    """``item`` as ``index`` stores it: keys of table and index, plus the projected attributes."""
    if index.projection_type == "ALL":
        return item
    return {name: value for name, value in item.items() if index.projects(table, name)}


def key_of(table: Table, index: Index, item: Item) -> Item:
    """The LastEvaluatedKey of an index read: the index key and the table key."""
    names = dict.fromkeys(index.key_names + table.key_names)
    return {name: item[name] for name in names if name in item}


def _write_entry(txn: Txn, table: Table, index: Index, old: Item | None, new: Item | None) -> None:
    old_key = None if old is None else entry_key(table, index, old)
    new_key = None if new is None else entry_key(table, index, new, strict=True)
    if old_key is not None and old_key != new_key:
        txn.delete(old_key)
    if new_key is not None and new is not None:
        entry = project(table, index, new)
        if old_key != new_key or old is None or project(table, index, old) != entry:
            txn.put(new_key, orjson.dumps(entry))


def maintain(txn: Txn, result: WriteResult) -> None:
    """Keep every index of the table in step with one item change, in its transaction."""
    table = result.table
    if not has_indexes(table):
        return
    local = False
    for index in indexes_of(table):
        _write_entry(txn, table, index, result.old, result.new)
        local = local or not index.is_global
    if local:
        item = result.new if result.new is not None else result.old
        if item is None:
            return
        size = collection_size(txn, table, item)
        if result.new is not None and size > COLLECTION_LIMIT:
            raise ItemCollectionSizeLimitExceededException("Collection size exceeded.")
        result.collection_size = size


# ---- item collections (tables with local indexes) ------------------------------------


def has_local_indexes(table: Table) -> bool:
    return LOCAL in table.description


def collection_size(txn: Txn, table: Table, item: Item) -> int:
    """Stored bytes of the item collection of ``item``'s partition key: table items and LSI entries."""
    pk = item[table.hash_key.name]
    prefix = keycodec.partition_prefix(table.id, pk)
    total = txn.range_stats(prefix, prefix_end(prefix))[1]
    for index in indexes_of(table):
        if not index.is_global:
            prefix = keycodec.index_partition_prefix(table.id, index.number, pk)
            total += txn.range_stats(prefix, prefix_end(prefix))[1]
    return total


def collection_metrics(table: Table, item: Item, size: int) -> dict[str, Any]:
    """ItemCollectionMetrics for one write: the partition key and a 1 GB-wide size estimate."""
    gigabytes = size / 1024**3
    low = float(math.floor(gigabytes))
    return {
        "ItemCollectionKey": {table.hash_key.name: item[table.hash_key.name]},
        "SizeEstimateRangeGB": [low, low + 1.0],
    }


# ---- online creation: backfill -------------------------------------------------


def backfill_index_step(txn: Txn, table: Table, name: str, batch: int = BACKFILL_BATCH) -> bool:
    """Index the next ``batch`` items of ``table`` for index ``name``; True while more remain.

    Runs inside the caller's write transaction, which must have loaded
    ``table`` itself; saves the table (cursor, and status once done).
    """
    index = find_index(table, name)

    def visit(_: bytes, raw: bytes) -> None:
        item: Item = orjson.loads(raw)
        key = entry_key(table, index, item)
        if key is not None:
            txn.put(key, orjson.dumps(project(table, index, item)))

    def finish() -> None:
        for entry in table.description.get(GLOBAL, []):
            if entry["IndexName"] == name:
                entry["IndexStatus"] = "ACTIVE"
                entry.pop("Backfilling", None)

    return tables.backfill_step(txn, table, table.state["indexes"][name], visit, batch, finish)


def pending_backfills(table: Table) -> list[str]:
    return [name for name, info in table.state.get("indexes", {}).items() if info.get("backfill")]
