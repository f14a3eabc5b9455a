"""On-demand backups: a table's items and schema kept under the account's keyspace, and restores from them.

A backup is two things in ``keyspace.BACKUPS`` (docs/ARCHITECTURE.md, "Data
layout"; docs/BACKUPS.md):

* its record, ``0x0a "b" <backup id>`` (JSON): the backup's name, ARN,
  creation time, status, size and item count, and the source table as it was
  — its stored TableDescription (key schema, attribute definitions, indexes
  with their projections, billing mode, stream) and TTL attribute;
* its items, ``0x0a "i" <backup number:8> <item key after the table id>``:
  each item's stored bytes, copied raw, so nothing is re-encoded and a restore
  writes exactly the bytes the table held.

The backup id is ``<creation ms:13>-<8 hex>`` (AWS's shape), so records sort
by creation time and ListBackups is one range read.  Records and items live
in the table's account keyspace, so a cell move copies them with the rest of
the account (``keyspace.ACCOUNT_KINDS``); nothing refers to the table's
record, so a backup outlives DeleteTable, as AWS's do.

CreateBackup is one write transaction: the table's items are read and
copied in that transaction, so the backup is one consistent snapshot —
every transaction that wrote the table is wholly in it or wholly not — on
every backend.  The price is that the copy holds the write lock for its
length (docs/BACKUPS.md gives the rate).

RestoreTableFromBackup creates the target table in CREATING (``catalog.
create_table`` with the restore's state in its ``Table.state`` and the
backfill marker, in the creating transaction) and answers; the background
``backfill`` unit (``background.run_backfills``) then copies the backup's
items in pages of ``BATCH``, each a short write transaction that writes
the item and its index entries and saves a cursor in the table's state
(resumable after a restart, safe in several worker processes), and turns
the table ACTIVE after the last page.  As AWS documents, the restored table
gets no stream, TTL, tags or resource policy; its indexes are the backup's
or the overrides given.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from cellstore.engine import catalog, indexes, keycodec, keyspace, ttl
from cellstore.engine.catalog import PAY_PER_REQUEST, PROVISIONED, TableSpec, Throughput
from cellstore.engine.database import Database
from cellstore.engine.tables import RESTORING, Table, find_table, save_table
from cellstore.errors import (
    BackupInUseException,
    BackupNotFoundException,
    ResourceInUseException,
    TableAlreadyExistsException,
    TableInUseException,
    TableNotFoundException,
)
from cellstore.storage.base import Txn, prefix_end

#: Items a restore copies per write transaction (as an index backfill's step).
BATCH = 256
#: Keys a backup's copy reads per range call (reads and writes share the transaction).
PAGE = 1000
#: The one BackupType cellstore makes: an on-demand backup a user asked for.
USER = "USER"
#: ``<creation ms:13>-<8 hex>``, the last part of a backup's ARN.
_BACKUP_ID = re.compile(r"[0-9]{13}-[0-9a-f]{8}")


@dataclass(frozen=True, slots=True)
class BackupFilter:
    """ListBackups' filters, already checked: the table, [lower, upper) creation times, the BackupType."""

    table: str | None = None
    lower: float | None = None
    upper: float | None = None
    backup_type: str = USER


@dataclass(frozen=True, slots=True)
class RestoreRequest:
    """A RestoreTableFromBackup already checked for shape; ``None`` overrides keep the backup's settings."""

    target: str
    backup_arn: str
    billing_mode: str | None = None
    throughput: Throughput | None = None
    global_indexes: tuple[indexes.IndexSpec, ...] | None = None
    local_indexes: tuple[indexes.IndexSpec, ...] | None = None


def backup_not_found(arn: str) -> BackupNotFoundException:
    return BackupNotFoundException(f"Backup not found for the given BackupARN: {arn}")


def _record_key(backup_id: str) -> bytes:
    return keyspace.BACKUP_RECORDS + backup_id.encode("ascii")


