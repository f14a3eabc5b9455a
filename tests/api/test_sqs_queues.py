"""Queue operations through boto3 (AWS JSON protocol), served and in-process."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError


def error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


class TestCreateQueue:
    def test_url_names_the_account_and_queue(self, sqs: Any, queue_name: str) -> None:
        url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        assert url.endswith(f"/000000000000/{queue_name}")
        assert url.startswith(sqs.meta.endpoint_url)
        assert sqs.get_queue_url(QueueName=queue_name)["QueueUrl"] == url

    def test_idempotent_with_equal_attributes(self, sqs: Any, queue_name: str) -> None:
        url = sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"]
        assert sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"] == url
        with pytest.raises(sqs.exceptions.QueueNameExists) as excinfo:
            sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "46"})
        assert error(excinfo) == (
            "QueueAlreadyExists",
            "A queue already exists with the same name and a different value for attribute VisibilityTimeout",
        )

    def test_invalid_name(self, sqs: Any) -> None:
        with pytest.raises(ClientError) as excinfo:
            sqs.create_queue(QueueName="no spaces")
        assert error(excinfo) == (
            "InvalidParameterValue",
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        )

    def test_fifo_needs_the_suffix(self, sqs: Any, queue_name: str) -> None:
        with pytest.raises(ClientError) as excinfo:
            sqs.create_queue(QueueName=queue_name, Attributes={"FifoQueue": "true"})
        assert error(excinfo)[0] == "InvalidParameterValue"

    def test_invalid_attribute_value(self, sqs: Any, queue_name: str) -> None:
        with pytest.raises(sqs.exceptions.InvalidAttributeValue) as excinfo:
            sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "43201"})
        assert error(excinfo) == ("InvalidAttributeValue", "Invalid value for the parameter VisibilityTimeout.")

    def test_unknown_attribute(self, sqs: Any, queue_name: str) -> None:
        with pytest.raises(sqs.exceptions.InvalidAttributeName) as excinfo:
            sqs.create_queue(QueueName=queue_name, Attributes={"Nope": "1"})
        assert error(excinfo) == ("InvalidAttributeName", "Unknown Attribute Nope.")


def test_missing_queue(sqs: Any) -> None:
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as excinfo:
        sqs.get_queue_url(QueueName="never-made-anywhere")
    assert error(excinfo) == ("AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")


def test_list_queues_with_prefix_and_pages(sqs: Any, queue_name: str) -> None:
    urls = [sqs.create_queue(QueueName=f"{queue_name}-{i}")["QueueUrl"] for i in range(5)]
    assert sqs.list_queues(QueueNamePrefix=queue_name)["QueueUrls"] == urls
    seen: list[str] = []
    kwargs: dict[str, Any] = {"QueueNamePrefix": queue_name, "MaxResults": 2}
    while True:
        page = sqs.list_queues(**kwargs)
        seen += page["QueueUrls"]
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert seen == urls
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix=queue_name + "-none")


def test_delete_queue(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])


def test_purge_queue(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    sqs.purge_queue(QueueUrl=url)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    with pytest.raises(sqs.exceptions.PurgeQueueInProgress) as excinfo:
        sqs.purge_queue(QueueUrl=url)
    assert error(excinfo) == (
        "AWS.SimpleQueueService.PurgeQueueInProgress",
        f"Only one PurgeQueue operation on {queue_name} is allowed every 60 seconds.",
    )


def test_attributes(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name, Attributes={"DelaySeconds": "0"})["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{queue_name}"
    assert attrs["VisibilityTimeout"] == "30"
    assert attrs["MaximumMessageSize"] == "1048576"
    assert attrs["MessageRetentionPeriod"] == "345600"
    assert attrs["ApproximateNumberOfMessages"] == "0"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "5", "Policy": "{}"})
    some = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "Policy"])["Attributes"]
    assert some == {"VisibilityTimeout": "5", "Policy": "{}"}
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Bogus"])


def test_approximate_counts(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="visible")
    sqs.send_message(QueueUrl=url, MessageBody="taken")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=600)
    sqs.receive_message(QueueUrl=url)
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    assert attrs == {
        "ApproximateNumberOfMessages": "1",
        "ApproximateNumberOfMessagesNotVisible": "1",
        "ApproximateNumberOfMessagesDelayed": "1",
    }


def test_tags(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name, tags={"team": "a"})["QueueUrl"]
    sqs.tag_queue(QueueUrl=url, Tags={"env": "test", "team": "b"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "b", "env": "test"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team", "env"])
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=url)


@pytest.mark.parametrize("bad", [{"cost#centre": "a"}, {"team": "it's"}, {"aws:team": "a"}, {"k" * 129: "a"}])
def test_tags_outside_sqs_rules(sqs: Any, queue_name: str, bad: dict[str, str]) -> None:
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    with pytest.raises(ClientError) as caught:
        sqs.tag_queue(QueueUrl=url, Tags=bad)
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert caught.value.response["Error"]["Message"].startswith(("Invalid tag ", "Tag keys must be"))
    with pytest.raises(ClientError) as caught:
        sqs.create_queue(QueueName=f"{queue_name}-tagged", tags=bad)
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"
    sqs.tag_queue(QueueUrl=url, Tags={"owner@team": "Ünïcode 1 _.:/=+-@"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"owner@team": "Ünïcode 1 _.:/=+-@"}


def test_dead_letter_sources_and_move_tasks(sqs: Any, queue_name: str) -> None:
    dlq = sqs.create_queue(QueueName=f"{queue_name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})
    src = sqs.create_queue(QueueName=queue_name, Attributes={"RedrivePolicy": policy, "VisibilityTimeout": "0"})[
        "QueueUrl"
    ]
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]
    sqs.send_message(QueueUrl=src, MessageBody="poison")
    assert len(sqs.receive_message(QueueUrl=src)["Messages"]) == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=src)  # second receive moves it
    moved = sqs.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["DeadLetterQueueSourceArn"], VisibilityTimeout=0)
    assert moved["Messages"][0]["Attributes"]["DeadLetterQueueSourceArn"].endswith(f":{queue_name}")
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert tasks[0]["Status"] == "COMPLETED" and tasks[0]["ApproximateNumberOfMessagesMoved"] == 1
    with pytest.raises(sqs.exceptions.ResourceNotFoundException):
        sqs.cancel_message_move_task(TaskHandle=handle)
    assert sqs.receive_message(QueueUrl=src)["Messages"][0]["Body"] == "poison"
