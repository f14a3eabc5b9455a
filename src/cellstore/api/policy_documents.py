"""A resource-based policy document, checked as DynamoDB checks it before storing it.

PutResourcePolicy and CreateTable's ResourcePolicy both land here.  The rules
come from the Developer Guide's resource-based policy pages:

* at most 20 KB, whitespace counted;
* a JSON object whose ``Version``, when given, is ``2012-10-17`` or
  ``2008-10-17`` (IAM's two), with a non-empty ``Statement`` (an object or a list);
* each statement has an ``Effect`` (Allow or Deny), a ``Principal`` (``"*"`` or
  ``{"AWS": ...}`` naming accounts or IAM principals), exactly one of
  ``Action``/``NotAction`` and exactly one of ``Resource``/``NotResource``;
* every action is ``*`` or a ``dynamodb:`` action that a policy on this kind
  of resource can grant ("DynamoDB API operations supported by resource-based
  policies"): a table's policy takes the table's data-plane and control-plane
  actions (its indexes too), a stream's the three stream-reading ones;
  ``dynamodb:ListStreams`` fits neither, since it names no resource;
* every resource names the resource the policy is attached to ("the policy
  takes effect only if the specified ARN matches the ARN of the DynamoDB
  resource to which it is attached"): for a table, its ARN or one of its
  indexes' (``<table ARN>/index/<name>``); for a stream, its ARN.  Wildcards
  count when they could match.

Texts AWS has been observed to answer are used as such, behind its
"One or more parameter values were invalid: Invalid policy document: " prefix:
'The following action names are invalid: "dynamodb:GetRecords", ...' and
"Policy contains invalid service principal".  The others are cellstore's
(AWS documents none), in the same form.

Conditions are checked for shape only (an object of operator → object).
An operator the evaluator in ``protocol/policy.py`` does not implement
(``NumericLessThan``, ``IpAddress``, ...) is stored, as AWS stores it, and the
policy then denies the requests it would apply to, so it never widens access.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

import orjson

from cellstore.errors import INVALID_PARAMETERS, ValidationException

MAX_POLICY_BYTES = 20 * 1024
VERSIONS = ("2012-10-17", "2008-10-17")
INVALID_DOCUMENT = INVALID_PARAMETERS + "Invalid policy document: "

#: What a policy can be attached to.
ResourceKind = Literal["table", "stream"]

#: Actions a table's resource-based policy can grant (data plane, PartiQL, control plane).
TABLE_ACTIONS = frozenset(
    {
        "BatchGetItem", "BatchWriteItem", "ConditionCheckItem", "DeleteItem", "GetItem", "PutItem", "Query",
        "Scan", "UpdateItem",
        "PartiQLDelete", "PartiQLInsert", "PartiQLSelect", "PartiQLUpdate",
        "CreateBackup", "CreateGlobalTable", "CreateTable", "CreateTableReplica", "DeleteResourcePolicy",
        "DeleteTable", "DeleteTableReplica", "DescribeContinuousBackups", "DescribeContributorInsights",
        "DescribeKinesisStreamingDestination", "DescribeTable", "DescribeTableReplicaAutoScaling",
        "DescribeTimeToLive", "DisableKinesisStreamingDestination", "EnableKinesisStreamingDestination",
        "ExportTableToPointInTime", "GetResourcePolicy", "ListTagsOfResource", "PutResourcePolicy",
        "RestoreTableFromBackup", "RestoreTableToPointInTime", "TagResource", "UntagResource",
        "UpdateContinuousBackups", "UpdateContributorInsights", "UpdateGlobalTable", "UpdateGlobalTableSettings",
        "UpdateKinesisStreamingDestination", "UpdateTable", "UpdateTableReplicaAutoScaling", "UpdateTimeToLive",
    }
)
#: Actions a stream's resource-based policy can grant.
STREAM_ACTIONS = frozenset({"DescribeStream", "GetRecords", "GetShardIterator"})

_STATEMENT_MEMBERS = frozenset({"Sid", "Effect", "Principal", "Action", "NotAction", "Resource", "NotResource", "Condition"})
_ACCOUNT = re.compile(r"[0-9]{12}")
_IAM_PRINCIPAL = re.compile(r"arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:(root|(user|role|assumed-role|federated-user)/.+)")


def _invalid(detail: str) -> ValidationException:
    return ValidationException(INVALID_DOCUMENT + detail)


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def _strings(statement: dict[str, Any], name: str) -> list[str]:
    value = statement.get(name)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise _invalid(f"{name} must be a string or a non-empty list of strings")


def _one_of(statement: dict[str, Any], first: str, second: str) -> list[str]:
    """The values of exactly one of two members (Action/NotAction, Resource/NotResource)."""
    given = [name for name in (first, second) if name in statement]
    if len(given) != 1:
        raise _invalid(f"Each statement must contain exactly one of {first} or {second}")
    return _strings(statement, given[0])


def _check_principal(raw: Any) -> None:
    if raw == "*":
        return
    if not isinstance(raw, dict) or not raw:
        raise _invalid('Principal must be "*" or an object naming AWS principals')
    if "Service" in raw:
        raise _invalid("Policy contains invalid service principal")
    if set(raw) != {"AWS"}:
        raise _invalid(f"Policy contains invalid principal type: {', '.join(sorted(set(raw) - {'AWS'}))}")
    values = raw["AWS"]
    names = [values] if isinstance(values, str) else values
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise _invalid("Principal AWS must be a string or a non-empty list of strings")
    bad = [n for n in names if n != "*" and not _ACCOUNT.fullmatch(n) and not _IAM_PRINCIPAL.fullmatch(n)]
    if bad:
        raise _invalid("Policy contains invalid principal: " + ", ".join(f'"{n}"' for n in bad))


def _invalid_actions(actions: Iterable[str], kind: ResourceKind) -> list[str]:
    allowed = TABLE_ACTIONS if kind == "table" else STREAM_ACTIONS
    bad = []
    for action in actions:
        if action == "*":
            continue
        service, _, name = action.partition(":")
        if service.lower() != "dynamodb" or not name:
            bad.append(action)
            continue
        pattern = re.compile(_glob(name).pattern, re.IGNORECASE | re.DOTALL)
        if not any(pattern.fullmatch(known) for known in allowed):
            bad.append(action)
    return bad


def _probes(resource_arn: str, kind: ResourceKind) -> tuple[str, ...]:
    """ARNs a statement's resource may name: the resource itself and, for a table, an index of it."""
    return (resource_arn, f"{resource_arn}/index/x") if kind == "table" else (resource_arn,)