def _items_prefix(number: int) -> bytes:
    return keyspace.BACKUP_ITEMS + number.to_bytes(8, "big")


def _id_of(db: Database, arn: str) -> str | None:
    """The backup id an ARN of this database names (``<table arn>/backup/<id>``), else None."""
    prefix = db.table_arn("")
    if not arn.startswith(prefix):
        return None
    _, marker, backup_id = arn[len(prefix):].rpartition("/backup/")
    return backup_id if marker and _BACKUP_ID.fullmatch(backup_id) else None


def _load(db: Database, txn: Txn, arn: str) -> dict[str, Any]:
    backup_id = _id_of(db, arn)
    raw = None if backup_id is None else txn.get(_record_key(backup_id))
    if raw is None:
        raise backup_not_found(arn)
    record: dict[str, Any] = orjson.loads(raw)
    if record["arn"] != arn:  # the right id under another table's name names nothing
        raise backup_not_found(arn)
    return record


def _save(txn: Txn, record: dict[str, Any]) -> None:
    txn.put(_record_key(record["id"]), orjson.dumps(record))


def _next_id(txn: Txn, now: float) -> tuple[int, str]:
    """(backup number, backup id) for a backup taken at ``now``.

    The id's millisecond part never repeats or goes back within a database
    (one past the last one's if need be), so key order is creation order
    even for backups taken in the same millisecond.
    """
    raw = txn.get(keyspace.BACKUP_SEQ)
    number, last_ms = (0, 0) if raw is None else map(int, raw.split())
    ms = max(int(now * 1000), last_ms + 1)
    txn.put(keyspace.BACKUP_SEQ, f"{number + 1} {ms}".encode())
    return number + 1, f"{ms:013d}-{secrets.token_hex(4)}"


# ---- AWS's shapes --------------------------------------------------------------------


def _details(record: dict[str, Any]) -> dict[str, Any]:
    """BackupDetails (CreateBackup's answer, and part of a BackupDescription)."""
    return {
        "BackupArn": record["arn"],
        "BackupName": record["name"],
        "BackupSizeBytes": record["size"],
        "BackupStatus": record["status"],
        "BackupType": record["type"],
        "BackupCreationDateTime": record["created"],
    }


def _throughput(raw: dict[str, Any] | None) -> dict[str, int]:
    raw = raw or {}
    return {"ReadCapacityUnits": int(raw.get("ReadCapacityUnits", 0)),
            "WriteCapacityUnits": int(raw.get("WriteCapacityUnits", 0))}


def _source_details(record: dict[str, Any]) -> dict[str, Any]:
    source = record["table"]
    description = source["description"]
    return {
        "TableName": description["TableName"],
        "TableId": description["TableId"],
        "TableArn": description["TableArn"],
        "TableSizeBytes": record["size"],
        "KeySchema": description["KeySchema"],
        "TableCreationDateTime": description["CreationDateTime"],
        "ProvisionedThroughput": _throughput(description.get("ProvisionedThroughput")),
        "ItemCount": record["count"],
        "BillingMode": description.get("BillingModeSummary", {}).get("BillingMode", PROVISIONED),
    }


def _feature_details(record: dict[str, Any]) -> dict[str, Any]:
    """SourceTableFeatureDetails: the indexes, stream and TTL the table had when the backup was taken."""
    description = record["table"]["description"]
    features: dict[str, Any] = {}
    if indexes.LOCAL in description:
        features["LocalSecondaryIndexes"] = [
            {"IndexName": entry["IndexName"], "KeySchema": entry["KeySchema"], "Projection": entry["Projection"]}
            for entry in description[indexes.LOCAL]
        ]
    if indexes.GLOBAL in description:
        features["GlobalSecondaryIndexes"] = [
            {"IndexName": entry["IndexName"], "KeySchema": entry["KeySchema"], "Projection": entry["Projection"],
             "ProvisionedThroughput": _throughput(entry.get("ProvisionedThroughput"))}
            for entry in description[indexes.GLOBAL]
        ]
    if "StreamSpecification" in description:
        features["StreamDescription"] = description["StreamSpecification"]
    attribute = record["table"].get("ttl")
    if attribute is not None:
        features["TimeToLiveDescription"] = {"TimeToLiveStatus": "ENABLED", "AttributeName": attribute}
    return features


