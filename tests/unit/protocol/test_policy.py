"""IAM-style policy evaluation as a table: (statements, action, resource, context) → decision."""

from __future__ import annotations

from typing import Any

import pytest

from cellstore.protocol.policy import Decision, PolicyError, evaluate, matches, parse

TABLE = "arn:aws:dynamodb:us-east-1:000000000000:table/orders"
INDEX = TABLE + "/index/by-date"
STREAM = TABLE + "/stream/2024-01-01T00:00:00.000"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:jobs"
VARIABLES = {"aws:username": "alice", "aws:userid": "AKIDALICE"}

ALLOW = Decision.ALLOW
IMPLICIT = Decision.IMPLICIT_DENY
EXPLICIT = Decision.EXPLICIT_DENY


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


LEADING_ALICE = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}}

CASES: list[tuple[str, list[dict[str, Any]], str, str, dict[str, list[str]], Decision]] = [
    ("nothing allows", [], "dynamodb:GetItem", TABLE, {}, IMPLICIT),
    ("exact allow", [allow("dynamodb:GetItem", TABLE)], "dynamodb:GetItem", TABLE, {}, ALLOW),
    ("other action", [allow("dynamodb:GetItem", TABLE)], "dynamodb:PutItem", TABLE, {}, IMPLICIT),
    ("action is case-insensitive", [allow("DynamoDB:getitem", TABLE)], "dynamodb:GetItem", TABLE, {}, ALLOW),
    ("service wildcard", [allow("dynamodb:*")], "dynamodb:Query", TABLE, {}, ALLOW),
    ("prefix wildcard", [allow("sqs:Send*", QUEUE)], "sqs:SendMessage", QUEUE, {}, ALLOW),
    ("prefix wildcard misses", [allow("sqs:Send*", QUEUE)], "sqs:ReceiveMessage", QUEUE, {}, IMPLICIT),
    ("? wildcard", [allow("dynamodb:?etItem")], "dynamodb:GetItem", TABLE, {}, ALLOW),
    ("resource wildcard", [allow("dynamodb:*", "arn:aws:dynamodb:*:*:table/ord*")], "dynamodb:Scan", TABLE, {}, ALLOW),
    ("table does not cover its index", [allow("dynamodb:Query", TABLE)], "dynamodb:Query", INDEX, {}, IMPLICIT),
    ("index wildcard", [allow("dynamodb:Query", TABLE + "/index/*")], "dynamodb:Query", INDEX, {}, ALLOW),
    ("stream", [allow("dynamodb:GetRecords", TABLE + "/stream/*")], "dynamodb:GetRecords", STREAM, {}, ALLOW),
    ("resource is case-sensitive", [allow("dynamodb:*", TABLE.upper())], "dynamodb:GetItem", TABLE, {}, IMPLICIT),
    ("list of actions", [allow(["sqs:SendMessage", "sqs:DeleteMessage"], QUEUE)], "sqs:DeleteMessage", QUEUE, {}, ALLOW),
    ("explicit deny", [deny("dynamodb:*")], "dynamodb:GetItem", TABLE, {}, EXPLICIT),
    ("deny wins over allow", [allow("*"), deny("dynamodb:DeleteTable", TABLE)], "dynamodb:DeleteTable", TABLE, {}, EXPLICIT),
    ("deny elsewhere does not matter", [allow("*"), deny("dynamodb:DeleteTable", TABLE)], "dynamodb:GetItem", TABLE, {}, ALLOW),
    ("NotAction", [{"Effect": "Allow", "NotAction": "dynamodb:Delete*", "Resource": "*"}], "dynamodb:DeleteItem", TABLE, {}, IMPLICIT),
    ("NotAction allows the rest", [{"Effect": "Allow", "NotAction": "dynamodb:Delete*", "Resource": "*"}], "dynamodb:PutItem", TABLE, {}, ALLOW),
    ("NotResource", [{"Effect": "Allow", "Action": "sqs:*", "NotResource": QUEUE}], "sqs:SendMessage", QUEUE, {}, IMPLICIT),
    ("username in resource", [allow("sqs:*", "arn:aws:sqs:*:*:${aws:username}-*")], "sqs:SendMessage",
     "arn:aws:sqs:us-east-1:000000000000:alice-jobs", {}, ALLOW),
    ("leading keys own", [allow("dynamodb:GetItem", TABLE, Condition=LEADING_ALICE)], "dynamodb:GetItem", TABLE,
     {"dynamodb:leadingkeys": ["alice"]}, ALLOW),
    ("leading keys other", [allow("dynamodb:GetItem", TABLE, Condition=LEADING_ALICE)], "dynamodb:GetItem", TABLE,
     {"dynamodb:leadingkeys": ["bob"]}, IMPLICIT),
    ("leading keys all must match", [allow("dynamodb:BatchWriteItem", TABLE, Condition=LEADING_ALICE)],
     "dynamodb:BatchWriteItem", TABLE, {"dynamodb:leadingkeys": ["alice", "bob"]}, IMPLICIT),
    ("ForAllValues holds when the key is absent", [allow("dynamodb:Scan", TABLE, Condition=LEADING_ALICE)],
     "dynamodb:Scan", TABLE, {}, ALLOW),
    ("attributes subset", [allow("dynamodb:GetItem", TABLE, Condition={
        "ForAllValues:StringEquals": {"dynamodb:Attributes": ["pk", "sk", "name"]}})],
     "dynamodb:GetItem", TABLE, {"dynamodb:attributes": ["name", "pk"]}, ALLOW),
    ("attributes outside the list", [allow("dynamodb:GetItem", TABLE, Condition={
        "ForAllValues:StringEquals": {"dynamodb:Attributes": ["pk", "sk", "name"]}})],
     "dynamodb:GetItem", TABLE, {"dynamodb:attributes": ["salary", "pk"]}, IMPLICIT),
    ("ForAnyValue", [allow("dynamodb:PutItem", TABLE, Condition={
        "ForAnyValue:StringEquals": {"dynamodb:Attributes": ["secret"]}})],
     "dynamodb:PutItem", TABLE, {"dynamodb:attributes": ["pk", "secret"]}, ALLOW),
    ("ForAnyValue with the key absent", [allow("dynamodb:PutItem", TABLE, Condition={
        "ForAnyValue:StringEquals": {"dynamodb:Attributes": ["secret"]}})], "dynamodb:PutItem", TABLE, {}, IMPLICIT),
    ("deny on an attribute", [allow("dynamodb:*"), deny("dynamodb:*", TABLE, Condition={
        "ForAnyValue:StringEquals": {"dynamodb:Attributes": ["salary"]}})],
     "dynamodb:GetItem", TABLE, {"dynamodb:attributes": ["pk", "salary"]}, EXPLICIT),
    ("StringEquals, single value", [allow("dynamodb:Query", TABLE, Condition={
        "StringEquals": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}})],
     "dynamodb:Query", TABLE, {"dynamodb:select": ["SPECIFIC_ATTRIBUTES"]}, ALLOW),
    ("StringEquals with the key absent", [allow("dynamodb:Query", TABLE, Condition={
        "StringEquals": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}})], "dynamodb:Query", TABLE, {}, IMPLICIT),
    ("IfExists with the key absent", [allow("dynamodb:Query", TABLE, Condition={
        "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}})], "dynamodb:Query", TABLE, {}, ALLOW),
    ("StringNotEquals", [allow("dynamodb:UpdateItem", TABLE, Condition={
        "StringNotEquals": {"dynamodb:ReturnValues": ["ALL_OLD", "ALL_NEW"]}})],
     "dynamodb:UpdateItem", TABLE, {"dynamodb:returnvalues": ["ALL_NEW"]}, IMPLICIT),
    ("StringLike", [allow("dynamodb:GetItem", TABLE, Condition={
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["${aws:username}#*"]}})],
     "dynamodb:GetItem", TABLE, {"dynamodb:leadingkeys": ["alice#2024"]}, ALLOW),
    ("condition keys are case-insensitive", [allow("dynamodb:GetItem", TABLE, Condition={
        "ForAllValues:StringEquals": {"DynamoDB:leadingKEYS": ["alice"]}})],
     "dynamodb:GetItem", TABLE, {"dynamodb:leadingkeys": ["alice"]}, ALLOW),
    ("Null", [allow("dynamodb:Scan", TABLE, Condition={"Null": {"dynamodb:LeadingKeys": "false"}})],
     "dynamodb:Scan", TABLE, {}, IMPLICIT),
]


@pytest.mark.parametrize(
    "statements, action, resource, context, expected",
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_evaluate(
    statements: list[dict[str, Any]], action: str, resource: str, context: dict[str, list[str]], expected: Decision
) -> None:
    policies = [parse({"Version": "2012-10-17", "Statement": statements})] if statements else []
    assert evaluate(policies, action, resource, context, VARIABLES) is expected


def test_variables_need_the_2012_version() -> None:
    """Without ``"Version": "2012-10-17"`` IAM treats ``${...}`` literally."""
    statement = allow("dynamodb:GetItem", TABLE, Condition=LEADING_ALICE)
    context = {"dynamodb:leadingkeys": ["alice"]}
    assert evaluate([parse({"Statement": statement})], "dynamodb:GetItem", TABLE, context, VARIABLES) is IMPLICIT
    literal = {"dynamodb:leadingkeys": ["${aws:username}"]}
    assert evaluate([parse({"Statement": statement})], "dynamodb:GetItem", TABLE, literal, VARIABLES) is ALLOW


def test_policies_combine() -> None:
    policies = [parse({"Statement": allow("dynamodb:GetItem")}), parse({"Statement": deny("dynamodb:GetItem", TABLE)})]
    assert evaluate(policies, "dynamodb:GetItem", TABLE, {}, VARIABLES) is EXPLICIT


def test_matches() -> None:
    assert matches("a*c", "abbbc") and matches("a?c", "abc") and not matches("a?c", "abbc")
    assert matches("a.c", "a.c") and not matches("a.c", "abc")  # only * and ? are special


@pytest.mark.parametrize(
    "document, message",
    [
        ({"Statement": []}, "non-empty"),
        ({"Statement": {"Effect": "Maybe", "Action": "*", "Resource": "*"}}, "Effect must be Allow or Deny"),
        ({"Statement": {"Effect": "Allow", "Resource": "*"}}, "exactly one of Action and NotAction"),
        ({"Statement": {"Effect": "Allow", "Action": "*"}}, "exactly one of Resource and NotResource"),
        ({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}}, "unsupported statement members"),
        ({"Statement": allow("*", Condition={"NumericLessThan": {"a": "1"}})}, "unsupported condition operator"),
        ({"Statement": allow("*", Condition={"ForSome:StringEquals": {"a": "1"}})}, "unsupported condition qualifier"),
        ({"Statement": allow(["dynamodb:GetItem", 3])}, "Action must be a string or a list of strings"),
    ],
)
def test_refused_policies(document: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse(document)