def _foreign_resources(resources: Iterable[str], resource_arn: str, kind: ResourceKind) -> list[str]:
    probes = _probes(resource_arn, kind)
    bad = []
    for resource in resources:
        if kind == "table" and "*" not in resource and "?" not in resource:
            index = resource.startswith(f"{resource_arn}/index/") and len(resource) > len(resource_arn) + 7
            if resource != resource_arn and not index:
                bad.append(resource)
        elif not any(_glob(resource).fullmatch(probe) for probe in probes):
            bad.append(resource)
    return bad


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def check_document(document: str, resource_arn: str, kind: ResourceKind) -> None:
    """Refuse ``document`` unless it is a policy DynamoDB would attach to ``resource_arn`` (a ``kind``)."""
    if len(document.encode("utf-8")) > MAX_POLICY_BYTES:
        raise ValidationException(f"Policy document size exceeds the maximum allowed size of {MAX_POLICY_BYTES} bytes")
    try:
        parsed = orjson.loads(document)
    except orjson.JSONDecodeError:
        raise _invalid("Policy document is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise _invalid("Policy document must be a JSON object")
    unknown = set(parsed) - {"Version", "Id", "Statement"}
    if unknown:
        raise _invalid(f"Policy document contains unknown members: {', '.join(sorted(unknown))}")
    if "Version" in parsed and parsed["Version"] not in VERSIONS:
        raise _invalid(f"Policy document Version must be one of {', '.join(VERSIONS)}")
    statements = parsed.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise _invalid("Policy document must contain a Statement")
    bad_actions: list[str] = []
    bad_resources: list[str] = []
    for statement in statements:
        if not isinstance(statement, dict):
            raise _invalid("Each statement must be a JSON object")
        unknown = set(statement) - _STATEMENT_MEMBERS
        if unknown:
            raise _invalid(f"Statement contains unsupported members: {', '.join(sorted(unknown))}")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise _invalid("Each statement must have an Effect of Allow or Deny")
        if "Principal" not in statement:
            raise _invalid("Each statement must have a Principal")
        _check_principal(statement["Principal"])
        bad_actions += _invalid_actions(_one_of(statement, "Action", "NotAction"), kind)
        bad_resources += _foreign_resources(_one_of(statement, "Resource", "NotResource"), resource_arn, kind)
        condition = statement.get("Condition")
        if condition is not None and (
            not isinstance(condition, dict) or not all(isinstance(keys, dict) for keys in condition.values())
        ):
            raise _invalid("Condition must map each operator to an object of condition keys")
    if bad_actions:
        raise _invalid("The following action names are invalid: " + _quoted(dict.fromkeys(bad_actions)))
    if bad_resources:
        raise _invalid(
            "The following resources do not match the resource the policy is attached to: "
            + _quoted(dict.fromkeys(bad_resources))
        )