def _description(record: dict[str, Any]) -> dict[str, Any]:
    """BackupDescription (DescribeBackup's and DeleteBackup's answer)."""
    return {
        "BackupDetails": _details(record),
        "SourceTableDetails": _source_details(record),
        "SourceTableFeatureDetails": _feature_details(record),
    }


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    """BackupSummary (one entry of ListBackups)."""
    description = record["table"]["description"]
    return {
        "TableName": description["TableName"],
        "TableId": description["TableId"],
        "TableArn": description["TableArn"],
        **_details(record),
    }


# ---- CreateBackup, DescribeBackup, ListBackups, DeleteBackup ----------------------------


def _copy_items(txn: Txn, table: Table, number: int) -> tuple[int, int]:
    """Copy every item of ``table`` under backup ``number`` in ``txn``; (items, bytes) copied.

    Paged reads, so no read cursor is open while the same transaction writes.
    """
    source = keycodec.table_prefix(table.id)
    target = _items_prefix(number)
    end = prefix_end(source)
    start, count, size = source, 0, 0
    while True:
        rows = list(txn.range(start, end, limit=PAGE))
        for key, value in rows:
            txn.put(target + key[len(source):], value)
            size += len(value)
        count += len(rows)
        if len(rows) < PAGE:
            return count, size
        start = rows[-1][0] + b"\x00"


def create_backup(db: Database, table_name: str, backup_name: str) -> dict[str, Any]:
    """Take a backup of ``table_name`` in one write transaction; answer its BackupDetails (AVAILABLE)."""
    now = time.time()
    with db.store.transaction(write=True) as txn:
        table = find_table(txn, table_name)
        if table is None:
            raise TableNotFoundException(f"Table not found: {table_name}")
        if RESTORING in table.state:
            raise TableInUseException(f"Table is being restored: {table_name}")
        number, backup_id = _next_id(txn, now)
        count, size = _copy_items(txn, table, number)
        record = {
            "number": number,
            "id": backup_id,
            "arn": f"{db.table_arn(table_name)}/backup/{backup_id}",
            "name": backup_name,
            "created": int(backup_id[:13]) / 1000,  # the id's milliseconds: what ListBackups' bounds compare
            "status": "AVAILABLE",
            "type": USER,
            "size": size,
            "count": count,
            "table": {"description": table.description, "ttl": ttl.attribute_of(table)},
            "restores": [],
        }
        _save(txn, record)
    return _details(record)


def describe_backup(db: Database, arn: str) -> dict[str, Any]:
    with db.store.transaction(write=False) as txn:
        return _description(_load(db, txn, arn))


def _records(txn: Txn, after: str | None) -> Iterator[dict[str, Any]]:
    start = keyspace.BACKUP_RECORDS if after is None else _record_key(after) + b"\x00"
    end = prefix_end(keyspace.BACKUP_RECORDS)
    while True:
        rows = list(txn.range(start, end, limit=PAGE))
        for _, raw in rows:
            yield orjson.loads(raw)
        if len(rows) < PAGE:
            return
        start = rows[-1][0] + b"\x00"


def _matches(record: dict[str, Any], wanted: BackupFilter) -> bool:
    if wanted.backup_type not in ("ALL", record["type"]):
        return False
    if wanted.table is not None and record["table"]["description"]["TableName"] != wanted.table:
        return False
    if wanted.lower is not None and record["created"] < wanted.lower:
        return False
    return wanted.upper is None or record["created"] < wanted.upper


