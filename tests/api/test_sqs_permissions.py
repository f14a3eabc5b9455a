"""AddPermission and RemovePermission through boto3: statements in the queue's Policy, by label."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError


def error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def policy(sqs: Any, url: str) -> dict[str, Any] | None:
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {}).get("Policy")
    return None if found is None else json.loads(found)


@pytest.fixture
def queue(sqs: Any, queue_name: str) -> str:
    return str(sqs.create_queue(QueueName=queue_name)["QueueUrl"])


def test_add_permission_writes_a_statement_per_label(sqs: Any, queue: str, queue_name: str) -> None:
    arn = f"arn:aws:sqs:us-east-1:000000000000:{queue_name}"
    sqs.add_permission(QueueUrl=queue, Label="send", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    sqs.add_permission(
        QueueUrl=queue, Label="consume", AWSAccountIds=["111122223333", "444455556666"],
        Actions=["ReceiveMessage", "DeleteMessage"],
    )
    assert policy(sqs, queue) == {
        "Version": "2012-10-17",
        "Id": f"{arn}/SQSDefaultPolicy",
        "Statement": [
            {
                "Sid": "send", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "SQS:SendMessage", "Resource": arn,
            },
            {
                "Sid": "consume", "Effect": "Allow",
                "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"]},
                "Action": ["SQS:ReceiveMessage", "SQS:DeleteMessage"], "Resource": arn,
            },
        ],
    }


def test_remove_permission_drops_the_statement_and_the_last_one_the_policy(sqs: Any, queue: str) -> None:
    sqs.add_permission(QueueUrl=queue, Label="a", AWSAccountIds=["111122223333"], Actions=["*"])
    sqs.add_permission(QueueUrl=queue, Label="b", AWSAccountIds=["111122223333"], Actions=["GetQueueUrl"])
    sqs.remove_permission(QueueUrl=queue, Label="a")
    assert [s["Sid"] for s in policy(sqs, queue)["Statement"]] == ["b"]  # type: ignore[index]
    sqs.remove_permission(QueueUrl=queue, Label="b")
    assert policy(sqs, queue) is None


def test_a_policy_set_by_hand_keeps_its_statements(sqs: Any, queue: str) -> None:
    own = {"Version": "2012-10-17", "Statement": [{"Sid": "mine", "Effect": "Deny", "Principal": "*", "Action": "SQS:*"}]}
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": json.dumps(own)})
    sqs.add_permission(QueueUrl=queue, Label="added", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    assert [s["Sid"] for s in policy(sqs, queue)["Statement"]] == ["mine", "added"]  # type: ignore[index]
    sqs.remove_permission(QueueUrl=queue, Label="added")
    assert policy(sqs, queue) == own


def test_a_label_in_use_is_refused(sqs: Any, queue: str) -> None:
    sqs.add_permission(QueueUrl=queue, Label="dup", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    with pytest.raises(ClientError) as excinfo:
        sqs.add_permission(QueueUrl=queue, Label="dup", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    assert error(excinfo) == ("InvalidParameterValue", "Value dup for parameter Label is invalid. Reason: Already exists.")


def test_removing_an_unknown_label_is_refused(sqs: Any, queue: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        sqs.remove_permission(QueueUrl=queue, Label="nope")
    assert error(excinfo) == ("InvalidParameterValue", "Value nope for parameter Label is invalid. Reason: can't find label.")


def test_at_most_seven_actions(sqs: Any, queue: str) -> None:
    actions = ["SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility",
               "GetQueueAttributes", "GetQueueUrl", "PurgeQueue", "ListQueueTags"]
    with pytest.raises(ClientError) as excinfo:
        sqs.add_permission(QueueUrl=queue, Label="many", AWSAccountIds=["111122223333"], Actions=actions)
    assert error(excinfo) == ("OverLimit", "8 Actions were found, maximum allowed is 7.")
    sqs.add_permission(QueueUrl=queue, Label="seven", AWSAccountIds=["111122223333"], Actions=actions[:7])


def test_an_unknown_action_is_refused(sqs: Any, queue: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        sqs.add_permission(QueueUrl=queue, Label="x", AWSAccountIds=["111122223333"], Actions=["SendMessages"])
    assert error(excinfo) == (
        "InvalidParameterValue",
        (
            "Value SQS:SendMessages for parameter ActionName is invalid. "
            "Reason: Please refer to the appropriate WSDL for a list of valid actions."
        ),
    )


def test_a_bad_label_or_account_is_refused(sqs: Any, queue: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        sqs.add_permission(QueueUrl=queue, Label="no spaces", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    assert error(excinfo)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as excinfo:
        sqs.add_permission(QueueUrl=queue, Label="x", AWSAccountIds=["alice"], Actions=["SendMessage"])
    assert error(excinfo) == (
        "InvalidParameterValue", "Value [alice] for parameter PrincipalId is invalid. Reason: Unable to verify."
    )
    assert policy(sqs, queue) is None


def test_a_missing_queue(sqs: Any, queue_name: str) -> None:
    url = f"{sqs.meta.endpoint_url}/000000000000/{queue_name}"
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.add_permission(QueueUrl=url, Label="x", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.remove_permission(QueueUrl=url, Label="x")


def test_the_query_protocol(cellstore_server: Any, queue_name: str) -> None:
    """What the AWS CLI v1 and older SDKs send: numbered AWSAccountId.n and ActionName.n."""
    from sqs_query_client import QueryClient, text

    client = QueryClient(cellstore_server.endpoint_url)
    status, root = client.call("CreateQueue", QueueName=queue_name)
    url = str(text(root, "CreateQueueResult/QueueUrl"))
    status, root = client.call(
        "AddPermission", QueueUrl=url, Label="q",
        **{"AWSAccountId.1": "111122223333", "ActionName.1": "SendMessage", "ActionName.2": "ReceiveMessage"},
    )
    assert status == 200 and root.tag.endswith("AddPermissionResponse")
    status, root = client.call("GetQueueAttributes", QueueUrl=url, **{"AttributeName.1": "Policy"})
    statement = json.loads(str(text(root, "GetQueueAttributesResult/Attribute/Value")))["Statement"][0]
    assert statement["Action"] == ["SQS:SendMessage", "SQS:ReceiveMessage"]
    status, root = client.call("RemovePermission", QueueUrl=url, Label="q")
    assert status == 200 and root.tag.endswith("RemovePermissionResponse")
