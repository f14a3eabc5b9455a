"""An SQS worker as boto3 1.33 writes it: the query protocol (form POSTs, XML answers).

Run by tests/clients/test_clients.py in .clients/query against a served
cellstore (argv[1] is the endpoint, argv[2] a name suffix unique to the run).  Idle polls of an empty queue come first:
they are what raised ``KeyError: 'ReceiveMessageResult'`` when an empty
answer left out its result element.
"""

from __future__ import annotations

import json
import sys

import boto3
import botocore

endpoint, run = sys.argv[1], sys.argv[2]
assert botocore.__version__.startswith("1.33."), botocore.__version__
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="any", aws_secret_access_key="any")
assert sqs.meta.service_model.protocol == "query", sqs.meta.service_model.protocol

# Nothing to list: every empty answer must still parse.
assert sqs.list_queues(QueueNamePrefix=f"query-{run}-none").get("QueueUrls", []) == []
url = sqs.create_queue(QueueName=f"query-{run}-jobs", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
dlq_url = sqs.create_queue(QueueName=f"query-{run}-dlq")["QueueUrl"]
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
for _ in range(3):  # an idle worker's polls
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []
assert sqs.list_queue_tags(QueueUrl=url).get("Tags", {}) == {}
assert sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", []) == []
assert sqs.list_message_move_tasks(SourceArn=dlq_arn).get("Results", []) == []
assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {}) == {}
print("empty answers: ok")

# The worker's loop: send, receive with attributes, delete.
sent = sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"job": 1}),
                        MessageAttributes={"kind": {"DataType": "String", "StringValue": "resize"}})
assert sent["MD5OfMessageBody"] and sent["MD5OfMessageAttributes"]  # botocore checks both
got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"], WaitTimeSeconds=1)
(message,) = got["Messages"]
assert json.loads(message["Body"]) == {"job": 1}
assert message["MessageAttributes"]["kind"]["StringValue"] == "resize"
assert message["Attributes"]["ApproximateReceiveCount"] == "1"
sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
print("send/receive/delete: ok")

batch = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(5)])
assert len(batch["Successful"]) == 5 and not batch.get("Failed")
bodies: list[str] = []
while len(bodies) < 5:
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert received, bodies
    bodies += [m["Body"] for m in received]
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)])
    assert len(deleted["Successful"]) == len(received)
assert sorted(bodies) == [f"m{i}" for i in range(5)]
print("batches: ok")

sqs.tag_queue(QueueUrl=url, Tags={"team": "media"})
assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "media"}
sqs.set_queue_attributes(QueueUrl=url, Attributes={
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})})
assert sqs.list_dead_letter_source_queues(QueueUrl=dlq_url)["queueUrls"] == [url]
assert sqs.get_queue_url(QueueName=f"query-{run}-jobs")["QueueUrl"] == url
assert url in sqs.list_queues(QueueNamePrefix=f"query-{run}-")["QueueUrls"]
print("attributes, tags, redrive: ok")

fifo = sqs.create_queue(QueueName=f"query-{run}-orders.fifo", Attributes={
    "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
for n in range(3):
    sqs.send_message(QueueUrl=fifo, MessageBody=f"order-{n}", MessageGroupId="customer-1")
sqs.send_message(QueueUrl=fifo, MessageBody="order-0", MessageGroupId="customer-1")  # a duplicate
ordered = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
assert [m["Body"] for m in ordered] == ["order-0", "order-1", "order-2"]
assert ordered[0]["Attributes"]["MessageGroupId"] == "customer-1"
print("fifo: ok")

for queue in (url, dlq_url, fifo):
    sqs.delete_queue(QueueUrl=queue)
try:
    sqs.get_queue_url(QueueName=f"query-{run}-jobs")
except sqs.exceptions.QueueDoesNotExist:
    print("errors: ok")
else:
    raise AssertionError("a deleted queue still has a URL")
