"""The control plane: create, describe, list, update and delete tables, and tag them.

These operations take typed requests (``TableSpec``, ``TableUpdate``) that the
api layer has already checked for shape; what is left here are the rules that
need the stored catalog: a name already taken, a no-op throughput change, a
stream already enabled, deletion protection, the tag limit.

A table's description is stored in DynamoDB's own ``TableDescription`` shape
(see ``engine/tables.py``), so DescribeTable is a copy plus two live counters.
Table creation and deletion are synchronous: CreateTable answers ``CREATING``
because clients expect it, but the table is ``ACTIVE`` by the time anyone can
ask, and DeleteTable answers ``DELETING`` with the table already gone, so
boto3's ``table_exists``/``table_not_exists`` waiters pass on their first poll.
The exception is a table being restored from a backup (``engine/backups.py``):
it is CREATING until the background has copied its items (``table_status``).

Streams: ``engine/streams/lifecycle.py`` creates and disables a table's streams when its
StreamSpecification changes (``follow_table``) and adds LatestStreamArn and
LatestStreamLabel to the description.

Secondary indexes: ``engine/indexes.py`` adds CreateTable's indexes to the
description, applies UpdateTable's GlobalSecondaryIndexUpdates (an online
Create starts a background backfill) and adds each index's live ItemCount and
IndexSizeBytes; DeleteTable drops index and TTL entries with the items.

Not modelled yet: throughput quotas and the daily limits on decreases and
billing-mode switches.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cellstore.engine import indexes, keycodec, keyspace, streams, ttl
from cellstore.engine.database import Database
from cellstore.engine.tables import RESTORING, Table, find_table, load_table, next_table_id, save_table
from cellstore.errors import (
    INVALID_PARAMETERS,
    PolicyNotFoundException,
    ResourceInUseException,
    ResourceNotFoundException,
    TableNotFoundException,
    ValidationException,
)
from cellstore.storage.base import Txn, prefix_end

PROVISIONED = "PROVISIONED"
PAY_PER_REQUEST = "PAY_PER_REQUEST"
MAX_TAGS = 50
RESERVED_TAG_PREFIX = "aws:"
#: The Developer Guide's tag characters: letters, white space, numbers and ``+ - = . _ : /``.
_TAG_TEXT = re.compile(r"[\w\s+\-=.:/]*")



@dataclass(frozen=True, slots=True)
class Throughput:
    read: int
    write: int


@dataclass(frozen=True, slots=True)
class StreamSpec:
    enabled: bool
    view_type: str | None = None


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A CreateTable request whose shape and key schema are already valid."""

    name: str
    attribute_definitions: tuple[tuple[str, str], ...]  # (name, "S" | "N" | "B")
    hash_key: str
    range_key: str | None
    billing_mode: str = PROVISIONED
    throughput: Throughput | None = None
    table_class: str | None = None
    deletion_protection: bool = False
    stream: StreamSpec | None = None
    tags: tuple[tuple[str, str], ...] = ()
    local_indexes: tuple[indexes.IndexSpec, ...] = ()
    global_indexes: tuple[indexes.IndexSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class TableUpdate:
    """The members of an UpdateTable request; ``None`` means "leave as is"."""

    billing_mode: str | None = None
    throughput: Throughput | None = None
    table_class: str | None = None
    deletion_protection: bool | None = None
    stream: StreamSpec | None = None
    index_updates: tuple[indexes.IndexUpdate, ...] = ()
    attribute_definitions: tuple[tuple[str, str], ...] = ()  # new index keys' types


def table_not_found(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")


def _load(txn: Txn, name: str) -> Table:
    table = find_table(txn, name)
    if table is None:
        raise table_not_found(name)
    return table


def _changeable(txn: Txn, name: str) -> Table:
    """The table for UpdateTable or DeleteTable: not one a restore is still filling (CREATING), as in DynamoDB."""
    table = _load(txn, name)
    if RESTORING in table.state:
        raise ResourceInUseException(f"Attempt to change a resource which is still in use: Table is being created: {name}")
    return table


def read_table(db: Database, name: str) -> Table:
    """Table ``name`` as a read sees it now; ResourceNotFoundException if there is none.

    For the api's checks before an operation (an index name, a key schema):
    the operation itself reads the table again in its own transaction (and
    refuses a table still CREATING, which this does not).
    """
    with db.store.transaction(write=False) as txn:
        return load_table(txn, name, creating=True)


def lookup_table(db: Database, name: str) -> Table | None:
    """Table ``name`` as a read sees it now, or None (IAM resource checks name tables that may not exist)."""
    with db.store.transaction(write=False) as txn:
        return find_table(txn, name)


def _stats(txn: Txn, table: Table) -> tuple[int, int]:
    """(ItemCount, TableSizeBytes) of the table, live.

    DynamoDB refreshes these about every six hours; counting on each describe
    is exact and, with ``range_stats`` reading no values, cheap enough.  The
    size is the stored bytes, which tracks but does not equal DynamoDB's
    item-size arithmetic.
    """
    start = keycodec.table_prefix(table.id)
    return txn.range_stats(start, prefix_end(start))


def _utc_day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).date().isoformat()


def _decreases_today(throughput: dict[str, Any], now: float) -> int:
    """NumberOfDecreasesToday restarts at zero each UTC day."""
    last = throughput.get("LastDecreaseDateTime")
    if last is None or _utc_day(last) != _utc_day(now):
        return 0
    return int(throughput.get("NumberOfDecreasesToday", 0))


def _described(txn: Txn, table: Table, status: str, now: float) -> dict[str, Any]:
    description = dict(table.description)
    description["TableStatus"] = status
    description["ItemCount"], description["TableSizeBytes"] = _stats(txn, table)
    throughput = dict(description["ProvisionedThroughput"])
    throughput["NumberOfDecreasesToday"] = _decreases_today(throughput, now)
    description["ProvisionedThroughput"] = throughput
    indexes.describe_into(txn, table, description)
    return description


def _check_tags(current: list[dict[str, str]], added: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    """``current`` with ``added`` applied (a key given again replaces its value).

    A key or value with a character outside the documented set ("letters,
    white space, and numbers, plus + - = . _ : /") is refused first, with the
    text DynamoDB has been observed to answer for a value ("The Tag Value
    provided is invalid <value>"); the key's text is the same sentence for a
    key, which AWS documents nowhere.
    """
    for key, value in added:
        for what, text in (("Key", key), ("Value", value)):
            if _TAG_TEXT.fullmatch(text) is None:
                raise ValidationException(f"The Tag {what} provided is invalid {text}")
    for key, _ in added:
        if key.startswith(RESERVED_TAG_PREFIX):
            raise ValidationException(
                f"{INVALID_PARAMETERS}Tag keys starting with '{RESERVED_TAG_PREFIX}' are reserved for system use. Key: {key}"
            )
    merged = {tag["Key"]: tag["Value"] for tag in current}
    for key, value in added:
        merged[key] = value
    if len(merged) > MAX_TAGS:
        raise ValidationException(
            f"{INVALID_PARAMETERS}The number of tags on the resource exceeds the limit of {MAX_TAGS}"
        )
    return [{"Key": key, "Value": value} for key, value in merged.items()]


def create_table(
    db: Database, spec: TableSpec, *, prepare: Callable[[Txn, Table], None] | None = None
) -> dict[str, Any]:
    """Store a new, empty table; answer its description with TableStatus CREATING.

    A fresh table id (never reused) prefixes the new table's item keys, so a
    name re-created after DeleteTable starts empty even if old keys lingered.
    ``prepare`` runs in the creating transaction before the table is saved
    (RestoreTableFromBackup: the restore's state and its work marker, so the
    table never exists without them).
    """
    now = time.time()
    description: dict[str, Any] = {
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": kind} for name, kind in spec.attribute_definitions
        ],
        "TableName": spec.name,
        "KeySchema": [{"AttributeName": spec.hash_key, "KeyType": "HASH"}]
        + ([] if spec.range_key is None else [{"AttributeName": spec.range_key, "KeyType": "RANGE"}]),
        "TableStatus": "ACTIVE",
        "CreationDateTime": now,
        "ProvisionedThroughput": {
            "NumberOfDecreasesToday": 0,
            "ReadCapacityUnits": spec.throughput.read if spec.throughput else 0,
            "WriteCapacityUnits": spec.throughput.write if spec.throughput else 0,
        },
        "TableArn": db.table_arn(spec.name),
        "TableId": str(uuid.uuid4()),
        "BillingModeSummary": _billing_summary(spec.billing_mode, now),
        "DeletionProtectionEnabled": spec.deletion_protection,
    }
    if spec.stream is not None and spec.stream.enabled:
        description["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec.stream.view_type}
    if spec.table_class is not None:
        description["TableClassSummary"] = {"TableClass": spec.table_class}
    with db.store.transaction(write=True) as txn:
        if find_table(txn, spec.name) is not None:
            raise ResourceInUseException(f"Table already exists: {spec.name}")
        tags = _check_tags([], spec.tags)
        record = {"id": next_table_id(txn), "description": description, "tags": tags}
        table = Table.from_record(record)
        indexes.add_created_indexes(table, spec.local_indexes, spec.global_indexes)
        streams.follow_table(txn, table)
        if prepare is not None:
            prepare(txn, table)
        save_table(txn, table)
        return _described(txn, table, "CREATING", now)


def _billing_summary(mode: str, now: float) -> dict[str, Any]:
    if mode == PAY_PER_REQUEST:
        return {"BillingMode": PAY_PER_REQUEST, "LastUpdateToPayPerRequestDateTime": now}
    return {"BillingMode": PROVISIONED}


def table_status(table: Table) -> str:
    """CREATING while a restore fills the table (``engine/backups.py``), else ACTIVE."""
    return "CREATING" if RESTORING in table.state else "ACTIVE"


def describe_table(db: Database, name: str) -> dict[str, Any]:
    with db.store.transaction(write=False) as txn:
        table = _load(txn, name)
        return _described(txn, table, table_status(table), time.time())


def list_table_names(db: Database, start_after: str | None, limit: int) -> tuple[list[str], bool]:
    """Up to ``limit`` table names after ``start_after``, in name order, and whether more remain."""
    start = keyspace.TABLES if start_after is None else keycodec.table_name_key(start_after) + b"\x00"
    prefix_length = len(keyspace.TABLES)
    with db.store.transaction(write=False) as txn:
        keys = [key for key, _ in txn.range(start, prefix_end(keyspace.TABLES), limit=limit + 1)]
    names = [key[prefix_length:].decode("utf-8") for key in keys]
    return names[:limit], len(names) > limit


#: The TableDescription members DeleteTable answers with.  DynamoDB's answer
#: leaves out the schema (AttributeDefinitions, KeySchema, the indexes) and
#: CreationDateTime; AWS documents the answer only as a TableDescription, so
#: these are the members DynamoDB is observed to return.
DELETE_TABLE_MEMBERS = (
    "TableName",
    "TableStatus",
    "ProvisionedThroughput",
    "TableSizeBytes",
    "ItemCount",
    "TableArn",
    "TableId",
    "BillingModeSummary",
    "StreamSpecification",
    "LatestStreamLabel",
    "LatestStreamArn",
    "TableClassSummary",
    "DeletionProtectionEnabled",
)


def delete_table(db: Database, name: str) -> dict[str, Any]:
    """Remove the table and every item of it; answer its last description, TableStatus DELETING."""
    with db.store.transaction(write=True) as txn:
        table = _changeable(txn, name)
        if table.description.get("DeletionProtectionEnabled"):
            raise ValidationException(
                "Resource cannot be deleted as it is currently protected against deletion. "
                "Disable deletion protection first."
            )
        described = _described(txn, table, "DELETING", time.time())
        description = {name: described[name] for name in DELETE_TABLE_MEMBERS if name in described}
        start = keycodec.table_prefix(table.id)
        txn.delete_range(start, prefix_end(start))
        indexes.delete_all(txn, table.id)
        ttl.delete_all(txn, table.id)
        txn.delete(keycodec.table_name_key(name))
        streams.table_deleted(txn, table)
        return description


def update_table(db: Database, name: str, update: TableUpdate) -> dict[str, Any]:
    """Apply an UpdateTable; answer the description, UPDATING if capacity or stream changed."""
    now = time.time()
    with db.store.transaction(write=True) as txn:
        table = _changeable(txn, name)
        description = table.description
        changed = _update_billing(description, update, now)
        changed = _update_stream(description, update.stream, changed, name) or changed
        if update.table_class is not None:
            description["TableClassSummary"] = {"TableClass": update.table_class, "LastUpdateDateTime": now}
            changed = True
        if update.deletion_protection is not None:
            description["DeletionProtectionEnabled"] = update.deletion_protection
        backfill = False
        if update.index_updates:
            backfill = indexes.apply_updates(txn, table, update.index_updates, update.attribute_definitions)
            changed = True
        streams.follow_table(txn, table)
        save_table(txn, table)
        answer = _described(txn, table, "UPDATING" if changed else "ACTIVE", now)
    if backfill:
        db.wake("backfill")
    return answer


def _update_billing(description: dict[str, Any], update: TableUpdate, now: float) -> bool:
    """Apply BillingMode/ProvisionedThroughput; True if capacity settings changed."""
    current_mode = description["BillingModeSummary"]["BillingMode"]
    mode = update.billing_mode or current_mode
    if mode == PAY_PER_REQUEST and update.throughput is not None:
        raise ValidationException(
            f"{INVALID_PARAMETERS}Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when "
            "BillingMode is PAY_PER_REQUEST"
        )
    if mode == PROVISIONED and current_mode == PAY_PER_REQUEST and update.throughput is None:
        raise ValidationException(
            f"{INVALID_PARAMETERS}ReadCapacityUnits and WriteCapacityUnits must both be specified when "
            "BillingMode is PROVISIONED"
        )
    throughput = dict(description["ProvisionedThroughput"])
    throughput["NumberOfDecreasesToday"] = _decreases_today(throughput, now)
    changed = False
    if mode != current_mode:
        description["BillingModeSummary"] = _billing_summary(mode, now)
        if mode == PAY_PER_REQUEST:
            throughput["ReadCapacityUnits"] = throughput["WriteCapacityUnits"] = 0
        changed = True
    if update.throughput is not None:
        read, write = throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]
        new = update.throughput
        if not changed and (new.read, new.write) == (read, write):
            raise ValidationException(
                "The provisioned throughput for the table will not change. The requested value equals "
                "the current value. Current ReadCapacityUnits provisioned for the table: "
                f"{read}. Requested ReadCapacityUnits: {new.read}. Current WriteCapacityUnits "
                f"provisioned for the table: {write}. Requested WriteCapacityUnits: {new.write}. "
                "Refer to the Amazon DynamoDB Developer Guide for current limits and how to request "
                "higher limits."
            )
        if current_mode == PROVISIONED:
            if new.read > read or new.write > write:
                throughput["LastIncreaseDateTime"] = now
            if new.read < read or new.write < write:
                throughput["LastDecreaseDateTime"] = now
                throughput["NumberOfDecreasesToday"] += 1
        throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"] = new.read, new.write
        changed = True
    description["ProvisionedThroughput"] = throughput
    return changed


def _update_stream(description: dict[str, Any], stream: StreamSpec | None, capacity_changed: bool, name: str) -> bool:
    if stream is None:
        return False
    if capacity_changed:
        raise ValidationException(f"{INVALID_PARAMETERS}You cannot modify stream status while updating table IOPS")
    enabled = description.get("StreamSpecification", {}).get("StreamEnabled", False)
    if stream.enabled and enabled:
        raise ValidationException(f"Table already has an enabled stream: TableName: {name}")
    if not stream.enabled and not enabled:
        raise ValidationException(f"Table already has stream disabled: TableName: {name}")
    if stream.enabled:
        description["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream.view_type}
    else:
        description.pop("StreamSpecification", None)
    return True


# ---- tags -----------------------------------------------------------------


def _table_of_arn(db: Database, txn: Txn, arn: str) -> Table:
    """The table an ARN of this database names; ResourceNotFoundException otherwise.

    The message keeps DynamoDB's own spelling, "ResourcArn", which clients
    have been seen to match on.
    """
    prefix = db.table_arn("")
    name = arn[len(prefix):] if arn.startswith(prefix) else ""
    table = find_table(txn, name) if name and "/" not in name else None
    if table is None:
        raise ResourceNotFoundException(f"Requested resource not found: ResourcArn: {arn} not found")
    return table


def tag_resource(db: Database, arn: str, tags: tuple[tuple[str, str], ...]) -> None:
    with db.store.transaction(write=True) as txn:
        table = _table_of_arn(db, txn, arn)
        table.tags = _check_tags(table.tags, tags)
        save_table(txn, table)


def untag_resource(db: Database, arn: str, keys: tuple[str, ...]) -> None:
    """Remove the tags with these keys; a key the table does not carry is not an error."""
    with db.store.transaction(write=True) as txn:
        table = _table_of_arn(db, txn, arn)
        removed = set(keys)
        table.tags = [tag for tag in table.tags if tag["Key"] not in removed]
        save_table(txn, table)


def list_tags(db: Database, arn: str) -> list[dict[str, str]]:
    """The table's tags in the order they were first set."""
    with db.store.transaction(write=False) as txn:
        return list(_table_of_arn(db, txn, arn).tags)


# ---- continuous backups (described, not taken) ----------------------------------

#: The recovery period DynamoDB reports when none was asked for (and its bounds).
DEFAULT_RECOVERY_DAYS = 35


def _load_for_backups(txn: Txn, name: str) -> Table:
    """The table, or DynamoDB's TableNotFoundException (not ResourceNotFound) for these two operations."""
    table = find_table(txn, name)
    if table is None:
        raise TableNotFoundException(f"Table not found: {name}")
    return table


def _continuous_backups(table: Table) -> dict[str, Any]:
    """The ContinuousBackupsDescription of ``table``.

    Continuous backups are ENABLED on every table, as AWS reports them.  Point
    in time recovery is a setting cellstore stores and reports but does not
    act on (restoring is not served: RestoreTableToPointInTime answers
    UnknownOperationException), so the restorable window — Earliest and
    LatestRestorableDateTime, which would promise a restore — is left out.
    """
    setting = table.state.get("pitr")
    recovery: dict[str, Any] = {"PointInTimeRecoveryStatus": "DISABLED"}
    if setting is not None and setting.get("enabled"):
        recovery = {"PointInTimeRecoveryStatus": "ENABLED", "RecoveryPeriodInDays": setting["period"]}
    return {"ContinuousBackupsStatus": "ENABLED", "PointInTimeRecoveryDescription": recovery}


def describe_continuous_backups(db: Database, name: str) -> dict[str, Any]:
    with db.store.transaction(write=False) as txn:
        return _continuous_backups(_load_for_backups(txn, name))


def update_continuous_backups(db: Database, name: str, enabled: bool, period: int | None) -> dict[str, Any]:
    """Record the point-in-time-recovery setting; answer the new description."""
    with db.store.transaction(write=True) as txn:
        table = _load_for_backups(txn, name)
        if enabled:
            table.state["pitr"] = {"enabled": True, "period": period or DEFAULT_RECOVERY_DAYS}
        else:
            table.state.pop("pitr", None)
        save_table(txn, table)
        return _continuous_backups(table)


# ---- resource-based policies (stored with the table) -----------------------------

#: ExpectedRevisionId meaning "only if the resource has no policy yet".
NO_POLICY = "NO_POLICY"


def _policy_not_found(arn: str) -> PolicyNotFoundException:
    return PolicyNotFoundException(f"Resource-based policy not found for the provided ResourceArn: {arn}")


def resource_policy_of(table: Table, arn: str) -> str:
    """The policy document attached to ``arn`` (the table's or one of its streams'), "" for none."""
    entry = table.state.get("resource_policies", {}).get(arn)
    return "" if entry is None else str(entry["Policy"])


def _policies(table: Table) -> dict[str, dict[str, str]]:
    return table.state.setdefault("resource_policies", {})  # type: ignore[no-any-return]


def _revision_mismatch(current: dict[str, str] | None, expected: str) -> bool:
    """Whether ExpectedRevisionId ``expected`` (NO_POLICY: there must be none) fails for ``current``."""
    if current is None:
        return expected != NO_POLICY
    return current["RevisionId"] != expected


def put_resource_policy(db: Database, table_name: str, arn: str, document: str, expected: str | None) -> str:
    """Attach ``document`` to ``arn`` (the table, or a stream of it); answer the revision id.

    Putting the document already attached answers its revision id again
    (PutResourcePolicy is idempotent, AWS says).  Revision ids are the
    attach time in milliseconds, as AWS's look, strictly increasing per resource.
    """
    with db.store.transaction(write=True) as txn:
        table = _load(txn, table_name)
        policies = _policies(table)
        current = policies.get(arn)
        if expected is not None and _revision_mismatch(current, expected):
            raise _policy_not_found(arn)
        if current is not None and current["Policy"] == document:
            return current["RevisionId"]
        revision = int(time.time() * 1000)
        if current is not None:
            revision = max(revision, int(current["RevisionId"]) + 1)
        policies[arn] = {"Policy": document, "RevisionId": str(revision)}
        save_table(txn, table)
        return str(revision)


def get_resource_policy(db: Database, table_name: str, arn: str) -> tuple[str, str]:
    """(Policy, RevisionId) attached to ``arn``; PolicyNotFoundException if none."""
    with db.store.transaction(write=False) as txn:
        entry = _load(txn, table_name).state.get("resource_policies", {}).get(arn)
    if entry is None:
        raise _policy_not_found(arn)
    return str(entry["Policy"]), str(entry["RevisionId"])


def delete_resource_policy(db: Database, table_name: str, arn: str, expected: str | None) -> str:
    """Detach ``arn``'s policy; answer the revision id it had."""
    with db.store.transaction(write=True) as txn:
        table = _load(txn, table_name)
        policies = _policies(table)
        current = policies.get(arn)
        if current is None or (expected is not None and current["RevisionId"] != expected):
            raise _policy_not_found(arn)
        del policies[arn]
        save_table(txn, table)
        return current["RevisionId"]
