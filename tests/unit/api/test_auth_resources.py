"""``api/resources.py``: what the authorizer is told a request touches.

Three properties, each a way authorization went wrong before:

* keys are canonical — a Deny on the partition key ``42`` must see ``42``
  however the request spells it (``42.0``, ``042``, ``4.2E1``, ``+42``), and a
  binary key its canonical base64;
* every queue an SQS operation writes to or names is an access of its own
  (a move task's destinations, a RedrivePolicy's dead-letter queue, a
  RedriveAllowPolicy's queues), read from the member the handler reads;
* the function is total: arbitrary JSON never raises, and what cannot be
  read is ``UNREADABLE`` (never "nothing", which ``ForAllValues`` would allow).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cellstore.api import dispatch, resources
from cellstore.api import sqs as sqs_api
from cellstore.api.resources import UNREADABLE, Access
from cellstore.engine.database import Database
from cellstore.engine.wiring import open_database
from cellstore.protocol import policy
from cellstore.storage.sqlite import SqliteStore

ENDPOINT = "http://127.0.0.1:1"
ACCOUNT = "000000000000"
ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/"


def qarn(name: str) -> str:
    return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"


def qurl(name: str) -> str:
    return f"{ENDPOINT}/{ACCOUNT}/{name}"


@pytest.fixture(scope="module")
def db() -> Iterator[Database]:
    database = open_database(SqliteStore(None), background=False)
    for name, kind in (("numbers", "N"), ("binaries", "B"), ("strings", "S")):
        dispatch(database, "CreateTable", {
            "TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": kind},
                                     {"AttributeName": "sk", "AttributeType": "S"}],
        })
    yield database
    database.close()


def leading(accesses: list[Access]) -> list[tuple[str, ...]]:
    return [dict(a.context).get("dynamodb:leadingkeys", ()) for a in accesses]


def attributes(access: Access) -> tuple[str, ...] | None:
    return dict(access.context).get("dynamodb:attributes")


# --- canonical keys -------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["42", "42.0", "042", "4.2E1", "+42", "420e-1", "0042.000"])
def test_number_keys_are_canonical_everywhere(db: Database, spelling: str) -> None:
    key = {"pk": {"N": spelling}, "sk": {"S": "a"}}
    for operation in ("GetItem", "UpdateItem", "DeleteItem"):
        assert leading(resources.dynamodb(db, operation, {"TableName": "numbers", "Key": key})) == [("42",)]
    assert leading(resources.dynamodb(db, "PutItem", {"TableName": "numbers", "Item": key})) == [("42",)]
    batch_get = {"RequestItems": {"numbers": {"Keys": [key, {"pk": {"N": "7"}, "sk": {"S": "a"}}]}}}
    assert leading(resources.dynamodb(db, "BatchGetItem", batch_get)) == [("42",), ("7",)]
    batch_write = {"RequestItems": {"numbers": [{"DeleteRequest": {"Key": key}}, {"PutRequest": {"Item": key}}]}}
    assert leading(resources.dynamodb(db, "BatchWriteItem", batch_write)) == [("42",), ("42",)]
    transact = {"TransactItems": [{"Get": {"TableName": "numbers", "Key": key}}]}
    assert leading(resources.dynamodb(db, "TransactGetItems", transact)) == [("42",)]
    query = {"TableName": "numbers", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"N": spelling}}}
    assert leading(resources.dynamodb(db, "Query", query)) == [("42",)]
    legacy = {"TableName": "numbers", "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": spelling}]}}}
    assert leading(resources.dynamodb(db, "Query", legacy)) == [("42",)]


def test_binary_keys_are_canonical(db: Database) -> None:
    # "AAF=" decodes to the same two bytes as "AAE=" (the unused bits are ignored).
    for spelling in ("AAE=", "AAF="):
        got = resources.dynamodb(db, "GetItem", {"TableName": "binaries", "Key": {"pk": {"B": spelling}, "sk": {"S": "a"}}})
        assert leading(got) == [("AAE=",)]


def test_a_key_is_read_as_the_engine_reads_it(db: Database) -> None:
    # validate_value ignores members set to null, so this key *is* "tenant2".
    key = {"pk": {"S": "tenant2", "N": None}, "sk": {"S": "a"}}
    assert leading(resources.dynamodb(db, "GetItem", {"TableName": "strings", "Key": key})) == [("tenant2",)]


@pytest.mark.parametrize(
    "key",
    [
        {"pk": {"N": "1_000"}}, {"pk": {"N": " 7 "}}, {"pk": {"N": "١٢"}}, {"pk": {"N": "８"}},
        {"pk": {"M": {}}}, {"pk": "tenant1"}, {"sk": {"S": "a"}}, [], "x", None,
    ],
)
def test_unreadable_keys_are_unreadable_not_absent(db: Database, key: Any) -> None:
    assert leading(resources.dynamodb(db, "GetItem", {"TableName": "numbers", "Key": key})) == [(UNREADABLE,)]


def test_a_missing_table_has_no_leading_key(db: Database) -> None:
    got = resources.dynamodb(db, "GetItem", {"TableName": "nope", "Key": {"pk": {"N": "1"}}})
    assert got == [Access("dynamodb:GetItem", ARN + "nope", (("dynamodb:leadingkeys", ()),))]


def test_a_deny_on_a_number_holds_for_every_spelling(db: Database) -> None:
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*",
         "Condition": {"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": ["42"]}}},
    ]}
    policies = [policy.parse(document)]
    for spelling in ("42", "42.0", "042", "4.2E1", "+42"):
        (access,) = resources.dynamodb(db, "GetItem", {"TableName": "numbers", "Key": {"pk": {"N": spelling}, "sk": {"S": "a"}}})
        decision = policy.evaluate(policies, access.action, access.resource, {k: list(v) for k, v in access.context}, {})
        assert decision is policy.Decision.EXPLICIT_DENY, spelling


@pytest.fixture(scope="module")
def multi(db: Database) -> str:
    """A table whose index ``by_place`` has a two-attribute partition key (tenant, geo) and a sort key."""
    dispatch(db, "CreateTable", {
        "TableName": "multi", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "tenant", "geo", "ts")],
        "GlobalSecondaryIndexes": [{
            "IndexName": "by_place",
            "KeySchema": [{"AttributeName": "tenant", "KeyType": "HASH"}, {"AttributeName": "geo", "KeyType": "HASH"},
                          {"AttributeName": "ts", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    })
    return "multi"


def test_every_partition_attribute_of_a_multi_attribute_index_is_a_leading_key(db: Database, multi: str) -> None:
    query = {
        "TableName": multi, "IndexName": "by_place", "KeyConditionExpression": "geo = :r AND tenant = :t AND ts > :a",
        "ExpressionAttributeValues": {":t": {"S": "tenant1"}, ":r": {"S": "eu"}, ":a": {"S": "0"}},
    }
    (access,) = resources.dynamodb(db, "Query", query)
    assert leading([access]) == [("tenant1", "eu")]  # key-schema order, whatever the expression's order
    legacy = {"TableName": multi, "IndexName": "by_place", "KeyConditions": {
        "tenant": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "tenant1"}]},
        "geo": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "eu"}]},
    }}
    assert leading(resources.dynamodb(db, "Query", legacy)) == [("tenant1", "eu")]
    missing_one = {"TableName": multi, "IndexName": "by_place", "KeyConditions": {
        "tenant": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "tenant1"}]},
    }}
    assert leading(resources.dynamodb(db, "Query", missing_one)) == [(UNREADABLE,)]


def test_a_tenant_policy_must_allow_each_partition_attribute(db: Database, multi: str) -> None:
    """``ForAllValues`` over every partition value: naming only the first attribute no longer suffices."""
    document = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "dynamodb:Query", "Resource": "*",
        "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["tenant1", "eu"]}},
    }]}
    policies = [policy.parse(document)]

    def decide(tenant: str, region: str) -> policy.Decision:
        (access,) = resources.dynamodb(db, "Query", {
            "TableName": multi, "IndexName": "by_place", "KeyConditionExpression": "tenant = :t AND geo = :r",
            "ExpressionAttributeValues": {":t": {"S": tenant}, ":r": {"S": region}},
        })
        return policy.evaluate(policies, access.action, access.resource, {k: list(v) for k, v in access.context}, {})

    assert decide("tenant1", "eu") is policy.Decision.ALLOW
    assert decide("tenant1", "us") is policy.Decision.IMPLICIT_DENY
    assert decide("tenant2", "eu") is policy.Decision.IMPLICIT_DENY


# --- attributes: malformed members ---------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "extra"),
    [
        ("GetItem", {"AttributesToGet": [[1]]}),
        ("GetItem", {"AttributesToGet": [{}]}),
        ("GetItem", {"AttributesToGet": "a"}),
        ("GetItem", {"ProjectionExpression": ["a"]}),
        ("GetItem", {"ProjectionExpression": "#a", "ExpressionAttributeNames": {"#a": 5}}),
        ("UpdateItem", {"AttributeUpdates": [1]}),
        ("UpdateItem", {"UpdateExpression": "SET a = :v", "ExpressionAttributeValues": {":v": {"N": "1_0"}}}),
        ("UpdateItem", {"UpdateExpression": "SET", "ExpressionAttributeValues": {}}),
    ],
)
def test_unreadable_attribute_lists(db: Database, operation: str, extra: dict[str, Any]) -> None:
    for table in ("strings", "nope"):
        (access,) = resources.dynamodb(db, operation, {"TableName": table, "Key": {"pk": {"S": "a"}, "sk": {"S": "a"}}, **extra})
        assert UNREADABLE in (attributes(access) or ())


def test_readable_legacy_attribute_lists(db: Database) -> None:
    (get,) = resources.dynamodb(db, "GetItem", {"TableName": "strings", "Key": {}, "AttributesToGet": ["a", "b"]})
    assert attributes(get) == ("a", "b", "pk", "sk")
    (update,) = resources.dynamodb(db, "UpdateItem", {"TableName": "strings", "Key": {}, "AttributeUpdates": {"c": {}}})
    assert attributes(update) == ("c", "pk", "sk")
    # A malformed update of a readable name: the name is known, the handler refuses the rest.
    (odd,) = resources.dynamodb(db, "UpdateItem", {"TableName": "strings", "Key": {}, "AttributeUpdates": {"v": ["PUT"]}})
    assert attributes(odd) == ("pk", "sk", "v")
    (bare,) = resources.dynamodb(db, "UpdateItem", {"TableName": "strings", "Key": {}, "ConditionExpression": "a = b"})
    assert attributes(bare) == ("pk", "sk")  # writes nothing but the key
    (whole,) = resources.dynamodb(db, "GetItem", {"TableName": "strings", "Key": {}})
    assert attributes(whole) is None  # no projection: the whole item, as in AWS


def test_tag_operations_are_authorized_on_the_arn_they_change(db: Database) -> None:
    payload = {"TableName": "numbers", "ResourceArn": ARN + "strings", "Tags": [{"Key": "k", "Value": "v"}]}
    assert resources.dynamodb(db, "TagResource", payload) == [Access("dynamodb:TagResource", ARN + "strings")]
    assert resources.dynamodb(db, "UntagResource", {"TableName": "numbers"}) == [Access("dynamodb:UntagResource", "*")]
    assert resources.dynamodb(db, "DescribeTable", {"TableName": "numbers"}) == [Access("dynamodb:DescribeTable", ARN + "numbers")]


# --- SQS: every queue touched -------------------------------------------------------


@pytest.fixture
def queues(db: Database) -> Iterator[Database]:
    def call(operation: str, payload: dict[str, Any]) -> Any:
        result = sqs_api.dispatch(db, operation, payload, ENDPOINT)
        return result

    call("CreateQueue", {"QueueName": "tenant1-dlq"})
    call("CreateQueue", {"QueueName": "tenant2-q"})
    call("CreateQueue", {"QueueName": "tenant1-src", "Attributes": {
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": qarn("tenant1-dlq"), "maxReceiveCount": 1})}})
    yield db
    for name in ("tenant1-dlq", "tenant2-q", "tenant1-src"):
        call("DeleteQueue", {"QueueUrl": qurl(name)})


def test_move_task_authorizes_its_destination(queues: Database) -> None:
    got = resources.sqs(queues, "StartMessageMoveTask", {"SourceArn": qarn("tenant1-dlq"), "DestinationArn": qarn("tenant2-q")})
    assert got == [
        Access("sqs:StartMessageMoveTask", qarn("tenant1-dlq")),
        Access("sqs:ReceiveMessage", qarn("tenant1-dlq")),
        Access("sqs:DeleteMessage", qarn("tenant1-dlq")),
        Access("sqs:GetQueueAttributes", qarn("tenant1-dlq")),
        Access("sqs:SendMessage", qarn("tenant2-q")),
    ]


def test_move_task_without_destination_authorizes_each_original_queue(queues: Database) -> None:
    # A message dead-lettered from tenant2-q while its RedrivePolicy pointed here,
    # since changed: it still goes back to tenant2-q.
    sqs_api.dispatch(queues, "SetQueueAttributes", {"QueueUrl": qurl("tenant2-q"), "Attributes": {
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": qarn("tenant1-dlq"), "maxReceiveCount": 1})}}, ENDPOINT)
    sqs_api.dispatch(queues, "SendMessage", {"QueueUrl": qurl("tenant2-q"), "MessageBody": "x"}, ENDPOINT)
    for _ in range(2):
        sqs_api.dispatch(queues, "ReceiveMessage", {"QueueUrl": qurl("tenant2-q"), "VisibilityTimeout": 0}, ENDPOINT)
    sqs_api.dispatch(queues, "SetQueueAttributes", {"QueueUrl": qurl("tenant2-q"), "Attributes": {"RedrivePolicy": ""}}, ENDPOINT)
    got = resources.sqs(queues, "StartMessageMoveTask", {"SourceArn": qarn("tenant1-dlq")})
    assert [a for a in got if a.action == "sqs:SendMessage"] == [
        Access("sqs:SendMessage", qarn("tenant1-src")),  # its RedrivePolicy names the source now
        Access("sqs:SendMessage", qarn("tenant2-q")),  # a message came from there
    ]


def test_redrive_attributes_name_queues(db: Database) -> None:
    attrs = {
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": qarn("tenant2-dlq"), "maxReceiveCount": 3}),
        "RedriveAllowPolicy": json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [qarn("tenant2-q")]}),
    }
    for operation, member in (("CreateQueue", {"QueueName": "tenant1-q"}), ("SetQueueAttributes", {"QueueUrl": qurl("tenant1-q")})):
        assert resources.sqs(db, operation, {**member, "Attributes": attrs}) == [
            Access(f"sqs:{operation}", qarn("tenant1-q")),
            Access("sqs:SendMessage", qarn("tenant2-dlq")),
            Access("sqs:GetQueueAttributes", qarn("tenant2-q")),
        ]


def test_the_queue_is_read_from_the_member_the_handler_reads(db: Database) -> None:
    # CreateQueue creates QueueName, whatever QueueUrl says; a move task moves SourceArn's messages.
    assert resources.sqs(db, "CreateQueue", {"QueueName": "tenant2-q", "QueueUrl": qurl("tenant1-q")})[0].resource == qarn("tenant2-q")
    assert resources.sqs(db, "ListMessageMoveTasks", {"SourceArn": qarn("tenant2-q"), "QueueUrl": qurl("tenant1-q")})[0].resource == qarn("tenant2-q")
    assert resources.sqs(db, "CancelMessageMoveTask", {"TaskHandle": "no-such-task"}) == [Access("sqs:CancelMessageMoveTask", "*")]


# --- totality -------------------------------------------------------------------------

MEMBERS = [
    "TableName", "Key", "Item", "pk", "sk", "S", "N", "B", "M", "L", "NS", "AttributesToGet", "AttributeUpdates",
    "ProjectionExpression", "UpdateExpression", "ConditionExpression", "KeyConditionExpression", "KeyConditions",
    "ExpressionAttributeNames", "ExpressionAttributeValues", "Expected", "Value", "Action", "ComparisonOperator",
    "AttributeValueList", "RequestItems", "Keys", "PutRequest", "DeleteRequest", "TransactItems", "Put", "Get",
    "Update", "Delete", "ConditionCheck", "IndexName", "Select", "ReturnValues", "numbers", "strings", "nope",
    "QueueUrl", "QueueName", "SourceArn", "DestinationArn", "TaskHandle", "Attributes", "RedrivePolicy",
    "RedriveAllowPolicy", "StreamArn", "ShardIterator", "ResourceArn", "EQ", "Limit",
]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
    st.sampled_from(["42", "4.2E1", "1_0", "", "a", "SET a = :v", "pk = :p", "#a", ":v", "EQ",
                     qarn("tenant1-dlq"), qurl("x"), '{"deadLetterTargetArn": 5}', "[1]"]),
    st.text(max_size=8),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(MEMBERS), inner, max_size=4)),
    max_leaves=20,
)
#: Top-level request members: a payload is a few of them, each with any JSON.
REQUEST_MEMBERS = [
    "Key", "Item", "AttributesToGet", "AttributeUpdates", "ProjectionExpression", "UpdateExpression",
    "ConditionExpression", "KeyConditionExpression", "KeyConditions", "ExpressionAttributeNames",
    "ExpressionAttributeValues", "Expected", "RequestItems", "TransactItems", "IndexName", "Select",
    "QueueUrl", "QueueName", "SourceArn", "DestinationArn", "TaskHandle", "Attributes", "ShardIterator",
    "ResourceArn", "TableName",
]
PAYLOADS = st.dictionaries(st.sampled_from(REQUEST_MEMBERS), JSON, max_size=3)
DYNAMODB_OPERATIONS = ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
                       "BatchWriteItem", "TransactWriteItems", "TransactGetItems", "DescribeTable", "ListTables",
                       "TagResource"]
SQS_OPERATIONS = ["CreateQueue", "SetQueueAttributes", "SendMessage", "StartMessageMoveTask",
                  "ListMessageMoveTasks", "CancelMessageMoveTask", "ListQueues", "GetQueueUrl"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operation=st.sampled_from(DYNAMODB_OPERATIONS), payload=PAYLOADS, table=st.sampled_from(["numbers", "strings", "nope"]))
def test_dynamodb_resources_are_total(db: Database, operation: str, payload: dict[str, Any], table: str) -> None:
    for body in (payload, {"TableName": table, **payload}):
        got = resources.dynamodb(db, operation, body)
        assert got and all(isinstance(a, Access) and a.action.startswith("dynamodb:") for a in got)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operation=st.sampled_from(SQS_OPERATIONS), payload=PAYLOADS)
def test_sqs_and_streams_resources_are_total(db: Database, operation: str, payload: dict[str, Any]) -> None:
    assert resources.sqs(db, operation, payload)
    assert resources.streams(db, "GetRecords", payload)
