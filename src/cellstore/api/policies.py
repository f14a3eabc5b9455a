"""PutResourcePolicy, GetResourcePolicy and DeleteResourcePolicy: validate, then ``engine.catalog``.

A resource-based policy attaches to a table or to one of its streams
(``ResourceArn``); a table's policy also governs its indexes, which cannot
have their own (AWS: "You can control index permissions using the base
table's policy").  Policies are stored with the table, so they go when it
goes, and with ``--auth sigv4`` they are evaluated together with the
caller's identity policies (``protocol/policy.py``): an Allow in either
allows, an explicit Deny in either wins.

The document is checked as DynamoDB checks it (``api/policy_documents.py``):
JSON, size, Version, statements with Effect, Principal, ``dynamodb:`` actions
valid for a table or a stream, and resources that name the resource the
policy is attached to.
"""

from __future__ import annotations

from typing import Any

from cellstore.api.policy_documents import check_document
from cellstore.api.registry import operation
from cellstore.api.validation import Param, is_stream_suffix, parse_table_arn, validate
from cellstore.engine import catalog
from cellstore.engine.database import Database
from cellstore.errors import ResourceNotFoundException, ValidationException

_ARN = Param("string", required=True, min_length=1, max_length=1283)
_REVISION = Param("string", min_length=1, max_length=255)
_RULES_GET = {"ResourceArn": _ARN}
_RULES_DELETE = {"ResourceArn": _ARN, "ExpectedRevisionId": _REVISION}
_RULES_PUT = {
    "ResourceArn": _ARN,
    "Policy": Param("string", required=True),
    "ExpectedRevisionId": _REVISION,
    "ConfirmRemoveSelfResourceAccess": Param("boolean"),
}



def _invalid_arn(arn: str) -> ValidationException:
    return ValidationException(f"Invalid ResourceArn provided as input {arn}")


def _resource(db: Database, arn: str) -> str:
    """The table that ``arn`` (a table or a stream of it) belongs to; ValidationException for any other ARN."""
    parsed = parse_table_arn(arn)
    if parsed is None:
        raise _invalid_arn(arn)
    region, account, name, rest = parsed
    if rest and not is_stream_suffix(rest):
        raise _invalid_arn(arn)  # an index (or anything else under the table) has no policy of its own
    if (region, account) != (db.region, db.account):
        raise ResourceNotFoundException(f"Requested resource not found: {arn}")
    table = catalog.read_table(db, name)  # ResourceNotFoundException for a missing table
    if rest and not _known_stream(table.description, arn):
        raise ResourceNotFoundException(f"Requested resource not found: Stream: {arn} not found")
    return name


def _known_stream(description: dict[str, Any], arn: str) -> bool:
    """Whether ``arn`` is the table's current stream (older, disabled streams take no new policy)."""
    return description.get("LatestStreamArn") == arn


@operation("PutResourcePolicy")
def put_resource_policy(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, _RULES_PUT)
    arn = str(payload["ResourceArn"])
    document = str(payload["Policy"])
    name = _resource(db, arn)
    check_document(document, arn, "stream" if arn != db.table_arn(name) else "table")
    expected = payload.get("ExpectedRevisionId")
    revision = catalog.put_resource_policy(db, name, arn, document, None if expected is None else str(expected))
    return {"RevisionId": revision}


@operation("GetResourcePolicy")
def get_resource_policy(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, _RULES_GET)
    arn = str(payload["ResourceArn"])
    document, revision = catalog.get_resource_policy(db, _resource(db, arn), arn)
    return {"Policy": document, "RevisionId": revision}


@operation("DeleteResourcePolicy")
def delete_resource_policy(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, _RULES_DELETE)
    arn = str(payload["ResourceArn"])
    expected = payload.get("ExpectedRevisionId")
    revision = catalog.delete_resource_policy(db, _resource(db, arn), arn, None if expected is None else str(expected))
    return {"RevisionId": revision}

