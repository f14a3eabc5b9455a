"""A table's ARN wherever a TableName goes: every DynamoDB operation, batches and transactions too.

DynamoDB accepts ``arn:aws:dynamodb:<region>:<account>:table/<name>`` in
place of a table name (its TableName constraint is 1 to 1,024 characters
for that reason).  cellstore rewrites such ARNs to plain names once, before
the authorizer reads the request (``resources.dynamodb``) and before the
handler runs (``api.dispatch``), so no handler and no engine function ever
sees an ARN.  Batch answers are keyed by the table as the caller spelled it,
so a caller that keyed RequestItems by ARN finds its Responses,
UnprocessedKeys/UnprocessedItems and ItemCollectionMetrics under the ARN.

An ARN of a table in another account or region names no table this server
holds: ResourceNotFoundException, with the ARN in the message.  AWS does not
document that answer (it would try a cross-account request, which needs a
resource policy); it is what a missing table gets, and it is what cellstore
chose.  Anything else starting ``arn:`` is left alone and fails TableName's
pattern like any other malformed name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellstore.api.validation import parse_table_arn
from cellstore.engine.database import Database
from cellstore.errors import ResourceNotFoundException

#: Operations whose RequestItems map is keyed by table, and the answer members keyed the same way.
_BATCH_MEMBERS = {
    "BatchGetItem": ("Responses", "UnprocessedKeys"),
    "BatchWriteItem": ("UnprocessedItems", "ItemCollectionMetrics"),
}


def table_name(db: Database, value: Any, *, strict: bool = True) -> Any:
    """The table name ``value`` stands for: a name as is, this server's table ARN as its name.

    ``strict`` raises ResourceNotFoundException for a table ARN of another
    account or region; the authorizer passes False (it must never raise) and
    gets the ARN back unchanged.
    """
    if not isinstance(value, str) or not value.startswith("arn:"):
        return value
    parsed = parse_table_arn(value)
    if parsed is None or parsed.rest:
        return value
    region, account, name, _ = parsed
    if (region, account) != (db.region, db.account):
        if strict:
            raise ResourceNotFoundException(f"Requested resource not found: Table: {value} not found")
        return value
    return name


def with_table_names(db: Database, operation: str, payload: Any, *, strict: bool = True) -> tuple[Any, dict[str, str]]:
    """``payload`` with every table ARN replaced by its name, and batch keys' original spellings.

    The payload is copied only where it changes (never mutated: the caller's
    dict may be reused, and the authorizer and the handler each normalize), so
    a request naming its tables by name — nearly all of them — costs a few
    lookups and no copy.  The second value maps a name back to the ARN a
    batch request keyed it by.
    """
    if not isinstance(payload, Mapping):
        return payload, {}
    changes: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    name = payload.get("TableName")
    if isinstance(name, str) and name.startswith("arn:"):
        changes["TableName"] = table_name(db, name, strict=strict)
    items = payload.get("RequestItems")
    if operation in _BATCH_MEMBERS and isinstance(items, Mapping) and any(_is_arn(key) for key in items):
        renamed: dict[str, Any] = {}
        for key, spec in items.items():
            plain = table_name(db, key, strict=strict)
            if plain != key:
                spelled[plain] = key
            # Two spellings of one table: the last one wins, as a JSON object's repeated key does.
            renamed[plain] = spec
        changes["RequestItems"] = renamed
    entries = payload.get("TransactItems")
    if isinstance(entries, list) and any(_names_by_arn(entry) for entry in entries):
        changes["TransactItems"] = [_transact_entry(db, entry, strict) for entry in entries]
    return ({**payload, **changes} if changes else payload), spelled


def _is_arn(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("arn:")


def _names_by_arn(entry: Any) -> bool:
    """Whether a TransactItems entry names its table by an ARN."""
    return isinstance(entry, Mapping) and any(
        isinstance(body, Mapping) and _is_arn(body.get("TableName")) for body in entry.values()
    )


def _transact_entry(db: Database, entry: Any, strict: bool) -> Any:
    if not isinstance(entry, Mapping):
        return entry
    return {
        kind: {**body, "TableName": table_name(db, body["TableName"], strict=strict)}
        if isinstance(body, Mapping) and "TableName" in body
        else body
        for kind, body in entry.items()
    }


def respell(operation: str, answer: dict[str, Any], spelled: Mapping[str, str]) -> dict[str, Any]:
    """A batch answer keyed by the tables as the request spelled them."""
    if not spelled:
        return answer
    for member in _BATCH_MEMBERS.get(operation, ()):
        keyed = answer.get(member)
        if isinstance(keyed, dict):
            answer[member] = {spelled.get(name, name): value for name, value in keyed.items()}
    return answer
