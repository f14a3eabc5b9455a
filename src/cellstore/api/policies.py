"""PutResourcePolicy, GetResourcePolicy and DeleteResourcePolicy: validate, then ``engine.catalog``.

A resource-based policy attaches to a table or to one of its streams
(``ResourceArn``); a table's policy also governs its indexes, which cannot
have their own (AWS: "You can control index permissions using the base
table's policy").  Policies are stored with the table, so they go when it
goes, and with ``--auth sigv4`` they are evaluated together with the
caller's identity policies (``protocol/policy.py``): an Allow in either
allows, an explicit Deny in either wins.

What cellstore checks here is the document's shape — JSON, at most 20 KB
(whitespace counted), a Statement list whose entries have Effect, Principal,
Action and Resource — not the full policy grammar, which lives in the
protocol layer; a document it cannot evaluate there denies every request it
would apply to, so a stored policy never silently widens access.  AWS
documents no message for these refusals; the texts below are cellstore's.
"""

from __future__ import annotations

from typing import Any

import orjson

from cellstore.api.registry import operation
from cellstore.api.validation import Param, is_stream_suffix, parse_table_arn, validate
from cellstore.engine import catalog
from cellstore.engine.database import Database
from cellstore.errors import ResourceNotFoundException, ValidationException

MAX_POLICY_BYTES = 20 * 1024

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


def check_document(document: str) -> None:
    """The shape checks of a policy document (PutResourcePolicy, CreateTable's ResourcePolicy)."""
    if len(document.encode("utf-8")) > MAX_POLICY_BYTES:
        raise ValidationException(f"Policy document size exceeds the maximum allowed size of {MAX_POLICY_BYTES} bytes")
    try:
        parsed = orjson.loads(document)
    except orjson.JSONDecodeError:
        raise ValidationException("Invalid policy document: not valid JSON") from None
    statements = parsed.get("Statement") if isinstance(parsed, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise ValidationException("Invalid policy document: a policy needs a Statement")
    for statement in statements:
        if not isinstance(statement, dict) or not {"Effect", "Principal"} <= set(statement):
            raise ValidationException("Invalid policy document: every statement needs an Effect and a Principal")
        if not ({"Action", "NotAction"} & set(statement)) or not ({"Resource", "NotResource"} & set(statement)):
            raise ValidationException("Invalid policy document: every statement needs an Action and a Resource")


@operation("PutResourcePolicy")
def put_resource_policy(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, _RULES_PUT)
    arn = str(payload["ResourceArn"])
    document = str(payload["Policy"])
    name = _resource(db, arn)
    check_document(document)
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

