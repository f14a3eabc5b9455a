"""SQS integers are '-'? and ASCII digits, wherever SQS reads one.

Python's ``int()`` also accepts surrounding whitespace, a '+', '_' separators
and other scripts' digits; SQS refuses them (InvalidAttributeValue for queue
attributes, InvalidParameterValue for request parameters), and '--7' — which
passed an ``lstrip("-")`` check and then crashed ``int()`` — is refused too.
"""

from __future__ import annotations

import json

import pytest

from cellstore.api.sqs import params
from cellstore.engine.queues import attributes
from cellstore.errors import InvalidAttributeValue, InvalidParameterValue

REFUSED = ["1_000", " 7 ", " 7", "7 ", "+7", "--7", "-", "", "١٢", "８", "7.0", "0x7", "1e2"]


@pytest.mark.parametrize("text", REFUSED)
def test_queue_attributes(text: str) -> None:
    with pytest.raises(InvalidAttributeValue) as excinfo:
        attributes.canonical("VisibilityTimeout", text, fifo=False)
    assert excinfo.value.message == "Invalid value for the parameter VisibilityTimeout."


@pytest.mark.parametrize("count", [*REFUSED, True, 5.5, None, [5]])
def test_max_receive_count(count: object) -> None:
    policy = json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq", "maxReceiveCount": count})
    with pytest.raises(InvalidAttributeValue) as excinfo:
        attributes.canonical("RedrivePolicy", policy, fifo=False)
    assert excinfo.value.message == (
        "Invalid value for the parameter RedrivePolicy. Reason: "
        f"Value {count} for parameter MaxReceiveCount is invalid. Reason: Must be an integer from 1 to 1000."
    )


@pytest.mark.parametrize("count", [5, "5", "0005"])
def test_max_receive_count_accepted(count: object) -> None:
    policy = json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq", "maxReceiveCount": count})
    assert json.loads(attributes.canonical("RedrivePolicy", policy, fifo=False))["maxReceiveCount"] == 5


@pytest.mark.parametrize("value", [*REFUSED, True, 2.5, float("inf"), float("nan"), [3], {"a": 1}])
def test_request_parameters(value: object) -> None:
    with pytest.raises(InvalidParameterValue) as excinfo:
        params.integer({"MaxNumberOfMessages": value}, "MaxNumberOfMessages", 1, 10, "Must be between 1 and 10.")
    assert excinfo.value.message == f"Value {value} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10."


@pytest.mark.parametrize(("value", "number"), [(3, 3), ("3", 3), (3.0, 3), ("03", 3)])
def test_request_parameters_accepted(value: object, number: int) -> None:
    assert params.integer({"MaxNumberOfMessages": value}, "MaxNumberOfMessages", 1, 10, "x") == number


def test_negative_text_is_a_number_out_of_range_not_a_crash() -> None:
    with pytest.raises(InvalidParameterValue, match="Value -1 for parameter"):
        params.integer({"WaitTimeSeconds": "-1"}, "WaitTimeSeconds", 0, 20, "x")
