"""kombu's SQS transport (what Celery's SQS broker is built on) against a served cellstore.

Run by tests/clients/test_clients.py in .clients/kombu; argv[1] is the
endpoint, argv[2] a name suffix unique to the run.  A producer publishes task
messages through an exchange; a consumer drains them with acks, rejects one
for redelivery, and the queue ends empty.  Prints "<step>: ok".
"""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

from kombu import Connection, Consumer, Exchange, Producer, Queue

endpoint = urlsplit(sys.argv[1])
run = sys.argv[2]
options = {"region": "us-east-1", "is_secure": False, "wait_time_seconds": 1, "polling_interval": 0.1,
           "queue_name_prefix": f"kombu-{run}-", "visibility_timeout": 30}
url = f"sqs://any:any@{endpoint.hostname}:{endpoint.port}"

tasks = Exchange("tasks", type="direct")
resize = Queue("resize", tasks, routing_key="resize")

with Connection(url, transport_options=options) as conn:
    with conn.SimpleQueue("hello") as simple:
        simple.put({"greeting": "héllo"})
        message = simple.get(block=True, timeout=10)
        assert message.payload == {"greeting": "héllo"}, message.payload
        message.ack()
        assert simple.qsize() == 0
    print("simple queue: ok")

    producer = Producer(conn.channel(), exchange=tasks, serializer="json")
    for n in range(20):
        producer.publish({"photo": n}, routing_key="resize", declare=[resize],
                         headers={"task": "resize"}, retry=True)
    received: list[int] = []
    rejected: list[int] = []

    def on_message(body: dict[str, int], message: object) -> None:
        assert message.headers["task"] == "resize"  # type: ignore[attr-defined]
        if body["photo"] == 7 and not rejected:
            rejected.append(7)
            message.requeue()  # type: ignore[attr-defined]
            return
        received.append(body["photo"])
        message.ack()  # type: ignore[attr-defined]

    with Consumer(conn.channel(), queues=[resize], callbacks=[on_message], accept=["json"], prefetch_count=10):
        while len(received) < 20:
            conn.drain_events(timeout=10)
    assert sorted(received) == list(range(20)), received
    assert rejected == [7]
    print("producer, consumer, requeue: ok")

    sqs = conn.default_channel.sqs()
    queue_url = sqs.get_queue_url(QueueName=f"kombu-{run}-resize")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0", attributes
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0", attributes
    print("queue drained: ok")