def list_backups(
    db: Database, wanted: BackupFilter, limit: int | None, exclusive_start: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """(BackupSummaries oldest first, LastEvaluatedBackupArn when more match) after ``exclusive_start``.

    An ExclusiveStartBackupArn that names no backup of this account starts
    from the beginning, as a malformed one cannot say where it is.
    """
    after = None if exclusive_start is None else _id_of(db, exclusive_start)
    found: list[dict[str, Any]] = []
    with db.store.transaction(write=False) as txn:
        for record in _records(txn, after):
            if not _matches(record, wanted):
                continue
            if limit is not None and len(found) == limit:
                return found, found[-1]["BackupArn"]
            found.append(_summary(record))
    return found, None


def _restoring(txn: Txn, record: dict[str, Any]) -> list[str]:
    """The tables a restore from ``record`` is still filling (a table deleted meanwhile is not)."""
    busy = []
    for name in record.get("restores", []):
        table = find_table(txn, name)
        if table is not None and table.state.get(RESTORING, {}).get("backup") == record["number"]:
            busy.append(name)
    return busy


def delete_backup(db: Database, arn: str) -> dict[str, Any]:
    """Delete the backup's record and items; answer its BackupDescription, BackupStatus DELETED."""
    with db.store.transaction(write=True) as txn:
        record = _load(db, txn, arn)
        if _restoring(txn, record):
            raise BackupInUseException(f"Backup is being used to restore a table: {arn}")
        txn.delete(_record_key(record["id"]))
        start = _items_prefix(record["number"])
        txn.delete_range(start, prefix_end(start))
    record["status"] = "DELETED"
    return _description(record)


# ---- RestoreTableFromBackup -------------------------------------------------------------


def _index_specs(entries: list[dict[str, Any]], billing: str) -> tuple[indexes.IndexSpec, ...]:
    """The backup's stored indexes as CreateTable's specs (throughput kept for PROVISIONED only)."""
    specs = []
    for entry in entries:
        hash_keys = tuple(e["AttributeName"] for e in entry["KeySchema"] if e["KeyType"] == "HASH")
        range_keys = tuple(e["AttributeName"] for e in entry["KeySchema"] if e["KeyType"] == "RANGE")
        projection = entry["Projection"]
        throughput = None
        if billing == PROVISIONED and "ProvisionedThroughput" in entry:
            read_write = _throughput(entry["ProvisionedThroughput"])
            throughput = (read_write["ReadCapacityUnits"], read_write["WriteCapacityUnits"])
        specs.append(indexes.IndexSpec(
            entry["IndexName"], hash_keys, range_keys, projection.get("ProjectionType", "ALL"),
            tuple(projection.get("NonKeyAttributes", ())), throughput,
        ))
    return tuple(specs)


def source_definitions(db: Database, arn: str) -> tuple[dict[str, str], tuple[str, str | None], str]:
    """(AttributeDefinitions, (hash key, range key), BillingMode) of a backup's table: what overrides are checked against."""
    with db.store.transaction(write=False) as txn:
        description = _load(db, txn, arn)["table"]["description"]
    table = Table.from_record({"id": 0, "description": description})
    definitions = {d["AttributeName"]: d["AttributeType"] for d in description["AttributeDefinitions"]}
    billing = description.get("BillingModeSummary", {}).get("BillingMode", PROVISIONED)
    return definitions, (table.hash_key.name, None if table.range_key is None else table.range_key.name), billing


def _spec(record: dict[str, Any], request: RestoreRequest) -> TableSpec:
    """The target table as CreateTable would make it: the backup's schema with the overrides applied."""
    description = record["table"]["description"]
    source = Table.from_record({"id": 0, "description": description})
    billing = request.billing_mode or description.get("BillingModeSummary", {}).get("BillingMode", PROVISIONED)
    throughput = request.throughput
    if throughput is None and billing == PROVISIONED:
        read_write = _throughput(description.get("ProvisionedThroughput"))
        throughput = Throughput(read_write["ReadCapacityUnits"], read_write["WriteCapacityUnits"])
    if billing == PAY_PER_REQUEST:
        throughput = None
    local = request.local_indexes
    if local is None:
        local = _index_specs(description.get(indexes.LOCAL, []), billing)
    global_ = request.global_indexes
    if global_ is None:
        global_ = _index_specs(description.get(indexes.GLOBAL, []), billing)
    used = set(source.key_names)
    for spec in local + global_:
        used.update(spec.hash_keys + spec.range_keys)
    definitions = tuple(
        (d["AttributeName"], d["AttributeType"]) for d in description["AttributeDefinitions"] if d["AttributeName"] in used
    )
    return TableSpec(
        name=request.target,
        attribute_definitions=definitions,
        hash_key=source.hash_key.name,
        range_key=None if source.range_key is None else source.range_key.name,
        billing_mode=billing,
        throughput=throughput,
        local_indexes=local,
        global_indexes=global_,
    )


def restore_table(db: Database, request: RestoreRequest) -> dict[str, Any]:
    """Create the target table in CREATING and leave its filling to the background; answer its description."""
    now = time.time()
    with db.store.transaction(write=False) as txn:
        record = _load(db, txn, request.backup_arn)
    spec = _spec(record, request)

    def prepare(txn: Txn, table: Table) -> None:
        current = _load(db, txn, request.backup_arn)  # deleted since it was read: no restore
        current["restores"] = sorted({*current.get("restores", []), table.name})
        _save(txn, current)
        table.state[RESTORING] = {"backup": current["number"], "id": current["id"]}
        table.description["RestoreSummary"] = {
            "SourceBackupArn": current["arn"],
            "SourceTableArn": current["table"]["description"]["TableArn"],
            "RestoreDateTime": now,
            "RestoreInProgress": True,
        }
        txn.put(keyspace.BACKFILLS + table.name.encode("utf-8"), b"")

    try:
        answer = catalog.create_table(db, spec, prepare=prepare)
    except ResourceInUseException:
        raise TableAlreadyExistsException(f"Table already exists: {request.target}") from None
    db.wake("backfill")
    return answer


def restore_pending(table: Table) -> bool:
    return RESTORING in table.state


def restore_step(txn: Txn, table: Table, batch: int = BATCH) -> bool:
    """Copy the next ``batch`` items of the backup into ``table`` with their index entries; True while more remain.

    Runs in the caller's write transaction, which loaded ``table`` itself
    (``background.run_backfills``); the cursor saved with the table makes
    a step that failed, or one another worker already did, harmless to run
    again.  An item already at its key is left as it is: item operations
    on a CREATING table are refused (``tables.load_table``), so only this
    very step, repeated, can have put it there.  After the last item the
    table is ACTIVE and the backup free to delete.
    """
    state = table.state[RESTORING]
    source = _items_prefix(int(state["backup"]))
    cursor = state.get("cursor")
    start = source if cursor is None else source + bytes.fromhex(cursor) + b"\x00"
    rows = list(txn.range(start, prefix_end(source), limit=batch))
    target = keycodec.table_prefix(table.id)
    found = indexes.indexes_of(table)
    for key, raw in rows:
        destination = target + key[len(source):]
        if txn.get(destination) is not None:
            # Put there by this very step before it was repeated: done already.
            continue
        txn.put(destination, raw)
        if found:
            item = orjson.loads(raw)
            for index in found:
                entry = indexes.entry_key(table, index, item)
                if entry is not None:
                    txn.put(entry, orjson.dumps(indexes.project(table, index, item)))
    more = len(rows) == batch
    if more:
        state["cursor"] = rows[-1][0][len(source):].hex()
    else:
        _finish_restore(txn, table, str(state["id"]))
    save_table(txn, table)
    return more


def _finish_restore(txn: Txn, table: Table, backup_id: str) -> None:
    del table.state[RESTORING]
    summary = table.description.get("RestoreSummary")
    if summary is not None:
        summary["RestoreInProgress"] = False
    raw = txn.get(_record_key(backup_id))
    if raw is not None:
        record = orjson.loads(raw)
        record["restores"] = [name for name in record.get("restores", []) if name != table.name]
        _save(txn, record)
