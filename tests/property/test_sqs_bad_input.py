"""Malformed SQS requests get a typed SQS error, never an internal error.

The same method as test_bad_input_never_500.py (one or two members replaced
by wrong-shaped values: every JSON type, wrong-typed list elements, numbers
out of range, lists and maps ~1,000 levels deep), over the SQS JSON-protocol
operations.  Deep values found the SQS readers' ``str(value)`` and
``f"Value {value} ..."`` raising RecursionError (now ``safe_str``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import WRONG_SHAPES, mutate, nested_list, replaced

from cellstore.api import sqs
from cellstore.engine.database import Database
from cellstore.engine.wiring import open_database
from cellstore.errors import CellstoreError, InternalServerError
from cellstore.storage.sqlite import SqliteStore

ENDPOINT = "http://127.0.0.1:9324"
URL = f"{ENDPOINT}/000000000000/fuzzed"
FIFO_URL = f"{ENDPOINT}/000000000000/fuzzed.fifo"

VALID: dict[str, dict[str, Any]] = {
    "CreateQueue": {"QueueName": "other", "Attributes": {"VisibilityTimeout": "30"}, "tags": {"team": "a"}},
    "GetQueueUrl": {"QueueName": "fuzzed"},
    "ListQueues": {"QueueNamePrefix": "f", "MaxResults": 5},
    "SendMessage": {"QueueUrl": URL, "MessageBody": "hello", "DelaySeconds": 0,
                    "MessageAttributes": {"a": {"DataType": "String", "StringValue": "x"}}},
    "SendMessageBatch": {"QueueUrl": FIFO_URL, "Entries": [
        {"Id": "1", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d1"}]},
    "ReceiveMessage": {"QueueUrl": URL, "MaxNumberOfMessages": 2, "WaitTimeSeconds": 0, "VisibilityTimeout": 5,
                       "MessageAttributeNames": ["All"], "MessageSystemAttributeNames": ["All"]},
    "DeleteMessage": {"QueueUrl": URL, "ReceiptHandle": "not-a-handle"},
    "ChangeMessageVisibility": {"QueueUrl": URL, "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 10},
    "GetQueueAttributes": {"QueueUrl": URL, "AttributeNames": ["All"]},
    "SetQueueAttributes": {"QueueUrl": URL, "Attributes": {"DelaySeconds": "1", "RedrivePolicy": '{"maxReceiveCount": 3, "deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:fuzzed.fifo"}'}},
    "TagQueue": {"QueueUrl": URL, "Tags": {"k": "v"}},
    "PurgeQueue": {"QueueUrl": URL},
}

WRONG = st.one_of(
    WRONG_SHAPES,
    st.just("{"), st.just("x" * 300), st.just({"DataType": "Number", "StringValue": "x"}),
    st.just(f"{ENDPOINT}/000000000000/"), st.just("http://h/1/2/3"),
)


@pytest.fixture(scope="module")
def db() -> Iterator[Database]:
    database = open_database(SqliteStore(None))
    sqs.dispatch(database, "CreateQueue", {"QueueName": "fuzzed"}, ENDPOINT)
    sqs.dispatch(database, "CreateQueue", {"QueueName": "fuzzed.fifo", "Attributes": {"FifoQueue": "true"}}, ENDPOINT)
    yield database
    database.close()


@pytest.mark.parametrize("operation", sorted(VALID))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_sqs_request_gets_a_typed_error(db: Database, operation: str, data: st.DataObject) -> None:
    request = mutate(data, VALID[operation], WRONG)
    try:
        sqs.dispatch(db, operation, request if isinstance(request, dict) else {"_": request}, ENDPOINT)
    except InternalServerError:
        raise
    except CellstoreError:
        pass


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("MessageAttributes", "a", "DataType"), nested_list(999)),  # str() of it: RecursionError
        (("MessageAttributes", "a"), {"DataType": "Binary", "BinaryValue": [1]}),  # b64decode(list): TypeError
        (("QueueUrl",), nested_list(999)),  # f"Value {value} ...": RecursionError
    ],
)
def test_found_by_the_property_above(db: Database, path: tuple[Any, ...], value: Any) -> None:
    """Each once a 500, found by these generators (or the auth-on run in test_bad_input_auth.py)."""
    with pytest.raises(CellstoreError) as info:
        sqs.dispatch(db, "SendMessage", replaced(VALID["SendMessage"], path, value), ENDPOINT)
    assert not isinstance(info.value, InternalServerError)
